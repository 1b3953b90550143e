/**
 * The soak run: the cast (scenario.ts) moves traffic (traffic.ts) for the
 * given time while the sampler watches memory and fds; one client goes dark
 * so that its server-side session expires for real; then every check is
 * judged (checks.ts). Shared by `npm run soak` and test/ts/soak.test.ts.
 */
import { cpus as cpuList, loadavg } from 'node:os'
import type { VpnClientStatus } from '../../vpn/client.js'
import type { VpnServerStatus } from '../../vpn/server.js'
import { Sampler, type Sample } from './sampler.js'
import { buildCast, clientStatus, connect, logLines, pool, serverStatus, type Cast, type SoakClient, type Transport } from './scenario.js'
import { startAgent, startSink, type Agent, type AgentStats, type TrafficSettings } from './traffic.js'

/** The session timers of crates/skywire-core/src/session/mod.rs the soak must see fire. */
export const REKEY_AFTER_S = 120
export const EXPIRY_S = 180

export interface SoakOptions {
  clients: number
  /** Traffic time (the T of the soak). */
  seconds: number
  traffic: TrafficSettings
  sampleMs: number
  statusMs: number
  /** Let the last client go dark (traffic paused, uplink down) until its server expires the session: needs ~300 s. */
  idleExpiry: boolean
  concurrency: number
  log: (msg: string) => void
}

export interface ClientRecord {
  name: string
  pk: string
  server: string
  transport: Transport
  idle: boolean
  /** Session ids seen by the status poll, in order (one = never replaced). */
  sessionIds: number[]
  /** States other than 'connected' seen by the poll. */
  badStates: string[]
  lastErrors: string[]
  rekeys: number
  uptimeS: number | null
  connectMs: number
  /** Start requests it took (more than 1: the first failed, e.g. the server was not registered yet). */
  connectAttempts: number
  traffic: AgentStats | null
  /** The visor's own log: reconnect-related lines. */
  reconnectLogs: string[]
  /** Its server's VPN status listed it at the end. */
  serverSeen: boolean
}

export interface IdleRecord {
  client: string
  pk: string
  server: string
  transport: Transport
  cutAtS: number
  /** Seconds from the cut to the server's "session expired" (null: never). */
  expiredAfterS: number | null
  expiryReason: string | null
  /** The server's VPN status no longer lists the client after the expiry. */
  cleaned: boolean
  /** Seconds from link up to connected again (null: never). */
  reconnectS: number | null
  /** The agent's echoed-probe count when traffic resumed (the final count minus this: echoed after). */
  echoedBeforeResume: number
}

export interface SoakResult {
  date: string
  machine: { cpus: number; load1: number }
  options: Omit<SoakOptions, 'log'>
  durations: { setupS: number; connectS: number; trafficS: number; totalS: number }
  connectFailures: string[]
  clients: ClientRecord[]
  servers: { name: string; pk: string; clientsAtEnd: number; rekeysMin: number | null; rekeysTotal: number; down: { peer: string; reason: string }[] }[]
  idle: IdleRecord | null
  /** Sampled RSS/fds per visor name. */
  series: Record<string, Sample[]>
}

const RECONNECT_MSGS = ['vpn session lost; reconnecting', 'vpn session is silent; reconnecting', 'vpn reconnected'] as const

export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const tStart = Date.now()
  const secs = (from: number) => Math.round((Date.now() - from) / 100) / 10
  const load1 = loadavg()[0] ?? 0
  const cpus = cpuList().length
  const cast = await buildCast({ clients: o.clients, concurrency: o.concurrency, log: o.log })
  let agents: Agent[] = []
  try {
    const setupS = secs(tStart)
    o.log(`setup ${setupS} s; connecting ${o.clients} clients`)
    const tConnect = Date.now()
    const connectMs = new Map<string, number>()
    const attempts = new Map<string, number>()
    const connectFailures: string[] = []
    await pool(cast.clients, o.concurrency, async (c) => {
      const t = Date.now()
      try {
        await connect(c, Date.now() + 120_000, (n) => attempts.set(c.name, n))
        connectMs.set(c.name, Date.now() - t)
      } catch (e) {
        connectFailures.push((e as Error).message)
      }
    })
    const connectS = secs(tConnect)
    o.log(`connected ${o.clients - connectFailures.length}/${o.clients} in ${connectS} s`)
    if (connectFailures.length === o.clients) throw new Error(`no client connected: ${connectFailures[0]}`)

    await startSink(cast.topo.lab, cast.topo.internet.ns)
    agents = await pool(cast.clients, o.concurrency, (c) => startAgent(cast.topo.lab, c.ns, c.index, o.clients, o.traffic))
    o.log(`traffic started (${agents.length} agents)`)

    const records = new Map<string, ClientRecord>(
      cast.clients.map((c) => [
        c.name,
        { name: c.name, pk: c.config.pk, server: c.server.name, transport: c.transport, idle: false, sessionIds: [], badStates: [], lastErrors: [], rekeys: 0, uptimeS: null, connectMs: connectMs.get(c.name) ?? -1, connectAttempts: attempts.get(c.name) ?? 0, traffic: null, reconnectLogs: [], serverSeen: false },
      ]),
    )
    const idleClient = o.idleExpiry ? (cast.clients.at(-1) as SoakClient) : null
    if (idleClient) (records.get(idleClient.name) as ClientRecord).idle = true

    const pids = new Map<string, number>()
    for (const v of [...cast.servers, ...cast.clients]) if (v.proc) pids.set(v.name, v.proc.pid)
    const sampler = new Sampler(pids, o.sampleMs)
    const serverLast = new Map<string, VpnServerStatus>()
    const pollOnce = async () => {
      await pool(cast.clients, 8, async (c) => {
        const r = records.get(c.name) as ClientRecord
        let s: VpnClientStatus
        try {
          s = await clientStatus(c)
        } catch (e) {
          r.badStates.push(`status failed: ${(e as Error).message}`)
          return
        }
        if (s.sessionId !== null && r.sessionIds.at(-1) !== s.sessionId) r.sessionIds.push(s.sessionId)
        if (s.state !== 'connected') r.badStates.push(s.state)
        if (s.lastError && r.lastErrors.at(-1) !== s.lastError) r.lastErrors.push(s.lastError)
        if (s.state === 'connected') {
          r.rekeys = s.rekeys
          r.uptimeS = s.uptimeS
        }
      })
      await Promise.all(cast.servers.map(async (s) => serverLast.set(s.name, await serverStatus(s))))
    }
    let polling = true
    const poller = (async () => {
      while (polling) {
        const t = Date.now()
        await pollOnce().catch((e) => o.log(`status poll failed: ${(e as Error).message}`))
        await new Promise((r) => setTimeout(r, Math.max(0, o.statusMs - (Date.now() - t))))
      }
    })()

    const tTraffic = Date.now()
    sampler.start()
    const deadline = tTraffic + o.seconds * 1000
    let idle: IdleRecord | null = null
    if (idleClient) idle = await idlePhase(cast, idleClient, agents.at(-1) as Agent, tTraffic, deadline, o.log)
    const progress = setInterval(() => o.log(`${secs(tTraffic)} / ${o.seconds} s`), 60_000)
    await new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())))
    clearInterval(progress)
    const trafficS = secs(tTraffic)
    // The last poll before the agents stop: the sessions as the traffic leaves them.
    polling = false
    await poller
    await pollOnce()
    sampler.stop()
    const finals = await pool(agents, 16, (a) => a.stop())
    agents = []
    o.log(`traffic stopped after ${trafficS} s`)

    for (const [i, c] of cast.clients.entries()) {
      const r = records.get(c.name) as ClientRecord
      r.traffic = finals[i] ?? null
      r.reconnectLogs = logLines(c, RECONNECT_MSGS).map((l) => `${new Date(l.time).toISOString()} ${l.msg}${l.reason ? ` (${String(l.reason)})` : ''}`)
    }
    const servers = cast.servers.map((s) => {
      const st = serverLast.get(s.name)
      const rk = st?.clients.map((c) => c.rekeys) ?? []
      return {
        name: s.name,
        pk: s.config.pk,
        clientsAtEnd: st?.clients.length ?? 0,
        rekeysMin: rk.length ? Math.min(...rk) : null,
        rekeysTotal: rk.reduce((a, b) => a + b, 0),
        serverClients: st?.clients ?? [],
        down: logLines(s, ['transport down']).map((l) => ({ peer: String(l.peer), reason: String(l.reason) })),
      }
    })
    // Which clients each server still serves, for the session checks.
    for (const s of servers) {
      for (const c of s.serverClients) {
        const r = [...records.values()].find((x) => x.pk === c.pk)
        if (r) r.serverSeen = true
      }
    }
    return {
      date: new Date(tStart).toISOString(),
      machine: { cpus, load1 },
      options: { clients: o.clients, seconds: o.seconds, traffic: o.traffic, sampleMs: o.sampleMs, statusMs: o.statusMs, idleExpiry: o.idleExpiry, concurrency: o.concurrency },
      durations: { setupS, connectS, trafficS, totalS: secs(tStart) },
      connectFailures,
      clients: [...records.values()],
      servers: servers.map(({ serverClients: _, ...s }) => s),
      idle,
      series: Object.fromEntries(sampler.series),
    }
  } finally {
    await pool(agents, 16, (a) => a.proc.kill('SIGKILL', 1000))
    await cast.close()
  }
}

/**
 * One client goes dark: its traffic pauses and its uplink goes down, so
 * nothing at all crosses its session (the 5 s pings included). The client
 * notices after 15 s and keeps redialing; the server only has its timer, and
 * must expire the session 180 s after the last packet and free the client's
 * address. Then the link comes back and the client must reconnect.
 */
async function idlePhase(cast: Cast, c: SoakClient, agent: Agent, t0: number, deadline: number, log: (m: string) => void): Promise<IdleRecord> {
  const lab = cast.topo.lab
  const host = cast.topo.clients[c.index]
  if (!host) throw new Error(`no host for ${c.name}`)
  const rec: IdleRecord = { client: c.name, pk: c.config.pk, server: c.server.name, transport: c.transport, cutAtS: 0, expiredAfterS: null, expiryReason: null, cleaned: false, reconnectS: null, echoedBeforeResume: 0 }
  await new Promise((r) => setTimeout(r, 30_000))
  agent.pause()
  // Let the last probes and acks come home before the line goes dead.
  await new Promise((r) => setTimeout(r, 3000))
  await lab.execOk(host.port.ns, ['ip', 'link', 'set', host.port.ifname, 'down'])
  const tCut = Date.now()
  rec.cutAtS = Math.round((tCut - t0) / 1000)
  log(`${c.name} (${c.transport} to ${c.server.name}) cut off at ${rec.cutAtS} s; waiting for the server to expire its session`)
  const expired = () => logLines(c.server, ['transport down']).find((l) => l.peer === c.config.pk)
  const limit = Math.min(deadline - 45_000, tCut + (EXPIRY_S + 60) * 1000)
  while (Date.now() < limit && !expired()) await new Promise((r) => setTimeout(r, 1000))
  const down = expired()
  if (down) {
    rec.expiredAfterS = Math.round((down.time - tCut) / 100) / 10
    rec.expiryReason = String(down.reason)
    const st = await serverStatus(c.server)
    rec.cleaned = !st.clients.some((x) => x.pk === c.config.pk)
    log(`${c.server.name} dropped ${c.name} ${rec.expiredAfterS} s after the cut: ${rec.expiryReason}`)
  }
  await lab.execOk(host.port.ns, ['ip', 'link', 'set', host.port.ifname, 'up'])
  const tUp = Date.now()
  while (Date.now() < Math.min(deadline - 10_000, tUp + 90_000)) {
    const s = await clientStatus(c).catch(() => null)
    if (s?.state === 'connected') {
      rec.reconnectS = Math.round((Date.now() - tUp) / 100) / 10
      break
    }
    await new Promise((r) => setTimeout(r, 1000))
  }
  rec.echoedBeforeResume = agent.stats()?.probesEchoed ?? 0
  agent.resume()
  log(`${c.name} reconnected ${rec.reconnectS} s after the link came back`)
  return rec
}
