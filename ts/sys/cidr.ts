/**
 * IPv4/IPv6 prefixes as bigints: network addresses of interface subnets and
 * removing prefixes contained in others (nft interval sets refuse overlapping
 * elements, and the server's LAN usually sits inside 192.168.0.0/16).
 */
import { isIP } from 'node:net'
import { SkywireError } from '../contracts/errors.js'

export type Family = 4 | 6

export interface Prefix {
  family: Family
  /** The network address (host bits zero). */
  addr: bigint
  len: number
}

const bits = (f: Family) => (f === 4 ? 32 : 128)

export function familyOf(ip: string): Family | null {
  const f = isIP(ip)
  return f === 4 ? 4 : f === 6 ? 6 : null
}

export function parseIp(ip: string): { family: Family; value: bigint } {
  const family = familyOf(ip)
  if (family === 4) {
    return { family, value: ip.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n) }
  }
  if (family === 6) return { family, value: parseV6(ip) }
  throw new SkywireError('EUSAGE', `not an IP address: ${JSON.stringify(ip)}`)
}

function parseV6(ip: string): bigint {
  let s = ip.split('%')[0] as string
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s)
  if (v4) {
    const n = parseIp(v4[1] as string).value
    s = s.slice(0, -(v4[1] as string).length) + `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`
  }
  const [head, tail] = s.includes('::') ? (s.split('::') as [string, string]) : [s, undefined]
  const h = head === '' ? [] : head.split(':')
  const t = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t]
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n)
}

export function formatIp(family: Family, v: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join('.')
  const g = Array.from({ length: 8 }, (_, i) => Number((v >> BigInt(112 - 16 * i)) & 0xffffn))
  // RFC 5952: compress the longest run (>= 2) of zero groups, the first one on a tie.
  let best = -1
  let bestLen = 1
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && g[j] === 0) j++
    if (j - i > bestLen) {
      best = i
      bestLen = j - i
    }
    i = j
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':')
  if (best < 0) return hex(g)
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`
}

/** `a.b.c.d/n`, `x::/n`, or a bare address (a host prefix). Host bits are cleared. */
export function parsePrefix(cidr: string): Prefix {
  const [ip, lenStr] = cidr.split('/')
  const { family, value } = parseIp(ip ?? '')
  const len = lenStr === undefined ? bits(family) : Number(lenStr)
  if (!Number.isInteger(len) || len < 0 || len > bits(family) || (lenStr !== undefined && !/^\d+$/.test(lenStr))) {
    throw new SkywireError('EUSAGE', `bad prefix length in ${JSON.stringify(cidr)}`)
  }
  return { family, addr: value & mask(family, len), len }
}

function mask(f: Family, len: number): bigint {
  const b = BigInt(bits(f))
  return ((1n << b) - 1n) ^ ((1n << (b - BigInt(len))) - 1n)
}

export function formatPrefix(p: Prefix): string {
  return `${formatIp(p.family, p.addr)}/${p.len}`
}

/** The subnet an interface address belongs to, e.g. 192.168.50.1/24 -> 192.168.50.0/24. */
export function networkOf(addr: string, len: number): string {
  return formatPrefix(parsePrefix(`${addr}/${len}`))
}

export function contains(outer: Prefix, inner: Prefix): boolean {
  return outer.family === inner.family && outer.len <= inner.len && (inner.addr & mask(outer.family, outer.len)) === outer.addr
}

/** Sorted, de-duplicated, without prefixes that another one already covers. */
export function minimalPrefixes(cidrs: readonly string[]): string[] {
  const ps = cidrs.map(parsePrefix).sort((a, b) => a.family - b.family || a.len - b.len || (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0))
  const kept: Prefix[] = []
  for (const p of ps) if (!kept.some((k) => contains(k, p))) kept.push(p)
  return kept.sort((a, b) => a.family - b.family || (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : a.len - b.len)).map(formatPrefix)
}

/** True for RFC 1918, CGNAT, loopback, link-local, ULA: addresses that never mean "the internet". */
export function isPrivate(cidr: string): boolean {
  const p = parsePrefix(cidr)
  return PRIVATE.some((q) => contains(parsePrefix(q), p))
}

const PRIVATE = [
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  'fc00::/7',
  'fe80::/10',
  '::1/128',
]
