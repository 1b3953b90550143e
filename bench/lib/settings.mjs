// The bench's settings, from the environment (bench/README.md lists them).

/** The rows of the throughput tables, in the order they are measured. */
export const SUBJECTS = ['veth', 'sudph', 'stcpr', 'wireguard-go', 'boringtun', 'two-hop']
/** Measures of our tunnel alone, after the subjects. */
export const EXTRAS = ['connect', 'memory']

/** Bad input: one line, exit 2. */
function fail(msg) {
  console.error(`bench: ${msg}`)
  process.exit(2)
}

function envInt(name, dflt, min = 1) {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return dflt
  const n = Number(raw)
  if (!Number.isInteger(n) || n < min) fail(`${name}=${raw} is not an integer >= ${min}`)
  return n
}

export function readSettings() {
  const settings = {
    seconds: envInt('BENCH_SECONDS', 10),
    repeat: envInt('BENCH_REPEAT', 3),
    sessions: envInt('BENCH_SESSIONS', 1000),
    // New sessions per second the load tool opens; the server counts more than 200 handshakes/s as an attack.
    sessionRate: envInt('BENCH_SESSION_RATE', 100),
    connects: envInt('BENCH_CONNECTS', 20),
    pings: envInt('BENCH_PINGS', 200, 2),
    // IP packet size of the UDP test; the iperf3 payload is 28 bytes less (IPv4 + UDP headers), so that
    // the packets fit the tunnels' 1420-byte MTU without fragmenting.
    udpPacket: envInt('BENCH_UDP_PACKET', 1400, 100),
    only: (process.env.BENCH_ONLY ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  }
  for (const s of settings.only) {
    if (![...SUBJECTS, ...EXTRAS].includes(s)) fail(`BENCH_ONLY: unknown "${s}" (known: ${[...SUBJECTS, ...EXTRAS].join(', ')})`)
  }
  return settings
}

/** Whether BENCH_ONLY lets `name` run. */
export const wanted = (settings, name) => settings.only.length === 0 || settings.only.includes(name)
