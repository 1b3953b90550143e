/**
 * The VPN client's host changes in a lab namespace with a real TUN standing in
 * for the core's: traffic goes where it should while applied, and restore,
 * 50 cycles and a SIGKILLed "visor" all leave the namespace byte-identical.
 */
import { mkdtempSync, rmSync, existsSync, writeFileSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { skipUnlessAvailable } from '../helpers/skip.js'
import { createLab, execOk, waitFor, type Lab } from '../../../ts/netlab/netns.js'
import { ping, snapshotNet } from '../../../ts/netlab/probe.js'
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
    opts = { tunIf: TUN, exempt: [ENDPOINT, ENDPOINT6, DISCOVERY], dns: ['10.99.0.1', 'fd99::1'], stateFile }
  })
  afterAll(() => {
    lab?.teardown()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('routes everything into the TUN except the endpoints, blocks untunnelled IPv6, and restores byte for byte', async () => {
    const before = await snap()
    const [applied] = (await sys(client, [{ fn: 'applyClientRouting', args: [opts] }])) as [{ ipv6: string; skipped: unknown[] }]
    expect(applied.ipv6).toBe('blocked')
    expect(applied.skipped).toEqual([])
    expect(await routeGet('1.1.1.1')).toMatch(new RegExp(`dev ${TUN}`))
    expect(await routeGet('198.51.100.7')).toMatch(new RegExp(`dev ${TUN}`))
    expect(await routeGet(ENDPOINT)).toMatch(new RegExp(`via ${LAN_GW} dev eth0`))
    expect(await routeGet(DISCOVERY)).toMatch(new RegExp(`via ${LAN_GW} dev eth0`))
    expect(await routeGet(ENDPOINT6)).toMatch(/via fd10::1 dev eth0/)
    const leak = await lab.exec(client, ['ip', '-6', 'route', 'get', '2001:db8:1::1'])
    expect(leak.code).not.toBe(0)
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
    expect(await routeGet(ENDPOINT6)).toMatch(/via fd10::1 dev eth0/)
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
  })

  it('a failure half-way (TUN down) undoes what was done: bypass routes and kill switch gone, no state file', async () => {
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

  it('keeps a host route somebody else made to an endpoint', async () => {
    await lab.ip(client, ['route', 'add', `${ENDPOINT}/32`, 'via', LAN_GW, 'dev', 'eth0'])
    try {
      const before = await snap()
      const [applied] = (await sys(client, [{ fn: 'applyClientRouting', args: [opts] }])) as [{ skipped: { addr: string }[] }]
      expect(applied.skipped.map((s) => s.addr)).toEqual([ENDPOINT])
      await sys1(client, 'restoreClientRouting', stateFile)
      expect(await snap()).toEqual(before)
    } finally {
      await lab.ip(client, ['route', 'del', `${ENDPOINT}/32`, 'via', LAN_GW, 'dev', 'eth0'])
    }
  })

  it('verify() notices routes deleted and DNS rewritten behind our back; restore still comes out identical', async () => {
    const before = await snap()
    const [, check] = (await sys(client, [{ fn: 'applyClientRouting', args: [{ ...opts, killSwitch: true }] }, { fn: 'last.verify' }])) as [unknown, { intact: boolean }]
    expect(check.intact).toBe(true)
    const state = await sys1(client, 'readState', stateFile)
    await lab.ip(client, ['route', 'del', '0.0.0.0/1'])
    await lab.ip(client, ['route', 'del', `${ENDPOINT}/32`])
    writeFileSync(lab.resolvConfPath(client), 'nameserver 192.0.2.1\n')
    const broken = (await sys1(client, 'verifyClientRouting', state)) as { intact: boolean; missingRoutes: { dst: string }[]; dns: boolean; killSwitch: boolean }
    expect(broken.intact).toBe(false)
    expect(broken.missingRoutes.map((r) => r.dst).sort()).toEqual(['0.0.0.0/1', `${ENDPOINT}/32`])
    expect(broken.dns).toBe(false)
    expect(broken.killSwitch).toBe(true)
    await sys1(client, 'restoreClientRouting', stateFile)
    expect(await snap()).toEqual(before)
  })

  it('kill switch: only the TUN and the endpoints are reachable, the LAN is not', async () => {
    expect((await ping(client, LAN_GW, { count: 1 })).ok).toBe(true)
    const before = await snap()
    await sys1(client, 'applyClientRouting', { ...opts, killSwitch: true })
    expect((await ping(client, ENDPOINT, { count: 1 })).ok).toBe(true)
    expect((await ping(client, ENDPOINT6, { count: 1 })).ok).toBe(true)
    expect((await ping(client, LAN_GW, { count: 1, timeoutS: 0.5 })).ok).toBe(false)
    expect((await ping(client, 'fd10::1', { count: 1, timeoutS: 0.5 })).ok).toBe(false)
    await sys1(client, 'restoreClientRouting', stateFile)
    expect(await snap()).toEqual(before)
    expect((await ping(client, LAN_GW, { count: 1 })).ok).toBe(true)
  })

  it('reconnect: the kill switch stays up between restore({ keepKillSwitch }) and the next apply, which may change endpoints', async () => {
    const before = await snap()
    await sys(client, [{ fn: 'applyClientRouting', args: [{ ...opts, exempt: [ENDPOINT], killSwitch: true }] }, { fn: 'last.restore', args: [{ keepKillSwitch: true }] }])
    const between = await snap()
    expect(between.route).toEqual(before.route)
    expect(between.resolvConf).toEqual(before.resolvConf)
    expect(between.nft).toMatch(/skywire_killswitch/)
    expect(existsSync(stateFile)).toBe(true)
    expect((await ping(client, LAN_GW, { count: 1, timeoutS: 0.5 })).ok).toBe(false)
    // The new session goes to another endpoint.
    await sys1(client, 'applyClientRouting', { ...opts, exempt: [DISCOVERY], killSwitch: true })
    expect(await routeGet(DISCOVERY)).toMatch(new RegExp(`via ${LAN_GW} dev eth0`))
    expect((await ping(client, DISCOVERY, { count: 1 })).ok).toBe(true)
    expect((await ping(client, LAN_GW, { count: 1, timeoutS: 0.5 })).ok).toBe(false)
    await sys1(client, 'restoreClientRouting', stateFile)
    expect(await snap()).toEqual(before)

    // Kill switch left for a reconnect, but the user turned it off: the next connect drops it.
    await sys(client, [{ fn: 'applyClientRouting', args: [{ ...opts, killSwitch: true }] }, { fn: 'last.restore', args: [{ keepKillSwitch: true }] }])
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
    const recovered = await sys1<{ routes: unknown[] } | null>(client, 'recoverStale', stateFile)
    expect(recovered?.routes.length).toBe(7) // 3 bypasses + 4 halves
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
    const [applied] = (await sys(nov6, [{ fn: 'applyClientRouting', args: [{ tunIf: TUN, exempt: [ENDPOINT6], tunnelIpv6: true, stateFile }] }])) as [
      { ipv6: string; skipped: { addr: string }[] },
    ]
    expect(applied.ipv6).toBe('blocked')
    expect(applied.skipped.map((x) => x.addr)).toEqual(['::/0', ENDPOINT6])
    await sys1(nov6, 'restoreClientRouting', stateFile)
    expect(await snapshotNet(nov6, lab.resolvConfPath(nov6))).toEqual(before)
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
