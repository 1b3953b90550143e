/**
 * Auto-connect: with `vpnClient.autoConnect` not `off`, the visor connects
 * the VPN by itself at start, to the last server, a fixed key, or the best
 * server (in a country). At boot the network is often not up yet (no default
 * route, the services unreachable), so it tries again with backoff, one log
 * line per attempt, until it is connected, the user starts or stops the VPN
 * (either cancels it until the next visor start), or the visor stops.
 */
import { SkywireError } from '../contracts/errors.js'
import { PK_PATTERN } from '../contracts/constants.js'
import { connectFirst } from '../discovery/choose.js'

export type AutoConnectMode = { kind: 'off' } | { kind: 'last' } | { kind: 'key'; pk: string } | { kind: 'best'; country: string | null }

/** `off` | `last` | a server key | `best` | `best:CC` (the config field's spelling). */
export function parseAutoConnect(s: string | undefined | null): AutoConnectMode {
  const v = (s ?? 'off').trim()
  if (v === 'off' || v === '') return { kind: 'off' }
  if (v === 'last') return { kind: 'last' }
  if (v === 'best') return { kind: 'best', country: null }
  const m = /^best:([A-Za-z]{2})$/.exec(v)
  if (m) return { kind: 'best', country: (m[1] as string).toUpperCase() }
  if (PK_PATTERN.test(v)) return { kind: 'key', pk: v }
  throw new SkywireError('ECONFIG', `vpnClient.autoConnect must be off, last, best, best:CC or a server key, got "${v.slice(0, 80)}"`)
}

export interface AutoConnectDeps {
  /** Connect to one server within `timeoutS`; throws when it did not. */
  connect: (pk: string, timeoutS: number) => Promise<unknown>
  /** The best servers first (in `country` if given), this visor excluded. */
  candidates: (country: string | null) => Promise<{ pk: string }[]>
  /** The server of the last connection this visor made, or null. */
  lastServer: () => string | null
  /** null when the network looks up; otherwise why not (no default route, services unreachable). */
  networkDown: () => Promise<string | null>
  log: { info: (o: object, msg: string) => void; warn: (o: object, msg: string) => void }
  /** Time for one attempt (all candidates together). */
  attemptS?: number
  /** Backoff: first and largest wait between attempts. */
  firstWaitMs?: number
  maxWaitMs?: number
}

export class AutoConnect {
  private cancelled = false
  /** A connect of ours is in flight (the VPN client is connecting for auto-connect). */
  private connecting = false
  private wake: (() => void) | null = null
  /** Settles when the loop has ended (connected, cancelled, or given up on a bad setting). */
  done: Promise<void> = Promise.resolve()
  attempts = 0

  constructor(
    readonly mode: AutoConnectMode,
    private readonly d: AutoConnectDeps,
  ) {}

  start(): void {
    if (this.mode.kind === 'off') return
    this.done = this.loop().catch((err: unknown) => this.d.log.warn({ err: (err as Error).message }, 'auto-connect stopped'))
  }

  /**
   * The user took over (vpn start / vpn stop) or the visor stops: no more attempts until the next visor start.
   * True when a connect of ours was in flight: the caller stops it, so the user's own start is not refused as
   * "already connecting".
   */
  cancel(): boolean {
    const inFlight = this.connecting
    if (this.cancelled) return inFlight
    this.cancelled = true
    this.wake?.()
    return inFlight
  }

  get active(): boolean {
    return this.mode.kind !== 'off' && !this.cancelled
  }

  private async loop(): Promise<void> {
    const first = this.d.firstWaitMs ?? 1000
    const max = this.d.maxWaitMs ?? 60_000
    let wait = first
    while (!this.cancelled) {
      this.attempts++
      const n = this.attempts
      const down = await this.d.networkDown().catch((e: unknown) => (e as Error).message)
      if (this.cancelled) return
      if (down !== null) {
        this.d.log.info({ attempt: n, retryInS: Math.round(wait / 1000) }, `auto-connect: waiting for the network (${down})`)
      } else {
        try {
          const targets = await this.targets()
          if (this.cancelled) return
          const r = await connectFirst(targets, (pk, t) => this.guarded(pk, t), Date.now() + (this.d.attemptS ?? 30) * 1000)
          this.d.log.info({ attempt: n, server: r.pk, skipped: r.failed.length }, 'auto-connect: connected')
          return
        } catch (err) {
          if (this.cancelled) return
          // The VPN is on (the user connected meanwhile): nothing left to do.
          if (err instanceof SkywireError && err.code === 'ESTATE') {
            this.d.log.info({ attempt: n }, `auto-connect: not needed (${err.message})`)
            return
          }
          this.d.log.warn({ attempt: n, retryInS: Math.round(wait / 1000), err: (err as Error).message }, 'auto-connect: attempt failed')
        }
      }
      await this.sleep(wait * (0.8 + Math.random() * 0.4))
      wait = Math.min(max, wait * 2)
    }
  }

  /** A connect that was cancelled while in flight is not reported as ours. */
  private async guarded(pk: string, timeoutS: number): Promise<unknown> {
    if (this.cancelled) throw new SkywireError('ESTATE', 'auto-connect was cancelled')
    this.connecting = true
    try {
      return await this.d.connect(pk, timeoutS)
    } finally {
      this.connecting = false
    }
  }

  private async targets(): Promise<{ pk: string }[]> {
    const m = this.mode
    if (m.kind === 'key') return [{ pk: m.pk }]
    if (m.kind === 'last') {
      const last = this.d.lastServer()
      // Never connected yet: the best server is the sensible first "last" one.
      if (last !== null) return [{ pk: last }]
      return this.d.candidates(null)
    }
    if (m.kind === 'best') {
      const c = await this.d.candidates(m.country)
      if (c.length === 0) throw new SkywireError('ENOTFOUND', `no VPN server registered${m.country ? ` in ${m.country}` : ''}`)
      return c
    }
    return []
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms)
      t.unref()
      function done() {
        clearTimeout(t)
        resolve()
      }
      this.wake = done
    })
  }
}
