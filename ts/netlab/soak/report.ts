/**
 * The soak's outputs: a text table on stdout, soak-results/<time>.{json,png},
 * and the summary between `<!-- soak:begin -->` and `<!-- soak:end -->` in README.md.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { soakChart, soakLines } from './chart.js'
import { trafficTotals, type Check } from './checks.js'
import type { SoakResult } from './soak.js'

export const BEGIN = '<!-- soak:begin -->'
export const END = '<!-- soak:end -->'

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(w[i] as number)).join(' | ')} |`
  return [line(head), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...rows.map(line)].join('\n')
}

const verdict = (ok: boolean | null) => (ok === null ? 'not judged' : ok ? 'pass' : 'FAIL')

export function checksTable(checks: Check[]): string {
  return table(
    ['check', 'result', 'measured'],
    checks.map((c) => [c.name, verdict(c.ok), c.detail.replaceAll('|', '/')]),
  )
}

export function summary(r: SoakResult, checks: Check[]): string {
  const o = r.options
  const t = trafficTotals(r.clients)
  const tr = o.traffic
  const byT = (x: string) => r.clients.filter((c) => c.transport === x).length
  return [
    `${r.date.slice(0, 16).replace('T', ' ')} UTC: ${o.clients} clients (${byT('stcpr')} STCPR, ${byT('sudph')} SUDPH, each behind its own NAT) on 2 servers for ${r.durations.trafficS} s of traffic;` +
      ` ${r.machine.cpus} cores (load ${r.machine.load1.toFixed(1)} at start, other jobs running).` +
      ` Per client: ${tr.rate / 1024} KiB/s steady TCP to a sink on the fake internet, a UDP probe every ${tr.probeMs} ms, a ${tr.burst / 1024} KiB burst every ${tr.burstEveryMs / 1000} s.` +
      ` Setup ${r.durations.setupS} s, connecting ${r.durations.connectS} s, whole run ${r.durations.totalS} s.`,
    '',
    checksTable(checks),
    '',
    `Traffic (steady clients): ${t.probesSent} probes, ${t.probesLost} lost, ${t.probesPending} in flight at the end; ${(t.tcpAcked / 1048576).toFixed(1)} MiB TCP acked; ${t.burstsDone} bursts.`,
    memoryLine(r),
  ].join('\n')
}

/** What the visors cost at the end: each is a node process with the Rust core inside. */
function memoryLine(r: SoakResult): string {
  const last = (name: string) => r.series[name]?.at(-1)
  const mib = (k: number) => (k / 1024).toFixed(0)
  const clients = r.clients
    .map((c) => last(c.name)?.rssKiB ?? 0)
    .filter((v) => v > 0)
    .sort((a, b) => a - b)
  if (clients.length === 0) return ''
  const sum = clients.reduce((a, b) => a + b, 0)
  const servers = r.servers.map(
    (s) => `${s.name} ${mib(last(s.name)?.rssKiB ?? 0)} MiB / ${last(s.name)?.fds ?? '?'} fds with ${s.clientsAtEnd} clients`,
  )
  return `Memory at the end: ${servers.join(', ')}; client visors median ${mib(clients[Math.floor(clients.length / 2)] as number)} MiB, max ${mib(clients.at(-1) as number)} MiB, ${(sum / 1048576).toFixed(1)} GiB for all ${clients.length}.`
}

/** Replaces the block between the markers (adds a minimal Reliability section with them if absent). */
export function updateReadme(file: string, body: string): void {
  let text = readFileSync(file, 'utf8')
  if (!text.includes(BEGIN) || !text.includes(END)) {
    text = `${text.trimEnd()}\n\n## Reliability\n\n### Soak\n\n${BEGIN}\n${END}\n`
  }
  const a = text.indexOf(BEGIN) + BEGIN.length
  const b = text.indexOf(END)
  writeFileSync(file, `${text.slice(0, a)}\n${body.trim()}\n${text.slice(b)}`)
}

export function writeChart(r: SoakResult, file: string): void {
  const servers = r.servers.map((s) => s.name)
  const png = soakChart({
    title: `SOAK: ${r.options.clients} CLIENTS, 2 SERVERS, ${Math.round(r.durations.trafficS / 60)} MIN`,
    subtitle: `${r.date.slice(0, 16).replace('T', ' ')} UTC, ${r.machine.cpus} cores, sampled every ${r.options.sampleMs / 1000} s`,
    rss: soakLines(r.series, servers, 'rssKiB', 1024),
    fds: soakLines(r.series, servers, 'fds', 1),
  })
  writeFileSync(file, png)
}
