import { setTimeout as sleep } from 'node:timers/promises'
import { Flags } from '@oclif/core'
import { VisorCommand } from '../../../cli/base.js'
import { formatBytes, formatDuration } from '../../../cli/format.js'
import { SkywireError } from '../../../contracts/errors.js'
import type { VpnClientStatus } from '../../../contracts/status.js'

/** How often --watch asks the visor. */
const WATCH_MS = 1000

export default class VpnStatus extends VisorCommand {
  static override summary = "Show the VPN client's state: server, exit IP and country, transport, tunnel IP, traffic, latency, uptime."
  static override description =
    "The exit's public IP and country are what the server says of itself (its address as the address resolver saw it, " +
    'its country as the services hold it): a claim, shown as "unknown" for servers that do not say (0.2.0 and older). ' +
    '--watch redraws the status every second until Ctrl-C (with --json: one JSON object per line); it exits non-zero ' +
    'in one line when the visor goes away. ' +
    "Unlike Skywire's vpn-client app (running/stopped), the state is disconnected, connecting, connected or reconnecting."
  static override examples = [
    '<%= config.bin %> cli vpn status',
    '<%= config.bin %> cli vpn status --json',
    '<%= config.bin %> cli vpn status -w',
    '<%= config.bin %> cli vpn status --watch --json | jq -c "{state, exitIp, latencyMs}"',
  ]
  static override flags = {
    watch: Flags.boolean({ char: 'w', description: 'Follow the status live (every second) until Ctrl-C.' }),
  }

  async run(): Promise<unknown> {
    const { flags } = await this.parse(VpnStatus)
    const visor = await this.visor()
    if (!flags.watch) {
      const s = await visor.vpnStatus()
      for (const l of lines(s)) this.log(l)
      return s
    }
    await this.watch(() => visor.vpnStatus())
    // Everything was printed as it came; nothing more for --json.
    return undefined
  }

  private async watch(get: () => Promise<VpnClientStatus>): Promise<void> {
    const json = this.jsonEnabled()
    const ac = new AbortController()
    const onSignal = () => ac.abort()
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
    try {
      await watchStatus(get, {
        mode: json ? 'json' : process.stdout.isTTY === true ? 'redraw' : 'lines',
        write: (t) => process.stdout.write(t),
        signal: ac.signal,
      })
    } finally {
      process.removeListener('SIGINT', onSignal)
      process.removeListener('SIGTERM', onSignal)
    }
  }
}

export interface WatchOptions {
  /** json: one object per line; redraw: the block redrawn in place (a TTY); lines: one line per tick (a pipe). */
  mode: 'json' | 'redraw' | 'lines'
  write: (text: string) => void
  /** Ctrl-C: the watch ends cleanly after the tick in flight. */
  signal: AbortSignal
  periodMs?: number
}

/**
 * Asks `get` every period and writes what it says until `signal` aborts.
 * A visor that stops answering ends it with one line (EUNREACHABLE); one
 * that was never there fails with the first call's own error.
 */
export async function watchStatus(get: () => Promise<VpnClientStatus>, o: WatchOptions): Promise<void> {
  let drawn = 0
  let seen = false
  while (!o.signal.aborted) {
    let s: VpnClientStatus
    try {
      s = await get()
    } catch (err) {
      if (o.signal.aborted) break
      if (!seen) throw err
      throw new SkywireError('EUNREACHABLE', `lost the visor while watching: ${(err as Error).message}`)
    }
    seen = true
    if (o.mode === 'json') o.write(`${JSON.stringify(s)}\n`)
    else if (o.mode === 'redraw') {
      // Back to the top of the last block, clear to the end of the screen, draw anew.
      const out = lines(s)
      o.write(`${drawn > 0 ? `\x1b[${drawn}F` : ''}\x1b[J${out.join('\n')}\n`)
      drawn = out.length
    } else o.write(`${oneLine(s)}\n`)
    // Ctrl-C aborts the wait: its AbortError is the expected way out, the loop then sees the signal.
    await sleep(o.periodMs ?? WATCH_MS, undefined, { signal: o.signal }).catch(() => {})
  }
}

export function exitText(s: VpnClientStatus): string {
  if (!s.exitIp && !s.exitCountry) return 'unknown'
  return `${s.exitIp ?? 'unknown'}${s.exitCountry ? ` (${s.exitCountry})` : ''}`
}

/** The chain, client side first: `you → hop a1b2c3d4… (sudph) → exit e5f6a7b8…`. */
export function routeText(s: VpnClientStatus): string {
  const links = (s.route ?? []).map((l) => `${l.role} ${l.pk.slice(0, 8)}…${l.role === 'hop' ? ` (${l.transport})` : ''}`)
  return ['you', ...links].join(' → ')
}

export function lines(s: VpnClientStatus): string[] {
  const out = [`state:      ${s.state}`]
  if (s.server) {
    out.push(`server:     ${s.server}`)
    if (s.state === 'connected') out.push(`exit:       ${exitText(s)} (as the server says)`)
    out.push(`transport:  ${s.transport ?? '-'}${s.remote ? ` (${s.remote})` : ''}`)
    if ((s.route?.length ?? 0) > 1) out.push(`route:      ${routeText(s)}`)
    out.push(`tunnel IP:  ${s.tunnelIp ?? '-'}`)
    out.push(`traffic:    ${formatBytes(s.txBytes)} sent (${s.txPackets} packets), ${formatBytes(s.rxBytes)} received (${s.rxPackets} packets)`)
    out.push(`latency:    ${s.latencyMs === null ? '-' : `${s.latencyMs.toFixed(1)} ms`}`)
    out.push(`last packet: ${s.lastPacketMs === null ? '-' : `${(s.lastPacketMs / 1000).toFixed(1)} s ago`}`)
    out.push(`uptime:     ${s.uptimeS === null ? '-' : formatDuration(s.uptimeS)}`)
  }
  if (s.lastError) out.push(`last error: ${s.lastError}`)
  return out
}

/** --watch into a pipe or file without --json: one line per second, greppable. */
export function oneLine(s: VpnClientStatus): string {
  const parts = [new Date().toISOString(), s.state]
  if (s.server) {
    parts.push(`server=${s.server}`, `exit=${exitText(s).replace(/ /g, '')}`, `transport=${s.transport ?? '-'}`)
    if ((s.route?.length ?? 0) > 1) parts.push(`route=${(s.route ?? []).map((l) => l.pk.slice(0, 8)).join('>')}`)
    parts.push(`latency=${s.latencyMs === null ? '-' : `${s.latencyMs.toFixed(1)}ms`}`, `tx=${s.txBytes}`, `rx=${s.rxBytes}`)
    parts.push(`uptime=${s.uptimeS ?? '-'}s`)
  }
  if (s.lastError) parts.push(`error=${JSON.stringify(s.lastError)}`)
  return parts.join(' ')
}
