import * as Flags from '@oclif/core/flags'
import { SkywireCommand } from '../cli/base.js'
import { parseHostPort } from '../config/schema.js'
import { SkywireError } from '../contracts/errors.js'
import type { RateLimitOptions } from '../services/rate-limit.js'

function hostPort(flag: string, value: string): { host: string; port: number } {
  const hp = parseHostPort(value)
  if (!hp) throw new SkywireError('EUSAGE', `--${flag} must be HOST:PORT (IPv6 as [ADDR]:PORT), got "${value}"`)
  return hp
}

/** Whole seconds from an env var, for tests and operators who need other TTLs. */
function ttlFromEnv(name: string): number | undefined {
  const v = process.env[name]
  if (v === undefined || v === '') return undefined
  const n = Number(v)
  if (!(n > 0 && n <= 86_400_000)) throw new SkywireError('EUSAGE', `${name} must be milliseconds from 1 to 86400000, got "${v}"`)
  return n
}

/** "RATE,BURST" requests per second per client IP, or "0" for no limit. */
function rateFromEnv(name: string): RateLimitOptions | null | undefined {
  const v = process.env[name]
  if (v === undefined || v === '') return undefined
  if (v === '0') return null
  const m = /^(\d+),(\d+)$/.exec(v)
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) throw new SkywireError('EUSAGE', `${name} must be RATE,BURST (e.g. 50,100) or 0, got "${v}"`)
  return { ratePerSec: Number(m[1]), burst: Number(m[2]) }
}

/** --trust-proxy: a hop count, or a comma-separated list of proxy addresses/CIDRs. */
export function parseTrustProxy(value: string): number | string[] {
  const v = value.trim()
  if (/^\d+$/.test(v)) return Number(v)
  const list = v
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '')
  if (list.length === 0 || v === 'true' || v === 'false') {
    throw new SkywireError('EUSAGE', `--trust-proxy must be a hop count (e.g. 1) or proxy addresses/CIDRs (e.g. 10.0.0.0/8,fd00::/8), got "${value}"`)
  }
  return list
}

function wholeNumber(flag: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new SkywireError('EUSAGE', `--${flag} must be a whole number from ${min} to ${max}, got ${value}`)
  }
  return value
}

/** SKYWIRE_AR_COOKIE_SECRET: hex, at least 32 bytes, shared by replicas behind one UDP address. */
function cookieSecretFromEnv(): Buffer | undefined {
  const v = process.env.SKYWIRE_AR_COOKIE_SECRET
  if (v === undefined || v === '') return undefined
  if (!/^([0-9a-fA-F]{2}){32,}$/.test(v))
    throw new SkywireError('EUSAGE', 'SKYWIRE_AR_COOKIE_SECRET must be at least 64 hex characters (32 random bytes)')
  return Buffer.from(v, 'hex')
}

export default class Services extends SkywireCommand {
  static override summary = 'Run the discovery services: address resolver, service discovery and transport discovery.'
  static override description =
    "One process serves the three HTTP APIs under /ar, /sd and /tpd, plus the address resolver's UDP port for " +
    'SUDPH bindings and hole punching. The store is an embedded SQLite file by default; --redis shares one store ' +
    'between several replicas. The API is described in docs/services-api.md. Entry TTLs can be changed with the ' +
    'environment variables SKYWIRE_TTL_STCPR_MS, SKYWIRE_TTL_SUDPH_MS, SKYWIRE_TTL_SERVICE_MS and ' +
    'SKYWIRE_TTL_TRANSPORT_MS; the per-IP HTTP rate limit with SKYWIRE_HTTP_RATE=RATE,BURST (0 = off) and the UDP one ' +
    'with SKYWIRE_UDP_RATE=RATE,BURST (default 10,20), over all sources with SKYWIRE_UDP_TOTAL_RATE (default ' +
    '2000,4000); the key of the UDP bind challenges, for replicas sharing one UDP ' +
    'address without per-source affinity, with SKYWIRE_AR_COOKIE_SECRET (64+ hex characters); the log level with ' +
    'SKYWIRE_LOG_LEVEL.'
  static override examples = [
    '<%= config.bin %> services',
    '<%= config.bin %> services --http 0.0.0.0:9090 --udp 0.0.0.0:9091 --redis redis://127.0.0.1:6379',
  ]
  static override flags = {
    http: Flags.string({ description: 'HTTP listen address (HOST:PORT).', default: '127.0.0.1:9090' }),
    udp: Flags.string({ description: 'UDP listen address of the address resolver (HOST:PORT).', default: '127.0.0.1:9091' }),
    db: Flags.string({
      description:
        'SQLite database file (the default store). [default: $SKYWIRE_DATA_DIR/services.db, else /var/lib/skywire for root, else ~/.local/share/skywire]',
      exclusive: ['redis'],
    }),
    redis: Flags.string({ description: 'Redis URL; replicas pointing at one Redis share their state.', exclusive: ['db'] }),
    'redis-prefix': Flags.string({ description: 'Prefix of every Redis key.', default: 'skywire:' }),
    geoip: Flags.string({
      description: 'Geo-IP lookup: "builtin" (the shipped database) or "off".',
      default: 'builtin',
      options: ['builtin', 'off'],
    }),
    'trust-proxy': Flags.string({
      description:
        "Behind a reverse proxy or load balancer: how many proxy hops to trust (e.g. 1), or the proxies' addresses/CIDRs " +
        '(e.g. 10.0.0.0/8,fd00::/8). The client is the X-Forwarded-For entry just left of the trusted ones. Off by default: ' +
        'then X-Forwarded-For is ignored.',
    }),
    'max-entries-per-ip': Flags.integer({
      description: 'Live service entries one source (an IPv4 address or an IPv6 /64) may hold; a key holds one entry.',
      default: 8,
    }),
    'max-transports-per-key': Flags.integer({ description: 'Live transports one key may report.', default: 1024 }),
    'nonce-window': Flags.integer({
      description: "Seconds a signed write's nonce (a timestamp) may be off the server's clock.",
      default: 300,
    }),
    'body-limit': Flags.integer({ description: 'Largest HTTP request body in bytes.', default: 16 * 1024 }),
    'max-connections': Flags.integer({ description: 'Open HTTP connections in total; more are closed at once.', default: 2048 }),
  }

  async run(): Promise<unknown> {
    const { flags } = await this.parse(Services)
    const http = hostPort('http', flags.http)
    const udp = hostPort('udp', flags.udp)
    const ttl = {
      stcprMs: ttlFromEnv('SKYWIRE_TTL_STCPR_MS'),
      sudphMs: ttlFromEnv('SKYWIRE_TTL_SUDPH_MS'),
      serviceMs: ttlFromEnv('SKYWIRE_TTL_SERVICE_MS'),
      transportMs: ttlFromEnv('SKYWIRE_TTL_TRANSPORT_MS'),
    }
    const httpRate = rateFromEnv('SKYWIRE_HTTP_RATE')
    const udpRate = rateFromEnv('SKYWIRE_UDP_RATE')
    if (udpRate === null) throw new SkywireError('EUSAGE', 'SKYWIRE_UDP_RATE cannot be 0: the UDP port is always rate limited')
    const udpTotalRate = rateFromEnv('SKYWIRE_UDP_TOTAL_RATE')
    if (udpTotalRate === null) throw new SkywireError('EUSAGE', 'SKYWIRE_UDP_TOTAL_RATE cannot be 0')
    const udpCookieSecret = cookieSecretFromEnv()
    // Loaded here, not at the top: oclif imports every command file to list
    // them, and the services pull in fastify, better-sqlite3 and ioredis.
    const { defaultLogger, startServices } = await import('../services/server.js')
    const { openStore } = await import('../services/store/open.js')
    const log = defaultLogger()
    const store = await openStore({ redis: flags.redis, redisPrefix: flags['redis-prefix'], db: flags.db })
    let running
    try {
      running = await startServices({
        http,
        udp,
        store,
        geoip: flags.geoip as 'builtin' | 'off',
        ttl: Object.fromEntries(Object.entries(ttl).filter(([, v]) => v !== undefined)),
        ...(flags['trust-proxy'] !== undefined ? { trustProxy: parseTrustProxy(flags['trust-proxy']) } : {}),
        limits: {
          maxEntriesPerSource: wholeNumber('max-entries-per-ip', flags['max-entries-per-ip'], 1, 1_000_000),
          maxTransportsPerKey: wholeNumber('max-transports-per-key', flags['max-transports-per-key'], 1, 1_000_000),
        },
        nonceWindowMs: wholeNumber('nonce-window', flags['nonce-window'], 1, 86_400) * 1000,
        bodyLimit: wholeNumber('body-limit', flags['body-limit'], 1024, 1024 * 1024),
        maxConnections: wholeNumber('max-connections', flags['max-connections'], 1, 1_000_000),
        ...(httpRate !== undefined ? { httpRate } : {}),
        ...(udpRate ? { udpRate } : {}),
        ...(udpTotalRate ? { udpTotalRate } : {}),
        ...(udpCookieSecret ? { udpCookieSecret } : {}),
        logger: log,
      })
    } catch (err) {
      await store.close().catch(() => {})
      throw err
    }
    const svc = running
    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        log.info({ signal }, 'shutting down')
        svc.close().then(resolve, (err: unknown) => {
          log.error({ err: (err as Error).message }, 'shutdown failed')
          resolve()
        })
      }
      process.once('SIGINT', () => stop('SIGINT'))
      process.once('SIGTERM', () => stop('SIGTERM'))
    })
    return { stopped: true, url: svc.url }
  }
}
