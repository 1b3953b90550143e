/**
 * The VPN server's IPv6 side on the host: its ULA /64 (RFC 4193), chosen at
 * random once and kept in a small file next to its state file so clients see
 * the same network across restarts, and whether the uplink has the global
 * IPv6 that NAT66 needs.
 */
import { randomBytes } from 'node:crypto'
import { SkywireError } from '../contracts/errors.js'
import { contains, formatPrefix, isPrivate, parsePrefix, type Prefix } from './cidr.js'
import { hostAddresses, type InterfaceAddress } from './netifc.js'
import { readTrustedFile, writeFileAtomic } from './safe-file.js'

const WHAT = 'VPN server ULA file'
const ULA8 = parsePrefix('fd00::/8')

/**
 * A random ULA /64 (RFC 4193 section 3.2: fd00::/8, a 40-bit random global
 * ID, subnet ID 0). The RFC's SHA-1 over time and EUI-64 only serves to get
 * 40 random bits; a CSPRNG gives them directly.
 */
export function randomUla64(random: (n: number) => Buffer = randomBytes): string {
  const id = random(5)
  if (id.length !== 5) throw new SkywireError('EINTERNAL', 'random source gave the wrong length')
  let v = 0xfdn
  for (const b of id) v = (v << 8n) | BigInt(b)
  return formatPrefix({ family: 6, addr: v << 80n, len: 64 })
}

/** The file's one line, checked: a /64 inside fd00::/8 written the canonical way, or null. */
export function parseUlaLine(text: string): string | null {
  const line = text.trim()
  try {
    const p = parsePrefix(line)
    if (p.family !== 6 || p.len !== 64 || !contains(ULA8, p) || formatPrefix(p) !== line) return null
    return line
  } catch {
    return null
  }
}

/**
 * The server's ULA /64 from `path`, or a new random one written there
 * (atomically, 0644: it is no secret). A file that does not hold one (edited
 * by hand, truncated) is refused with a one-line error rather than silently
 * replaced: the clients' addresses would change under them.
 */
export function loadOrCreateUla64(path: string, random?: (n: number) => Buffer): string {
  const buf = readTrustedFile(path, { what: WHAT, maxBytes: 256 })
  if (buf !== null) {
    const ula = parseUlaLine(buf.toString('utf8'))
    if (ula === null) throw new SkywireError('ESTATE', `${WHAT} ${path} does not hold one fdXX:XXXX:XXXX::/64 line; fix or delete it`)
    return ula
  }
  const ula = randomUla64(random)
  try {
    writeFileAtomic(path, `${ula}\n`, { mode: 0o644 })
  } catch (e) {
    throw new SkywireError('ESTATE', `cannot write ${WHAT} ${path}: ${(e as Error).message}`, { cause: e })
  }
  return ula
}

/**
 * True when `netifc` has a global IPv6 address NAT66 can hide clients
 * behind: scope global and not private (ULA, link-local, loopback). The
 * documentation prefix 2001:db8::/32 counts, so the lab's fake internet does.
 */
export function hasGlobalIpv6(addrs: readonly InterfaceAddress[], netifc: string): boolean {
  return addrs.some((a) => a.ifname === netifc && a.family === 6 && a.scope === 'global' && !isPrivate(`${a.address}/128`))
}

/** hasGlobalIpv6 over this namespace's addresses now. */
export async function uplinkHasGlobalIpv6(netifc: string): Promise<boolean> {
  return hasGlobalIpv6(await hostAddresses(), netifc)
}

/**
 * The pool's prefix length bounds for IPv6: a /64 is what RFC 4193 gives a
 * subnet; an operator's routed pool6 may be anything from a /32 to a /120. Broader than /32 is
 * no pool anyone routes to one server; narrower than /120 has too few addresses.
 */
export const POOL6_PREFIX_MIN = 32
export const POOL6_PREFIX_MAX = 120

/** A v6 network the server may hand addresses from: no link-local, multicast, loopback, v4-mapped or other special range. */
export function parsePool6(cidr: string): Prefix {
  let p: Prefix
  // One way to write it (parsePrefix alone would read '2001:db8::/64/1' as the /64).
  if (!/^[0-9A-Fa-f:]{2,39}\/[0-9]{1,3}$/.test(cidr)) throw new SkywireError('EUSAGE', `not an IPv6 network: ${JSON.stringify(cidr)}`)
  try {
    p = parsePrefix(cidr)
  } catch {
    throw new SkywireError('EUSAGE', `not an IPv6 network: ${JSON.stringify(cidr)}`)
  }
  if (p.family !== 6) throw new SkywireError('EUSAGE', `not an IPv6 network: ${JSON.stringify(cidr)}`)
  if (p.len < POOL6_PREFIX_MIN || p.len > POOL6_PREFIX_MAX)
    throw new SkywireError('EUSAGE', `IPv6 pool ${JSON.stringify(cidr)} must be /${POOL6_PREFIX_MIN} to /${POOL6_PREFIX_MAX}`)
  const ula = contains(parsePrefix('fc00::/7'), p)
  const global = contains(parsePrefix('2000::/3'), p)
  if (!ula && !global) throw new SkywireError('EUSAGE', `IPv6 pool ${JSON.stringify(cidr)} is neither global unicast (2000::/3) nor ULA (fc00::/7)`)
  return p
}
