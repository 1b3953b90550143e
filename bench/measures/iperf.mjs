// iperf3 from the client namespace to a server address: TCP throughput, and UDP at fixed offered rates
// (a sweep for the highest rate the path carries), with the CPU the tunnel processes spent meanwhile.
import { parseTcp, parseUdp, udpBitrate } from '../lib/iperf-json.mjs'
import { log, parseJson, sleep } from '../lib/log.mjs'
import { cpuOf, machineCpu } from '../lib/procfs.mjs'
import { fmt, fmt3 } from '../lib/stats.mjs'
import { sweepRate } from '../lib/sweep.mjs'

/** iperf3 -s on `addr`:`port` in `ns`, resolved once it listens (a TCP probe would be taken for a client). */
export async function iperfServer(lab, ns, addr, port = 5201) {
  // --forceflush: the "Server listening" line reaches the pipe at once, not when stdout's buffer fills.
  const srv = lab.spawn(ns, ['iperf3', '-s', '-B', addr, '-p', String(port), '--forceflush'])
  try {
    await srv.waitForOutput(new RegExp(`Server listening on ${port}\\b`), 5000)
  } catch (e) {
    await srv.kill('SIGKILL', 0)
    throw e
  }
  return srv
}

/**
 * iperf3's control connection can be reset when a run starts while the server is still closing the
 * previous one (`unable to receive control message: Connection reset by peer`). No data went through
 * the path yet, so such a start is tried again, up to twice; the run records it (`retries`).
 */
const CONTROL_ERROR = /control message|Connection reset|server is busy|unable to connect to server/i

/** Runs iperf3 -J; `onStart` runs before each attempt (so a failed start's CPU is not counted). */
async function iperfRun(lab, ns, argv, timeoutMs, what, onStart) {
  for (let attempt = 0; ; attempt++) {
    onStart()
    const r = await lab.exec(ns, argv, { timeoutMs })
    const j = parseJson(r.stdout)
    const error = r.code !== 0 || !j || j.error ? (j?.error ?? (r.stderr.trim() || `exit ${r.code}`)) : null
    if (!error) return { j, retries: attempt }
    if (attempt >= 2 || !CONTROL_ERROR.test(error)) throw new Error(`${what}: ${error}`)
    log(`  ${what}: ${error}; starting it again`)
    await sleep(500)
  }
}

/** One iperf3 TCP run of `seconds` from `ns` to `addr` with `streams` streams. */
export async function iperfTcp(lab, seconds, ns, addr, streams, pids) {
  const argv = ['iperf3', '-c', addr, '-p', '5201', '-t', String(seconds), '-P', String(streams), '-J']
  let cpu0 = 0
  let sys0 = null
  const { j, retries } = await iperfRun(lab, ns, argv, (seconds + 30) * 1000, `iperf3 -P ${streams}`, () => {
    cpu0 = cpuOf(pids)
    sys0 = machineCpu()
  })
  const cpu = cpuOf(pids) - cpu0
  const sys1 = machineCpu()
  return { ...parseTcp(j), tunnelCpuS: pids.length ? cpu : null, machineBusyCpuS: sys1.busy - sys0.busy, ...(retries ? { retries } : {}) }
}

/**
 * iperf3's own UDP socket buffers (both ends): with the default ~200 KiB a receiver that is not scheduled
 * for a few ms drops packets in its socket, which would be charged to the path (on this 2-core machine
 * with other work running: 16-20 % loss at 20 kpps on the bare veth, none with 4 MiB). The kernel caps
 * it at net.core.[rw]mem_max, which the results record.
 */
export const UDP_SOCKET_BUFFER = '4M'

/** One iperf3 UDP run offering `pps` packets per second of settings.udpPacket bytes (IP). */
export async function iperfUdpAt(lab, settings, ns, addr, pps, pids) {
  const len = settings.udpPacket - 28
  const rate = String(udpBitrate(pps, len))
  const argv = [
    'iperf3',
    '-c',
    addr,
    '-p',
    '5201',
    '-u',
    '-l',
    String(len),
    '-b',
    rate,
    '-w',
    UDP_SOCKET_BUFFER,
    '-t',
    String(settings.udpSeconds),
    '-J',
  ]
  let cpu0 = 0
  const { j, retries } = await iperfRun(lab, ns, argv, (settings.udpSeconds + 30) * 1000, `iperf3 -u -b ${rate}`, () => {
    cpu0 = cpuOf(pids)
  })
  const cpu = cpuOf(pids) - cpu0
  return { ...parseUdp(j, len, settings.udpSeconds), tunnelCpuS: pids.length ? cpu : null, ...(retries ? { retries } : {}) }
}

/** The sweep start: 20 kpps (about 220 Mbit/s of 1400-byte packets), below what any subject carries here. */
const START_PPS = 20_000

/** The highest offered UDP rate with loss under settings.udpLossPct (lib/sweep.mjs), every step kept. */
export async function udpSweep(lab, settings, name, ns, addr, pids) {
  const sweep = await sweepRate(
    async (pps) => {
      const r = await iperfUdpAt(lab, settings, ns, addr, pps, pids)
      log(`  ${name}: UDP offered ${fmt3(pps / 1000)} kpps: ${fmt3(r.receivedPps / 1000)} kpps received, ${fmt(r.lossPct, 2)} % lost`)
      return r
    },
    { startPps: START_PPS, maxLossPct: settings.udpLossPct },
  )
  const b = sweep.best
  return {
    maxLossPct: settings.udpLossPct,
    payloadBytes: settings.udpPacket - 28,
    // The best passing step, under the field names of the earlier `-b 0` measure.
    offeredPps: b?.offeredPps ?? null,
    receivedPps: b?.receivedPps ?? null,
    sentPps: b?.sentPps ?? null,
    lossPct: b?.lossPct ?? null,
    receivedMbps: b?.receivedMbps ?? null,
    tunnelCpuS: b?.tunnelCpuS ?? null,
    failedAtPps: sweep.failedAt,
    senderLimited: sweep.senderLimited,
    steps: sweep.steps.map((s) => ({
      offeredPps: s.offeredPps,
      sentPps: Math.round(s.sentPps),
      receivedPps: Math.round(s.receivedPps),
      lossPct: s.lossPct,
      pass: s.pass,
      tunnelCpuS: s.tunnelCpuS,
      ...(s.retries ? { retries: s.retries } : {}),
    })),
  }
}
