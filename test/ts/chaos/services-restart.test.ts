/**
 * Chaos: the discovery services lose their state under running visors.
 *
 * 1. `skywire services` on its embedded SQLite store is stopped (visors'
 *    refreshes fail meanwhile) and started again on the same file.
 * 2. The services run on Redis, and the redis-server is replaced by a new,
 *    EMPTY one (no persistence): every registration, binding and nonce
 *    counter is gone while the services process keeps running.
 * 3. FLUSHALL under the running services (the registrations only).
 *
 * After each, without anyone touching the visors: the server's STCPR
 * addresses and SUDPH binding are back at the address resolver, its VPN entry
 * in service discovery, a client's published transport in transport
 * discovery (all re-written after the event, not left over), `vpn list` shows
 * the server, a client that was connected stays connected, and a client that
 * was not connects. The visors re-register every `services.refreshS` (2 s
 * here, 30 by default); SUDPH bindings are renewed by the core every 20 s.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NsProcess } from '../../../ts/netlab/exec.js'
import { startLabServices } from '../../../ts/netlab/lab-services.js'
import { httpGet, snapshotNet, type NetSnapshot } from '../../../ts/netlab/probe.js'
import type { Topology } from '../../../ts/netlab/topology.js'
import { VisorClient } from '../../../ts/visor/rpc-client.js'
import { BIN } from '../helpers/cli.js'
import { labSkipReason, useTopology } from '../helpers/lab.js'
import { SERVICES_HTTP, SERVICES_UDP, makeVisor, startServices, tempDir, type TestVisor } from '../helpers/visors.js'
import { skipUnlessAvailable } from '../helpers/skip.js'

const skip = labSkipReason()
const REFRESH_S = 2
const REDIS_PORT = 6379
/** Re-registration (refreshS) plus a slow machine. */
const REREGISTER_BOUND_MS = 20_000
/** The core re-binds every 20 s. */
const REBIND_BOUND_MS = 35_000

interface Seen {
  sd: number | null
  stcpr: number | null
  sudph: number | null
  tpd: number | null
}

describe.skipIf(skipUnlessAvailable(skip))('chaos: the discovery services restart, on SQLite and on an emptied Redis', () => {
  const topo = useTopology({ clients: 2 })
  const tmp = tempDir('skywire-chaos-svc-')
  let t: Topology
  let services: NsProcess | null = null
  let redis: NsProcess | null = null
  let server: TestVisor
  let steady: TestVisor
  let fresh: TestVisor
  let freshBefore: NetSnapshot

  const visorServices = { url: `http://${SERVICES_HTTP}`, udp: SERVICES_UDP, refreshS: REFRESH_S }

  beforeAll(async () => {
    t = topo()
    services = await startServices(t, tmp.dir)
    server = makeVisor(t, t.server.ns, tmp.dir, 'server', { services: visorServices, vpnServer: { dns: ['203.0.113.53'] } })
    // Publishes its VPN transport, so there is a transport-discovery entry to lose.
    steady = makeVisor(t, t.clients[0]!.ns, tmp.dir, 'steady', {
      services: visorServices,
      vpnServer: { autostart: false },
      vpnClient: { publishTransport: true },
    })
    fresh = makeVisor(t, t.clients[1]!.ns, tmp.dir, 'fresh', { services: visorServices, vpnServer: { autostart: false } })
    freshBefore = await snapshotNet(fresh.ns)
    await Promise.all([server, steady, fresh].map((v) => v.start()))
  }, 90_000)
  afterAll(async () => {
    await Promise.all([server, steady, fresh].map((v) => v?.stop()))
    await services?.kill('SIGTERM', 3000)
    await redis?.kill('SIGKILL', 1000)
    tmp.cleanup()
  })

  const get = async (path: string): Promise<unknown> => JSON.parse(await httpGet(t.services.ns, `http://${SERVICES_HTTP}${path}`))

  /** What the services hold about our visors now, as the time each item was (re)written, or null when absent. */
  async function look(): Promise<Seen> {
    const [sd, ar, tpd] = (await Promise.all([
      get('/sd/services?type=vpn'),
      get(`/ar/resolve/${server.config.pk}`).catch(() => null),
      get(`/tpd/transports?pk=${steady.config.pk}`),
    ])) as [{ entries: { pk: string; updatedAt: number }[] }, { stcpr: string[]; sudph: unknown } | null, { entries: { updatedAt: number }[] }]
    const now = Date.now()
    return {
      sd: sd.entries.find((e) => e.pk === server.config.pk)?.updatedAt ?? null,
      stcpr: ar && ar.stcpr.length > 0 ? now : null,
      sudph: ar?.sudph ? now : null,
      tpd: tpd.entries[0]?.updatedAt ?? null,
    }
  }

  /** Polls until everything is back (written after `since`); returns when each part came back, in ms after `since`. */
  async function waitRegistered(since: number, what: string, parts: (keyof Seen)[] = ['sd', 'stcpr', 'sudph', 'tpd']): Promise<void> {
    const back: Partial<Record<keyof Seen, number>> = {}
    const from = since > 0 ? since : Date.now()
    const deadline = Date.now() + REBIND_BOUND_MS
    let lastErr = ''
    while (Date.now() < deadline) {
      const s = await look().catch((e: Error) => {
        lastErr = e.message
        return null
      })
      for (const k of parts) if (back[k] === undefined && s && s[k] !== null && (s[k] as number) >= since) back[k] = Date.now() - from
      if (parts.every((k) => back[k] !== undefined)) break
      await new Promise((r) => setTimeout(r, 250))
    }
    console.log(`${what}: back after (ms) ${JSON.stringify(back)}${lastErr ? ` (a look failed: ${lastErr})` : ''}`)
    for (const k of parts) {
      expect(back[k], `${k} registered again after ${what}`).toBeDefined()
      if (since > 0) expect(back[k]!, `${k} registered again after ${what}`).toBeLessThan(k === 'sudph' ? REBIND_BOUND_MS : REREGISTER_BOUND_MS)
    }
  }

  /**
   * After the store was emptied: the HTTP registrations come back within a
   * refresh; the SUDPH binding when the core re-binds (up to 20 s), while the
   * users' checks run meanwhile (a new client falls back to STCPR until then).
   */
  async function recovers(since: number, what: string): Promise<void> {
    await waitRegistered(since, what, ['sd', 'stcpr', 'tpd'])
    await Promise.all([usersSeeItWork(), waitRegistered(since, `${what} (SUDPH binding)`, ['sudph'])])
  }

  /** What the user sees: the server listed, the connected client still through the tunnel, a new client connects. */
  async function usersSeeItWork(): Promise<void> {
    const list = fresh.cli(['cli', 'vpn', 'list'])
    expect(list.code, list.stderr).toBe(0)
    expect(list.stdout).toContain(server.config.pk)
    expect((await new VisorClient(steady.rpc).vpnStatus()).state).toBe('connected')
    expect(await t.curlWhoami(steady.ns)).toBe(t.server.publicAddr)
    const api = new VisorClient(fresh.rpc)
    const s = await api.vpnStart(server.config.pk, { timeoutS: 20 })
    expect(s.state).toBe('connected')
    console.log(`new client connected over ${s.transport}`)
    expect(await t.curlWhoami(fresh.ns)).toBe(t.server.publicAddr)
    await api.vpnStop()
    expect(await snapshotNet(fresh.ns)).toEqual(freshBefore)
  }

  it('everything is registered; one client connects and publishes its transport', async () => {
    const s = await new VisorClient(steady.rpc).vpnStart(server.config.pk, { timeoutS: 20 })
    expect(s.state).toBe('connected')
    await waitRegistered(0, 'start')
  }, 60_000)

  it('SQLite: the services stopped and started again; the visors refresh everything', async () => {
    await services!.kill('SIGTERM', 3000)
    // Down for longer than a refresh: the visors' requests fail meanwhile.
    await new Promise((r) => setTimeout(r, 2 * REFRESH_S * 1000))
    const since = Date.now()
    services = await startServices(t, tmp.dir)
    // The file kept everything (the SUDPH binding too, within its TTL): the HTTP entries must be re-written.
    await waitRegistered(since, 'SQLite services restart')
    await usersSeeItWork()
  }, 90_000)

  async function startRedis(): Promise<NsProcess> {
    const p = t.lab.spawn(t.services.ns, ['redis-server', '--port', String(REDIS_PORT), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'])
    await t.lab.waitForTcp(t.services.ns, '127.0.0.1', REDIS_PORT, 10_000)
    return p
  }

  it('Redis: the services move onto an empty Redis, then the redis-server is replaced by a new empty one', async () => {
    redis = await startRedis()
    await services!.kill('SIGTERM', 3000)
    services = await startLabServices(t, { store: { redis: `redis://127.0.0.1:${REDIS_PORT}` }, bin: BIN, timeoutMs: 20_000 })
    await waitRegistered(Date.now(), 'services moved to an empty Redis', ['sd', 'stcpr', 'tpd'])

    await redis.kill('SIGKILL', 1000)
    const since = Date.now()
    redis = await startRedis()
    // Nothing left: the new redis-server is empty.
    const keys = await t.lab.execOk(t.services.ns, ['redis-cli', '-p', String(REDIS_PORT), 'DBSIZE'])
    console.log(`new redis-server holds ${keys.stdout.trim()} keys right after start`)
    await recovers(since, 'redis-server replaced by an empty one')
  }, 120_000)

  it('Redis: FLUSHALL under the running services; the server is listed again', async () => {
    const since = Date.now()
    await t.lab.execOk(t.services.ns, ['redis-cli', '-p', String(REDIS_PORT), 'FLUSHALL'])
    // The full round (SUDPH, a new client) is the case above; here what a user sees first.
    await waitRegistered(since, 'FLUSHALL', ['sd', 'stcpr', 'tpd'])
    await expect.poll(() => fresh.cli(['cli', 'vpn', 'list']).stdout, { timeout: 5000 }).toContain(server.config.pk)
  }, 60_000)
})
