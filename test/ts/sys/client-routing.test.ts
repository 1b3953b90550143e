/**
 * The VPN client's host changes in a lab namespace with a real TUN standing in
 * for the core's: traffic goes where it should while applied (only packets
 * with the visor's bypass mark take the original route; `ping -m` and
 * `ip route get ... mark` stand in for the visor's marked sockets), and
 * restore, 50 cycles and a SIGKILLed "visor" all leave the namespace
 * byte-identical.
 */
import { mkdtempSync, rmSync, existsSync, writeFileSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { skipUnlessAvailable } from '../helpers/skip.js'
import { createLab, execOk, waitFor, type Lab } from '../../../ts/netlab/netns.js'
import { ping, snapshotNet } from '../../../ts/netlab/probe.js'
import { BYPASS_MARK, BYPASS_TABLE } from '../../../ts/sys/bypass.js'
import { requireFreshDist, sys, sys1, SysCallError, sysHang, sysSkipReason } from './helpers.js'

const skip = sysSkipReason()
if (skip !== null) console.warn(`sys client-routing tests skipped: ${skip}`)

const TUN = 'swtest0'
const ENDPOINT = '203.0.113.20'
const ENDPOINT6 = '2001:db8:203::20'
const DISCOVERY = '203.0.113.10'
const LAN_GW = '10.10.0.1'
const ORIGINAL_RESOLV = '# lab resolver\nnameserver 203.0.113.53\noptions edns0\n'

describe.skipIf(skipUnlessAvailable(skip))(`client routing${skip === null ? '' : ` (skipped: ${skip})`}`, () => {
  let lab: Lab
  let client: string
  let dir: string
  let stateFile: string
  let opts: Record<string, unknown>
  const snap = () => snapshotNet(client, lab.resolvConfPath(client))
  const routeGet = async (addr: string) => (await execOk(client, ['ip', addr.includes(':') ? '-6' : '-4', 'route', 'get', addr])).stdout
  /** The path of the visor's own (marked) packets. */
  const markedRouteGet = async (addr: string) =>
    (await execOk(client, ['ip', addr.includes(':') ? '-6' : '-4', 'route', 'get', addr, 'mark', String(BYPASS_MARK)])).stdout
  /** One ping carrying the bypass mark, as the visor's sockets do. */
  const markedPing = async (addr: string) =>
    (await lab.exec(client, ['ping', '-n', '-c', '1', '-W', '1', '-w', '3', '-m', String(BYPASS_MARK), addr])).code === 0

  const hostResolv = readFileSync('/etc/resolv.conf', 'utf8')

  beforeAll(async () => {
    requireFreshDist()
    dir = mkdtempSync(`${tmpdir()}/sw-sys-`)
    stateFile = `${dir}/vpn-client.state.json`
    lab = createLab()
    const router = await lab.addNamespace('router')
    client = await lab.addNamespace('client', { resolvConf: ORIGINAL_RESOLV })
    await lab.veth(
      { ns: router, ifname: 'lan0', addrs: ['10.10.0.1/24', 'fd10::1/64'] },
      { ns: client, ifname: 'eth0', addrs: ['10.10.0.10/24', 'fd10::10/64'] },
    )
    // The endpoints and an "internet" host live on the router, one hop away.
    for (const a of [`${ENDPOINT}/32`, `${DISCOVERY}/32`, '198.51.100.7/32', `${ENDPOINT6}/128`]) await lab.addr(router, 'lo', a)
    await lab.route(client, 'default', { via: LAN_GW })
    await lab.route(client, 'default', { via: 'fd10::1' })
    await lab.ip(client, ['tuntap', 'add', 'dev', TUN, 'mode', 'tun'])
    await lab.addr(client, TUN, '10.99.0.2/24')
    await lab.addr(client, TUN, 'fd99::2/64')
    await lab.ip(client, ['link', 'set', TUN, 'up'])
    // Link-local addresses finish DAD a moment after the link is up; a snapshot taken earlier would miss them.
    await waitFor(
      async () => {
        const ll = (await execOk(client, ['ip', '-6', 'addr', 'show', 'dev', 'eth0', 'scope', 'link'])).stdout
        const tentative = (await execOk(client, ['ip', '-6', 'addr', 'show', 'tentative'])).stdout
        return ll.includes('fe80::') && tentative.trim() === ''
      },
      10_000,
      { what: 'IPv6 link-local address after DAD' },
    )
    opts = { tunIf: TUN, dns: ['10.99.0.1', 'fd99::1'], stateFile }
  })
  afterAll(() => {
    lab?.teardown()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it("routes everything into the TUN, the endpoints' addresses too; only marked packets take the original route; blocks untunnelled IPv6; restores byte for byte", async () => {
    const before = await snap()
    const [applied] = (await sys(client, [{ fn: 'applyClientRouting', args: [opts] }])) as [{ ipv6: string; skipped: unknown[] }]
    expect(applied.ipv6).toBe('blocked')
    expect(applied.skipped).toEqual([])
    for (const a of ['1.1.1.1', '198.51.100.7', ENDPOINT, DISCOVERY]) expect(await routeGet(a), a).toMatch(new RegExp(`dev ${TUN}`))
    expect(await markedRouteGet(ENDPOINT)).toMatch(new RegExp(`via ${LAN_GW} dev eth0`))
    expect(await markedRouteGet(DISCOVERY)).toMatch(new RegExp(`via ${LAN_GW} dev eth0`))
    expect(await markedRouteGet(ENDPOINT6)).toMatch(/via fd10::1 dev eth0/)
    // main's specific routes still win (suppress_prefixlength 0 only suppresses its default).
    expect(await routeGet(LAN_GW)).toMatch(/dev eth0/)
    for (const a of ['2001:db8:1::1', ENDPOINT6]) {
      const leak = await lab.exec(client, ['ip', '-6', 'route', 'get', a])
      expect(leak.code, a).not.toBe(0)
    }
    const rules = (await execOk(client, ['ip', 'rule'])).stdout
    expect(rules).toMatch(new RegExp(`not from all fwmark 0x${BYPASS_MARK.toString(16)} lookup ${BYPASS_TABLE}`))
    expect(rules).toMatch(/lookup main suppress_prefixlength 0/)
    expect(readFileSync(lab.resolvConfPath(client), 'utf8')).toMatch(/^nameserver 10\.99\.0\.1\nnameserver fd99::1\n/m)
    expect(readFileSync(lab.resolvConfPath(client), 'utf8')).not.toContain('203.0.113.53')
    expect(existsSync(stateFile)).toBe(true)

    await sys1(client, 'restoreClientRouting', stateFile)
    expect(existsSync(stateFile)).toBe(false)
    expect(await snap()).toEqual(before)
    expect(readFileSync(lab.resolvConfPath(client), 'utf8')).toBe(ORIGINAL_RESOLV)
  })

  it('tunnels IPv6 when the tunnel carries it', async () => {
    const before = await snap()
    const [applied] = (await sys(client, [{ fn: 'applyClientRouting', args: [{ ...opts, tunnelIpv6: true }] }])) as [{ ipv6: string }]
    expect(applied.ipv6).toBe('tunnel')
    expect(await routeGet('2001:db8:1::1')).toMatch(new RegExp(`dev ${TUN}`))
    expect(await routeGet(ENDPOINT6)).toMatch(new RegExp(`dev ${TUN}`))
    expect(await markedRouteGet(ENDPOINT6)).toMatch(/via fd10::1 dev eth0/)
    await sys1(client, 'restoreClientRouting', stateFile)
    expect(await snap()).toEqual(before)
  })

  it('50 apply/restore cycles leave the namespace identical (no piled-up routes)', async () => {
    const before = await snap()
    const t0 = Date.now()
    await sys(client, [{ fn: 'applyClientRouting', args: [{ ...opts, killSwitch: true }] }, { fn: 'last.restore' }], 50)
    console.log(`50 client apply/restore cycles (kill switch on): ${Date.now() - t0} ms`)
    expect(await snap()).toEqual(before)
    expect(existsSync(stateFile)).toBe(false)
  })

  it('refuses to apply twice, and leaves nothing behind when a route it needs is taken', async () => {
    const before = await snap()
    await sys1(client, 'applyClientRouting', opts)
    await expect(sys1(client, 'applyClientRouting', opts)).rejects.toMatchObject({ code: 'ESTATE' })
    await sys1(client, 'restoreClientRouting', stateFile)
    expect(await snap()).toEqual(before)

    // Another VPN's half route: we must not touch it, nor change anything else.
    await lab.ip(client, ['route', 'add', '128.0.0.0/1', 'dev', TUN])
    try {
      const withOther = await snap()
      const err = await sys1(client, 'applyClientRouting', opts).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(SysCallError)
      expect((err as SysCallError).code).toBe('EEXIST')
      expect((err as SysCallError).message).toMatch(/128\.0\.0\.0\/1 exists already/)
      expect(await snap()).toEqual(withOther)
      expect(existsSync(stateFile)).toBe(false)
    } finally {
      await lab.ip(client, ['route', 'del', '128.0.0.0/1', 'dev', TUN])
    }
    expect(await snap()).toEqual(before)

    // Our rule preference or table in use (another visor): refused, nothing changed.
    for (const [taken, why] of [
      [['rule', 'add', 'pref', '29001', 'table', '100'], /policy rules at preference/],
      [['route', 'add', 'default', 'dev', TUN, 'table', String(BYPASS_TABLE)], /routing table \d+ is in use/],
    ] as const) {
      await lab.ip(client, [...taken])
      try {
        const withOther = await snap()
        const err = await sys1(client, 'applyClientRouting', opts).catch((e: unknown) => e)
        expect((err as SysCallError).code, taken.join(' ')).toBe('EEXIST')
        expect((err as SysCallError).message).toMatch(why)
        expect(await snap()).toEqual(withOther)
        expect(existsSync(stateFile)).toBe(false)
      } finally {
        await lab.ip(client, [taken[0] as string, 'del', ...taken.slice(2)])
      }
    }
    expect(await snap()).toEqual(before)
  })

  it('a failure half-way (TUN down) undoes what was done: routes, rules and kill switch gone, no state file', async () => {
    await lab.ip(client, ['link', 'set', TUN, 'down'])
    try {
      const before = await snap()
      const err = await sys1(client, 'applyClientRouting', { ...opts, killSwitch: true }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(SysCallError)
      expect((err as SysCallError).code).toBe('ESYSCMD')
      expect((err as SysCallError).message).toMatch(/^ip -batch -: /)
      expect(await snap()).toEqual(before)
      expect(existsSync(stateFile)).toBe(false)
    } finally {
      await lab.ip(client, ['link', 'set', TUN, 'up'])
    }
  })

  it('verify() notices routes deleted and DNS rewritten behind our back; restore still comes out identical', async () => {
    const before = await snap()
    const [, check] = (await sys(client, [{ fn: 'applyClientRouting', args: [{ ...opts, killSwitch: true }] }, { fn: 'last.verify' }])) as [
      unknown,
      { intact: boolean },
    ]
    expect(check.intact).toBe(true)
    const state = await sys1(client, 'readState', stateFile)
    await lab.ip(client, ['route', 'del', '0.0.0.0/0', 'table', String(BYPASS_TABLE)])
    await lab.ip(client, ['-6', 'rule', 'del', 'pref', '29001'])
    writeFileSync(lab.resolvConfPath(client), 'nameserver 192.0.2.1\n')
    const broken = (await sys1(client, 'verifyClientRouting', state)) as {
      intact: boolean
      missingRoutes: { dst: string }[]
      missingRules: { family: number; pref: number }[]
      dns: boolean
      killSwitch: boolean
    }
    expect(broken.intact).toBe(false)
    expect(broken.missingRoutes.map((r) => r.dst)).toEqual(['0.0.0.0/0'])
    expect(broken.missingRules.map((r) => `${r.family} ${r.pref}`)).toEqual(['6 29001'])
    expect(broken.dns).toBe(false)
    expect(broken.killSwitch).toBe(true)
    await sys1(client, 'restoreClientRouting', stateFile)
    expect(await snap()).toEqual(before)
  })

  it('kill switch: only the TUN and marked packets leave, not the LAN, not unmarked packets to the endpoints', async () => {
    expect((await ping(client, LAN_GW, { count: 1 })).ok).toBe(true)
    const before = await snap()
    await sys1(client, 'applyClientRouting', { ...opts, killSwitch: true })
    expect(await markedPing(ENDPOINT)).toBe(true)
    expect(await markedPing(ENDPOINT6)).toBe(true)
    expect(await markedPing(LAN_GW)).toBe(true)
    // Unmarked, ENDPOINT goes into the TUN (where nobody answers in this test); ENDPOINT6 is unreachable.
    expect((await ping(client, ENDPOINT6, { count: 1, timeoutS: 0.5 })).ok).toBe(false)
    expect((await ping(client, LAN_GW, { count: 1, timeoutS: 0.5 })).ok).toBe(false)
    expect((await ping(client, 'fd10::1', { count: 1, timeoutS: 0.5 })).ok).toBe(false)
    await sys1(client, 'restoreClientRouting', stateFile)
    expect(await snap()).toEqual(before)
    expect((await ping(client, LAN_GW, { count: 1 })).ok).toBe(true)
  })

  it('reconnect: the kill switch stays up between restore({ keepKillSwitch }) and the next apply; marked packets get through all along', async () => {
    const before = await snap()
    await sys(client, [
      { fn: 'applyClientRouting', args: [{ ...opts, killSwitch: true }] },
      { fn: 'last.restore', args: [{ keepKillSwitch: true }] },
    ])
    const between = await snap()
    expect(between.route).toEqual(before.route)
    expect(between.resolvConf).toEqual(before.resolvConf)
    expect(between.nft).toMatch(/skywire_killswitch/)
    expect(existsSync(stateFile)).toBe(true)
    expect((await ping(client, LAN_GW, { count: 1, timeoutS: 0.5 })).ok).toBe(false)
    // Between the two, unmarked packets to the endpoints are refused; the visor's marked ones pass.
    expect((await ping(client, DISCOVERY, { count: 1, timeoutS: 0.5 })).ok).toBe(false)
    expect(await markedPing(DISCOVERY)).toBe(true)
    await sys1(client, 'applyClientRouting', { ...opts, killSwitch: true })
    expect(await markedRouteGet(DISCOVERY)).toMatch(new RegExp(`via ${LAN_GW} dev eth0`))
    expect(await markedPing(DISCOVERY)).toBe(true)
    expect((await ping(client, LAN_GW, { count: 1, timeoutS: 0.5 })).ok).toBe(false)
    await sys1(client, 'restoreClientRouting', stateFile)
    expect(await snap()).toEqual(before)

    // Kill switch left for a reconnect, but the user turned it off: the next connect drops it.
    await sys(client, [
      { fn: 'applyClientRouting', args: [{ ...opts, killSwitch: true }] },
      { fn: 'last.restore', args: [{ keepKillSwitch: true }] },
    ])
    await sys1(client, 'applyClientRouting', opts)
    expect((await snap()).nft).not.toMatch(/skywire_killswitch/)
    await sys1(client, 'restoreClientRouting', stateFile)
    expect(await snap()).toEqual(before)
  })

  it('a SIGKILLed visor: recoverStale refuses while it lives, then restores everything', async () => {
    const before = await snap()
    const { proc } = await sysHang(lab, client, [{ fn: 'applyClientRouting', args: [{ ...opts, killSwitch: true }] }])
    expect((await snap()).route).not.toEqual(before.route)
    await expect(sys1(client, 'recoverStale', stateFile)).rejects.toMatchObject({ code: 'ESTATE', message: expect.stringMatching(/running process/) })
    await proc.kill('SIGKILL')
    const recovered = await sys1<{ routes: unknown[]; rules: unknown[] } | null>(client, 'recoverStale', stateFile)
    expect(recovered?.routes.length).toBe(2) // a default per family in our table
    expect(recovered?.rules.length).toBe(4) // two rules per family
    expect(await snap()).toEqual(before)
    expect(await sys1(client, 'recoverStale', stateFile)).toBeNull()
  })

  it('a crash that took the TUN with it is recovered too (its routes are already gone)', async () => {
    await lab.ip(client, ['link', 'del', TUN])
    const noTun = await snap()
    await lab.ip(client, ['tuntap', 'add', 'dev', TUN, 'mode', 'tun'])
    await lab.ip(client, ['link', 'set', TUN, 'up'])
    const { proc } = await sysHang(lab, client, [{ fn: 'applyClientRouting', args: [{ ...opts, killSwitch: true }] }])
    await proc.kill('SIGKILL')
    await lab.ip(client, ['link', 'del', TUN])
    await sys1(client, 'recoverStale', stateFile)
    expect(await snap()).toEqual(noTun)
  })

  it('a host with IPv6 switched off: IPv6 is blocked (not tunnelled), and restored identically', async () => {
    const nov6 = await lab.addNamespace('nov6')
    await lab.sysctl(nov6, 'net.ipv6.conf.all.disable_ipv6', 1)
    await lab.sysctl(nov6, 'net.ipv6.conf.default.disable_ipv6', 1)
    await lab.ip(nov6, ['tuntap', 'add', 'dev', TUN, 'mode', 'tun'])
    await lab.ip(nov6, ['link', 'set', TUN, 'up'])
    const before = await snapshotNet(nov6, lab.resolvConfPath(nov6))
    const [applied] = (await sys(nov6, [{ fn: 'applyClientRouting', args: [{ tunIf: TUN, tunnelIpv6: true, stateFile }] }])) as [
      { ipv6: string; skipped: { addr: string }[] },
    ]
    expect(applied.ipv6).toBe('blocked')
    expect(applied.skipped.map((x) => x.addr)).toEqual(['::/0'])
    await sys1(nov6, 'restoreClientRouting', stateFile)
    expect(await snapshotNet(nov6, lab.resolvConfPath(nov6))).toEqual(before)
  })

  it('a state file from before the bypass mark (per-address routes in main, exempting kill switch) is still undone exactly', async () => {
    // The crash test above took the TUN away.
    if ((await lab.exec(client, ['ip', 'link', 'show', TUN])).code !== 0) {
      await lab.ip(client, ['tuntap', 'add', 'dev', TUN, 'mode', 'tun'])
      await lab.ip(client, ['link', 'set', TUN, 'up'])
    }
    const before = await snap()
    // What the previous version applied: a bypass /32, the two /1 halves, IPv6 unreachable halves, its kill switch.
    const routes = [
      { family: 4, dst: `${ENDPOINT}/32`, type: 'unicast', dev: 'eth0', via: LAN_GW, why: `bypass for endpoint ${ENDPOINT}` },
      { family: 4, dst: '0.0.0.0/1', type: 'unicast', dev: TUN, why: 'into the tunnel' },
      { family: 4, dst: '128.0.0.0/1', type: 'unicast', dev: TUN, why: 'into the tunnel' },
      { family: 6, dst: '::/1', type: 'unreachable', why: 'IPv6 is not tunnelled: never leak it' },
      { family: 6, dst: '8000::/1', type: 'unreachable', why: 'IPv6 is not tunnelled: never leak it' },
    ]
    await lab.ip(client, ['route', 'add', `${ENDPOINT}/32`, 'via', LAN_GW, 'dev', 'eth0', 'proto', '158'])
    for (const h of ['0.0.0.0/1', '128.0.0.0/1']) await lab.ip(client, ['route', 'add', h, 'dev', TUN, 'proto', '158'])
    for (const h of ['::/1', '8000::/1']) await lab.ip(client, ['-6', 'route', 'add', 'unreachable', h, 'proto', '158'])
    await lab.nft(
      client,
      'table inet skywire_killswitch {\n  chain output {\n    type filter hook output priority filter; policy accept;\n    ip daddr { 203.0.113.20 } accept\n  }\n}\n',
    )
    const old = {
      version: 1,
      pid: 999_999_999,
      bootId: null,
      createdAt: new Date().toISOString(),
      tunIf: TUN,
      routes,
      resolvConf: null,
      dns: [],
      killSwitch: { table: 'skywire_killswitch', exempt: [ENDPOINT] },
    }
    writeFileSync(stateFile, JSON.stringify(old), { mode: 0o600 })
    expect((await snap()).route).not.toEqual(before.route)
    const recovered = await sys1<{ routes: unknown[] } | null>(client, 'recoverStale', stateFile)
    expect(recovered?.routes.length).toBe(5)
    expect(await snap()).toEqual(before)
    expect(existsSync(stateFile)).toBe(false)
  })

  it("never touched the machine's own resolv.conf", () => {
    expect(readFileSync('/etc/resolv.conf', 'utf8')).toBe(hostResolv)
  })

  it('a corrupt state file is reported, not guessed at', async () => {
    writeFileSync(stateFile, '{"version": 1, "routes": [')
    await expect(sys1(client, 'recoverStale', stateFile)).rejects.toMatchObject({ code: 'ESTATE', message: expect.stringMatching(/not JSON/) })
    rmSync(stateFile)
  })
})
