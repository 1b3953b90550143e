/**
 * The CLI's client of the visor's control API: a unix socket path (the
 * default, root only) or HOST:PORT. A visor that is not running is one clear
 * line, not a connection-refused stack.
 */
import { request } from 'node:http'
import { SkywireError, type ErrorCode } from '../contracts/errors.js'
import type { VpnClientStatus } from '../vpn/client.js'
import type { VpnServerStatus } from '../vpn/server.js'
import type { VisorStatus } from './visor.js'
import type { PageResult, ServiceEntry } from '../discovery/client.js'

export const DEFAULT_RPC = '/run/skywire/visor.sock'

export interface RemoteStatus {
  visor: VisorStatus
  client: VpnClientStatus
  server: VpnServerStatus
}

export class VisorClient {
  constructor(
    readonly rpc: string = DEFAULT_RPC,
    private readonly timeoutMs = 60_000,
  ) {}

  private target(): { socketPath: string } | { host: string; port: number } {
    if (this.rpc.includes('/')) return { socketPath: this.rpc }
    const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(this.rpc)
    if (!m) throw new SkywireError('EUSAGE', `--rpc must be a socket path or HOST:PORT, got ${this.rpc}`)
    return { host: m[1] ?? m[2] ?? '127.0.0.1', port: Number(m[3]) }
  }

  call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    return new Promise<T>((resolve, reject) => {
      const t = this.target()
      const req = request(
        {
          ...t,
          method,
          path,
          headers: {
            host: 'localhost',
            ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
            // The TCP listener is the web UI's: it wants the UI token (from
            // `vpn url`), and for changes an Origin matching Host.
            ...('host' in t && process.env.SKYWIRE_TOKEN
              ? { authorization: `Bearer ${process.env.SKYWIRE_TOKEN}`, origin: 'http://localhost' }
              : {}),
          },
          timeout: this.timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8')
            let json: unknown
            try {
              json = text ? JSON.parse(text) : {}
            } catch {
              return reject(new SkywireError('EINTERNAL', `the visor answered ${res.statusCode} with non-JSON`))
            }
            if ((res.statusCode ?? 500) >= 400) {
              const e = (json as { error?: { code?: string; message?: string } }).error
              return reject(new SkywireError((e?.code ?? 'EINTERNAL') as ErrorCode, e?.message ?? `visor answered ${res.statusCode}`))
            }
            resolve(json as T)
          })
        },
      )
      req.on('timeout', () => req.destroy(new Error('timeout')))
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (['ENOENT', 'ECONNREFUSED'].includes(err.code ?? '')) {
          reject(new SkywireError('EUNREACHABLE', `no visor is running at ${this.rpc} (start one with \`skywire visor\`)`))
        } else if (err.code === 'EACCES') {
          reject(new SkywireError('EPERM', `permission denied on ${this.rpc}: the visor's control socket is root's`))
        } else if (err.message === 'timeout') {
          reject(new SkywireError('ETIMEOUT', `the visor at ${this.rpc} did not answer in time`))
        } else {
          reject(new SkywireError('EUNREACHABLE', `cannot talk to the visor at ${this.rpc}: ${err.message}`))
        }
      })
      if (payload) req.write(payload)
      req.end()
    })
  }

  transports(): Promise<VisorStatus['transports']> {
    return this.call('GET', '/api/tp')
  }
  addTransport(pk: string, o: { type?: 'stcpr' | 'sudph'; timeoutS?: number } = {}): Promise<VisorStatus['transports'][number]> {
    return this.call('POST', '/api/tp', { pk, ...o })
  }
  closeTransport(id: number): Promise<{ closed: number }> {
    return this.call('POST', `/api/tp/${id}/close`, {})
  }
  status(): Promise<RemoteStatus> {
    return this.call('GET', '/api/status')
  }
  vpnStatus(): Promise<VpnClientStatus> {
    return this.call('GET', '/api/vpn/status')
  }
  vpnStart(pk: string, o: { existingTp?: boolean; timeoutS?: number } = {}): Promise<VpnClientStatus> {
    return this.call('POST', '/api/vpn/start', { pk, ...o })
  }
  vpnStop(): Promise<VpnClientStatus> {
    return this.call('POST', '/api/vpn/stop', {})
  }
  vpnServers(q: { country?: string; offset?: number; limit?: number } = {}): Promise<PageResult<ServiceEntry>> {
    const qs = new URLSearchParams(Object.entries(q).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]))
    return this.call('GET', `/api/vpn/servers${qs.size ? `?${qs}` : ''}`)
  }
  vpnServerCount(): Promise<{ total: number; byCountry: Record<string, number> }> {
    return this.call('GET', '/api/vpn/servers/count')
  }
  serverStatus(): Promise<VpnServerStatus> {
    return this.call('GET', '/api/vpn/server/status')
  }
  serverStart(o: { netifc?: string; secure?: boolean; whitelist?: string[] }): Promise<VpnServerStatus> {
    return this.call('POST', '/api/vpn/server/start', o)
  }
  serverStop(): Promise<VpnServerStatus> {
    return this.call('POST', '/api/vpn/server/stop', {})
  }
}
