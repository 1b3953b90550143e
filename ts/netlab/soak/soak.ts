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
  transportIds: number[]
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
  servers: {
    name: string
    pk: string
    clientsAtEnd: number
    rekeysMin: number | null
    rekeysTotal: number
    down: { peer: string; reason: string }[]
  }[]
  idle: IdleRecord | null
  /** Sampled RSS/fds per visor name. */
  series: Record<string, Sample[]>
}

const RECONNECT_MSGS = ['vpn transport lost; reconnecting', 'vpn transport is silent; reconnecting', 'vpn reconnected'] as const

export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const tStart = Date.now()
  const load1 = loadavg()[0] ?? 0
  const cpus = cpuList().length
  const cast = await buildCast({ clients: o.clients, concurrency: o.concurrency, log: o.log })
  let agents: Agent[] = []
  try {
    const setupS = secsSince(tStart)
    o.log(`setup ${setupS} s; connecting ${o.clients} clients`)
    const tConnect = Date.now()
    const connected = await connectAll(cast, o)
    const connectS = secsSince(tConnect)
    o.log(`connected ${o.clients - connected.failures.length}/${o.clients} in ${connectS} s`)
    if (connected.failures.length === o.clients) throw new Error(`no client connected: ${connected.failures[0]}`)

    await startSink(cast.topo.lab, cast.topo.internet.ns)
    agents = await pool(cast.clients, o.concurrency, (c) => startAgent(cast.topo.lab, c.ns, c.index, o.clients, o.traffic))
    o.log(`traffic started (${agents.length} agents)`)

    const records = newRecords(cast, connected)
    const idleClient = o.idleExpiry ? (cast.clients.at(-1) as SoakClient) : null
    if (idleClient) (records.get(idleClient.name) as ClientRecord).idle = true
    const poller = new StatusPoller(cast, records, o)
    const { idle, trafficS, series } = await trafficPhase(cast, agents, idleClient, poller, o)
    const finals = await pool(agents, 16, (a) => a.stop())
    agents = []
    o.log(`traffic stopped after ${trafficS} s`)

    recordClientEnds(cast, records, finals)
    const servers = serverSummaries(cast, poller.serverLast, records)
    return {
      date: new Date(tStart).toISOString(),
      machine: { cpus, load1 },
      options: {
        clients: o.clients,
        seconds: o.seconds,
        traffic: o.traffic,
        sampleMs: o.sampleMs,
        statusMs: o.statusMs,
        idleExpiry: o.idleExpiry,
        concurrency: o.concurrency,
      },
      durations: { setupS, connectS, trafficS, totalS: secsSince(tStart) },
      connectFailures: connected.failures,
      clients: [...records.values()],
      servers,
      idle,
      series,
    }
  } finally {
    await pool(agents, 16, (a) => a.proc.kill('SIGKILL', 1000))
    await cast.close()
  }
}

/** Seconds since `from`, to a tenth. */
const secsSince = (from: number) => Math.round((Date.now() - from) / 100) / 10

interface Connected {
  ms: Map<string, number>
  attempts: Map<string, number>
  failures: string[]
}

/** Connects every client (o.concurrency at a time, 120 s each), noting how long and how many tries it took. */
async function connectAll(cast: Cast, o: SoakOptions): Promise<Connected> {
  const r: Connected = { ms: new Map(), attempts: new Map(), failures: [] }
  await pool(cast.clients, o.concurrency, async (c) => {
    const t = Date.now()
    try {
      await connect(c, Date.now() + 120_000, (n) => r.attempts.set(c.name, n))
      r.ms.set(c.name, Date.now() - t)
    } catch (e) {
      r.failures.push((e as Error).message)
    }
  })
  return r
}

function newRecords(cast: Cast, connected: Connected): Map<string, ClientRecord> {
  return new Map<string, ClientRecord>(
    cast.clients.map((c) => [
      c.name,
      {
        name: c.name,
        pk: c.config.pk,
        server: c.server.name,
        transport: c.transport,
        idle: false,
        transportIds: [],
        badStates: [],
        lastErrors: [],
        rekeys: 0,
        uptimeS: null,
        connectMs: connected.ms.get(c.name) ?? -1,
        connectAttempts: connected.attempts.get(c.name) ?? 0,
        traffic: null,
        reconnectLogs: [],
        serverSeen: false,
      },
    ]),
  )
}

/** Polls every client's and server's VPN status each o.statusMs into the records (sessions, states, rekeys). */
class StatusPoller {
  /** Each server's latest status. */
  readonly serverLast = new Map<string, VpnServerStatus>()
  private polling = false
  private loop: Promise<void> = Promise.resolve()

  constructor(
    private readonly cast: Cast,
    private readonly records: Map<string, ClientRecord>,
    private readonly o: SoakOptions,
  ) {}

  start(): void {
    this.polling = true
    this.loop = (async () => {
      while (this.polling) {
        const t = Date.now()
        await this.pollOnce().catch((e) => this.o.log(`status poll failed: ${(e as Error).message}`))
        await new Promise((r) => setTimeout(r, Math.max(0, this.o.statusMs - (Date.now() - t))))
      }
    })()
  }

  /** Ends the loop, then one last poll: the sessions as the traffic leaves them. */
  async stop(): Promise<void> {
    this.polling = false
    await this.loop
    await this.pollOnce()
  }

  async pollOnce(): Promise<void> {
    await pool(this.cast.clients, 8, (c) => this.pollClient(c))
    await Promise.all(this.cast.servers.map(async (s) => this.serverLast.set(s.name, await serverStatus(s))))
  }

  private async pollClient(c: SoakClient): Promise<void> {
    const r = this.records.get(c.name) as ClientRecord
    let s: VpnClientStatus
    try {
      s = await clientStatus(c)
    } catch (e) {
      r.badStates.push(`status failed: ${(e as Error).message}`)
      return
    }
    if (s.transportId !== null && r.transportIds.at(-1) !== s.transportId) r.transportIds.push(s.transportId)
    if (s.state !== 'connected') r.badStates.push(s.state)
    if (s.lastError && r.lastErrors.at(-1) !== s.lastError) r.lastErrors.push(s.lastError)
    if (s.state === 'connected') {
      r.rekeys = s.rekeys
      r.uptimeS = s.uptimeS
    }
  }
}

/** The o.seconds of traffic, sampled and polled throughout, with the idle client's phase inside it. */
async function trafficPhase(cast: Cast, agents: Agent[], idleClient: SoakClient | null, poller: StatusPoller, o: SoakOptions) {
  const pids = new Map<string, number>()
  for (const v of [...cast.servers, ...cast.clients]) if (v.proc) pids.set(v.name, v.proc.pid)
  const sampler = new Sampler(pids, o.sampleMs)
  poller.start()
  const tTraffic = Date.now()
  sampler.start()
  const deadline = tTraffic + o.seconds * 1000
  let idle: IdleRecord | null = null
  if (idleClient) idle = await idlePhase(cast, idleClient, agents.at(-1) as Agent, tTraffic, deadline, o.log)
  const progress = setInterval(() => o.log(`${secsSince(tTraffic)} / ${o.seconds} s`), 60_000)
  await new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())))
  clearInterval(progress)
  const trafficS = secsSince(tTraffic)
  // The last poll before the agents stop: the sessions as the traffic leaves them.
  await poller.stop()
  sampler.stop()
  return { idle, trafficS, series: Object.fromEntries(sampler.series) as Record<string, Sample[]> }
}

/** Each client's final traffic counters and its visor's reconnect log lines. */
function recordClientEnds(cast: Cast, records: Map<string, ClientRecord>, finals: (AgentStats | null)[]): void {
  for (const [i, c] of cast.clients.entries()) {
    const r = records.get(c.name) as ClientRecord
    r.traffic = finals[i] ?? null
    r.reconnectLogs = logLines(c, RECONNECT_MSGS).map((l) => `${new Date(l.time).toISOString()} ${l.msg}${l.reason ? ` (${String(l.reason)})` : ''}`)
  }
}

/** Each server at the end (clients, rekeys, transports it saw go down); marks the clients it still serves. */
function serverSummaries(cast: Cast, serverLast: Map<string, VpnServerStatus>, records: Map<string, ClientRecord>): SoakResult['servers'] {
  return cast.servers.map((s) => {
    const st = serverLast.get(s.name)
    const rk = st?.clients.map((c) => c.rekeys) ?? []
    // Which clients each server still serves, for the session checks.
    for (const c of st?.clients ?? []) {
      const r = [...records.values()].find((x) => x.pk === c.pk)
      if (r) r.serverSeen = true
    }
    return {
      name: s.name,
      pk: s.config.pk,
      clientsAtEnd: st?.clients.length ?? 0,
      rekeysMin: rk.length ? Math.min(...rk) : null,
      rekeysTotal: rk.reduce((a, b) => a + b, 0),
      down: logLines(s, ['transport down']).map((l) => ({ peer: String(l.peer), reason: String(l.reason) })),
    }
  })
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
  const rec: IdleRecord = {
    client: c.name,
    pk: c.config.pk,
    server: c.server.name,
    transport: c.transport,
    cutAtS: 0,
    expiredAfterS: null,
    expiryReason: null,
    cleaned: false,
    reconnectS: null,
    echoedBeforeResume: 0,
  }
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
