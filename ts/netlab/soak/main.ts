/**
 * `npm run soak`: N VPN clients on the lab for T minutes (SOAK_CLIENTS,
 * default 100; SOAK_MINUTES, default 10), then a table of checks on stdout,
 * soak-results/<time>.{json,png,txt}, and (SOAK_README=0 to skip) the
 * summary in README.md. Exit code 1 when a check fails. Needs root.
 *
 * `node dist/netlab/soak/main.js --report soak-results/<time>.json` judges an
 * earlier run again (after a change to the checks), reprints it and redraws
 * its PNG; no root, no lab.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { labPrerequisites } from '../netns.js'
import { judge } from './checks.js'
import { checksTable, summary, updateReadme, writeChart } from './report.js'
import { runSoak, EXPIRY_S, type SoakResult } from './soak.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

function num(name: string, def: number, min: number, max: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return def
  const v = Number(raw)
  if (!Number.isFinite(v) || v < min || v > max) {
    process.stderr.write(`soak: ${name} must be a number from ${min} to ${max}, got ${JSON.stringify(raw)}\n`)
    process.exit(2)
  }
  return v
}

function publish(result: SoakResult, base: string, stamp: string): void {
  const checks = judge(result)
  writeFileSync(`${base}.json`, JSON.stringify({ ...result, checks }, null, 1))
  writeChart(result, `${base}.png`)
  const text = summary(result, checks)
  writeFileSync(`${base}.txt`, text + '\n')
  process.stdout.write(`\n${checksTable(checks)}\n\nwrote soak-results/${stamp}.{json,png,txt}\n`)
  if (process.env.SOAK_README !== '0') {
    // The README's run gets its chart committed next to it; other runs stay in soak-results/.
    copyFileSync(`${base}.png`, join(ROOT, 'docs', 'soak.png'))
    updateReadme(join(ROOT, 'README.md'), `${text}\n\n![RSS and file descriptors of the servers and clients over the run](docs/soak.png)`)
    process.stdout.write('updated the soak block in README.md\n')
  }
  process.exitCode = checks.some((c) => c.ok === false) ? 1 : 0
}

async function main(): Promise<void> {
  if (process.argv[2] === '--report') {
    const file = process.argv[3]
    if (!file?.endsWith('.json')) {
      process.stderr.write('soak: --report needs a soak-results/<time>.json file\n')
      process.exit(2)
    }
    let result: SoakResult
    try {
      result = JSON.parse(readFileSync(file, 'utf8')) as SoakResult
    } catch (e) {
      process.stderr.write(`soak: cannot read ${file}: ${(e as Error).message}\n`)
      process.exit(2)
    }
    const base = file.slice(0, -'.json'.length)
    publish(result, base, base.split('/').at(-1) as string)
    return
  }
  const clients = num('SOAK_CLIENTS', 100, 1, 150)
  const minutes = num('SOAK_MINUTES', 10, 0.5, 600)
  if (!Number.isInteger(clients)) {
    process.stderr.write(`soak: SOAK_CLIENTS must be a whole number, got ${clients}\n`)
    process.exit(2)
  }
  const pre = labPrerequisites()
  if (!pre.ok) {
    process.stderr.write(`soak: cannot run the lab here: ${pre.reason}\n`)
    process.exit(2)
  }
  const seconds = Math.round(minutes * 60)
  const started = Date.now()
  const log = (m: string) => process.stdout.write(`[soak ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${m}\n`)
  const result = await runSoak({
    clients,
    seconds,
    traffic: {
      rate: num('SOAK_RATE_KIB', 16, 1, 10_240) * 1024,
      probeMs: num('SOAK_PROBE_MS', 200, 10, 10_000),
      burst: num('SOAK_BURST_KIB', 256, 0, 65_536) * 1024,
      burstEveryMs: num('SOAK_BURST_S', 30, 1, 3600) * 1000,
    },
    sampleMs: num('SOAK_SAMPLE_S', 5, 1, 60) * 1000,
    statusMs: 10_000,
    // Cut at 30 s, expiry 180 s later, then reconnect: room for all of it.
    idleExpiry: seconds >= EXPIRY_S + 120,
    concurrency: num('SOAK_CONCURRENCY', 8, 1, 64),
    log,
  })
  const dir = join(ROOT, 'soak-results')
  mkdirSync(dir, { recursive: true })
  const stamp = result.date.replace(/[:.]/g, '-').slice(0, 19) + 'Z'
  publish(result, join(dir, stamp), stamp)
}

main().catch((e: unknown) => {
  process.stderr.write(`soak: ${(e as Error).message}\n`)
  process.exit(1)
})
