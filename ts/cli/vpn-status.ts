/**
 * What `skywire cli vpn status` does and prints, free of oclif: the command class
 * (ts/commands/cli/vpn/status.ts, for --help, --watch and every argv) and the
 * fast entry (ts/cli/fast.ts, for the plain `vpn status [--json] [--rpc X]` a
 * script or a person runs most) both call this, so there is one definition of
 * its output (bench/README.md, "The time a user waits").
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { SkywireError } from '../contracts/errors.js'
import type { VpnClientStatus } from '../contracts/status.js'
import { formatBytes, formatDuration } from './format.js'

/** How often --watch asks the visor. */
const WATCH_MS = 1000

/** One status read: the lines a person sees (printed through `log`), and the status itself for --json. */
export async function showStatus(visor: { vpnStatus(): Promise<VpnClientStatus> }, log: (line: string) => void): Promise<VpnClientStatus> {
  const s = await visor.vpnStatus()
  for (const l of lines(s)) log(l)
  return s
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
    // Absent from a 0.3.0 visor's status; null: the server carries no IPv6, which this host then blocks.
    if (s.tunnelIp6 !== undefined && s.state === 'connected') out.push(`tunnel IPv6: ${s.tunnelIp6 ?? 'none (the server carries no IPv6: blocked)'}`)
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
