/**
 * The VPN server's host changes survive a crash and its settings survive a
 * restart (issue 12 items 6 and 7), with a real visor in the lab's server
 * namespace (which does not forward until the VPN server turns it on):
 * - `kill -9` while serving: the next visor start puts ip_forward back, drops
 *   our nft table and TUN, and the start after that records the true original;
 * - while serving, the host forwards only to and from the VPN's TUN, not
 *   between two other interfaces, unless it already forwarded before;
 * - `vpn server start -w KEY --no-secure` is written to the config file
 *   (mode and other fields kept) and is what the restarted visor loads.
 */
import { chmodSync, existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { skipUnlessAvailable } from './helpers/skip.js'
import { generateIdentity } from '../../ts/native/keys.js'
import { ping } from '../../ts/netlab/probe.js'
import { labSkipReason } from './helpers/lab.js'
import { useVpnLab, type TestVisor } from './helpers/visors.js'

const skip = labSkipReason()
const TABLE = 'skywire_vpn'
const TUN = 'swvpns0'

describe.skipIf(skipUnlessAvailable(skip))(`VPN server host state${skip === null ? '' : ` (skipped: ${skip})`}`, () => {
  const lab = useVpnLab({ ipv6: false, dns: false, whoami: false }, (t) => ({
    server: { ns: t.server.ns, config: { vpnServer: { autostart: false, dns: ['203.0.113.53'] } } },
  }))
  let server: TestVisor
  let ns: string

  beforeAll(() => {
    server = lab.visor('server')
    ns = server.ns
  })

  const lab$ = () => lab.topo().lab
  const ipForward = async () => (await lab$().execOk(ns, ['cat', '/proc/sys/net/ipv4/ip_forward'])).stdout.trim()
  const tableExists = async () => (await lab$().exec(ns, ['nft', 'list', 'table', 'inet', TABLE])).code === 0
  const tunExists = async () => (await lab$().exec(ns, ['ip', 'link', 'show', 'dev', TUN])).code === 0
  const cliOk = (args: string[]) => {
    const r = server.cli(['cli', ...args])
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0)
    return r
  }

  it('kill -9 while serving: the next start restores ip_forward, drops our table and TUN, and records the true original', async () => {
    expect(await ipForward()).toBe('0')
    cliOk(['vpn', 'server', 'start'])
    expect(await ipForward()).toBe('1')
    expect(await tableExists()).toBe(true)
    const stateFile = join(server.config.dataDir, 'vpn-server.state.json')

    await server.kill9()
    expect(await ipForward()).toBe('1')
    expect(await tableExists()).toBe(true)

    await server.start()
    expect(await ipForward()).toBe('0')
    expect(await tableExists()).toBe(false)
    expect(await tunExists()).toBe(false)
    expect(existsSync(stateFile)).toBe(false)
    expect(server.proc!.output().stdout).toMatch(/left by a previous visor/)

    // The next start sees 0 as the original, so stopping puts 0 back. The state is on disk while serving.
    cliOk(['vpn', 'server', 'start'])
    expect(await ipForward()).toBe('1')
    expect(JSON.parse(readFileSync(stateFile, 'utf8'))).toMatchObject({
      table: TABLE,
      tunIf: TUN,
      forwarding: { globals: [{ path: '/proc/sys/net/ipv4/ip_forward', value: '0' }] },
    })
    cliOk(['vpn', 'server', 'stop'])
    expect(await ipForward()).toBe('0')
    expect(await tableExists()).toBe(false)
    expect(existsSync(stateFile)).toBe(false)
  }, 90_000)

  it('while serving, the host does not route between its other interfaces unless it did before', async () => {
    const l = lab$()
    const a = await l.addNamespace('fwa')
    const b = await l.addNamespace('fwb')
    await l.veth({ ns, ifname: 'xa0', addrs: ['172.30.1.1/24'] }, { ns: a, ifname: 'eth0', addrs: ['172.30.1.10/24'] })
    await l.veth({ ns, ifname: 'xb0', addrs: ['172.30.2.1/24'] }, { ns: b, ifname: 'eth0', addrs: ['172.30.2.10/24'] })
    await l.route(a, 'default', { via: '172.30.1.1' })
    await l.route(b, 'default', { via: '172.30.2.1' })
    const across = async () => (await ping(a, '172.30.2.10', { count: 2, timeoutS: 0.5 })).ok
    // Independent of how the test before ended.
    server.cli(['cli', 'vpn', 'server', 'stop'])
    await l.sysctl(ns, 'net.ipv4.ip_forward', 0)
    try {
      expect(await ipForward()).toBe('0')
      expect(await across()).toBe(false)
      cliOk(['vpn', 'server', 'start'])
      expect(await ipForward()).toBe('1')
      // The server's own addresses still answer; only forwarding between a and b is refused.
      expect((await ping(a, '172.30.1.1', { count: 1 })).ok).toBe(true)
      expect(await across()).toBe(false)
      cliOk(['vpn', 'server', 'stop'])

      // A host that was a router before stays one: others' forwarding is not ours to cut.
      await l.sysctl(ns, 'net.ipv4.ip_forward', 1)
      expect(await across()).toBe(true)
      cliOk(['vpn', 'server', 'start'])
      expect(await across()).toBe(true)
      cliOk(['vpn', 'server', 'stop'])
      expect(await ipForward()).toBe('1')
    } finally {
      await l.sysctl(ns, 'net.ipv4.ip_forward', 0)
      await l.ip(ns, ['link', 'del', 'xa0']).catch(() => {})
      await l.ip(ns, ['link', 'del', 'xb0']).catch(() => {})
      server.cli(['cli', 'vpn', 'server', 'stop'])
    }
  }, 90_000)

  it('vpn server start -w KEY --no-secure survives a restart; the config keeps its mode and other fields', async () => {
    const key = generateIdentity().publicKey
    chmodSync(server.file, 0o400)
    const before = JSON.parse(readFileSync(server.file, 'utf8')) as Record<string, Record<string, unknown>>
    const r = cliOk(['vpn', 'server', 'start', '-w', key, '--no-secure'])
    expect(r.stdout).toContain(`saved to ${server.file}`)
    const after = JSON.parse(readFileSync(server.file, 'utf8')) as Record<string, Record<string, unknown>>
    expect(statSync(server.file).mode & 0o7777).toBe(0o400)
    expect(Object.keys(after)).toEqual(Object.keys(before))
    expect(Object.keys(after.vpnServer!)).toEqual([...new Set([...Object.keys(before.vpnServer!), 'secure', 'whitelist'])])
    expect(after).toEqual({ ...before, vpnServer: { ...before.vpnServer, secure: false, whitelist: [key] } })
    cliOk(['vpn', 'server', 'stop'])

    await server.stop()
    await server.start()
    const status = JSON.parse(cliOk(['vpn', 'server', 'status', '--json']).stdout) as { secure: boolean; whitelist: string[] }
    expect(status).toMatchObject({ secure: false, whitelist: [key] })
  }, 90_000)
})
