/**
 * `npm run nat-matrix` (root): every pairing of client NAT and server NAT on
 * one lab, both transports; writes the table into README.md (between the
 * nat-matrix markers) and docs/nat-matrix.json. NAT_MATRIX_TIMEOUT_S (8)
 * bounds each dial.
 */
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { SITE_KINDS, type SiteKind } from '../nat-kinds.js'
import { renderMarkdown, writeBetweenMarkers } from './report.js'
import { runMatrix, type Pairing } from './run.js'

const CLIENTS: SiteKind[] = ['full-cone', 'address-restricted', 'port-restricted', 'symmetric', 'icmp', 'double']
const SERVERS: SiteKind[] = SITE_KINDS.filter((k) => k !== 'hairpin')

async function main(): Promise<void> {
  const timeoutS = Number(process.env.NAT_MATRIX_TIMEOUT_S ?? 8)
  if (!Number.isFinite(timeoutS) || timeoutS < 1 || timeoutS > 120) throw new Error('NAT_MATRIX_TIMEOUT_S must be 1..120')
  const pairings: Pairing[] = []
  for (const client of CLIENTS) for (const server of SERVERS) pairings.push({ client, server })
  pairings.push({ client: 'hairpin', server: 'hairpin', sameNat: true }, { client: 'port-restricted', server: 'port-restricted', sameNat: true })
  const t0 = Date.now()
  const results = await runMatrix({ pairings, timeoutS, log: (l) => console.log(l) })
  const when = new Date(t0)
    .toISOString()
    .replace(/:\d\d\.\d+Z$/, ' UTC')
    .replace('T', ' ')
  const root = (p: string) => fileURLToPath(new URL(`../../../${p}`, import.meta.url))
  writeBetweenMarkers(root('README.md'), renderMarkdown(results, { when, timeoutS }))
  writeFileSync(
    root('docs/nat-matrix.json'),
    `${JSON.stringify({ when: new Date(t0).toISOString(), timeoutS, durationS: Math.round((Date.now() - t0) / 1000), results }, null, 2)}\n`,
  )
  console.log(`wrote README.md and docs/nat-matrix.json (${Math.round((Date.now() - t0) / 1000)} s)`)
}

main().catch((err: Error) => {
  console.error(`nat-matrix: ${err.message}`)
  process.exit(1)
})
