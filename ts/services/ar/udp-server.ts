/**
 * The address resolver's UDP port (docs/wire.md section 3): records SUDPH
 * bindings (the NAT mapping a visor's socket has towards us) and relays peer
 * addresses for hole punching. Bindings live in the shared store, so the HTTP
 * resolve of any replica sees them; a connect request is answered by the
 * replica that received it.
 *
 * UDP source addresses can be forged, so an address is used only once it is
 * verified: a bind from an address that is not the key's current binding is
 * answered with a challenge (smaller than the bind, nothing stored), and the
 * binding is stored when the visor echoes the challenge from that address.
 * A connect request is served only from the address of the client's own
 * verified binding.
 *
 * Both families: a visor keeps one binding per family (IPv4 and IPv6 are
 * separate paths, with separate NAT mappings), and a connect request is
 * answered in the family it arrived over: the client learns the target's
 * binding in that family, and the target (over its binding in that family)
 * the client's. Bound to `::`, one socket serves both families. To an unverified address the resolver sends only replies
 * smaller than what it received from there (challenge, error), so forged
 * requests cannot make it amplify or reflect traffic at a third party.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram'
import { isIP } from 'node:net'
import type { Logger } from 'pino'
import { SkywireError } from '../../contracts/errors.js'
import { native } from '../../native/loader.js'
import type { ServicesContext } from '../context.js'
import type { Metrics } from '../http/metrics.js'
import { RateLimiter, type RateLimitOptions } from '../rate-limit.js'
import { addressVerdict, callerClass, sourceKey } from '../../sys/addr-policy.js'
import {
  COOKIE_MAC_LEN,
  ERROR_CODE,
  bindChallengeBody,
  encodeAddr,
  encodeBindAck,
  encodeBindChallenge,
  encodeError,
  encodePeerAddress,
  formatAddr,
  parseMessage,
  signingInput,
  unmapV4,
  type BindChallengeMessage,
  type BindMessage,
  type ConnectRequestMessage,
  type ResolverErrorCode,
  type UdpAddr,
} from './udp-wire.js'
import { parseHostPort } from '../../sys/host-port.js'

export interface UdpResolverOptions {
  host: string
  port: number
  ctx: ServicesContext
  log: Logger
  metrics: Metrics
  /** How far a message timestamp may be from our clock. */
  clockSkewMs?: number
  rate?: RateLimitOptions
  /**
   * All sources together. Forged sources are free, so per-source buckets do
   * not bound the work (an Ed25519 verification and a store read per message)
   * a flood of random sources causes; this does. Default 2000/s, burst 4000:
   * far above what re-binding visors need (one bind per visor per 20 s).
   */
  totalRate?: RateLimitOptions
  /**
   * Key of the challenge MACs. Random per process by default; replicas that
   * share one UDP address without per-source affinity at the load balancer
   * need the same secret (SKYWIRE_AR_COOKIE_SECRET), or a challenge issued by
   * one is not accepted by another.
   */
  cookieSecret?: Buffer
  /** Seconds an issued challenge can be echoed; the echo usually comes one round trip later. */
  challengeTtlS?: number
}

const MAX_DATAGRAM = 1024
export const DEFAULT_CHALLENGE_TTL_S = 10
export const DEFAULT_UDP_TOTAL_RATE: RateLimitOptions = { ratePerSec: 2000, burst: 4000 }
const COOKIE_CONTEXT = Buffer.from('skywire-ar-cookie/1', 'ascii')

export class UdpResolver {
  private readonly socket: Socket
  private readonly limiter: RateLimiter
  private readonly total: RateLimiter
  /** At most one "rate limited" error per source per second, so we never amplify a flood. */
  private readonly errorLimiter = new RateLimiter({ ratePerSec: 1, burst: 1, maxSources: 10_000 })
  private readonly skew: number
  private readonly secret: Buffer
  private readonly challengeTtlS: number
  private pending = new Set<Promise<void>>()
  /** An IPv6 socket, which then also takes IPv4 (bound to `::`, IPV6_V6ONLY off). */
  private readonly v6: boolean

  private constructor(private readonly opts: UdpResolverOptions) {
    this.v6 = isIP(opts.host) === 6
    this.socket = createSocket({ type: this.v6 ? 'udp6' : 'udp4' })
    this.limiter = new RateLimiter(opts.rate ?? { ratePerSec: 10, burst: 20 })
    this.total = new RateLimiter(opts.totalRate ?? DEFAULT_UDP_TOTAL_RATE)
    this.skew = opts.clockSkewMs ?? 60_000
    this.secret = opts.cookieSecret ?? randomBytes(32)
    this.challengeTtlS = opts.challengeTtlS ?? DEFAULT_CHALLENGE_TTL_S
  }

  static async start(opts: UdpResolverOptions): Promise<UdpResolver> {
    const r = new UdpResolver(opts)
    await new Promise<void>((resolve, reject) => {
      r.socket.once('error', (err: NodeJS.ErrnoException) => {
        const where = formatAddr({ ip: opts.host, port: opts.port })
        reject(
          err.code === 'EADDRINUSE'
            ? new SkywireError('EADDRINUSE', `cannot listen on UDP ${where}: address already in use`)
            : new SkywireError('EINTERNAL', `cannot listen on UDP ${where}: ${err.message}`, { cause: err }),
        )
      })
      r.socket.bind(opts.port, opts.host, () => resolve())
    })
    r.socket.on('error', (err) => opts.log.warn({ err: err.message }, 'udp socket error'))
    r.socket.on('message', (buf, rinfo) => r.track(r.onMessage(buf, rinfo)))
    return r
  }

  address(): UdpAddr {
    const a = this.socket.address()
    return { ip: a.address, port: a.port }
  }

  private track(p: Promise<void>): void {
    this.pending.add(p)
    void p.finally(() => this.pending.delete(p))
  }

  private send(buf: Buffer, to: UdpAddr): void {
    const fam = isIP(to.ip)
    // An IPv4 socket cannot reach IPv6; an IPv6 one reaches IPv4 as IPv4-mapped.
    if (fam === 6 && !this.v6) return
    const ip = fam === 4 && this.v6 ? `::ffff:${to.ip}` : to.ip
    this.socket.send(buf, to.port, ip, (err) => {
      if (err) this.opts.log.debug({ err: err.message }, 'udp send failed')
    })
  }

  private sendError(about: string, code: ResolverErrorCode, to: UdpAddr): void {
    this.opts.metrics.observeUdp('error', String(code))
    this.send(encodeError(about, code), to)
  }

  private async onMessage(buf: Buffer, rinfo: RemoteInfo): Promise<void> {
    const { metrics } = this.opts
    const src: UdpAddr = { ip: unmapV4(rinfo.address), port: rinfo.port }
    try {
      const msg = buf.length <= MAX_DATAGRAM ? parseMessage(buf) : null
      if (!msg || (msg.type !== 'bind' && msg.type !== 'bindConfirm' && msg.type !== 'connectRequest')) {
        metrics.observeUdp(msg?.type ?? 'invalid', 'dropped')
        return
      }
      // Per IPv4 address or IPv6 /64, like the HTTP limit.
      const key = sourceKey(src.ip)
      // The services' clock (ServicesOptions.now), so tests can hold time still.
      const now = this.opts.ctx.auth.now()
      if (!this.limiter.take(key, now)) {
        metrics.observeUdp(msg.type, 'rate_limited')
        if (this.errorLimiter.take(key, now)) this.sendError(msg.pk, ERROR_CODE.rateLimited, src)
        return
      }
      // Over the total budget nothing is answered: a flood of forged sources gets no errors either.
      if (!this.total.take('all', now)) {
        metrics.observeUdp(msg.type, 'over_total_rate')
        return
      }
      if (msg.type === 'bind') await this.onBind(msg, src)
      else if (msg.type === 'connectRequest') await this.onConnect(msg, src)
      else await this.onConfirm(msg as BindChallengeMessage, src)
    } catch (err) {
      // A store outage must not take the socket down; the visor retries on its schedule.
      metrics.observeUdp('internal', 'failed')
      this.opts.log.warn({ err: (err as Error).message }, 'udp message handling failed')
    }
  }

  /** Signature and clock checks shared by bind and connect; sends the error itself. Consumes nothing. */
  private check(msg: BindMessage | ConnectRequestMessage, src: UdpAddr): boolean {
    // A PK (or target) that is not a curve point cannot be answered usefully: the core refuses to parse
    // messages about such keys, so these are dropped without an error.
    if (!validPk(msg.pk) || (msg.type === 'connectRequest' && !validPk(msg.target))) return false
    if (!native.verify(msg.pk, signingInput(msg.signed), msg.sig)) {
      this.sendError(msg.pk, ERROR_CODE.badSignature, src)
      return false
    }
    if (!this.inWindow(msg.timestampMs)) {
      this.sendError(msg.pk, ERROR_CODE.staleTimestamp, src)
      return false
    }
    return true
  }

  /** Within the clock window. Any u64 may arrive (a bigint); only what passes here fits a number exactly. */
  private inWindow(timestampMs: bigint): boolean {
    // The difference as a number: exact near the clock, and far beyond the window when it is not.
    return Math.abs(Number(timestampMs - BigInt(Date.now()))) <= this.skew
  }

  /**
   * The last step before acting: the timestamp must be newer than the last accepted one of this key, type and
   * family. Per family: a dual-stack visor signs its binds (and connect requests) over both families in the same
   * millisecond, and they may arrive in either order.
   */
  private async advance(scope: 'udp-bind' | 'udp-connect', pk: string, timestampMs: number, src: UdpAddr): Promise<boolean> {
    // Kept twice the clock window: by then a timestamp not above the counter is outside the window anyway.
    if (await this.opts.ctx.store.advanceCounter(scope, sudphKey(pk, src.ip), timestampMs, 2 * this.skew)) return true
    this.sendError(pk, ERROR_CODE.staleTimestamp, src)
    return false
  }

  private mac(body: Buffer, to: UdpAddr): Buffer {
    return createHmac('sha256', this.secret).update(COOKIE_CONTEXT).update(body).update(encodeAddr(to)).digest().subarray(0, COOKIE_MAC_LEN)
  }

  private async onBind(msg: BindMessage, src: UdpAddr): Promise<void> {
    const { ctx, metrics } = this.opts
    if (!this.check(msg, src)) {
      metrics.observeUdp('bind', 'rejected')
      return
    }
    // A re-bind from the address of the key's live binding: that address was verified when it was stored.
    const current = await ctx.store.getSudph(sudphKey(msg.pk, src.ip))
    if (current && current.observed === formatAddr(src)) {
      if (!(await this.advance('udp-bind', msg.pk, Number(msg.timestampMs), src))) {
        metrics.observeUdp('bind', 'rejected')
        return
      }
      await this.store(msg.pk, msg.local, src)
      metrics.observeUdp('bind', 'ok')
      return
    }
    // Anything else may come from a forged source: answer with a challenge, which is always smaller than
    // the bind (no signature), store nothing, consume nothing.
    const body = bindChallengeBody({ pk: msg.pk, timestampMs: msg.timestampMs, local: msg.local, issuedS: Math.floor(Date.now() / 1000) })
    this.send(encodeBindChallenge(body, this.mac(body, src)), src)
    metrics.observeUdp('bind', 'challenged')
  }

  private async onConfirm(msg: BindChallengeMessage, src: UdpAddr): Promise<void> {
    const { metrics } = this.opts
    const expected = this.mac(msg.body, src)
    const age = Math.floor(Date.now() / 1000) - msg.issuedS
    // A wrong MAC or an old challenge gets no answer: the sender has not shown it receives at this address.
    if (!timingSafeEqual(expected, msg.mac) || age < 0 || age > this.challengeTtlS) {
      metrics.observeUdp('bindConfirm', 'dropped')
      return
    }
    // The MAC proves we issued this for a bind whose signature we checked, and that the echo came back from src.
    if (!this.inWindow(msg.timestampMs)) {
      this.sendError(msg.pk, ERROR_CODE.staleTimestamp, src)
      metrics.observeUdp('bindConfirm', 'rejected')
      return
    }
    if (!(await this.advance('udp-bind', msg.pk, Number(msg.timestampMs), src))) {
      metrics.observeUdp('bindConfirm', 'rejected')
      return
    }
    await this.store(msg.pk, msg.local, src)
    metrics.observeUdp('bind', 'ok')
  }

  private async store(pk: string, local: UdpAddr[], src: UdpAddr): Promise<void> {
    const { ctx } = this.opts
    // Local addresses are handed to peers to punch: the same rule as STCPR addresses (ts/sys/addr-policy.ts),
    // except that what is not allowed is dropped rather than refused.
    const caller = callerClass(src.ip)
    // An IPv4-mapped IPv6 address is the IPv4 address it maps (judged and handed on as such).
    const allowed = local.map((a) => ({ ip: unmapV4(a.ip), port: a.port })).filter((a) => addressVerdict(a.ip, caller) === 'allow')
    await ctx.store.putSudph(
      { pk: sudphKey(pk, src.ip), observed: formatAddr(src), local: allowed.map(formatAddr), updatedAt: Date.now() },
      ctx.ttl.sudphMs,
    )
    this.send(encodeBindAck(src, Math.min(65535, Math.ceil(ctx.ttl.sudphMs / 1000))), src)
  }

  private async onConnect(msg: ConnectRequestMessage, src: UdpAddr): Promise<void> {
    const { metrics } = this.opts
    if (!this.check(msg, src)) {
      metrics.observeUdp('connectRequest', 'rejected')
      return
    }
    const { store } = this.opts.ctx
    // Both bindings in the family the request came over: the punch happens there.
    const [target, client] = await Promise.all([store.getSudph(sudphKey(msg.target, src.ip)), store.getSudph(sudphKey(msg.pk, src.ip))])
    const targetAddr = target ? toUdpAddr(target.observed) : null
    if (!target || !targetAddr) {
      this.sendError(msg.target, ERROR_CODE.targetNotBound, src)
      metrics.observeUdp('connectRequest', 'not_bound')
      return
    }
    // Only from the client's own verified binding: otherwise src may be a forged victim address, and the
    // peer address (larger than the request) would go there. "Not bound" about the client's own key is
    // small, and a visor keeps asking until its bind completes.
    if (!client || client.observed !== formatAddr(src)) {
      this.sendError(msg.pk, ERROR_CODE.targetNotBound, src)
      metrics.observeUdp('connectRequest', 'source_not_bound')
      return
    }
    if (!(await this.advance('udp-connect', msg.pk, Number(msg.timestampMs), src))) {
      metrics.observeUdp('connectRequest', 'rejected')
      return
    }
    const targetLocal = target.local.map(toUdpAddr).filter((a): a is UdpAddr => a !== null)
    const clientLocal = client.local.map(toUdpAddr).filter((a): a is UdpAddr => a !== null)
    this.send(encodePeerAddress(msg.target, targetAddr, targetLocal), src)
    this.send(encodePeerAddress(msg.pk, src, clientLocal), targetAddr)
    metrics.observeUdp('connectRequest', 'ok')
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.socket.close(() => resolve()))
    await Promise.allSettled([...this.pending])
  }
}

function validPk(pk: string): boolean {
  try {
    return native.isValidPublicKey(pk)
  } catch {
    return false
  }
}

function toUdpAddr(s: string): UdpAddr | null {
  const hp = parseHostPort(s)
  return hp ? { ip: hp.host, port: hp.port } : null
}

/**
 * Where a key's binding over the family of `ip` is stored. IPv4 keeps the plain
 * key (as in 0.3.0, so replicas of both versions sharing one store agree on
 * it); IPv6 gets `<pk>@6`. The HTTP resolve reads both (routes.ts).
 */
export function sudphKey(pk: string, ip: string): string {
  return isIP(ip) === 6 ? `${pk}${SUDPH6_SUFFIX}` : pk
}

export const SUDPH6_SUFFIX = '@6'
