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

function main(): void {
  const o = JSON.parse(process.argv[2] ?? '') as AgentOptions
  const st: AgentStats = {
    final: false, paused: false, probesSent: 0, probesEchoed: 0, probesPending: 0, probesLost: 0,
    tcpWritten: 0, tcpAcked: 0, tcpScheduled: 0, tcpRedials: 0, bursts: 0, burstsDone: 0, burstMsMax: 0,
    burstMsSum: 0, stallMsMax: 0, errors: [],
  }
  const note = (e: string) => {
    if (st.errors.length < 20) st.errors.push(`${new Date().toISOString()} ${e}`)
  }

  // --- UDP probes
  const sent = new Map<number, number>()
  let seq = 0
  const udp = dgram.createSocket('udp4')
  udp.on('error', (e) => note(`udp: ${e.message}`))
  udp.on('message', (m) => {
    if (m.length < 4) return
    const n = m.readUInt32BE(0)
    if (sent.delete(n)) st.probesEchoed++
  })
  const probe = () => {
    const now = Date.now()
    for (const [n, at] of sent) {
      if (now - at < LOSS_AFTER_MS) break // insertion order = send order
      sent.delete(n)
      st.probesLost++
    }
    if (st.paused) return
    const b = Buffer.alloc(64)
    b.writeUInt32BE(++seq, 0)
    sent.set(seq, now)
    st.probesSent++
    udp.send(b, o.udpPort, o.host)
  }

  // --- TCP stream
  let sock: net.Socket | null = null
  let backlog = 0 // scheduled bytes not yet written
  let ackBase = 0 // acked bytes of earlier connections
  let connAcked = 0
  let lastAckMove = Date.now()
  const burstEnds: { at: number; offset: number }[] = []
  const dial = () => {
    const s = net.connect({ host: o.host, port: o.tcpPort })
    s.setNoDelay(true)
    let buf = ''
    s.setEncoding('utf8')
    s.on('data', (d: string) => {
      buf += d
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const n = Number(buf.slice(0, i))
        buf = buf.slice(i + 1)
        if (Number.isFinite(n) && n > connAcked) {
          connAcked = n
          st.tcpAcked = ackBase + n
          lastAckMove = Date.now()
          while (burstEnds.length && (burstEnds[0] as { offset: number }).offset <= st.tcpAcked) {
            const b = burstEnds.shift() as { at: number }
            const ms = Date.now() - b.at
            st.burstsDone++
            st.burstMsSum += ms
            st.burstMsMax = Math.max(st.burstMsMax, ms)
          }
        }
      }
    })
    s.on('error', (e) => note(`tcp: ${e.message}`))
    // Whatever the schedule queued while the socket was full or connecting goes now.
    s.on('connect', () => pump())
    s.on('drain', () => pump())
    s.on('close', () => {
      if (sock !== s) return
      sock = null
      // What this connection wrote but the sink never acked is gone with it.
      ackBase += connAcked
      st.tcpWritten = st.tcpAcked = ackBase
      connAcked = 0
      burstEnds.length = 0
      if (!stopping) setTimeout(() => { st.tcpRedials++; sock = dial() }, 1000)
    })
    return s
  }
  sock = dial()
  const pump = () => {
    const s = sock
    if (s === null || !s.writable) return
    while (backlog > 0 && !s.writableNeedDrain) {
      const n = Math.min(backlog, CHUNK.length)
      s.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))
      backlog -= n
      st.tcpWritten += n
    }
  }
  const schedule = (n: number) => {
    backlog += n
    st.tcpScheduled += n
    pump()
  }
  const tick = () => {
    if (!st.paused) schedule(Math.round(o.rate / 10))
    else pump()
    const outstanding = st.tcpWritten > st.tcpAcked || backlog > 0
    if (outstanding) st.stallMsMax = Math.max(st.stallMsMax, Date.now() - lastAckMove)
    else lastAckMove = Date.now()
    if (sock && outstanding && Date.now() - lastAckMove > 20_000 && !st.paused) {
      // A stream that stopped moving for 20 s is dead (its path changed): redial.
      note('tcp stalled 20 s; redialing')
      backlog = 0
      sock.destroy()
    }
  }
  const burst = () => {
    if (st.paused || sock === null) return
    st.bursts++
    burstEnds.push({ at: Date.now(), offset: st.tcpWritten + backlog + o.burst })
    schedule(o.burst)
  }

  const timers: NodeJS.Timeout[] = [setInterval(probe, o.probeMs), setInterval(tick, 100), setInterval(report, 5000)]
  let burstTimer: NodeJS.Timeout | null = null
  if (o.burst > 0 && o.burstEveryMs > 0) {
    burstTimer = setTimeout(() => {
      burst()
      timers.push(setInterval(burst, o.burstEveryMs))
    }, o.burstOffsetMs)
  }

  function report(): void {
    st.probesPending = sent.size
    process.stdout.write(JSON.stringify(st) + '\n')
  }

  let stopping = false
  process.on('SIGUSR1', () => { st.paused = true; backlog = 0 })
  process.on('SIGUSR2', () => { st.paused = false; lastAckMove = Date.now() })
  process.on('SIGTERM', () => {
    if (stopping) return
    stopping = true
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
  process.stdout.write(JSON.stringify({ ready: true }) + '\n')
}

main()
