/**
 * Multi-hop in the web UI, in chromium on the lab (as browser.test.ts): the
 * page lists the hop service discovery has, the user picks it (from the list,
 * then by typing its key) and connects to the exit through it; the status
 * shows the chain and the internet sees the exit's address. A typed key that
 * is no key, or the exit's own, stays in the page as a banner. Screenshots go
 * to test-artifacts/ui/.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NsProcess } from '../../../ts/netlab/exec.js'
import type { Topology } from '../../../ts/netlab/topology.js'
import { browserSkipReason, launchChromiumIn } from '../helpers/browser.js'
import { remoteOf, useTopology } from '../helpers/lab.js'
import { skipUnlessAvailable } from '../helpers/skip.js'
import { makeVisor, startServices, tempDir, type TestVisor } from '../helpers/visors.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const SHOTS = join(ROOT, 'test-artifacts', 'ui')

const skip = browserSkipReason()

/** The page's way of writing a key: first 8 … last 4. */
const short = (pk: string) => `${pk.slice(0, 8)}…${pk.slice(-4)}`

describe.skipIf(skipUnlessAvailable(skip))('web UI: connecting through a hop (chromium on the lab)', () => {
  const topo = useTopology({ hops: 1 })
  const tmp = tempDir('skywire-ui-multihop-')
  let t: Topology
  let services: NsProcess
  let exit: TestVisor
  let hop: TestVisor
  let client: TestVisor
  let browser: Browser
  let page: Page
  let url: string
  let problems: string[] = []

  beforeAll(async () => {
    t = topo()
    mkdirSync(SHOTS, { recursive: true })
    services = await startServices(t, tmp.dir)
    exit = makeVisor(t, t.server.ns, tmp.dir, 'exit', { vpnServer: { dns: ['203.0.113.53'], country: 'DE' } })
    hop = makeVisor(t, (t.hops[0] as { ns: string }).ns, tmp.dir, 'hop', { vpnServer: { autostart: false }, hop: { enabled: true, country: 'NL' } })
    client = makeVisor(t, t.client.ns, tmp.dir, 'client', {
      vpnServer: { autostart: false },
      control: { socket: join(tmp.dir, 'client.sock'), listen: '127.0.0.1:3435' },
    })
    await Promise.all([exit.start(), hop.start(), client.start()])
    const r = client.cli(['cli', 'vpn', 'url', '--json'])
    expect(r.code, r.stderr).toBe(0)
    url = (JSON.parse(r.stdout) as { url: string }).url
    ;({ browser, page, problems } = await launchChromiumIn(t.client.ns, tmp.dir, { width: 1100, height: 1000 }))
  }, 90_000)

  afterAll(async () => {
    await browser?.close()
    await client?.stop()
    await hop?.stop()
    await exit?.stop()
    await services?.kill('SIGTERM', 3000)
    tmp.cleanup()
  })

  /** Connects to the exit with the picker as it is; waits for "connected". */
  async function connectToExit(): Promise<void> {
    await page.getByRole('button', { name: new RegExp(`^Connect to ${exit.config.pk.slice(0, 8)}`) }).click()
    await expect.poll(() => page.locator('#state').textContent(), { timeout: 45_000 }).toBe('connected')
  }

  async function disconnect(): Promise<void> {
    await page.getByRole('button', { name: 'Disconnect' }).click()
    await expect.poll(() => page.locator('#state').textContent(), { timeout: 15_000 }).toBe('disconnected')
    expect(await t.curlWhoami(t.client.ns)).toBe(t.natc.wanAddr)
  }

  it('lists the hop, connects through it, shows the chain; the internet sees the exit', async () => {
    await page.goto(url)
    await expect.poll(() => page.url(), { timeout: 15_000 }).toBe('http://127.0.0.1:3435/')
    await expect.poll(() => page.locator('#state').textContent(), { timeout: 10_000 }).toBe('disconnected')
    const hopOption = page.locator(`#hop option[value="${hop.config.pk}"]`)
    const exitButton = page.locator(`button[data-pk="${exit.config.pk}"]`)
    await expect
      .poll(
        async () => {
          if ((await hopOption.count()) > 0 && (await exitButton.count()) > 0) return true
          await page.getByRole('button', { name: 'Refresh' }).click()
          return false
        },
        { timeout: 30_000, interval: 1000 },
      )
      .toBe(true)
    expect(await hopOption.textContent()).toBe(`NL – Netherlands – ${short(hop.config.pk)}`)
    // The hop visor is no VPN server: it is not in the server list.
    expect(await page.locator(`button[data-pk="${hop.config.pk}"]`).count()).toBe(0)

    await page.getByLabel('Through a hop').selectOption(hop.config.pk)
    expect(await page.locator('#hop-key-label').isVisible()).toBe(false)
    await connectToExit()
    await expect
      .poll(() => page.locator('#f-route').textContent(), { timeout: 10_000 })
      .toBe(`you → hop ${short(hop.config.pk)} → exit ${short(exit.config.pk)}`)
    expect(await page.locator('#f-server').textContent()).toBe(exit.config.pk)
    // The address this machine talks to is the hop's, and the page says so.
    expect(await page.locator('#f-remote-label').textContent()).toBe('First hop address')
    expect(await page.locator('#f-remote').textContent()).toMatch(remoteOf(t.hops[0]!))
    expect(await t.curlWhoami(t.client.ns)).toBe(t.server.publicAddr)
    await page.screenshot({ path: join(SHOTS, 'multihop-connected.png'), fullPage: true })
    await disconnect()
    expect(problems).toEqual([])
  }, 120_000)

  it('a typed hop key: bad ones stay in the page, the right one connects', async () => {
    await page.getByLabel('Through a hop').selectOption('key')
    const key = page.getByLabel('Hop public key')
    expect(await key.isVisible()).toBe(true)
    const alert = page.getByRole('alert')
    for (const [typed, says] of [
      ['not-a-key<script>', /public key/],
      [exit.config.pk, /different/],
    ] as const) {
      await key.fill(typed)
      await page.getByRole('button', { name: new RegExp(`^Connect to ${exit.config.pk.slice(0, 8)}`) }).click()
      await expect.poll(() => alert.textContent(), { timeout: 5000 }).toMatch(says)
      expect(await page.locator('#state').textContent()).toBe('disconnected')
    }
    await page.getByRole('button', { name: 'Dismiss this message' }).click()
    await key.fill(hop.config.pk)
    await connectToExit()
    await expect.poll(() => page.locator('#f-route').textContent(), { timeout: 10_000 }).toContain(`hop ${short(hop.config.pk)}`)
    expect(await t.curlWhoami(t.client.ns)).toBe(t.server.publicAddr)
    await disconnect()
  }, 120_000)

  it('"any hop" lets the visor pick one from discovery; "none" connects straight to the exit', async () => {
    await page.getByLabel('Through a hop').selectOption('any')
    await connectToExit()
    await expect.poll(() => page.locator('#f-route').textContent(), { timeout: 10_000 }).toContain(`hop ${short(hop.config.pk)}`)
    await disconnect()
    await page.getByLabel('Through a hop').selectOption('')
    await connectToExit()
    await expect.poll(() => page.locator('#f-route').textContent(), { timeout: 10_000 }).toBe('direct')
    expect(await page.locator('#f-remote-label').textContent()).toBe('Server address')
    expect(await page.locator('#f-remote').textContent()).toMatch(remoteOf(t.server))
    await disconnect()
    expect(problems).toEqual([])
  }, 120_000)
})
