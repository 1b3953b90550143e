#!/usr/bin/env node
// Prints the folder import graph of ts/ as a mermaid flowchart, from dependency-cruiser's JSON:
//   npx depcruise ts --config .dependency-cruiser.cjs --output-type json | node scripts/layer-graph.mjs
// docs/architecture.md embeds its output; re-run it when the folders change.
import { readFileSync } from 'node:fs'

const cruise = JSON.parse(readFileSync(0, 'utf8'))
const folderOf = (p) => /^ts\/([^/]+)\//.exec(p)?.[1] ?? (p.startsWith('ts/') ? p.slice(3) : null)
const edges = new Map()
for (const m of cruise.modules) {
  const from = folderOf(m.source)
  if (!from) continue
  for (const d of m.dependencies) {
    const to = folderOf(d.resolved)
    if (!to || to === from) continue
    const k = `${from}|${to}`
    edges.set(k, (edges.get(k) ?? 0) + 1)
  }
}
const id = (f) => f.replace(/[^A-Za-z0-9]/g, '_')
const lines = ['flowchart TD']
for (const k of [...edges.keys()].sort()) {
  const [a, b] = k.split('|')
  lines.push(`  ${id(a)}[${a}] --> ${id(b)}[${b}]`)
}
console.log(lines.join('\n'))
