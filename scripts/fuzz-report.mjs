// Turn the stats lines scripts/fuzz.sh writes with FUZZ_STATS (one JSON
// object per target) into docs/fuzz-results.json and the table between
// `<!-- fuzz:begin -->` and `<!-- fuzz:end -->` in README.md.
//
//   node scripts/fuzz-report.mjs <stats.jsonl> <results.json> <README.md>
//
// Bad input: one line on stderr, exit 1.
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'

const BEGIN = '<!-- fuzz:begin -->'
const END = '<!-- fuzz:end -->'

class ReportError extends Error {}

function readStats(path) {
  const lines = readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
  if (lines.length === 0) throw new ReportError(`${path} holds no stats`)
  return lines.map((l, i) => {
    try {
      return JSON.parse(l)
    } catch {
      throw new ReportError(`${path}:${i + 1} is not JSON`)
    }
  })
}

function tool(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return null
  }
}

const num = (v) => (v === null || v === undefined ? '?' : Number(v).toLocaleString('en-US'))

function table(report) {
  const rows = report.targets.map(
    (t) =>
      `| \`${t.target}\` | ${num(t.seconds)} | ${num(t.executions)} | ${num(t.execs_per_sec)} | ${num(t.cov)} | ${num(t.ft)} | ${num(t.corpus_files)} (${num(t.corpus_bytes)} B) | ${t.result} |`,
  )
  return [
    `\`npm run fuzz:long\` on ${report.date.slice(0, 10)}: ${report.seconds_per_target} s per target, ${report.machine.cores} cores ` +
      `(load average ${report.machine.load_average.start ?? '?'} at the start, ${report.machine.load_average.end} at the end), ` +
      `${report.tools.cargo_fuzz ?? 'cargo-fuzz ?'}, ${report.tools.rustc_nightly ?? 'rustc nightly ?'} (libFuzzer with ASan; ` +
      "`cov`: code edges covered, `ft`: features; corpus: the target's corpus directory after the run; raw numbers in " +
      '`docs/fuzz-results.json`).',
    '',
    '| target | seconds | executions | exec/s | cov | ft | corpus files | result |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...rows,
  ].join('\n')
}

function updateReadme(path, body) {
  let text = readFileSync(path, 'utf8')
  if (!text.includes(BEGIN) || !text.includes(END)) {
    // Markers absent: a minimal section of our own at the end.
    text = `${text.replace(/\n*$/, '\n')}\n## Reliability\n\n### Fuzzing\n\n${BEGIN}\n${END}\n`
  }
  const start = text.indexOf(BEGIN) + BEGIN.length
  const end = text.indexOf(END, start)
  if (end < 0) throw new ReportError(`${path}: ${END} comes before ${BEGIN}`)
  writeFileSync(path, `${text.slice(0, start)}\n${body}\n${text.slice(end)}`)
}

function main([statsPath, resultsPath, readmePath]) {
  if (!statsPath || !resultsPath || !readmePath) {
    throw new ReportError('usage: fuzz-report.mjs <stats.jsonl> <results.json> <README.md>')
  }
  const targets = readStats(statsPath)
  const report = {
    date: new Date().toISOString(),
    seconds_per_target: targets[0].seconds,
    machine: {
      cores: cpus().length,
      // 1-minute load average when the runs started (from fuzz-long.sh) and ended.
      load_average: { start: Number(process.env.FUZZ_LOAD_START) || null, end: Number(loadavg()[0].toFixed(2)) },
    },
    tools: { cargo_fuzz: tool('cargo', ['+nightly', 'fuzz', '--version']), rustc_nightly: tool('rustc', ['+nightly', '--version']) },
    targets,
  }
  writeFileSync(resultsPath, `${JSON.stringify(report, null, 2)}\n`)
  updateReadme(readmePath, table(report))
  const crashed = targets.filter((t) => t.result !== 'ok').map((t) => t.target)
  console.error(
    `fuzz-report: ${targets.length} targets written to ${resultsPath} and ${readmePath}` + (crashed.length ? `; crashed: ${crashed.join(', ')}` : ''),
  )
}

try {
  main(process.argv.slice(2))
} catch (e) {
  console.error(`fuzz-report: ${e instanceof ReportError ? e.message : (e?.message ?? e)}`)
  process.exit(1)
}
