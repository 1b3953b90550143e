/**
 * Running ts/sys functions inside a lab namespace, the way the visor does:
 * a node process started by `ip netns exec`, so /proc/sys, `ip`, `nft` and
 * /etc/resolv.conf are all that namespace's. The functions themselves take no
 * namespace argument; the compiled module (dist/sys) is imported by a tiny
 * inline runner.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { exec, labPrerequisites, type Lab, type NsProcess } from '../../../ts/netlab/netns.js'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const distIndex = `${root}dist/sys/index.js`

/** null when these tests can run here, else why not. */
export function sysSkipReason(): string | null {
  const pre = labPrerequisites()
  if (!pre.ok) return pre.reason
  try {
    execFileSync('nft', ['--version'], { stdio: 'ignore' })
  } catch {
    return '`nft` (nftables) is not installed'
  }
  return null
}

/** Fails loudly when dist/sys is missing or older than ts/sys: the runner would test stale code. */
export function requireFreshDist(): void {
  if (!existsSync(distIndex)) throw new Error('dist/sys is missing: build the TypeScript first (npx tsc -p .)')
  const src = `${root}ts/sys`
  for (const f of readdirSync(src)) {
    if (!f.endsWith('.ts')) continue
    const js = `${root}dist/sys/${f.replace(/\.ts$/, '.js')}`
    if (!existsSync(js) || statSync(js).mtimeMs < statSync(`${src}/${f}`).mtimeMs) {
      throw new Error(`dist/sys/${f.replace(/\.ts$/, '.js')} is older than ts/sys/${f}: rebuild (npx tsc -p .)`)
    }
  }
}

export interface Op {
  /** An export of dist/sys/index.js, or `last.<method>` (e.g. `last.restore`: a method of the last result that had restore()). */
  fn: string
  args?: unknown[]
}

/** Runs ops in order, `repeat` times; prints one RESULT line with every op's JSON result, then optionally hangs. */
const RUNNER = `
const [mod, payload] = process.argv.slice(1)
const m = await import(mod)
const { ops, repeat = 1, hang = false } = JSON.parse(payload)
const results = []
let last
try {
  for (let i = 0; i < repeat; i++) {
    for (const op of ops) {
      let r
      if (op.fn.startsWith('last.')) r = await last[op.fn.slice(5)](...(op.args ?? []))
      else r = await m[op.fn](...(op.args ?? []))
      if (r && typeof r === 'object' && typeof r.restore === 'function') last = r
      if (i === repeat - 1) results.push(r ?? null)
    }
  }
} catch (e) {
  process.stdout.write('ERROR ' + JSON.stringify({ code: e.code ?? null, message: e.message }) + '\\n')
  process.exit(1)
}
process.stdout.write('RESULT ' + JSON.stringify(results) + '\\n')
if (hang) setInterval(() => {}, 1 << 30)
`

export class SysCallError extends Error {
  constructor(
    readonly code: string | null,
    message: string,
  ) {
    super(message)
  }
}

function runnerArgv(payload: object): string[] {
  return [process.execPath, '--input-type=module', '-e', RUNNER, pathToFileURL(distIndex).href, JSON.stringify(payload)]
}

function parse(stdout: string, stderr: string): unknown[] {
  const err = /^ERROR (.*)$/m.exec(stdout)
  if (err) {
    const e = JSON.parse(err[1] as string) as { code: string | null; message: string }
    throw new SysCallError(e.code, e.message)
  }
  const ok = /^RESULT (.*)$/m.exec(stdout)
  if (!ok) throw new Error(`runner printed no result: ${stdout} ${stderr}`)
  return JSON.parse(ok[1] as string) as unknown[]
}

/** Runs ops inside `ns`; returns their results; a thrown SkywireError comes back as SysCallError with its code. */
export async function sys(ns: string, ops: Op[], repeat = 1): Promise<unknown[]> {
  const r = await exec(ns, runnerArgv({ ops, repeat }), { timeoutMs: 120_000 })
  return parse(r.stdout, r.stderr)
}

/** One call. */
export async function sys1<T = unknown>(ns: string, fn: string, ...args: unknown[]): Promise<T> {
  return (await sys(ns, [{ fn, args }]))[0] as T
}

/** Runs ops and keeps the process alive afterwards (a visor that is connected), for crash tests. */
export async function sysHang(lab: Lab, ns: string, ops: Op[]): Promise<{ proc: NsProcess; results: unknown[] }> {
  const proc = lab.spawn(ns, runnerArgv({ ops, hang: true }))
  const m = await proc.waitForOutput(/^(RESULT|ERROR) .*$/m, 30_000)
  const { stdout, stderr } = proc.output()
  void m
  return { proc, results: parse(stdout, stderr) }
}
