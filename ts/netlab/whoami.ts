/**
 * The lab's "what is my IP" server: answers with the caller's source address,
 * which is how tests see whether traffic left through a NAT, the VPN server or
 * nowhere. `node dist/netlab/whoami.js --listen 203.0.113.80:80 [--listen [2001:db8::80]:80]`
 *   GET /      -> "203.0.113.30\n"
 *   GET /json  -> {"ip":"203.0.113.30","port":41234,"family":"IPv4"}
 * Prints "whoami listening on ADDR:PORT" per socket once bound.
 */
import { createServer, type Server } from 'node:http'
import { realpathSync } from 'node:fs'
import { pathToFileURL } from 'node:url'

export interface ListenAddr {
  host: string
  port: number
}

/** `1.2.3.4:80`, `[2001:db8::1]:80`. */
export function parseListen(s: string): ListenAddr {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(s) ?? /^([^:[\]]+):(\d+)$/.exec(s)
  const port = Number(m?.[2])
  if (!m?.[1] || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`bad --listen ${JSON.stringify(s)}: want ADDR:PORT or [ADDR6]:PORT`)
  }
  return { host: m[1], port }
}

export function startWhoami(addr: ListenAddr): Promise<Server> {
  const server = createServer((req, res) => {
    const raw = req.socket.remoteAddress ?? ''
    // A dual-stack listener reports IPv4 callers as ::ffff:a.b.c.d; tests compare plain IPv4.
    const ip = raw.startsWith('::ffff:') && raw.includes('.') ? raw.slice('::ffff:'.length) : raw
    const family = ip.includes(':') ? 'IPv6' : 'IPv4'
    // Short-lived connections: a probe must not hold a socket a visor's teardown waits on.
    res.setHeader('connection', 'close')
    if (req.url === '/json') {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ ip, port: req.socket.remotePort, family }) + '\n')
    } else {
      res.setHeader('content-type', 'text/plain')
      res.end(ip + '\n')
    }
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host: addr.host, port: addr.port, ipv6Only: addr.host.includes(':') }, () => resolve(server))
  })
}

async function main(argv: string[]): Promise<void> {
  const listens: ListenAddr[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--listen' && argv[i + 1] !== undefined) listens.push(parseListen(argv[++i] as string))
    else if (a?.startsWith('--listen=')) listens.push(parseListen(a.slice('--listen='.length)))
    else throw new Error(`usage: whoami --listen ADDR:PORT [--listen ADDR:PORT ...] (got ${a})`)
  }
  if (listens.length === 0) throw new Error('usage: whoami --listen ADDR:PORT [--listen ADDR:PORT ...]')
  for (const l of listens) {
    await startWhoami(l)
    console.log(`whoami listening on ${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}`)
  }
  const stop = () => process.exit(0)
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

// Run as a program, not when imported by the lab or a test.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    console.error(`whoami: ${e instanceof Error ? e.message : String(e)}`)
    process.exit(2)
  })
}
