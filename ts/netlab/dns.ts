/**
 * The lab's DNS server (UDP only): answers a static set of names, NXDOMAIN
 * for the rest, and prints one JSON line per query with the asker's source
 * address, so DNS-leak tests can see which path a lookup took.
 *   node dist/netlab/dns.js --listen 203.0.113.53:53 --record whoami.lab=203.0.113.80 --record whoami.lab=2001:db8:203::80
 * Prints "dns listening on ADDR:PORT" once bound, then {"from":..,"name":..,"type":..,"rcode":..} lines.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram'
import { isIPv4, isIPv6 } from 'node:net'
import { realpathSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { parseListen, type ListenAddr } from './whoami.js'

export interface DnsQueryLog {
  from: string
  name: string
  type: string
  rcode: 'NOERROR' | 'NXDOMAIN' | 'FORMERR'
}

const TYPE_A = 1
const TYPE_AAAA = 28
const typeName = (t: number) => (t === TYPE_A ? 'A' : t === TYPE_AAAA ? 'AAAA' : `TYPE${t}`)

/** name (lower case, no trailing dot) -> addresses. */
export type DnsRecords = Map<string, string[]>

export function parseRecord(s: string, into: DnsRecords): void {
  const eq = s.indexOf('=')
  const name = s.slice(0, eq).toLowerCase().replace(/\.$/, '')
  const addr = s.slice(eq + 1)
  if (eq <= 0 || (!isIPv4(addr) && !isIPv6(addr))) throw new Error(`bad --record ${JSON.stringify(s)}: want NAME=IP`)
  into.set(name, [...(into.get(name) ?? []), addr])
}

function ipv6Bytes(a: string): Buffer {
  const [head = '', tail = ''] = a.split('::')
  const h = head ? head.split(':') : []
  const t = a.includes('::') && tail ? tail.split(':') : []
  const groups = a.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h
  const b = Buffer.alloc(16)
  groups.forEach((g, i) => {
    b.writeUInt16BE(parseInt(g, 16), i * 2)
  })
  return b
}

/** Builds the answer to one query; null for garbage not worth a reply. */
export function answer(msg: Buffer, records: DnsRecords): { reply: Buffer; log: Omit<DnsQueryLog, 'from'> } | null {
  if (msg.length < 12 || (msg.readUInt16BE(2) & 0x8000) !== 0) return null
  const id = msg.readUInt16BE(0)
  const rd = msg.readUInt16BE(2) & 0x0100
  const labels: string[] = []
  let off = 12
  const formerr = () => {
    const h = Buffer.alloc(12)
    h.writeUInt16BE(id, 0)
    h.writeUInt16BE(0x8000 | rd | 1, 2)
    return { reply: h, log: { name: '', type: '', rcode: 'FORMERR' as const } }
  }
  if (msg.readUInt16BE(4) !== 1) return formerr()
  for (;;) {
    const len = msg[off]
    if (len === undefined || len > 63) return formerr()
    off++
    if (len === 0) break
    if (off + len > msg.length) return formerr()
    labels.push(msg.toString('latin1', off, off + len))
    off += len
  }
  if (off + 4 > msg.length) return formerr()
  const qtype = msg.readUInt16BE(off)
  const question = msg.subarray(12, off + 4)
  const name = labels.join('.').toLowerCase()
  const addrs = records.get(name)
  const matching = (addrs ?? []).filter((a) => (qtype === TYPE_A ? isIPv4(a) : qtype === TYPE_AAAA ? isIPv6(a) : false))
  const rcode = addrs === undefined ? 3 : 0
  const header = Buffer.alloc(12)
  header.writeUInt16BE(id, 0)
  // QR, authoritative, RD echoed.
  header.writeUInt16BE(0x8000 | 0x0400 | rd | rcode, 2)
  header.writeUInt16BE(1, 4)
  header.writeUInt16BE(matching.length, 6)
  const answers = matching.map((a) => {
    const data = isIPv4(a) ? Buffer.from(a.split('.').map(Number)) : ipv6Bytes(a)
    const rr = Buffer.alloc(12)
    rr.writeUInt16BE(0xc00c, 0) // pointer to the question's name
    rr.writeUInt16BE(qtype, 2)
    rr.writeUInt16BE(1, 4) // IN
    rr.writeUInt32BE(60, 6)
    rr.writeUInt16BE(data.length, 10)
    return Buffer.concat([rr, data])
  })
  return {
    reply: Buffer.concat([header, question, ...answers]),
    log: { name, type: typeName(qtype), rcode: rcode === 0 ? 'NOERROR' : 'NXDOMAIN' },
  }
}

export function startDns(addr: ListenAddr, records: DnsRecords, onQuery: (q: DnsQueryLog) => void): Promise<Socket> {
  const sock = createSocket({ type: addr.host.includes(':') ? 'udp6' : 'udp4', ipv6Only: addr.host.includes(':') })
  sock.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
    const r = answer(msg, records)
    if (r === null) return
    onQuery({ from: rinfo.address, ...r.log })
    sock.send(r.reply, rinfo.port, rinfo.address)
  })
  return new Promise((resolve, reject) => {
    sock.once('error', reject)
    sock.bind(addr.port, addr.host, () => resolve(sock))
  })
}

async function main(argv: string[]): Promise<void> {
  const listens: ListenAddr[] = []
  const records: DnsRecords = new Map()
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const v = argv[i + 1]
    if (a === '--listen' && v !== undefined) listens.push(parseListen(v))
    else if (a === '--record' && v !== undefined) parseRecord(v, records)
    else throw new Error(`usage: dns --listen ADDR:PORT [--record NAME=IP ...] (got ${a})`)
    i++
  }
  if (listens.length === 0) throw new Error('usage: dns --listen ADDR:PORT [--record NAME=IP ...]')
  for (const l of listens) {
    await startDns(l, records, (q) => console.log(JSON.stringify(q)))
    console.log(`dns listening on ${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}`)
  }
  const stop = () => process.exit(0)
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    console.error(`dns: ${e instanceof Error ? e.message : String(e)}`)
    process.exit(2)
  })
}
