/**
 * The web UI's settings section in a real browser on the lab (chromium in
 * the client visor's namespace, as in browser.test.ts): it shows the visor's
 * settings, one change (lockdown on, with allow-LAN) is saved through the
 * page, takes effect on the host at once (the internet is blocked, the LAN
 * router still answers), is in the config file, and is still there after a
 * reload of the page and in `vpn get`. Turning it off again opens the way.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { skipUnlessAvailable } from '../helpers/skip.js'
import type { NsProcess } from '../../../ts/netlab/exec.js'
import { LOCKDOWN_TABLE } from '../../../ts/sys/lockdown.js'
import { browserSkipReason, launchChromiumIn } from '../helpers/browser.js'
import { useTopology } from '../helpers/lab.js'
import { makeVisor, startServices, tempDir, type TestVisor } from '../helpers/visors.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

const skip = browserSkipReason()

describe.skipIf(skipUnlessAvailable(skip))('web UI settings in chromium on the lab', () => {
  const topo = useTopology({})
  const tmp = tempDir('skywire-ui-settings-')
  let services: NsProcess
  let client: TestVisor
  let browser: Browser
  let page: Page
  let url: string
  let problems: string[] = []

  beforeAll(async () => {
    const t = topo()
    services = await startServices(t, tmp.dir)
    client = makeVisor(t, t.client.ns, tmp.dir, 'client', {
      vpnServer: { autostart: false },
      control: { socket: join(tmp.dir, 'client.sock'), listen: '127.0.0.1:3435' },
    })
    await client.start()
    const r = client.cli(['cli', 'vpn', 'url', '--json'])
    expect(r.code, r.stderr).toBe(0)
    url = (JSON.parse(r.stdout) as { url: string }).url
    ;({ browser, page, problems } = await launchChromiumIn(t.client.ns, tmp.dir, { width: 1100, height: 1200 }))
  }, 90_000)

  afterAll(async () => {
    await browser?.close()
    await client?.stop()
    await services?.kill('SIGTERM', 3000)
    tmp.cleanup()
  })

  it('turns lockdown and allow-LAN on through the page: applied at once, saved, still there after a reload', async () => {
    const t = topo()
    await page.goto(url)
    await expect.poll(() => page.url(), { timeout: 15_000 }).toBe('http://127.0.0.1:3435/')
    const lockdown = page.getByRole('checkbox', { name: /^Lockdown/ })
    const allowLan = page.getByRole('checkbox', { name: /^Allow LAN/ })
    await expect.poll(() => page.locator('#settings-save').isEnabled(), { timeout: 10_000 }).toBe(true)
    expect(await lockdown.isChecked()).toBe(false)
    expect(await t.curlWhoami(t.client.ns)).toBe(t.natc.wanAddr)

    // A bad DNS entry is caught in the page and sends nothing.
    await page.locator('#set-dns').fill('1.1.1.1, not-an-ip')
    await page.getByRole('button', { name: 'Save' }).click()
    await expect.poll(() => page.locator('#settings-note').textContent()).toMatch(/not-an-ip is not an IP address/)
    await page.locator('#set-dns').fill('')

    await lockdown.check()
    await allowLan.check()
    await page.getByRole('button', { name: 'Save' }).click()
    await expect.poll(() => page.locator('#settings-note').textContent(), { timeout: 15_000 }).toMatch(/Saved to .*Applied now: lockdown/)
    await page.screenshot({ path: join(ROOT, 'test-artifacts', 'ui', 'settings.png'), fullPage: true }).catch(() => undefined)

    const tables = (await t.lab.execOk(t.client.ns, ['nft', 'list', 'tables'])).stdout
    expect(tables).toContain(LOCKDOWN_TABLE)
    expect(await t.canHttpGet(t.client.ns, t.internet.whoamiUrl, 1500)).toBe(false)
    expect((await t.ping(t.client.ns, t.natc.lanAddr, 2)).ok).toBe(true)
    expect(JSON.parse(readFileSync(client.file, 'utf8')).vpnClient).toMatchObject({ lockdown: true, allowLan: true })

    await page.reload()
    await expect.poll(() => page.locator('#settings-save').isEnabled(), { timeout: 10_000 }).toBe(true)
    expect(await page.getByRole('checkbox', { name: /^Lockdown/ }).isChecked()).toBe(true)
    expect(await page.getByRole('checkbox', { name: /^Allow LAN/ }).isChecked()).toBe(true)
    const g = client.cli(['cli', 'vpn', 'get', '--json'])
    expect(JSON.parse(g.stdout)).toMatchObject({ lockdown: true, allowLan: true })

    await page.getByRole('checkbox', { name: /^Lockdown/ }).uncheck()
    await page.getByRole('button', { name: 'Save' }).click()
    await expect.poll(() => page.locator('#settings-note').textContent(), { timeout: 15_000 }).toMatch(/Applied now: lockdown/)
    expect(await t.curlWhoami(t.client.ns)).toBe(t.natc.wanAddr)
    expect(problems).toEqual([])
  }, 60_000)
})
