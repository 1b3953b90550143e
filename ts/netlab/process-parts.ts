/**
 * The parts of a long-running child process that spawn() in exec.ts puts
 * together: the kept tail of its output, its exit, its process group, and
 * waiting for a line it prints.
 */
import type { ChildProcess } from 'node:child_process'
import { NetlabError, TimeoutError } from './errors.js'

export interface ExitInfo {
  code: number | null
  signal: NodeJS.Signals | null
}

/** The last `max` characters of stdout and stderr, and callbacks run on every change. */
export class OutputTail {
  stdout = ''
  stderr = ''
  /** Run on new output and on exit (see watchExit). */
  readonly watchers = new Set<() => void>()

  constructor(
    child: ChildProcess,
    private readonly max: number,
  ) {
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      this.stdout = this.append(this.stdout, d)
      this.notify()
    })
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.stderr = this.append(this.stderr, d)
      this.notify()
    })
  }

  notify(): void {
    for (const w of this.watchers) w()
  }

  private append(buf: string, d: string): string {
    const s = buf + d
    return s.length > this.max ? s.slice(s.length - this.max) : s
  }
}

/** How the child ended (null while running), and a promise that settles then. */
export interface ExitWatch {
  info(): ExitInfo | null
  exited: Promise<ExitInfo>
}

/**
 * Follows the child's exit. A spawn error also settles `exited` (with no code and
 * no signal) but does not run `onExit`: only a real exit ends the output.
 */
export function watchExit(child: ChildProcess, onExit: () => void): ExitWatch {
  let info: ExitInfo | null = null
  const exited = new Promise<ExitInfo>((resolve) => {
    child.on('error', () => {
      info ??= { code: null, signal: null }
      resolve(info)
    })
    child.on('exit', (code, signal) => {
      info = { code, signal }
      onExit()
      resolve(info)
    })
  })
  return { info: () => info, exited }
}

/** Sends `sig` to the whole process group `pid` (the child was started detached). */
export function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig)
  } catch {
    // ESRCH: the group is already gone.
  }
}

/** Signals the group, SIGKILLs it after graceMs, and waits for the exit. */
export async function killGroup(pid: number, exit: ExitWatch, signal: NodeJS.Signals, graceMs: number): Promise<ExitInfo> {
  const done = exit.info()
  if (done !== null) return done
  signalGroup(pid, signal)
  const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), graceMs)
  const r = await exit.exited
  clearTimeout(timer)
  // The leader may exit while children it forked linger in the group.
  signalGroup(pid, 'SIGKILL')
  return r
}

/** What the waiting error messages name the process by. */
export interface ProcessName {
  ns: string
  argv: readonly string[]
}

/** Resolves with the first match of `re` in stdout+stderr; rejects on timeout or when the process exits first. */
export function waitForMatch(out: OutputTail, exit: ExitWatch, who: ProcessName, re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
  const { ns, argv } = who
  return new Promise((resolve, reject) => {
    const check = () => {
      const m = `${out.stdout}\n${out.stderr}`.match(re)
      if (m) return done(() => resolve(m))
      const info = exit.info()
      if (info !== null) {
        return done(() =>
          reject(
            new NetlabError(
              'ECOMMAND',
              `[${ns}] ${argv.join(' ')} exited (${info.code ?? info.signal}) before printing ${re}: ${out.stderr.trim().slice(-500)}`,
            ),
          ),
        )
      }
    }
    const timer = setTimeout(() => done(() => reject(new TimeoutError(`${re} from [${ns}] ${argv.join(' ')}`, timeoutMs))), timeoutMs)
    const done = (f: () => void) => {
      clearTimeout(timer)
      out.watchers.delete(check)
      f()
    }
    out.watchers.add(check)
    check()
  })
}
