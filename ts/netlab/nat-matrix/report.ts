/**
 * The NAT matrix as a Markdown table (README.md, between the nat-matrix
 * markers) and as JSON (docs/nat-matrix.json).
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { NetlabError } from '../errors.js'
import type { SiteKind } from '../nat-kinds.js'
import { expectStcpr, expectSudph } from './expect.js'
import type { Attempt, PairingResult } from './run.js'

export const BEGIN = '<!-- nat-matrix:begin -->'
export const END = '<!-- nat-matrix:end -->'

function cell(r: PairingResult | undefined): string {
  if (!r) return ''
  const one = (name: string, a: Attempt) => (a.ok ? `${name} ${a.ms} ms` : null)
  const ok = [one('SUDPH', r.sudph), one('STCPR', r.stcpr)].filter((x) => x !== null)
  // Marks: † the outcome is a race (ts/netlab/nat-matrix/expect.ts); ‼ not what expect.ts predicts.
  const es = expectSudph(r)
  const mark = es === 'race' ? ' †' : (es === 'ok') !== r.sudph.ok || (expectStcpr(r) === 'ok') !== r.stcpr.ok ? ' ‼' : ''
  return (ok.length > 0 ? ok.join(', ') : '**none**') + mark
}

export function renderMarkdown(results: PairingResult[], meta: { when: string; timeoutS: number }): string {
  const cross = results.filter((r) => !r.sameNat)
  const clients = [...new Set(cross.map((r) => r.client))]
  const servers = [...new Set(cross.map((r) => r.server))]
  const find = (c: SiteKind, s: SiteKind) => cross.find((r) => r.client === c && r.server === s)
  const lines: string[] = []
  lines.push(
    `Run ${meta.when} (\`npm run nat-matrix\`): which transport connects, and the time from the dial request to the transport being up ` +
      `(${meta.timeoutS} s allowed per transport; one lab, real visors; each cell is one try of each transport, SUDPH first). ` +
      "Rows: the client's NAT; columns: the server's. NAT kinds: `ts/netlab/nat-kinds.ts`; † a race (which side's first " +
      'packet reaches the other NAT first), ‼ differs from what `ts/netlab/nat-matrix/expect.ts` predicts.',
  )
  const all = results.length
  const sudph = results.filter((r) => r.sudph.ok).length
  const stcpr = results.filter((r) => r.stcpr.ok).length
  const neither = results.filter((r) => !r.sudph.ok && !r.stcpr.ok).length
  lines.push('')
  lines.push(
    `Of ${all} pairings SUDPH connected in ${sudph}, STCPR in ${stcpr} (a public server, or one on the same LAN), and nothing in ${neither}; ` +
      'in those `vpn start` names the reason (below).',
  )
  lines.push('')
  lines.push(`| client \\ server | ${servers.join(' | ')} |`)
  lines.push(`| --- | ${servers.map(() => '---').join(' | ')} |`)
  for (const c of clients) lines.push(`| ${c} | ${servers.map((s) => cell(find(c, s))).join(' | ')} |`)
  const same = results.filter((r) => r.sameNat)
  if (same.length > 0) {
    lines.push('')
    lines.push('Client and server behind the same NAT:')
    lines.push('')
    lines.push('| NAT | connects |')
    lines.push('| --- | --- |')
    for (const r of same) lines.push(`| ${r.server}${r.server === 'hairpin' ? ' (loops WAN traffic back in)' : ' (no hairpinning)'} | ${cell(r)} |`)
  }
  const none = results.filter((r) => r.vpnStart)
  if (none.length > 0) {
    lines.push('')
    lines.push('Where nothing connects, `skywire cli vpn start` says (exit code, the one line):')
    lines.push('')
    for (const r of none) {
      const line = (r.vpnStart?.line ?? '').replace(/\b[0-9a-f]{64}\b/g, '<pk>')
      lines.push(`- ${r.sameNat ? `same ${r.server} NAT` : `${r.client} -> ${r.server}`}: exit ${r.vpnStart?.code}, \`${line}\``)
    }
  }
  return lines.join('\n')
}

/** Replaces what is between the markers in `file`; the markers must exist. */
export function writeBetweenMarkers(file: string, body: string): void {
  const text = readFileSync(file, 'utf8')
  const a = text.indexOf(BEGIN)
  const b = text.indexOf(END)
  if (a < 0 || b < a) throw new NetlabError('EMISUSE', `${file} has no ${BEGIN} ... ${END} section`)
  writeFileSync(file, `${text.slice(0, a + BEGIN.length)}\n${body}\n${text.slice(b)}`)
}
