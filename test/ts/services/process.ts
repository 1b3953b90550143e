/** `skywire services` as a real subprocess, the way an operator runs it. */
import { spawn, type ChildProcess } from 'node:child_process'
import { BIN } from '../helpers/cli.js'

export interface ServicesProcess {
  url: string
  udp: { ip: string; port: number } | null
  proc: ChildProcess
  /** SIGTERM, then the exit code; SIGKILL if it does not exit within 5 s. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

const live = new Set<ChildProcess>()
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL')
})

export function runServices(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ServicesProcess> {
  const proc = spawn(process.execPath, [BIN, 'services', '--http', '127.0.0.1:0', '--udp', '127.0.0.1:0', ...args], {
    env: { ...process.env, SKYWIRE_DEBUG: '', NO_COLOR: '1', SKYWIRE_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  live.add(proc)
  let exitCode: number | null | undefined
  const exited = new Promise<number | null>((resolve) =>
    proc.once('exit', (code) => {
      live.delete(proc)
      exitCode = code
      resolve(code)
    }),
  )
  let stderr = ''
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  return new Promise((resolve, reject) => {
    let buf = ''
    const timer = setTimeout(() => {
      proc.kill('SIGKILL')
      reject(new Error(`skywire services did not start within 30 s: ${stderr}`))
    }, 30_000) // a node start-up takes 5-7 s at a load of 28 on 2 cores; this bound only turns a hang into a failure
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString()
      for (const line of buf.split('\n')) {
        if (!line.includes('discovery services listening')) continue
        const j = JSON.parse(line) as { http: string; udp: string | null }
        clearTimeout(timer)
        const udp = j.udp ? /^(.*):(\d+)$/.exec(j.udp) : null
        resolve({
          url: j.http,
          udp: udp ? { ip: udp[1]!, port: Number(udp[2]) } : null,
          proc,
          async stop(signal = 'SIGTERM') {
            if (exitCode !== undefined) return exitCode
            proc.kill(signal)
            const t = setTimeout(() => proc.kill('SIGKILL'), 5000)
            const code = await exited
            clearTimeout(t)
            return code
          },
        })
        buf = ''
        return
      }
    })
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`skywire services exited with ${code} before listening: ${stderr.trim()}`))
    })
  })
}
