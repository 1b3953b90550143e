/**
 * The address resolver's UDP port (docs/wire.md section 3): records SUDPH
 * bindings (the NAT mapping a visor's socket has towards us) and relays peer
 * addresses for hole punching. Bindings live in the shared store, so the HTTP
 * resolve of any replica sees them; a connect request is answered by the
 * replica that received it.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram'
import { isIP } from 'node:net'
import type { Logger } from 'pino'
import { SkywireError } from '../../errors.js'
import { native } from '../../native.js'
import type { ServicesContext } from '../context.js'
import type { Metrics } from '../http/metrics.js'
import { RateLimiter, type RateLimitOptions } from '../rate-limit.js'
import {
  ERROR_CODE,
  encodeBindAck,
  encodeError,
  encodePeerAddress,
  formatAddr,
  parseMessage,
  signingInput,
  unmapV4,
  type BindMessage,
  type ConnectRequestMessage,
  type ResolverErrorCode,
  type UdpAddr,
} from './udp-wire.js'
import { parseHostPort } from '../../config/schema.js'

export interface UdpResolverOptions {
  host: string
  port: number
  ctx: ServicesContext
  log: Logger
  metrics: Metrics
  /** How far a message timestamp may be from our clock. */
  clockSkewMs?: number
  rate?: RateLimitOptions
}

const MAX_DATAGRAM = 1024

export class UdpResolver {
  private readonly socket: Socket
  private readonly limiter: RateLimiter
  /** At most one "rate limited" error per source per second, so we never amplify a flood. */
  private readonly errorLimiter = new RateLimiter({ ratePerSec: 1, burst: 1, maxSources: 10_000 })
  private readonly skew: number
  private pending = new Set<Promise<void>>()

  private constructor(private readonly opts: UdpResolverOptions) {
    this.socket = createSocket({ type: isIP(opts.host) === 6 ? 'udp6' : 'udp4' })
    this.limiter = new RateLimiter(opts.rate ?? { ratePerSec: 10, burst: 20 })
    this.skew = opts.clockSkewMs ?? 60_000
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
    this.socket.send(buf, to.port, to.ip, (err) => {
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
      if (!msg || (msg.type !== 'bind' && msg.type !== 'connectRequest')) {
        metrics.observeUdp(msg?.type ?? 'invalid', 'dropped')
        return
      }
      if (!this.limiter.take(src.ip)) {
        metrics.observeUdp(msg.type, 'rate_limited')
        if (this.errorLimiter.take(src.ip)) this.sendError(msg.pk, ERROR_CODE.rateLimited, src)
        return
      }
      if (msg.type === 'bind') await this.onBind(msg, src)
      else await this.onConnect(msg, src)
    } catch (err) {
      // A store outage must not take the socket down; the visor retries on its schedule.
      metrics.observeUdp('internal', 'failed')
      this.opts.log.warn({ err: (err as Error).message }, 'udp message handling failed')
    }
  }

  /** Signature and timestamp checks shared by bind and connect; sends the error itself. */
  private async admit(msg: BindMessage | ConnectRequestMessage, src: UdpAddr): Promise<boolean> {
    // A PK (or target) that is not a curve point cannot be answered usefully: the core refuses to parse
    // messages about such keys, so these are dropped without an error.
    if (!validPk(msg.pk) || (msg.type === 'connectRequest' && !validPk(msg.target))) return false
    if (!native.verify(msg.pk, signingInput(msg.signed), msg.sig)) {
      this.sendError(msg.pk, ERROR_CODE.badSignature, src)
      return false
    }
    const scope = msg.type === 'bind' ? 'udp-bind' : 'udp-connect'
    const fresh =
      Math.abs(msg.timestampMs - Date.now()) <= this.skew &&
      (await this.opts.ctx.store.advanceCounter(scope, msg.pk, msg.timestampMs, 2 * this.skew))
    if (!fresh) {
      this.sendError(msg.pk, ERROR_CODE.staleTimestamp, src)
      return false
    }
    return true
  }

  private async onBind(msg: BindMessage, src: UdpAddr): Promise<void> {
    if (!(await this.admit(msg, src))) {
      this.opts.metrics.observeUdp('bind', 'rejected')
      return
    }
    const { ctx } = this.opts
    await ctx.store.putSudph(
      { pk: msg.pk, observed: formatAddr(src), local: msg.local.map(formatAddr), updatedAt: Date.now() },
      ctx.ttl.sudphMs,
    )
    this.send(encodeBindAck(src, Math.min(65535, Math.ceil(ctx.ttl.sudphMs / 1000))), src)
    this.opts.metrics.observeUdp('bind', 'ok')
  }

  private async onConnect(msg: ConnectRequestMessage, src: UdpAddr): Promise<void> {
    if (!(await this.admit(msg, src))) {
      this.opts.metrics.observeUdp('connectRequest', 'rejected')
      return
    }
    const { store } = this.opts.ctx
    const [target, client] = await Promise.all([store.getSudph(msg.target), store.getSudph(msg.pk)])
    const targetAddr = target ? toUdpAddr(target.observed) : null
    if (!target || !targetAddr) {
      this.sendError(msg.target, ERROR_CODE.targetNotBound, src)
      this.opts.metrics.observeUdp('connectRequest', 'not_bound')
      return
    }
    const targetLocal = target.local.map(toUdpAddr).filter((a): a is UdpAddr => a !== null)
    const clientLocal = (client?.local ?? []).map(toUdpAddr).filter((a): a is UdpAddr => a !== null)
    this.send(encodePeerAddress(msg.target, targetAddr, targetLocal), src)
    // The client's observed address is where this request came from, not its (possibly older) binding.
    this.send(encodePeerAddress(msg.pk, src, clientLocal), targetAddr)
    this.opts.metrics.observeUdp('connectRequest', 'ok')
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
