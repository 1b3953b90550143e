/**
 * The web UI in a real browser on the lab: Debian's chromium, driven by
 * playwright-core, runs inside the client visor's namespace (where its
 * loopback UI listens), connects through the page, and the lab's whoami
 * sees the server's address. Screenshots go to test-artifacts/ui/.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { skipUnlessAvailable } from '../helpers/skip.js'
import { native } from '../../../ts/native/loader.js'
import type { NsProcess } from '../../../ts/netlab/exec.js'
import { skywire } from '../helpers/cli.js'
import { browserSkipReason, launchChromiumIn } from '../helpers/browser.js'
import { remoteOf, useTopology } from '../helpers/lab.js'
import { makeVisor, startServices, tempDir, type TestVisor } from '../helpers/visors.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const SHOTS = join(ROOT, 'test-artifacts', 'ui')

const skip = browserSkipReason()

describe.skipIf(skipUnlessAvailable(skip))('web UI in chromium on the lab', () => {
  const topo = useTopology({})
  const tmp = tempDir('skywire-ui-e2e-')
  let services: NsProcess
  let server: TestVisor
  let client: TestVisor
  let browser: Browser
  let page: Page
  let url: string
  // Script errors and CSP violations on the main page (the bundle must run under script-src 'self').
  let problems: string[] = []

  const shot = (name: string): Promise<Buffer> => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })

  beforeAll(async () => {
    const t = topo()
    mkdirSync(SHOTS, { recursive: true })
    services = await startServices(t, tmp.dir)
    server = makeVisor(t, t.server.ns, tmp.dir, 'server', { vpnServer: { dns: ['203.0.113.53'], country: 'DE' } })
    client = makeVisor(t, t.client.ns, tmp.dir, 'client', {
      vpnServer: { autostart: false },
      control: { socket: join(tmp.dir, 'client.sock'), listen: '127.0.0.1:3435' },
    })
    await Promise.all([server.start(), client.start()])
    const r = client.cli(['cli', 'vpn', 'url', '--json'])
    expect(r.code, r.stderr).toBe(0)
    url = (JSON.parse(r.stdout) as { url: string }).url

    ;({ browser, page, problems } = await launchChromiumIn(t.client.ns, tmp.dir, { width: 1100, height: 900 }))
  }, 90_000)

  afterAll(async () => {
    await browser?.close()
    await client?.stop()
    await server?.stop()
    await services?.kill('SIGTERM', 3000)
    tmp.cleanup()
  })

  it('`vpn url` gives a loopback URL with the token in the fragment; `vpn ui` without a display says how to reach it', () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:3435\/#token=[A-Za-z0-9_-]{43}$/)
    const noDisplay = { DISPLAY: '', WAYLAND_DISPLAY: '' }
    const j = skywire(['cli', 'vpn', 'ui', '--json', '--rpc', client.rpc], { env: noDisplay })
    expect(j.code, j.stderr).toBe(0)
    expect(JSON.parse(j.stdout)).toMatchObject({ url, opened: false, hint: expect.stringMatching(/ssh -L 3435:127\.0\.0\.1:3435/) })
    const h = skywire(['cli', 'vpn', 'ui', '--rpc', client.rpc], { env: noDisplay })
    expect(h.stdout.trim()).toBe(url)
    expect(h.stderr).toMatch(/no browser here/)
  })

  it('without the token the page says how to get in', async () => {
    const p = await browser.newPage()
    await p.goto(url.split('#')[0] as string)
    await expect.poll(() => p.getByRole('alert').textContent(), { timeout: 10_000 }).toMatch(/skywire cli vpn url/)
    expect(await p.locator('#state').textContent()).toBe('not authorised')
    expect(await p.locator('#servers-note').textContent()).toMatch(/could not be loaded/)
    await p.screenshot({ path: join(SHOTS, 'no-token.png') })
    await p.close()
  })

  it('lists the server, connects, moves the public IP to the server, shows it live, and disconnects', async () => {
    const t = topo()
    const pk = server.config.pk
    const connectBtn = page.locator(`button[data-pk="${pk}"]`)
    await page.goto(url)
    // The token leaves the address bar once traded for the cookie.
    await expect.poll(() => page.url(), { timeout: 15_000 }).toBe('http://127.0.0.1:3435/')
    await expect.poll(() => page.locator('#state').textContent(), { timeout: 10_000 }).toBe('disconnected')
    await expect
      .poll(
        async () => {
          if ((await connectBtn.count()) > 0) return true
          await page.getByRole('button', { name: 'Refresh' }).click()
          return false
        },
        { timeout: 15_000, interval: 1000 },
      )
      .toBe(true)
    await expect(page.locator('li.server', { hasText: pk }).textContent()).resolves.toMatch(/DE/)
    await shot('servers')

    expect(await t.curlWhoami(t.client.ns)).toBe(t.natc.wanAddr)
    await page.getByRole('button', { name: new RegExp(`^Connect to ${pk.slice(0, 8)}`) }).click()
    await expect.poll(() => page.locator('#state').textContent(), { timeout: 25_000 }).toBe('connected')
    await expect.poll(() => page.locator('#f-remote').textContent(), { timeout: 15_000 }).toMatch(remoteOf(t.server))
    expect(await page.locator('#f-server').textContent()).toBe(pk)
    expect(await page.locator('#f-tunnel').textContent()).toMatch(/^\d+\.\d+\.\d+\.\d+/)
    expect(await t.curlWhoami(t.client.ns)).toBe(t.server.publicAddr)

    // Some traffic for the graph, and a few ticks of it.
    for (let i = 0; i < 4; i++) {
      await t.curlWhoami(t.client.ns)
      await new Promise((r) => setTimeout(r, 700))
    }
    await expect.poll(() => page.locator('#graph-rx').getAttribute('d'), { timeout: 20_000 }).toMatch(/L/)
    expect(await page.locator('#f-rx').textContent()).not.toMatch(/^0 B/)
    await shot('connected')
    await page.setViewportSize({ width: 390, height: 844 })
    await shot('connected-phone')
    await page.emulateMedia({ colorScheme: 'dark' })
    await shot('connected-phone-dark')
    await page.emulateMedia({ colorScheme: 'light' })
    await page.setViewportSize({ width: 1100, height: 900 })

    await page.getByRole('button', { name: 'Disconnect' }).click()
    await expect.poll(() => page.locator('#state').textContent(), { timeout: 15_000 }).toBe('disconnected')
    expect(await t.curlWhoami(t.client.ns)).toBe(t.natc.wanAddr)
    expect(await page.getByRole('alert').isVisible()).toBe(false)
    expect(problems).toEqual([])
  }, 60_000)

  it('a server whose whitelist leaves us out shows a forbidden banner', async () => {
    const pk = server.config.pk
    expect(server.cli(['cli', 'vpn', 'server', 'stop']).code).toBe(0)
    const r = server.cli(['cli', 'vpn', 'server', 'start', '-w', native.generateKeypair().publicKey])
    expect(r.code, r.stderr).toBe(0)
    const connectBtn = page.locator(`button[data-pk="${pk}"]`)
    await expect
      .poll(
        async () => {
          await page.getByRole('button', { name: 'Refresh' }).click()
          return (await connectBtn.count()) > 0 && (await connectBtn.isEnabled())
        },
        { timeout: 15_000, interval: 1000 },
      )
      .toBe(true)
    await connectBtn.click()
    const alert = page.getByRole('alert')
    await expect.poll(() => alert.textContent(), { timeout: 25_000 }).toMatch(/Forbidden/)
    expect(await alert.textContent()).toMatch(/refused/)
    await expect.poll(() => page.locator('#state').textContent(), { timeout: 15_000 }).toBe('disconnected')
    await shot('forbidden')
  }, 45_000)
})
