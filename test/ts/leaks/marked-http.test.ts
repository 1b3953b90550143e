/**
 * The visor's requests to the discovery services leave on sockets that carry
 * the bypass mark from their first packet: checked on the server side of a
 * loopback connection with `ss` (which prints the client socket's fwmark).
 * Without the mark, policy routing would send them into the tunnel.
 */
import { execFileSync } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bypassMarkStatus, markedRequest } from '../../../ts/discovery/marked-http.js'
import { ServicesClient } from '../../../ts/discovery/client.js'
import { BYPASS_MARK } from '../../../ts/sys/bypass.js'
import { skipUnlessAvailable } from '../helpers/skip.js'

const skip = process.getuid?.() !== 0 ? 'needs root (SO_MARK needs CAP_NET_ADMIN)' : null

describe.skipIf(skipUnlessAvailable(skip))('marked requests to the discovery services', () => {
  let srv: Server
  let base: string
  beforeAll(async () => {
    srv = createServer((req, res) => {
      // The client's socket, found by its port: its mark as the kernel has it.
      const ss = execFileSync('ss', ['-tnie', 'sport', '=', `:${req.socket.remotePort}`]).toString()
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ mark: /fwmark:(0x[0-9a-f]+)/.exec(ss)?.[1] ?? 'none', body: req.headers['content-length'] ?? null }))
    })
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
    base = `http://127.0.0.1:${(srv.address() as { port: number }).port}`
  })
  afterAll(() => new Promise<void>((r) => srv.close(() => r())))

  it('markedRequest: the socket carries the mark, a body is sent', async () => {
    const r = await markedRequest(`${base}/x`, { method: 'POST', headers: {}, body: Buffer.from('{}'), timeoutMs: 3000 })
    expect(r.status).toBe(200)
    expect(JSON.parse(r.text)).toEqual({ mark: `0x${BYPASS_MARK.toString(16)}`, body: '2' })
    expect(bypassMarkStatus()).toEqual({ mark: BYPASS_MARK, refused: false })
  })

  it('ServicesClient with bypassMark marks its requests; without it (the CLI) does not', async () => {
    const marked = new ServicesClient({ url: base, bypassMark: true, retries: 0 })
    const plain = new ServicesClient({ url: base, retries: 0 })
    // health() is a GET whose JSON answer comes back as is.
    expect(await marked.health()).toMatchObject({ mark: `0x${BYPASS_MARK.toString(16)}` })
    expect(await plain.health()).toMatchObject({ mark: 'none' })
  })

  it('a hostile discovery server: an endless answer is cut at the size limit, a silent one at the deadline', async () => {
    const hostile = createServer((req, res) => {
      if (req.url === '/silent') return // never answers
      res.writeHead(200)
      const chunk = Buffer.alloc(64 * 1024, 0x61)
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump)
      }
      pump()
    })
    await new Promise<void>((r) => hostile.listen(0, '127.0.0.1', r))
    const at = `http://127.0.0.1:${(hostile.address() as { port: number }).port}`
    try {
      await expect(markedRequest(`${at}/endless`, { method: 'GET', headers: {}, timeoutMs: 20_000 })).rejects.toThrow(
        /^answer larger than 4194304 bytes$/,
      )
      const t0 = Date.now()
      await expect(markedRequest(`${at}/silent`, { method: 'GET', headers: {}, timeoutMs: 500 })).rejects.toThrow(/^no answer within 500 ms$/)
      expect(Date.now() - t0).toBeLessThan(5000)
    } finally {
      hostile.closeAllConnections()
      await new Promise<void>((r) => hostile.close(() => r()))
    }
  }, 30_000)

  it('a refused connection is one clear error, not a hang', async () => {
    const dead = new ServicesClient({ url: 'http://127.0.0.1:1', bypassMark: true, retries: 0, timeoutMs: 2000 })
    await expect(dead.health()).rejects.toThrow(/not reachable: .*127\.0\.0\.1:1/)
  })
})
