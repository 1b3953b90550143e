/**
 * The visor config: one JSON file, validated on load. Every field has a
 * default except the identity, so a generated file is complete and a
 * hand-edited one only needs what it changes.
 */
import { isIP } from 'node:net'
import { z } from 'zod'
import { parseHostPort } from '../sys/host-port.js'
import { parsePool6, POOL6_PREFIX_MAX, POOL6_PREFIX_MIN } from '../sys/server-ula.js'
import { isIsoCountryCode } from '../contracts/countries.js'
import { PK_PATTERN, publicKeyProblem } from '../native/keys.js'

const hostPort = z.string().refine((s) => parseHostPort(s) !== null, {
  message: 'must be HOST:PORT (IPv6 as [ADDR]:PORT) with a port from 0 to 65535',
})

/**
 * The web UI's listener: loopback only. Its token stops other programs, but
 * nothing on the network should even reach the page (or guess at the token).
 */
const loopbackHostPort = z.string().refine(
  (s) => {
    const host = parseHostPort(s)?.host
    return host === 'localhost' || host === '::1' || (isIP(host ?? '') === 4 && host?.startsWith('127.') === true)
  },
  { message: 'must be a loopback HOST:PORT (127.0.0.1, [::1] or localhost): the web UI never listens on the network' },
)

/** The discovery services' URL: in the config, and on the command line (--services). */
export const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' })

/** A visor public key, wherever one comes in (config, control API): canonical hex of a prime-order point. */
export const publicKeySchema = z
  .string()
  .regex(PK_PATTERN, 'must be a public key (64 lowercase hex characters)')
  // Weak keys (small-order points, ...) are no identity and no whitelist entry.
  .superRefine((s, ctx) => {
    const why = PK_PATTERN.test(s) ? publicKeyProblem(s) : null
    if (why !== null) ctx.addIssue({ code: 'custom', message: why })
  })
const pk = publicKeySchema

const cidr4 = z.string().refine(
  (s) => {
    const [addr, len] = s.split('/')
    const n = Number(len)
    return isIP(addr ?? '') === 4 && Number.isInteger(n) && n >= 8 && n <= 30
  },
  { message: 'must be an IPv4 network like 10.77.0.0/16 (prefix 8..30)' },
)

/** A country to advertise in service discovery; the services refuse any other code, so a registration would fail for good. */
const countryCode = z
  .string()
  .regex(/^[A-Z]{2}$/, 'must be a two-letter country code like US')
  .refine(isIsoCountryCode, 'must be an ISO 3166-1 country code like US or DE')

const transportType = z.enum(['sudph', 'stcpr'])

/** The shape of vpnClient.autoConnect: off | last | best | best:CC | a public key. */
export const AUTO_CONNECT_RE = /^(off|last|best|best:[A-Z]{2}|[0-9a-f]{64})$/
export const autoConnectSchema = z.string().superRefine((s, ctx) => {
  if (!AUTO_CONNECT_RE.test(s)) {
    ctx.addIssue({ code: 'custom', message: 'must be off, last, best, best:CC (a country code like DE) or a server public key' })
    return
  }
  if (s.startsWith('best:') && !isIsoCountryCode(s.slice(5)))
    ctx.addIssue({ code: 'custom', message: 'must name an ISO 3166-1 country, like best:DE' })
  else if (s.length === 64) {
    const why = publicKeyProblem(s)
    if (why !== null) ctx.addIssue({ code: 'custom', message: why })
  }
})

export const configSchema = z
  .object({
    version: z.literal(1),
    pk,
    sk: z.string().regex(PK_PATTERN, 'must be a secret key (64 lowercase hex characters)'),
    dataDir: z.string().min(1).default('/var/lib/skywire'),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
    services: z
      .strictObject({
        /** Base URL of the discovery services (routes /ar, /sd, /tpd). */
        url: httpUrl.default('http://127.0.0.1:9090'),
        /**
         * UDP address of the address resolver, for SUDPH bindings and hole punching. A name is looked up in both
         * families (A and AAAA): the visor keeps a binding over each its SUDPH socket has (docs/wire.md section 3).
         */
        udp: hostPort.default('127.0.0.1:9091'),
        /**
         * The resolver's UDP address in the other family, when `udp` is an IP literal (e.g. `[2001:db8::10]:9091`
         * beside `203.0.113.10:9091`). Empty: only what `udp` gives.
         */
        udp6: z
          .union([z.literal(''), hostPort.refine((s) => !s.includes('%'), 'must not name a zone (%IFACE): a link-local resolver is not supported')])
          .default(''),
        /**
         * Seconds between re-registrations (STCPR addresses, the VPN server's entry, published
         * transports). Also how soon a visor is listed again after the services restarted with
         * an empty store; kept well inside the services' TTLs (90 s), hence at most 60.
         */
        refreshS: z.number().int().min(1).max(60).default(30),
      })
      .prefault({}),
    /**
     * Listen addresses. `[::]` (the default since 0.4.0) is dual-stack: one socket takes IPv4 and IPv6 peers, and
     * on a host without IPv6 the visor listens on `0.0.0.0` instead. `0.0.0.0` is IPv4 only, a concrete address
     * that address only. A visor registers the global addresses of the families it listens on.
     */
    transports: z
      .strictObject({
        stcpr: z.strictObject({ listen: hostPort.default('[::]:7777') }).prefault({}),
        sudph: z.strictObject({ listen: hostPort.default('[::]:7778') }).prefault({}),
        /** Which transport a new route tries first. */
        order: z.array(transportType).min(1).max(2).default(['sudph', 'stcpr']),
        /**
         * Data-path workers: SUDPH sockets on the one port (SO_REUSEPORT) and TUN queues per tunnel, so a VPN
         * server's clients spread over cores. Absent: one per core; 1: one socket and one queue.
         */
        workers: z.number().int().min(1).max(64).optional(),
      })
      .prefault({}),
    vpnServer: z
      .strictObject({
        autostart: z.boolean().default(true),
        /** Interface to NAT out of; empty means the default route's interface. */
        netifc: z.string().default(''),
        secure: z.boolean().default(true),
        whitelist: z.array(pk).max(10000).default([]),
        pool: cidr4.default('10.77.0.0/16'),
        /**
         * A routed IPv6 prefix for the clients (/32../120, global or ULA; the upstream routes it
         * here): addresses from it, no NAT. Absent: a random ULA /64 with NAT66 when --netifc has
         * global IPv6, otherwise clients get no IPv6 (and keep it blocked).
         */
        pool6: z
          .string()
          .max(64)
          .refine((s) => {
            try {
              parsePool6(s)
              return true
            } catch {
              return false
            }
          }, `must be an IPv6 network like 2001:db8:77::/64 (prefix ${POOL6_PREFIX_MIN}..${POOL6_PREFIX_MAX}, global or ULA)`)
          .optional(),
        /** DNS servers handed to clients (reached through the tunnel, from the server). */
        dns: z
          .array(z.string().refine((s) => isIP(s) !== 0, 'must be an IP address'))
          .max(4)
          .default(['1.1.1.1', '9.9.9.9']),
        /** ISO country code to advertise when the address is private. */
        country: countryCode.optional(),
      })
      .prefault({}),
    vpnClient: z
      .strictObject({
        killswitch: z.boolean().default(false),
        /**
         * Block everything but the visor's own sockets (transports, discovery) and the tunnel,
         * from the visor's start on, connected or not, and after `vpn stop` or a visor stop:
         * until lockdown is turned off (ts/sys/lockdown.ts).
         */
        lockdown: z.boolean().default(false),
        /**
         * Under the kill switch or lockdown, and while connected, keep the private networks this
         * host is directly on (its LAN: printers, NAS, router) reachable outside the tunnel.
         */
        allowLan: z.boolean().default(false),
        /**
         * What the visor connects to when it starts: \`off\`, \`last\` (the last server used), a
         * server's public key, or \`best\` / \`best:CC\` (the best server, optionally in one country).
         */
        autoConnect: autoConnectSchema.default('off'),
        /**
         * Register the VPN's transport in transport discovery. Off by default:
         * entries are public and would tell anyone which exit this key uses.
         */
        publishTransport: z.boolean().default(false),
        dns: z
          .array(z.string().refine((s) => isIP(s) !== 0, 'must be an IP address'))
          .max(4)
          .default([]),
        /**
         * Seconds between checks, while connected, that the tunnel's DNS setup (resolv.conf,
         * systemd-resolved's link settings) is still in place; a DHCP client or NetworkManager
         * rewriting it is undone at the next check. 0 turns the check off.
         */
        dnsRecheckS: z.number().int().min(0).max(3600).default(10),
        /**
         * Seconds a lost server is re-dialed before the client gives up: then routes and DNS are
         * restored (the kill switch, when on, stays until `vpn stop`), state is `disconnected` and
         * the last error says why. 0: never give up.
         */
        reconnectTimeoutS: z.number().int().min(0).max(86_400).default(300),
        /**
         * Seconds without any packet from the server (the core pings every 5 s) after which the
         * client counts it as lost and reconnects: dead-peer detection, like a keepalive timeout.
         * Lower notices a dead server or a broken path sooner; too close to the ping interval
         * mistakes a slow network for a dead one.
         */
        staleAfterS: z.number().int().min(6).max(3600).default(15),
      })
      .prefault({}),
    /**
     * Forwarding for others: this visor as a hop on other users' routes (ts/vpn/hop.ts). Off by
     * default: a hop spends its bandwidth on strangers, and the exits it forwards to see its
     * address as the source of their clients' traffic. An operator opts in.
     */
    hop: z
      .strictObject({
        enabled: z.boolean().default(false),
        /** Clients (the transport's peer key) allowed to use this hop; empty: anyone. */
        whitelist: z.array(pk).max(10000).default([]),
        /** Circuits one client may hold spliced at once (a route, and a reconnect's overlap). */
        maxSessionsPerClient: z.number().int().min(1).max(64).default(4),
        /**
         * The rate each of a client's circuits is forwarded at, in bytes per second (a token bucket
         * in the core; over it, datagrams are dropped and counted). 0: no cap. A client's total is at
         * most maxSessionsPerClient times this.
         */
        bytesPerSecPerClient: z.number().int().min(0).max(10_000_000_000).default(12_500_000),
        /** Distinct clients forwarded for at once. */
        maxClients: z.number().int().min(1).max(100_000).default(64),
        /** The country to advertise in service discovery when the address does not tell (as vpnServer.country). */
        country: countryCode.optional(),
      })
      .prefault({}),
    control: z
      .strictObject({
        /** Unix socket of the control API (root only, mode 0600): what the CLI uses. */
        socket: z.string().min(1).default('/run/skywire/visor.sock'),
        /** Loopback address of the web UI (and the control API behind it); empty: no TCP listener. */
        listen: z.union([z.literal(''), loopbackHostPort]).default('127.0.0.1:3435'),
      })
      .prefault({}),
    /**
     * What strangers can make the visor hold (anyone who knows its key can
     * dial it). A pending handshake is an STCPR connection or SUDPH handshake
     * whose keys the peer has not confirmed yet (closed after 5 s); a source
     * is an IPv4 address or an IPv6 /64. Over a cap, a connection is closed
     * at once and a datagram dropped. Defaults hold on a 1 GiB VPS: 256
     * pending cost under 2 MiB, 1024 busy sessions about 130 MiB of read buffers.
     */
    limits: z
      .strictObject({
        pendingHandshakes: z.number().int().min(1).max(65_536).default(256),
        /** A client makes one handshake at a time; a few behind one NAT may make several. */
        pendingHandshakesPerIp: z.number().int().min(1).max(65_536).default(8),
        sessions: z.number().int().min(1).max(1_000_000).default(1024),
        /** Carrier-grade NAT puts many users behind one address: not too small. */
        sessionsPerIp: z.number().int().min(1).max(1_000_000).default(32),
      })
      .prefault({}),
  })
  .strict()

export type Config = z.infer<typeof configSchema>
export type ConfigInput = z.input<typeof configSchema>

// parseHostPort moved to sys/host-port.ts (the services use it too, and sit below config); kept exported here.
export { parseHostPort }
