/**
 * The VPN server's address pool. The server's TUN holds the first address of
 * the pool (the gateway); each client gets one address that lies in none of
 * the networks the client said it already uses, so its LAN never clashes with
 * its tunnel.
 */
import { isIPv4 } from 'node:net'
import { SkywireError } from '../contracts/errors.js'
import { formatIp, formatPrefix } from '../sys/cidr.js'
import { parsePool6 } from '../sys/server-ula.js'

export { POOL6_PREFIX_MAX, POOL6_PREFIX_MIN, parsePool6 } from '../sys/server-ula.js'

export function ipv4ToInt(ip: string): number {
  const p = ip.split('.').map(Number)
  return (((p[0] ?? 0) << 24) | ((p[1] ?? 0) << 16) | ((p[2] ?? 0) << 8) | (p[3] ?? 0)) >>> 0
}

export function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')
}

export function parseCidr4(cidr: string): { base: number; prefix: number } {
  const [addr, p] = cidr.split('/')
  const prefix = Number(p)
  if (!addr || !isIPv4(addr) || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) {
    throw new SkywireError('EUSAGE', `not an IPv4 network: ${cidr}`)
  }
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
  return { base: (ipv4ToInt(addr) & mask) >>> 0, prefix }
}

/** Why allocation found nothing: the client's networks cover the pool, or every free address is taken. */
export type AllocateResult = { ok: true; ip: string } | { ok: false; reason: 'covered' | 'exhausted' }

export class AddressPool {
  readonly gateway: string
  readonly prefix: number
  private readonly first: number
  private readonly last: number
  private readonly used = new Map<number, string>() // address → owner
  private readonly owners = new Map<string, number>() // owner → address
  /** Every address in [first, lowFree) is in use: the common case (no usedNets near the start) skips them in one step. */
  private lowFree: number

  constructor(cidr: string) {
    const { base, prefix } = parseCidr4(cidr)
    if (prefix > 30) throw new SkywireError('EUSAGE', `pool ${cidr} is too small (prefix at most /30)`)
    this.prefix = prefix
    this.gateway = intToIpv4(base + 1)
    this.first = base + 2
    // The last address is the broadcast address of the subnet.
    this.last = base + 2 ** (32 - prefix) - 2
    this.lowFree = this.first
  }

  /** An address for `owner` (a session key) outside `avoid` (client's networks), or null. */
  allocate(owner: string, avoid: readonly string[] = []): string | null {
    const r = this.allocateOrWhy(owner, avoid)
    return r.ok ? r.ip : null
  }

  /**
   * Like allocate, saying why there is no address. The cost never depends on
   * the pool's size: the client's networks are cut out of [first, last] as
   * ranges (sorted and merged, at most a hello's MAX_USED_NETS of them), and
   * only the gaps between them are searched, skipping addresses other clients
   * hold. So one hello costs O(k log k + clients), where the old walk over
   * every address (BlockList.check each) took 30 s and more on a /8.
   */
  allocateOrWhy(owner: string, avoid: readonly string[] = []): AllocateResult {
    const prev = this.owners.get(owner)
    if (prev !== undefined) return { ok: true, ip: intToIpv4(prev) }
    let covered = true
    for (const [lo, hi] of this.freeRanges(avoid)) {
      covered = false
      // Each used address is stepped over at most once per call: the gaps are disjoint.
      for (let n = Math.max(lo, this.lowFree); n <= hi; n++) {
        if (this.used.has(n)) continue
        this.used.set(n, owner)
        this.owners.set(owner, n)
        while (this.used.has(this.lowFree)) this.lowFree++
        return { ok: true, ip: intToIpv4(n) }
      }
    }
    return { ok: false, reason: covered ? 'covered' : 'exhausted' }
  }

  /** [first, last] minus the IPv4 networks in `avoid`, as inclusive ranges in ascending order. */
  private freeRanges(avoid: readonly string[]): Array<[number, number]> {
    const blocked: Array<[number, number]> = []
    for (const net of avoid) {
      const [a] = net.split('/')
      if (!a || !isIPv4(a)) continue // IPv6 networks never clash with an IPv4 pool
      let p
      try {
        p = parseCidr4(net)
      } catch {
        continue // the hello schema already refused these; callers without it lose nothing
      }
      const lo = Math.max(p.base, this.first)
      const hi = Math.min(p.base + 2 ** (32 - p.prefix) - 1, this.last)
      if (lo <= hi) blocked.push([lo, hi])
    }
    blocked.sort((x, y) => x[0] - y[0])
    const free: Array<[number, number]> = []
    let cursor = this.first
    for (const [lo, hi] of blocked) {
      if (lo > cursor) free.push([cursor, lo - 1])
      cursor = Math.max(cursor, hi + 1)
    }
    if (cursor <= this.last) free.push([cursor, this.last])
    return free
  }

  release(owner: string): void {
    const n = this.owners.get(owner)
    if (n !== undefined) {
      this.owners.delete(owner)
      this.used.delete(n)
      if (n < this.lowFree) this.lowFree = n
    }
  }

  get inUse(): number {
    return this.used.size
  }
}

/**
 * The v6 side of the pool: the gateway is the network's ::1, each client
 * one address from ::2 upwards, the lowest free one (clients are few next to
 * a /64, so the search is over the clients, never over the pool).
 */
export class AddressPool6 {
  readonly gateway: string
  readonly prefix: number
  readonly network: string
  private readonly base: bigint
  private readonly size: bigint
  private readonly used = new Set<bigint>() // host parts in use
  private readonly owners = new Map<string, bigint>()

  constructor(cidr: string) {
    const p = parsePool6(cidr)
    this.base = p.addr
    this.prefix = p.len
    this.network = formatPrefix(p)
    this.size = 1n << BigInt(128 - p.len)
    this.gateway = formatIp(6, p.addr + 1n)
  }

  /** An address for `owner`, the same one while it holds it; null when every address is taken. */
  allocate(owner: string): string | null {
    const prev = this.owners.get(owner)
    if (prev !== undefined) return formatIp(6, this.base + prev)
    // The last address is left out: some routers treat the all-ones host as special.
    for (let n = 2n; n < this.size - 1n; n++) {
      if (this.used.has(n)) continue
      this.used.add(n)
      this.owners.set(owner, n)
      return formatIp(6, this.base + n)
    }
    return null
  }

  release(owner: string): void {
    const n = this.owners.get(owner)
    if (n === undefined) return
    this.owners.delete(owner)
    this.used.delete(n)
  }
}
