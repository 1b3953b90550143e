/**
 * Chaos: a VPN server that disappears for good (kill -9, never back). Two
 * client visors are connected to it, one without and one with the kill
 * switch, both with `vpnClient.reconnectTimeoutS` of a few seconds. Each must
 * stop re-dialing after that time and say so in ONE line (the CLI's status and
 * the visor's log, naming the server and the reason), and leave its host:
 * - without the kill switch: exactly as before the VPN (snapshotNet equal),
 *   the internet reachable again from its own NAT address;
 * - with it: routes and DNS as before, the kill switch table still up
 *   (docs/security.md: only `vpn stop` removes it), nothing leaving; then
 *   `vpn stop` leaves the host exactly as before.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { snapshotNet, type NetSnapshot } from '../../../ts/netlab/probe.js'
import type { Topology } from '../../../ts/netlab/topology.js'
import { KILLSWITCH_TABLE } from '../../../ts/sys/killswitch.js'
import { VisorClient } from '../../../ts/visor/rpc-client.js'
import { labSkipReason } from '../helpers/lab.js'
import { useVpnLab, type TestVisor } from '../helpers/visors.js'
import { skipUnlessAvailable } from '../helpers/skip.js'
import { CHAOS_STALE_S } from './chaos-lab.js'

const skip = labSkipReason()
/** Short, so the test is quick; the default is 300. */
const GIVE_UP_S = 5

describe.skipIf(skipUnlessAvailable(skip))('chaos: the VPN server is gone for good', () => {
  const before = new Map<string, NetSnapshot>()
  const lab = useVpnLab(
    { clients: 2 },
    (t) => ({
      server: { ns: t.server.ns, config: { vpnServer: { dns: ['203.0.113.53'] } } },
      plain: {
        ns: t.clients[0]!.ns,
        config: { vpnServer: { autostart: false }, vpnClient: { reconnectTimeoutS: GIVE_UP_S, staleAfterS: CHAOS_STALE_S } },
      },
      locked: {
        ns: t.clients[1]!.ns,
        config: { vpnServer: { autostart: false }, vpnClient: { reconnectTimeoutS: GIVE_UP_S, killswitch: true, staleAfterS: CHAOS_STALE_S } },
      },
    }),
    {
      beforeStart: async (t) => {
        for (const h of t.clients) before.set(h.ns, await snapshotNet(h.ns))
      },
    },
  )
  let t: Topology
  let server: TestVisor
  let plain: TestVisor
  let locked: TestVisor
  beforeAll(() => {
    t = lab.topo()
    server = lab.visor('server')
    plain = lab.visor('plain')
    locked = lab.visor('locked')
  })

  const status = (v: TestVisor) => new VisorClient(v.rpc).vpnStatus()
  const gaveUpLines = (v: TestVisor) =>
    v
      .proc!.output()
      .stdout.split('\n')
      .filter((l) => l.includes('gave up reconnecting'))

  it('both clients connect', async () => {
    await expect.poll(() => plain.cli(['cli', 'vpn', 'list']).stdout, { timeout: 20_000 }).toContain(server.config.pk)
    for (const v of [plain, locked]) {
      const s = await new VisorClient(v.rpc).vpnStart(server.config.pk, { timeoutS: 20 })
      expect(s.state).toBe('connected')
      expect(await t.curlWhoami(v.ns)).toBe(t.server.publicAddr)
    }
  }, 60_000)

  it('after kill -9 of the server, each client gives up within the timeout and says so in one line', async () => {
    await server.kill9()
    const t0 = Date.now()
    // Silence is noticed after CHAOS_STALE_S (vpnClient.staleAfterS), then GIVE_UP_S of re-dialing; generous for a 2-core machine.
    for (const v of [plain, locked]) {
      await expect.poll(async () => (await status(v)).state, { timeout: 60_000, interval: 250 }).toBe('reconnecting')
    }
    const lost = Date.now() - t0
    for (const v of [plain, locked]) {
      await expect.poll(async () => (await status(v)).state, { timeout: 30_000, interval: 250 }).toBe('disconnected')
    }
    console.log(`server killed: clients reconnecting after ${lost} ms, both gave up after ${Date.now() - t0} ms (reconnectTimeoutS ${GIVE_UP_S})`)

    for (const v of [plain, locked]) {
      const cli = v.cli(['cli', 'vpn', 'status'])
      expect(cli.code, cli.stderr).toBe(0)
      expect(cli.stdout).toMatch(/^state: +disconnected$/m)
      const errs = cli.stdout.split('\n').filter((l) => l.startsWith('last error:'))
      expect(errs).toHaveLength(1)
      console.log(`${v === plain ? 'plain' : 'kill switch'}: ${errs[0]}`)
      expect(errs[0]).toMatch(new RegExp(`gave up reconnecting to VPN server ${server.config.pk} after \\d+ s: \\S`))
      // The visor's log: exactly one line, naming the server.
      const logged = gaveUpLines(v)
      expect(logged).toHaveLength(1)
      expect(logged[0]).toContain(server.config.pk)
      expect(JSON.parse(logged[0]!).level).toBeGreaterThanOrEqual(50)
    }
    expect((await status(locked)).lastError).toMatch(/kill switch stays on until `skywire cli vpn stop`/)
  }, 120_000)

  it('without the kill switch the host is exactly as before and traffic leaves from its own NAT again', async () => {
    expect(await snapshotNet(plain.ns)).toEqual(before.get(plain.ns))
    expect(await t.curlWhoami(plain.ns)).toBe(t.clients[0]!.publicAddr)
  }, 30_000)

  it('with the kill switch: routes and DNS restored, the kill switch kept and nothing leaves; vpn stop removes it', async () => {
    const ns = locked.ns
    const was = before.get(ns)!
    const now = await snapshotNet(ns)
    expect({ ...now, nft: '' }).toEqual({ ...was, nft: '' })
    expect(now.nft).toContain(KILLSWITCH_TABLE)
    await expect(t.curlWhoami(ns, { timeoutMs: 2000 })).rejects.toThrow()

    const stop = locked.cli(['cli', 'vpn', 'stop'])
    expect(stop.code, stop.stderr).toBe(0)
    expect(await snapshotNet(ns)).toEqual(was)
    expect(await t.curlWhoami(ns)).toBe(t.clients[1]!.publicAddr)
  }, 30_000)

  it('no late reconnect: a while later both are still disconnected, with the one line logged once', async () => {
    // Longer than the first backoff steps (1 + 2 s): a loop still running would have tried again.
    await new Promise((r) => setTimeout(r, 4000))
    for (const v of [plain, locked]) {
      expect((await status(v)).state).toBe('disconnected')
      expect(gaveUpLines(v)).toHaveLength(1)
      expect(await snapshotNet(v.ns)).toEqual(before.get(v.ns))
    }
  }, 30_000)
})
