/** Run the real `skywire` binary as a subprocess, the way a user does. */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const BIN = fileURLToPath(new URL('../../../bin/run.js', import.meta.url))

export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

export function skywire(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: opts.cwd,
    env: { ...process.env, SKYWIRE_DEBUG: '', NO_COLOR: '1', ...opts.env },
    encoding: 'utf8',
    timeout: 60_000,
  })
  if (r.error) throw r.error
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr }
}

/** The shape every user-facing failure must have: exactly one line on stderr. */
export function expectOneLineError(r: CliResult): string {
  const lines = r.stderr.split('\n').filter((l) => l.length > 0)
  if (lines.length !== 1) throw new Error(`expected one stderr line, got ${lines.length}:\n${r.stderr}`)
  if (/\bat .*\(.*:\d+:\d+\)/.test(r.stderr)) throw new Error(`stack trace on stderr:\n${r.stderr}`)
  return lines[0] as string
}
