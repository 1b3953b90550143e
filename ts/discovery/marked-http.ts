/**
 * HTTP(S) requests over sockets that carry the visor's bypass mark (SO_MARK,
 * set by the addon before the SYN), so that while the VPN client is
 * connected the visor's own requests to the discovery services leave outside
 * the tunnel, and nothing else to the same address does (ts/sys/bypass.ts).
 * Control plane only: the addon connects and hands over the fd; node:http
 * speaks HTTP on it. Global fetch cannot take a pre-connected socket, hence
 * node:http with `createConnection`.
 */
import { lookup } from 'node:dns/promises'
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { isIP, Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import type { Duplex } from 'node:stream'
import { callNative, fromNativeError, native } from '../native/loader.js'

export interface MarkedResponse {
  status: number
  statusText: string
  text: string
}

export interface MarkedRequest {
  method: string
  headers: Record<string, string>
  body?: Buffer
  timeoutMs: number
}

/** Largest answer read (the services' pages are far smaller): a broken server cannot make the visor buffer without end. */
const MAX_BODY = 4 * 1024 * 1024

async function connectMarked(host: string, port: number, timeoutMs: number): Promise<Socket> {
  const addrs = isIP(host) ? [host] : (await lookup(host, { all: true })).map((a) => a.address)
  let last: unknown = new Error(`${host} has no address`)
  for (const a of addrs) {
    try {
      const fd = await native.connectMarked(isIP(a) === 6 ? `[${a}]:${port}` : `${a}:${port}`, timeoutMs)
      return new Socket({ fd, readable: true, writable: true })
    } catch (e) {
      last = fromNativeError(e)
    }
  }
  throw last
}

/** One request; rejects on network errors and the deadline, resolves with any HTTP status. */
export function markedRequest(url: string, r: MarkedRequest): Promise<MarkedResponse> {
  const u = new URL(url)
  const https = u.protocol === 'https:'
  if (!https && u.protocol !== 'http:') throw new Error(`unsupported URL scheme ${u.protocol}`)
  const host = u.hostname.replace(/^\[|\]$/g, '')
  const port = Number(u.port || (https ? 443 : 80))
  const deadline = AbortSignal.timeout(r.timeoutMs)
  return new Promise<MarkedResponse>((resolve, reject) => {
    let req: ClientRequest | null = null
    const fail = (e: unknown) => {
      req?.destroy()
      reject(e)
    }
    deadline.addEventListener('abort', () => fail(new Error(`no answer within ${r.timeoutMs} ms`)), { once: true })
    const createConnection = (_opts: unknown, done: (err: Error | null, s?: Duplex) => void): undefined => {
      connectMarked(host, port, r.timeoutMs).then(
        (sock) => done(null, https ? tlsConnect({ socket: sock, servername: isIP(host) ? undefined : host }) : sock),
        (e: Error) => done(e),
      )
      return undefined
    }
    const send = https ? httpsRequest : httpRequest
    req = send(url, {
      method: r.method,
      headers: { ...r.headers, ...(r.body ? { 'content-length': String(r.body.length) } : {}) },
      // No agent (not even `agent: false`, which makes a fresh Agent that ignores createConnection):
      // then node:http takes the socket from createConnection, uses it once and closes it.
      createConnection: createConnection as never,
    })
    req.on('error', fail)
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (c: Buffer) => {
        size += c.length
        if (size > MAX_BODY) fail(new Error(`answer larger than ${MAX_BODY} bytes`))
        else chunks.push(c)
      })
      res.on('error', fail)
      res.on('end', () => resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', text: Buffer.concat(chunks).toString('utf8') }))
    })
    req.end(r.body)
  })
}

/** The mark and whether the kernel refused it (no CAP_NET_ADMIN): then requests still work, but unmarked. */
export function bypassMarkStatus(): { mark: number; refused: boolean } {
  return callNative(() => native.bypassMark())
}
