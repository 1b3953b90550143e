/**
 * The client's bypass routes follow the network under the tunnel
 * (ts/sys/route-follow.ts, driven by LinuxClientHost's follow loop), and a
 * new tunnel address is put on the same TUN (LinuxClientHost.readdress):
 *
 * - which route the host would use without ours (pure, no root);
 * - in a lab namespace, the real LinuxClientHost with a TUN standing in for
 *   the core's: the default route replaced through another uplink, then that
 *   uplink's address removed (the kernel flushes the default and our bypass)
 *   and given back; the bypass goes where the default goes, the /1 halves
 *   never leave, the state file always names what is on the host, and
 *   restore leaves the user's default route as the user left it.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLab, type Lab, type NsProcess } from '../../../ts/netlab/netns.js'
import { underlyingRoute } from '../../../ts/sys/route-follow.js'
import { requireFreshDist, sysSkipReason } from './helpers.js'

describe('underlyingRoute: the path without our routes', () => {
  const main = [
    { dst: 'default', gateway: '10.9.0.1', dev: 'up0', metric: 100 },
    { dst: 'default', gateway: '10.9.1.1', dev: 'up1', metric: 50 },
    { dst: '0.0.0.0/1', dev: 'swvpn0', protocol: '158' },
    { dst: '203.0.113.20', gateway: '10.9.0.1', dev: 'up0', protocol: '158' },
    { dst: '198.51.100.0/24', gateway: '10.9.0.7', dev: 'up0' },
    { dst: '192.0.2.0/24', type: 'unreachable' },
  ]
  it('ignores our own routes and takes the lowest metric among equal prefixes', () => {
    expect(underlyingRoute('203.0.113.20', 4, main)).toEqual({ dev: 'up1', gateway: '10.9.1.1' })
  })
  it('takes the longest prefix', () => {
    expect(underlyingRoute('198.51.100.9', 4, main)).toEqual({ dev: 'up0', gateway: '10.9.0.7' })
  })
  it('has no path where the best match is unreachable, or where nothing matches', () => {
    expect(underlyingRoute('192.0.2.1', 4, main)).toBeNull()
    expect(underlyingRoute('203.0.113.20', 4, main.slice(2, 4))).toBeNull()
  })
  it('reads IPv6 defaults too', () => {
    expect(underlyingRoute('2001:db8::1', 6, [{ dst: 'default', gateway: 'fe80::1', dev: 'up0' }])).toEqual({ dev: 'up0', gateway: 'fe80::1' })
  })
})

const skip = sysSkipReason()
const root = fileURLToPath(new URL('../../../', import.meta.url))
const TUN = 'swrf0'
const SERVER = '203.0.113.20'

/** Connects with the real LinuxClientHost (follow loop every 100 ms); SIGUSR2 re-addresses the TUN, SIGTERM restores. */
const RUNNER = `
const [mod, payload] = process.argv.slice(1)
const { LinuxClientHost } = await import(mod)
const { stateFile, tun } = JSON.parse(payload)
const line = (level) => (obj, msg) => process.stdout.write(JSON.stringify({ level, msg, ...obj }) + '\\n')
const host = new LinuxClientHost(stateFile, 'swrf', { dnsRecheckMs: 0, routeFollowMs: 100, log: { warn: line('warn'), debug: line('debug') } })
await host.apply({ tun, tunnelIp: '10.99.0.2', exempt: ['${SERVER}:7777'], dns: [], killswitch: false })
process.stdout.write('CONNECTED\\n')
process.on('SIGUSR2', async () => {
  await host.readdress(tun, '10.99.0.2', '10.99.0.3')
  process.stdout.write('READDRESSED\\n')
})
process.on('SIGTERM', async () => {
  await host.restore()
  process.stdout.write('RESTORED\\n')
  process.exit(0)
})
setInterval(() => {}, 1 << 30)
`

describe.skipIf(skip !== null)(`LinuxClientHost follows the network under the tunnel${skip === null ? '' : ` (skipped: ${skip})`}`, () => {
  let lab: Lab
  let ns: string
  let dir: string
  let host: NsProcess | null = null
  const routes = async () => (await lab.ip(ns, ['-4', 'route', 'show', 'table', 'main'])).stdout
  const bypass = async () => (await routes()).split('\n').find((l) => l.startsWith(`${SERVER} `)) ?? 'none'
  const halves = async () => (await routes()).split('\n').filter((l) => /^(0\.0\.0\.0|128\.0\.0\.0)\/1 dev swrf0 proto 158/.test(l)).length
  const stateRoutes = () => (JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { routes: { dst: string; dev?: string; via?: string }[] }).routes

  beforeAll(async () => {
    requireFreshDist()
    dir = mkdtempSync(`${tmpdir()}/sw-rfollow-`)
    lab = createLab()
    ns = await lab.addNamespace('client')
    // Two uplinks (veths whose peers stay here, so both have carrier), a TUN standing in for the core's.
    for (const [i, addr] of [['0', '10.9.0.2/24'], ['1', '10.9.1.2/24']] as const) {
      await lab.ip(ns, ['link', 'add', `up${i}`, 'type', 'veth', 'peer', 'name', `up${i}p`])
      await lab.ip(ns, ['link', 'set', `up${i}p`, 'up'])
      await lab.ip(ns, ['link', 'set', `up${i}`, 'up'])
      await lab.addr(ns, `up${i}`, addr)
    }
    await lab.route(ns, 'default', { via: '10.9.0.1' })
    await lab.ip(ns, ['tuntap', 'add', 'dev', TUN, 'mode', 'tun'])
    await lab.addr(ns, TUN, '10.99.0.2/32')
    await lab.ip(ns, ['link', 'set', TUN, 'up'])
  })
  afterAll(async () => {
    await host?.kill('SIGKILL', 1000)
    await lab?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('moves the bypass with the default route, waits out a roam with no default, re-addresses the TUN, and restores to the user\'s default', async () => {
    const before = await routes()
    host = lab.spawn(ns, [process.execPath, '--input-type=module', '-e', RUNNER, pathToFileURL(`${root}dist/vpn/linux-host.js`).href, JSON.stringify({ stateFile: join(dir, 'state.json'), tun: TUN })])
    await host.waitForOutput(/CONNECTED/, 30_000)
    expect(await bypass()).toMatch(/via 10\.9\.0\.1 dev up0 proto 158/)
    expect(await halves()).toBe(2)

    // The user switches the default route to the other uplink.
    await lab.ip(ns, ['route', 'replace', 'default', 'via', '10.9.1.1', 'dev', 'up1'])
    await expect.poll(bypass, { timeout: 5000, interval: 50 }).toMatch(/via 10\.9\.1\.1 dev up1 proto 158/)
    expect(await halves()).toBe(2)
    expect(stateRoutes().find((r) => r.dst === `${SERVER}/32`)).toMatchObject({ dev: 'up1', via: '10.9.1.1' })

    // Roaming: the address goes (the kernel flushes the default and our bypass), then a new lease brings it back.
    await lab.ip(ns, ['addr', 'del', '10.9.1.2/24', 'dev', 'up1'])
    expect(await bypass()).toBe('none')
    await new Promise((r) => setTimeout(r, 400))
    // No default route: nothing to follow to yet, and the halves stay.
    expect(await bypass()).toBe('none')
    expect(await halves()).toBe(2)
    await lab.addr(ns, 'up1', '10.9.1.2/24')
    await lab.route(ns, 'default', { via: '10.9.1.1' })
    await expect.poll(bypass, { timeout: 5000, interval: 50 }).toMatch(/via 10\.9\.1\.1 dev up1 proto 158/)
    expect(host.output().stdout).toMatch(/moved the VPN routes along/)

    // A new tunnel address on the same TUN: the routes into it stay.
    process.kill(host.pid, 'SIGUSR2')
    await host.waitForOutput(/READDRESSED/, 10_000)
    const addrs = (await lab.ip(ns, ['-4', '-o', 'addr', 'show', 'dev', TUN])).stdout
    expect(addrs).toContain('10.99.0.3/32')
    expect(addrs).not.toContain('10.99.0.2/32')
    expect(await halves()).toBe(2)

    process.kill(host.pid, 'SIGTERM')
    await host.waitForOutput(/RESTORED/, 10_000)
    // Ours gone; the default is where the user put it.
    expect(await routes()).toBe(before.replace('default via 10.9.0.1 dev up0', 'default via 10.9.1.1 dev up1'))
  }, 60_000)
})
