// The bench's settings: flags on the command line (`node bench/run.mjs --help`), or the same knobs from the
// environment (BENCH_*, bench/README.md lists them); a flag wins over its variable.
import { parseArgs } from 'node:util'

/** The rows of the throughput tables, in the order they are listed (the runs interleave them, lib/order.mjs). */
export const SUBJECTS = ['veth', 'sudph', 'stcpr', 'wireguard-go', 'boringtun', 'two-hop']
/** Measures of our tunnel alone, after the subjects. */
export const EXTRAS = ['clients', 'connect', 'memory', 'user-wait']

/** Bad input on the command line or in a BENCH_* variable: run.mjs prints its message as one line, exit 2. */
export class BenchInputError extends Error {}

/** The numeric knobs: flag, variable, default, bounds, and the line --help prints. */
const KNOBS = [
  { key: 'seconds', flag: 'seconds', env: 'BENCH_SECONDS', dflt: 10, min: 1, max: 3600, help: 'length of each measured iperf3 TCP run, s' },
  {
    key: 'repeat',
    flag: 'repeat',
    env: 'BENCH_REPEAT',
    dflt: 3,
    min: 1,
    max: 100,
    help: 'rounds; each sets every subject up once, in an interleaved order',
  },
  { key: 'warmup', flag: 'warmup', env: 'BENCH_WARMUP', dflt: 3, min: 1, max: 600, help: 'the unrecorded TCP run before the measured ones, s' },
  { key: 'pings', flag: 'pings', env: 'BENCH_PINGS', dflt: 200, min: 2, max: 100_000, help: 'pings at 10 ms intervals, per round' },
  // The iperf3 payload is 28 bytes less (IPv4 + UDP headers): 1400-byte packets fit the tunnels' 1420-byte MTU.
  {
    key: 'udpPacket',
    flag: 'udp-packet',
    env: 'BENCH_UDP_PACKET',
    dflt: 1400,
    min: 100,
    max: 65_535,
    help: 'IP packet size of the UDP sweep, bytes',
  },
  { key: 'udpSeconds', flag: 'udp-seconds', env: 'BENCH_UDP_SECONDS', dflt: 3, min: 1, max: 600, help: 'length of each step of the UDP sweep, s' },
  {
    key: 'udpLossPct',
    flag: 'udp-loss',
    env: 'BENCH_UDP_LOSS',
    dflt: 1,
    min: 0.01,
    max: 50,
    real: true,
    help: 'the loss (%) a UDP rate must stay under',
  },
  {
    key: 'connects',
    flag: 'connects',
    env: 'BENCH_CONNECTS',
    dflt: 20,
    min: 1,
    max: 10_000,
    help: 'fresh client nodes per transport for the connect time',
  },
  {
    key: 'clients',
    flag: 'clients',
    env: 'BENCH_CLIENTS',
    dflt: 4,
    min: 1,
    max: 240,
    help: 'client nodes of the parallel-clients row, each in its own namespace',
  },
  { key: 'sessions', flag: 'sessions', env: 'BENCH_SESSIONS', dflt: 1000, min: 1, max: 100_000, help: 'idle client sessions for the server memory' },
  {
    key: 'scaleSessions',
    flag: 'scale-sessions',
    env: 'BENCH_SCALE_SESSIONS',
    dflt: 10_000,
    min: 0,
    max: 100_000,
    help: 'idle SUDPH sessions of the large memory row, from 4 load processes (0: no such row)',
  },
  {
    key: 'idleSeconds',
    flag: 'idle-seconds',
    env: 'BENCH_IDLE_SECONDS',
    dflt: 30,
    min: 0,
    max: 3600,
    help: "the server's CPU is measured over this long idle, s",
  },
  // The server counts more than 200 handshakes/s from one source as an attack (docs/wire.md, cookie replies).
  {
    key: 'sessionRate',
    flag: 'session-rate',
    env: 'BENCH_SESSION_RATE',
    dflt: 100,
    min: 1,
    max: 10_000,
    help: 'new sessions per second of the load tool',
  },
  {
    key: 'maxLoad',
    flag: 'max-load',
    env: 'BENCH_MAX_LOAD',
    // A quiet machine idles near 0; a quarter of the cores busy (0.5 on 2 cores) is already someone else's run.
    dflt: (cores) => Math.max(0.5, cores / 4),
    min: 0,
    max: 10_000,
    real: true,
    dfltText: 'cores / 4, at least 0.5',
    help: 'refuse to start above this 1-minute load average',
  },
]

export const USAGE = `Usage: sudo node bench/run.mjs [options]      (npm run bench -- [options])
       node bench/run.mjs --report FILE.json   reprint the tables of an earlier run (no root)
       node bench/run.mjs --chart FILE.json    redraw its chart (no root)

Our tunnel (SUDPH, STCPR) against the bare veth, wireguard-go and boringtun on one namespace pair, the
subjects interleaved in every round, each after a warm-up run; writes bench/results/<UTC time>.json.

Options (each also read from the variable in brackets):
${KNOBS.map((k) => `  --${`${k.flag} ${k.real ? 'N' : 'INT'}`.padEnd(18)} ${k.help} [${k.env}, default ${k.dfltText ?? k.dflt}]`).join('\n')}
  --only LIST          comma list of ${[...SUBJECTS, ...EXTRAS].join(',')} [BENCH_ONLY, default all]
  --allow-loaded       run even above --max-load; the JSON then says "loaded": true [BENCH_ALLOW_LOADED=1]
  -h, --help           this text

Examples:
  sudo npm run bench                                         # the full run, about 12 minutes
  sudo npm run bench -- --seconds 1 --repeat 1 --warmup 1 --udp-seconds 1 --pings 20 --only veth,sudph
  sudo BENCH_SECONDS=3 BENCH_REPEAT=1 BENCH_SESSIONS=200 npm run bench   # a quick look
  node bench/run.mjs --report bench/results/2026-11-29T03-33-40Z.json`

/** A whole number, or a decimal with `real`, within [min, max]; nothing else (no hex, exponents, blanks). */
function knobValue(k, raw, from) {
  const ok = k.real ? /^\d{1,9}(\.\d{1,6})?$/.test(raw) : /^\d{1,9}$/.test(raw)
  const n = Number(raw)
  if (!ok || n < k.min || n > k.max) {
    throw new BenchInputError(`${from}=${JSON.stringify(raw).slice(0, 40)} is not ${k.real ? 'a number' : 'an integer'} from ${k.min} to ${k.max}`)
  }
  return n
}

/**
 * What the command line and the environment ask for: { mode: 'run', settings } | { mode: 'help' } |
 * { mode: 'report' | 'chart', file }. Throws BenchInputError on anything it does not understand.
 */
export function parseSettings(argv, env, cores) {
  const options = { help: { type: 'boolean', short: 'h' }, report: { type: 'string' }, chart: { type: 'string' }, only: { type: 'string' } }
  options['allow-loaded'] = { type: 'boolean' }
  for (const k of KNOBS) options[k.flag] = { type: 'string' }
  let values
  try {
    ;({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }))
  } catch (e) {
    // Node's message is a paragraph; the first sentence names the option.
    throw new BenchInputError(`${String(e.message).split('\n')[0].split('. ')[0].replace(/\.$/, '')} (see --help)`)
  }
  if (values.help) return { mode: 'help' }
  for (const mode of ['report', 'chart']) {
    if (values[mode] === undefined) continue
    if (values[mode] === '') throw new BenchInputError(`--${mode} needs a results file`)
    return { mode, file: values[mode] }
  }
  const settings = {}
  for (const k of KNOBS) {
    const flag = values[k.flag]
    // An empty variable is an unset one (VAR= npm run bench); an empty flag is a mistake.
    if (flag !== undefined) settings[k.key] = knobValue(k, flag, `--${k.flag}`)
    else if (env[k.env] !== undefined && env[k.env] !== '') settings[k.key] = knobValue(k, env[k.env], k.env)
    else settings[k.key] = typeof k.dflt === 'function' ? k.dflt(cores) : k.dflt
  }
  const envLoaded = env.BENCH_ALLOW_LOADED
  if (envLoaded !== undefined && !['', '0', '1'].includes(envLoaded))
    throw new BenchInputError(`BENCH_ALLOW_LOADED=${JSON.stringify(envLoaded).slice(0, 40)}: use 1 or 0`)
  settings.allowLoaded = values['allow-loaded'] === true || envLoaded === '1'
  settings.only = (values.only ?? env.BENCH_ONLY ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  const known = [...SUBJECTS, ...EXTRAS]
  for (const s of settings.only) {
    if (!known.includes(s))
      throw new BenchInputError(`${values.only !== undefined ? '--only' : 'BENCH_ONLY'}: unknown "${s.slice(0, 40)}" (known: ${known.join(', ')})`)
  }
  return { mode: 'run', settings }
}

/** Whether BENCH_ONLY lets `name` run. */
export const wanted = (settings, name) => settings.only.length === 0 || settings.only.includes(name)
