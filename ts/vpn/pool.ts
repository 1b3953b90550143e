/**
 * The VPN server's address pool. The server's TUN holds the first address of
 * the pool (the gateway); each client gets one address that lies in none of
 * the networks the client said it already uses, so its LAN never clashes with
 * its tunnel.
 */
import { BlockList, isIPv4 } from 'node:net'
import { SkywireError } from '../errors.js'

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

export class AddressPool {
  readonly gateway: string
  readonly prefix: number
  private readonly first: number
  private readonly last: number
  private readonly used = new Map<string, string>() // address → owner
  private readonly owners = new Map<string, string>() // owner → address

  constructor(cidr: string) {
    const { base, prefix } = parseCidr4(cidr)
    if (prefix > 30) throw new SkywireError('EUSAGE', `pool ${cidr} is too small (prefix at most /30)`)
    this.prefix = prefix
    this.gateway = intToIpv4(base + 1)
    this.first = base + 2
    // The last address is the broadcast address of the subnet.
    this.last = base + 2 ** (32 - prefix) - 2
  }

  /** An address for `owner` (a session key) outside `avoid` (client's networks), or null. */
  allocate(owner: string, avoid: readonly string[] = []): string | null {
    const prev = this.owners.get(owner)
    if (prev) return prev
    const block = new BlockList()
    for (const net of avoid) {
      const [a, p] = net.split('/')
      if (a && isIPv4(a)) block.addSubnet(a, Number(p), 'ipv4')
    }
    for (let n = this.first; n <= this.last; n++) {
      const ip = intToIpv4(n)
      if (this.used.has(ip) || block.check(ip, 'ipv4')) continue
      this.used.set(ip, owner)
      this.owners.set(owner, ip)
      return ip
    }
    return null
  }

  release(owner: string): void {
    const ip = this.owners.get(owner)
    if (ip) {
      this.owners.delete(owner)
      this.used.delete(ip)
    }
  }

  get inUse(): number {
    return this.used.size
  }
}
