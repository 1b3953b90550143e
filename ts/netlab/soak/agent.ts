/**
 * One soak client's traffic, run inside the client's namespace (so it goes
 * through that client's VPN tunnel). Standalone on purpose: 100 of these run
 * at once, so it imports nothing but node built-ins.
 *
 * - steady TCP: `rate` bytes/s to the sink, in 100 ms slices; the sink acks
 *   the bytes it has read, so "delivered" is measured at the far end;
 * - UDP probes: one numbered datagram every `probeMs` to the echo port; a probe
 *   not echoed within 3 s is lost (the loss figure of the soak);
 * - bursts: every `burstEveryMs` (first after `burstOffsetMs`), `burst` extra
 *   bytes on the TCP stream at once; a burst's time is until the sink acked it.
 *
 * Prints one JSON line of cumulative counters every 5 s and a `final` line on
 * SIGTERM. SIGUSR1 pauses all traffic (the soak's idle client), SIGUSR2 resumes.
 *
 * argv: JSON of AgentOptions.
 */
import dgram from 'node:dgram'
import net from 'node:net'

export interface AgentOptions {
  host: string
  tcpPort: number
  udpPort: number
  rate: number
  probeMs: number
  burst: number
  burstEveryMs: number
  burstOffsetMs: number
}

export interface AgentStats {
  final: boolean
  paused: boolean
  /** Probes sent, echoed within 3 s, and sent but not yet judged (in flight). */
  probesSent: number
  probesEchoed: number
  probesPending: number
  /** Probes sent while paused are none; these count probes lost (unanswered > 3 s). */
  probesLost: number
  /** Bytes handed to the kernel, and bytes the sink acked. */
  tcpWritten: number
  tcpAcked: number
  /** Bytes the schedule asked for (steady + bursts) while not paused. */
  tcpScheduled: number
  /** New TCP connections after the first (a broken stream is redialed). */
  tcpRedials: number
  bursts: number
  burstsDone: number
  burstMsMax: number
  burstMsSum: number
  /** Longest time the acked count did not move while bytes were outstanding. */
  stallMsMax: number
  errors: string[]
}

const LOSS_AFTER_MS = 3000
const CHUNK = Buffer.alloc(64 * 1024, 0x5a)

function newStats(): AgentStats {
  return {
    final: false,
    paused: false,
    probesSent: 0,
    probesEchoed: 0,
    probesPending: 0,
    probesLost: 0,
    tcpWritten: 0,
    tcpAcked: 0,
    tcpScheduled: 0,
    tcpRedials: 0,
    bursts: 0,
    burstsDone: 0,
    burstMsMax: 0,
    burstMsSum: 0,
    stallMsMax: 0,
    errors: [],
  }
}

/** Numbered UDP datagrams to the echo port; each one echoed within LOSS_AFTER_MS counts, the others are lost. */
class Probes {
  /** Sequence number -> send time, in send order, of probes not yet echoed or judged lost. */
  readonly sent = new Map<number, number>()
  private seq = 0
  private readonly udp = dgram.createSocket('udp4')

  constructor(
    private readonly o: AgentOptions,
    private readonly st: AgentStats,
    note: (e: string) => void,
  ) {
    this.udp.on('error', (e) => note(`udp: ${e.message}`))
    this.udp.on('message', (m) => {
      if (m.length < 4) return
      const n = m.readUInt32BE(0)
      if (this.sent.delete(n)) st.probesEchoed++
    })
  }

  /** Judges the overdue probes lost, then (unless paused) sends the next one. */
  probe(): void {
    const now = Date.now()
    for (const [n, at] of this.sent) {
      if (now - at < LOSS_AFTER_MS) break // insertion order = send order
      this.sent.delete(n)
      this.st.probesLost++
    }
    if (this.st.paused) return
    const b = Buffer.alloc(64)
    b.writeUInt32BE(++this.seq, 0)
    this.sent.set(this.seq, now)
    this.st.probesSent++
    this.udp.send(b, this.o.udpPort, this.o.host)
  }
}

/**
 * The TCP stream to the sink: bytes are scheduled (steady rate, bursts), written
 * as the socket takes them, and counted delivered when the sink acks them. A
 * broken or stalled stream is redialed; what it had not delivered is dropped.
 */
class TcpStream {
  private sock: net.Socket | null = null
  private backlog = 0 // scheduled bytes not yet written
  private ackBase = 0 // acked bytes of earlier connections
  private connAcked = 0
  private lastAckMove = Date.now()
  private readonly burstEnds: { at: number; offset: number }[] = []
  stopping = false

  constructor(
    private readonly o: AgentOptions,
    private readonly st: AgentStats,
    private readonly note: (e: string) => void,
  ) {
    this.sock = this.dial()
  }

  private dial(): net.Socket {
    const s = net.connect({ host: this.o.host, port: this.o.tcpPort })
    s.setNoDelay(true)
    let buf = ''
    s.setEncoding('utf8')
    s.on('data', (d: string) => {
      buf += d
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        this.onAck(Number(buf.slice(0, i)))
        buf = buf.slice(i + 1)
      }
    })
    s.on('error', (e) => this.note(`tcp: ${e.message}`))
    // Whatever the schedule queued while the socket was full or connecting goes now.
    s.on('connect', () => this.pump())
    s.on('drain', () => this.pump())
    s.on('close', () => this.onClose(s))
    return s
  }

  /** The sink has read `n` bytes of this connection: count them, and finish the bursts they complete. */
  private onAck(n: number): void {
    if (!Number.isFinite(n) || n <= this.connAcked) return
    const st = this.st
    this.connAcked = n
    st.tcpAcked = this.ackBase + n
    this.lastAckMove = Date.now()
    while (this.burstEnds.length && (this.burstEnds[0] as { offset: number }).offset <= st.tcpAcked) {
      const b = this.burstEnds.shift() as { at: number }
      const ms = Date.now() - b.at
      st.burstsDone++
      st.burstMsSum += ms
      st.burstMsMax = Math.max(st.burstMsMax, ms)
    }
  }

  private onClose(s: net.Socket): void {
    if (this.sock !== s) return
    this.sock = null
    // What this connection wrote but the sink never acked is gone with it.
    this.ackBase += this.connAcked
    this.st.tcpWritten = this.st.tcpAcked = this.ackBase
    this.connAcked = 0
    this.burstEnds.length = 0
    if (!this.stopping) {
      setTimeout(() => {
        this.st.tcpRedials++
        this.sock = this.dial()
      }, 1000)
    }
  }

  private pump(): void {
    const s = this.sock
    if (s === null || !s.writable) return
    while (this.backlog > 0 && !s.writableNeedDrain) {
      const n = Math.min(this.backlog, CHUNK.length)
      s.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))
      this.backlog -= n
      this.st.tcpWritten += n
    }
  }

  private schedule(n: number): void {
    this.backlog += n
    this.st.tcpScheduled += n
    this.pump()
  }

  /** Every 100 ms: a tenth of the rate, and the stall watch. */
  tick(): void {
    const st = this.st
    if (!st.paused) this.schedule(Math.round(this.o.rate / 10))
    else this.pump()
    const outstanding = st.tcpWritten > st.tcpAcked || this.backlog > 0
    if (outstanding) st.stallMsMax = Math.max(st.stallMsMax, Date.now() - this.lastAckMove)
    else this.lastAckMove = Date.now()
    if (this.sock && outstanding && Date.now() - this.lastAckMove > 20_000 && !st.paused) {
      // A stream that stopped moving for 20 s is dead (its path changed): redial.
      this.note('tcp stalled 20 s; redialing')
      this.backlog = 0
      this.sock.destroy()
    }
  }

  burst(): void {
    if (this.st.paused || this.sock === null) return
    this.st.bursts++
    this.burstEnds.push({ at: Date.now(), offset: this.st.tcpWritten + this.backlog + this.o.burst })
    this.schedule(this.o.burst)
  }

  pause(): void {
    this.st.paused = true
    this.backlog = 0
  }

  resume(): void {
    this.st.paused = false
    this.lastAckMove = Date.now()
  }
}

function main(): void {
  const o = JSON.parse(process.argv[2] ?? '') as AgentOptions
  const st = newStats()
  const note = (e: string) => {
    if (st.errors.length < 20) st.errors.push(`${new Date().toISOString()} ${e}`)
  }
  const probes = new Probes(o, st, note)
  const tcp = new TcpStream(o, st, note)
  const report = () => {
    st.probesPending = probes.sent.size
    process.stdout.write(`${JSON.stringify(st)}\n`)
  }

  const timers: NodeJS.Timeout[] = [setInterval(() => probes.probe(), o.probeMs), setInterval(() => tcp.tick(), 100), setInterval(report, 5000)]
  let burstTimer: NodeJS.Timeout | null = null
  if (o.burst > 0 && o.burstEveryMs > 0) {
    burstTimer = setTimeout(() => {
      tcp.burst()
      timers.push(setInterval(() => tcp.burst(), o.burstEveryMs))
    }, o.burstOffsetMs)
  }

  process.on('SIGUSR1', () => tcp.pause())
  process.on('SIGUSR2', () => tcp.resume())
  process.on('SIGTERM', () => {
    if (tcp.stopping) return
    tcp.stopping = true
    for (const t of timers) clearInterval(t)
    if (burstTimer) clearTimeout(burstTimer)
    // Let in-flight probes and acks arrive; then whatever is still unanswered
    // counts as pending (not lost: the run ended, not the tunnel).
    setTimeout(() => {
      st.final = true
      report()
      process.exit(0)
    }, 2500)
  })
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`)
}

main()
