/**
 * The VPN client with a server that carries IPv6 (issue 15), on a real TUN in
 * a lab namespace: IPv6 goes into the tunnel (both halves of the address
 * space, ::/1 and 8000::/1, by the tunnel table's default), only the visor's
 * marked packets take the original v6 route, the kill switch and lockdown
 * refuse unmarked IPv6 beside the tunnel, DNS of both families is written, and
 * restore or a crash's recovery leave `ip -6 route` and `ip -6 rule` byte for
 * byte as they were.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { skipUnlessAvailable } from '../helpers/skip.js'
import { createLab, execOk, waitFor, type Lab } from '../../../ts/netlab/netns.js'
import { ping, snapshotNet } from '../../../ts/netlab/probe.js'
import { BYPASS_MARK, BYPASS_TABLE } from '../../../ts/sys/bypass.js'
import { requireFreshDist, sys, sys1, sysHang, sysSkipReason } from './helpers.js'

const skip = sysSkipReason()
if (skip !== null) console.warn(`sys ipv6-client tests skipped: ${skip}`)

const TUN = 'swv6c0'
const ENDPOINT6 = '2001:db8:203::20'
const LAN6_GW = 'fd10::1'

describe.skipIf(skipUnlessAvailable(skip))(`client routing with IPv6 in the tunnel${skip === null ? '' : ` (skipped: ${skip})`}`, () => {
  let lab: Lab
  let client: string
  let dir: string
  let stateFile: string
  let opts: Record<string, unknown>
  const snap = () => snapshotNet(client, lab.resolvConfPath(client))
  const v6dump = async () => ({
    route: (await execOk(client, ['ip', '-6', 'route', 'show', 'table', 'all'])).stdout,
    rule: (await execOk(client, ['ip', '-6', 'rule', 'show'])).stdout,
  })
  const routeGet = async (addr: string, mark = false) =>
    (await execOk(client, ['ip', '-6', 'route', 'get', addr, ...(mark ? ['mark', String(BYPASS_MARK)] : [])])).stdout
  const markedPing6 = async (addr: string) =>
    (await lab.exec(client, ['ping', '-6', '-n', '-c', '1', '-W', '1', '-w', '3', '-m', String(BYPASS_MARK), addr])).code === 0
  /** Unmarked: what any other program sends. The kill switch rejects at once (icmpx admin-prohibited), so this is quick. */
  const ping6 = async (addr: string) => (await ping(client, addr, { count: 1, timeoutS: 0.5 })).ok

  beforeAll(async () => {
    requireFreshDist()
    dir = mkdtempSync(`${tmpdir()}/sw-v6c-`)
    stateFile = `${dir}/vpn-client.state.json`
    lab = createLab()
    const router = await lab.addNamespace('router')
    client = await lab.addNamespace('client', { resolvConf: 'nameserver 203.0.113.53\n' })
    await lab.veth(
      { ns: router, ifname: 'lan0', addrs: ['10.10.0.1/24', `${LAN6_GW}/64`] },
      { ns: client, ifname: 'eth0', addrs: ['10.10.0.10/24', 'fd10::10/64'] },
    )
    await lab.addr(router, 'lo', `${ENDPOINT6}/128`)
    await lab.route(client, 'default', { via: '10.10.0.1' })
    await lab.route(client, 'default', { via: LAN6_GW })
    // The TUN as the client's core leaves it: the v4 /32 and the v6 /128 the server offered.
    await lab.ip(client, ['tuntap', 'add', 'dev', TUN, 'mode', 'tun'])
    await lab.addr(client, TUN, '10.77.0.2/32')
    await lab.addr(client, TUN, 'fd12:3456:789a::2/128')
    await lab.ip(client, ['link', 'set', TUN, 'up'])
    await waitFor(
      async () => {
        const ll = (await execOk(client, ['ip', '-6', 'addr', 'show', 'dev', 'eth0', 'scope', 'link'])).stdout
        return ll.includes('fe80::') && (await execOk(client, ['ip', '-6', 'addr', 'show', 'tentative'])).stdout.trim() === ''
      },
      10_000,
      { what: 'IPv6 DAD' },
    )
    opts = { tunIf: TUN, dns: ['1.1.1.1', '2606:4700:4700::1111'], tunnelIpv6: true, killSwitch: true, stateFile }
  })
  // A failed test must not leave its routes for the next one (nor fail it with "state file exists").
  afterEach(async () => {
    if (stateFile && existsSync(stateFile)) await sys1(client, 'recoverStale', stateFile, { force: true }).catch(() => {})
  })
  afterAll(() => {
    lab?.teardown()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('IPv6 into the TUN (both halves), marked packets beside it, DNS of both families, kill switch for IPv6; restore is byte for byte', async () => {
    const before = await snap()
    expect(await ping6(LAN6_GW)).toBe(true)
    const [applied] = (await sys(client, [{ fn: 'applyClientRouting', args: [opts] }])) as [{ ipv6: string; skipped: unknown[] }]
    expect(applied).toMatchObject({ ipv6: 'tunnel', skipped: [] })
    expect((await execOk(client, ['ip', '-6', 'route', 'show', 'table', String(BYPASS_TABLE)])).stdout).toMatch(
      new RegExp(`^default dev ${TUN} proto 158 `, 'm'),
    )
    const rules = (await execOk(client, ['ip', '-6', 'rule', 'show'])).stdout
    expect(rules).toMatch(/^29000:\s+from all lookup main suppress_prefixlength 0/m)
    expect(rules).toMatch(new RegExp(`^29001:\\s+not from all fwmark 0x${BYPASS_MARK.toString(16)} lookup ${BYPASS_TABLE}`, 'm'))
    // ::/1 (all of 2000::/3) and 8000::/1 (ULA space beyond the LAN's own /64): into the TUN.
    for (const a of ['2001:db8:1::1', ENDPOINT6, 'fd77::1', 'fe00::1']) expect(await routeGet(a), a).toMatch(new RegExp(`dev ${TUN}`))
    // The visor's own (marked) sockets reach the transport endpoint the original way.
    expect(await routeGet(ENDPOINT6, true)).toMatch(new RegExp(`via ${LAN6_GW} dev eth0`))
    expect(await markedPing6(ENDPOINT6)).toBe(true)
    // Everything else beside the tunnel is refused, IPv6 like IPv4: the LAN and the endpoint alike.
    expect(await ping6(LAN6_GW)).toBe(false)
    expect(await ping6(ENDPOINT6)).toBe(false)
    expect(readFileSync(lab.resolvConfPath(client), 'utf8')).toMatch(/^nameserver 1\.1\.1\.1\nnameserver 2606:4700:4700::1111\n/m)

    await sys1(client, 'restoreClientRouting', stateFile)
    expect(await snap()).toEqual(before)
    expect(await ping6(LAN6_GW)).toBe(true)
  })

  it('a switch between servers with and without IPv6 changes only the IPv6 route, in place; restore is still byte for byte', async () => {
    const before = await snap()
    const table = async () => (await execOk(client, ['ip', '-6', 'route', 'show', 'table', String(BYPASS_TABLE)])).stdout
    const state = () => JSON.parse(readFileSync(stateFile, 'utf8')) as { routes: { family: number; type: string }[] }
    // (The handle's ipv6 is read when the runner prints it, after the last op: the ops' own results tell each step.)
    const [, blocked, tunnelled, again] = (await sys(client, [
      { fn: 'applyClientRouting', args: [{ ...opts, tunnelIpv6: false }] },
      { fn: 'last.setTunnelIpv6', args: [false] },
      { fn: 'last.setTunnelIpv6', args: [true] },
      { fn: 'last.setTunnelIpv6', args: [true] },
    ])) as [unknown, string, string, string]
    expect([blocked, tunnelled, again]).toEqual(['blocked', 'tunnel', 'tunnel'])
    expect(await table()).toMatch(new RegExp(`^default dev ${TUN} proto 158 `, 'm'))
    expect(await table()).not.toMatch(/unreachable/)
    // The state file names exactly the route now in place, so a crash from here is undone exactly.
    expect(
      state()
        .routes.filter((r) => r.family === 6)
        .map((r) => r.type),
    ).toEqual(['unicast'])
    await sys1(client, 'restoreClientRouting', stateFile)
    expect(await snap()).toEqual(before)

    // And the other way: tunnelled, then a server without IPv6: unreachable, in place.
    await sys(client, [
      { fn: 'applyClientRouting', args: [opts] },
      { fn: 'last.setTunnelIpv6', args: [false] },
    ])
    expect(await table()).toMatch(/^unreachable default (dev lo )?proto 158 /m)
    expect(await ping6(ENDPOINT6)).toBe(false)
    expect((await lab.exec(client, ['ip', '-6', 'route', 'get', '2001:db8:1::1'])).code).not.toBe(0)
    expect(
      state()
        .routes.filter((r) => r.family === 6)
        .map((r) => r.type),
    ).toEqual(['unreachable'])
    await sys1(client, 'restoreClientRouting', stateFile)
    expect(await snap()).toEqual(before)
  })

  it('a SIGKILLed visor with IPv6 tunnelled: recovery puts ip -6 route and ip -6 rule back byte for byte', async () => {
    const before = await v6dump()
    const whole = await snap()
    const { proc } = await sysHang(lab, client, [{ fn: 'applyClientRouting', args: [opts] }])
    const during = await v6dump()
    expect(during.route).not.toEqual(before.route)
    expect(during.rule).not.toEqual(before.rule)
    await proc.kill('SIGKILL')
    const recovered = await sys1<{ routes: { family: number; dst: string; type: string }[] }>(client, 'recoverStale', stateFile)
    expect(recovered.routes.filter((r) => r.family === 6)).toEqual([expect.objectContaining({ dst: '::/0', type: 'unicast' })])
    expect(await v6dump()).toEqual(before)
    expect(await snap()).toEqual(whole)
  })

  it('lockdown refuses unmarked IPv6 too, before any connect; marked packets pass', async () => {
    const before = await snap()
    await sys1(client, 'installLockdown', { tunIf: TUN })
    try {
      expect(await ping6(LAN6_GW)).toBe(false)
      expect(await ping6(ENDPOINT6)).toBe(false)
      expect(await markedPing6(ENDPOINT6)).toBe(true)
    } finally {
      await sys1(client, 'removeLockdown')
    }
    expect(await snap()).toEqual(before)
  })
})
