/**
 * Address strings as they appear in configs, discovery records and sockets.
 * Pure helpers in sys, the lowest layer that may use node:net, so config, the
 * services, discovery and the visor share one parser.
 */
import { isIP } from 'node:net'

/** Split "host:port" or "[v6]:port"; null when malformed. */
export function parseHostPort(s: string): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(s)
  if (!m) return null
  const host = m[1] ?? m[2] ?? ''
  const port = Number(m[3])
  if (port > 65535) return null
  if (m[1] !== undefined && isIP(host) !== 6) return null
  return { host, port }
}

/** `::ffff:a.b.c.d` (what a dual-stack socket reports) is really IPv4. */
export function unmapV4(ip: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)
  return m?.[1] ?? ip
}
