/**
 * A throwaway redis-server for tests: random loopback port, no persistence,
 * killed on stop (and on process exit, so a crashed test run leaves nothing).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer, Socket } from 'node:net'

export interface RedisProcess {
  url: string
  port: number
  stop(): Promise<void>
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const a = s.address()
      const port = typeof a === 'object' && a ? a.port : 0
      s.close(() => resolve(port))
    })
  })
}

async function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = new Socket()
    const done = (ok: boolean) => {
      sock.destroy()
      resolve(ok)
    }
    sock.setTimeout(500, () => done(false))
    sock.once('error', () => done(false))
    sock.connect(port, '127.0.0.1', () => sock.write('PING\r\n'))
    sock.once('data', (d) => done(d.toString().startsWith('+PONG')))
  })
}

const live = new Set<ChildProcess>()
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL')
})

export async function startRedis(): Promise<RedisProcess> {
  // A port can be taken between probing and binding; a few tries make that harmless.
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort()
    const proc = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    live.add(proc)
    let exited = false
    let missing = false
    // Without this listener a missing binary is an uncaught 'error' that kills the whole vitest worker.
    proc.once('error', (err: NodeJS.ErrnoException) => {
      missing = err.code === 'ENOENT'
      exited = true
      live.delete(proc)
    })
    proc.once('exit', () => {
      exited = true
      live.delete(proc)
    })
    proc.stdout?.resume()
    proc.stderr?.resume()
    const deadline = Date.now() + 15_000 // a busy 2-core CI machine can be slow to exec
    while (!exited && Date.now() < deadline) {
      if (await answersPing(port)) {
        return {
          url: `redis://127.0.0.1:${port}`,
          port,
          stop: () =>
            new Promise<void>((resolve) => {
              if (exited) return resolve()
              proc.once('exit', () => resolve())
              proc.kill('SIGTERM')
              setTimeout(() => proc.kill('SIGKILL'), 2000).unref()
            }),
        }
      }
      await new Promise((r) => setTimeout(r, 50))
    }
    // Not a skip: the Redis store is half of what the services tests cover, so its absence fails, strict or not.
    if (missing) throw new Error('redis-server is not installed (scripts/setup.sh installs it); the Redis store tests need it')
    proc.kill('SIGKILL')
  }
  throw new Error('could not start redis-server on a loopback port')
}
