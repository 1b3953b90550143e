/**
 * Running commands inside a network namespace. Everything goes through
 * `ip netns exec`, which also bind-mounts /etc/netns/<name>/* over /etc, so a
 * process that rewrites /etc/resolv.conf only touches the namespace's copy.
 */
import { spawn as spawnChild, spawnSync, type ChildProcess } from 'node:child_process'
import { CommandError, NetlabError, TimeoutError } from './errors.js'
import { type ExitInfo, killGroup, OutputTail, signalGroup, waitForMatch, watchExit } from './process-parts.js'

export interface ExecOptions {
  /** Written to the command's stdin, then stdin is closed. */
  input?: string
  /** Kill the command (SIGKILL) after this long; default 30 s. */
  timeoutMs?: number
  env?: NodeJS.ProcessEnv
  cwd?: string
}

export interface ExecResult {
  ns: string | null
  argv: string[]
  /** Exit status, or null when killed by a signal. */
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** argv that runs `argv` in `ns` (null: the current namespace, for `ip netns add` and friends). */
export function nsArgv(ns: string | null, argv: readonly string[]): string[] {
  if (argv.length === 0) throw new NetlabError('EMISUSE', 'empty argv')
  return ns === null ? [...argv] : ['ip', 'netns', 'exec', ns, ...argv]
}

/** Runs a command to completion; never throws for a non-zero exit (see execOk). */
export function exec(ns: string | null, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const full = nsArgv(ns, argv)
  return new Promise((resolve, reject) => {
    const child = spawnChild(full[0] as string, full.slice(1), {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000)
    child.on('error', (e) => {
      clearTimeout(timer)
      reject(new NetlabError('ECOMMAND', `cannot run ${full.join(' ')}: ${e.message}`, { cause: e }))
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ ns, argv: [...argv], code, signal, stdout, stderr })
    })
    // A command that exits without reading stdin makes the write fail with EPIPE; its
    // exit status is what matters, so the write error is dropped.
    child.stdin.on('error', () => {})
    child.stdin.end(opts.input ?? '')
  })
}

/** Like exec, but a non-zero exit or a signal throws CommandError. */
export async function execOk(ns: string | null, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const r = await exec(ns, argv, opts)
  if (r.code !== 0) throw new CommandError(r)
  return r
}

/**
 * Synchronous variant for teardown, which must also work inside
 * process.on('exit') where no promise ever settles.
 */
export function execSync(ns: string | null, argv: readonly string[], opts: ExecOptions = {}): ExecResult {
  const full = nsArgv(ns, argv)
  const r = spawnSync(full[0] as string, full.slice(1), {
    input: opts.input ?? '',
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 30_000,
    killSignal: 'SIGKILL',
    env: opts.env ?? process.env,
    cwd: opts.cwd,
  })
  if (r.error && r.status === null && r.signal === null) {
    throw new NetlabError('ECOMMAND', `cannot run ${full.join(' ')}: ${r.error.message}`, { cause: r.error })
  }
  return { ns, argv: [...argv], code: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '' }
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** 'pipe' (default) keeps the last `maxBuffer` bytes of each stream for output(); 'inherit' shows them live. */
  stdio?: 'pipe' | 'inherit' | 'ignore'
  /** Bytes of stdout/stderr kept each; default 256 KiB. */
  maxBuffer?: number
}

export type { ExitInfo } from './process-parts.js'

/** A long-running process inside a namespace (a visor, a server, iperf3). */
export interface NsProcess {
  readonly ns: string
  readonly argv: readonly string[]
  /** Pid of the command itself (`ip netns exec` execs into it) and of its process group. */
  readonly pid: number
  readonly child: ChildProcess
  /** Settles when the process has exited. */
  readonly exited: Promise<ExitInfo>
  /** null while running. */
  exitInfo(): ExitInfo | null
  /** What it printed so far (the tail, when longer than maxBuffer). */
  output(): { stdout: string; stderr: string }
  /** Resolves with the first match of `re` in stdout+stderr; rejects on timeout or exit. */
  waitForOutput(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray>
  /** Signals the whole process group, then SIGKILLs it after graceMs. */
  kill(signal?: NodeJS.Signals, graceMs?: number): Promise<ExitInfo>
  /** For exit handlers: SIGKILL the group now, do not wait. */
  killNow(): void
}

/**
 * Starts a process in `ns`. It gets its own process group (detached) so kill()
 * reaches its children too, and so a test runner's Ctrl-C does not race our
 * orderly teardown.
 */
export function spawn(ns: string, argv: readonly string[], opts: SpawnOptions = {}): NsProcess {
  const child = startDetached(nsArgv(ns, argv), opts)
  const pid = child.pid as number
  const out = new OutputTail(child, opts.maxBuffer ?? 256 * 1024)
  const exit = watchExit(child, () => out.notify())
  const who = { ns, argv: [...argv] }
  return {
    ...who,
    pid,
    child,
    exited: exit.exited,
    exitInfo: () => exit.info(),
    output: () => ({ stdout: out.stdout, stderr: out.stderr }),
    waitForOutput: (re, timeoutMs) => waitForMatch(out, exit, who, re, timeoutMs),
    kill: (signal = 'SIGTERM', graceMs = 2000) => killGroup(pid, exit, signal, graceMs),
    killNow: () => signalGroup(pid, 'SIGKILL'),
  }
}

/** The child in its own process group; throws at once when it could not even start. */
function startDetached(full: string[], opts: SpawnOptions): ChildProcess {
  const stdio = opts.stdio ?? 'pipe'
  const child = spawnChild(full[0] as string, full.slice(1), {
    stdio: stdio === 'pipe' ? ['ignore', 'pipe', 'pipe'] : stdio,
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    detached: true,
  })
  if (child.pid === undefined) {
    // spawn() reports ENOENT asynchronously; an undefined pid means it already failed,
    // and the 'error' event still to come must not crash the process.
    child.on('error', () => {})
    throw new NetlabError('ECOMMAND', `cannot start ${full.join(' ')}`)
  }
  return child
}

export interface WaitForOptions {
  /** Delay between attempts; default 50 ms. */
  intervalMs?: number
  /** Named in the timeout error. */
  what?: string
}

/**
 * Polls `fn` until it returns something other than undefined/null/false.
 * A throw counts as "not yet"; the last one becomes the timeout error's cause.
 */
export async function waitFor<T>(
  fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  timeoutMs: number,
  opts: WaitForOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  const interval = opts.intervalMs ?? 50
  let lastError: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v !== undefined && v !== null && v !== false) return v
    } catch (e) {
      lastError = e
    }
    if (Date.now() >= deadline) throw new TimeoutError(opts.what ?? 'condition', timeoutMs, { cause: lastError })
    await new Promise((r) => setTimeout(r, Math.min(interval, Math.max(0, deadline - Date.now()))))
  }
}

// One node process per wait, retrying inside the namespace: spawning a process per
// attempt would cost more than the wait itself.
const TCP_PROBE = `
const net = require('node:net')
const [host, port, ms] = process.argv.slice(1)
const deadline = Date.now() + Number(ms)
const attempt = () => {
  const s = net.connect({ host, port: Number(port) })
  s.setTimeout(1000)
  s.once('connect', () => { s.destroy(); process.exit(0) })
  const retry = (why) => {
    s.destroy()
    if (Date.now() >= deadline) { console.error(why); process.exit(1) }
    setTimeout(attempt, 100)
  }
  s.once('timeout', () => retry('connect timeout'))
  s.once('error', (e) => retry(e.code || e.message))
}
attempt()
`

/** Resolves once a TCP connect from inside `ns` to host:port succeeds. */
export async function waitForTcp(ns: string, host: string, port: number, timeoutMs: number): Promise<void> {
  const r = await exec(ns, [process.execPath, '-e', TCP_PROBE, host, String(port), String(timeoutMs)], {
    timeoutMs: timeoutMs + 5000,
  })
  if (r.code !== 0) {
    throw new TimeoutError(`tcp ${host}:${port} from ${ns} (last error: ${r.stderr.trim() || r.signal})`, timeoutMs)
  }
}

/** Blocks the thread; only for teardown in exit handlers, where nothing async runs. */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}
