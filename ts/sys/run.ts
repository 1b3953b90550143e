/**
 * Running ip/nft/sysctl for the host-change modules: argv only (never a shell
 * string, so an interface name can never become a command), bounded in time,
 * failures as one-line SkywireErrors that name the command and its stderr.
 */
import { spawn } from 'node:child_process'
import { SkywireError } from '../contracts/errors.js'

export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

export interface RunOptions {
  /** Written to stdin (for `nft -f -`). */
  input?: string
  /** Default 15 s: ip and nft answer in milliseconds, a hang means something is badly wrong. */
  timeoutMs?: number
}

/** The command itself is missing (spawn's ENOENT), told by the error's cause, not its text. */
export function isNotInstalled(err: unknown): boolean {
  const cause = err instanceof Error ? (err.cause as NodeJS.ErrnoException | undefined) : undefined
  return cause?.code === 'ENOENT' && cause.syscall?.startsWith('spawn') === true
}

/** Runs argv; never throws for a non-zero exit (see `run`). */
export function tryRun(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [cmd, ...args] = argv
  if (cmd === undefined) throw new SkywireError('EINTERNAL', 'empty command')
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 15_000)
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      const why = e.code === 'ENOENT' ? `${cmd} is not installed` : e.message
      reject(new SkywireError('ESYSCMD', `cannot run ${cmd}: ${why}`, { cause: e }))
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
    // A command that exits before reading stdin makes the write fail; its exit status tells the story.
    child.stdin.on('error', () => {})
    child.stdin.end(opts.input ?? '')
  })
}

/** Runs argv and returns stdout; a non-zero exit throws ESYSCMD (EPERM when the kernel said so). */
export async function run(argv: readonly string[], opts: RunOptions = {}): Promise<string> {
  const r = await tryRun(argv, opts)
  if (r.code !== 0) throw commandError(argv, r)
  return r.stdout
}

export function commandError(argv: readonly string[], r: RunResult): SkywireError {
  const msg = oneLine(r.stderr) || `exit ${r.code ?? 'by signal'}`
  const perm = /Operation not permitted|Permission denied/i.test(r.stderr)
  return new SkywireError(perm ? 'EPERM' : 'ESYSCMD', `${argv.join(' ')}: ${msg}${perm ? ' (needs root)' : ''}`)
}

/** stderr of ip/nft spans lines (nft points at the offending token); errors here are one line. */
export function oneLine(s: string): string {
  return s
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !/^\^+$/.test(l))
    .join(' | ')
    .slice(0, 400)
}

/** `ip -j ...` parsed; iproute2 prints nothing at all (not `[]`) for some empty results. */
export async function ipJson<T>(args: readonly string[]): Promise<T[]> {
  const out = (await run(['ip', '-j', ...args])).trim()
  if (out === '') return []
  try {
    return JSON.parse(out) as T[]
  } catch (e) {
    throw new SkywireError('ESYSCMD', `ip -j ${args.join(' ')}: unparsable JSON output`, { cause: e })
  }
}
