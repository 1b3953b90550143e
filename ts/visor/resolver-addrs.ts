/**
 * The address resolver's UDP addresses the node binds to, one per family: a
 * visor keeps a SUDPH binding over each family its socket and the resolver
 * share (docs/wire.md section 3). From the config:
 *
 *   services.udp   HOST:PORT; a name resolves to every family it has (A and
 *                  AAAA), an IP literal is that one family;
 *   services.udp6  optional second HOST:PORT, for when `udp` is a literal (the
 *                  resolver's IPv6 address beside an IPv4 `udp`, or the other
 *                  way round).
 *
 * Of several addresses of one family the first wins (the core keeps one per family).
 */
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { SkywireError } from '../contracts/errors.js'
import { parseHostPort } from '../config/schema.js'

export interface ResolverAddrs {
  /** The first address (IPv4 when the name has both). */
  resolver: string
  /** The other family's address, when there is one. */
  resolver6?: string
}

type Lookup = (host: string) => Promise<{ address: string; family: number }[]>

const systemLookup: Lookup = (host) => lookup(host, { all: true })

export async function resolverAddrs(services: { udp: string; udp6?: string }, look: Lookup = systemLookup): Promise<ResolverAddrs> {
  const found = [...(await addrsOf('services.udp', services.udp, look))]
  if (services.udp6) found.push(...(await addrsOf('services.udp6', services.udp6, look)))
  const v4 = found.find((a) => a.family === 4)
  const v6 = found.find((a) => a.family === 6)
  const [first, second] = [v4, v6].filter((a) => a !== undefined)
  if (!first) throw new SkywireError('EUNREACHABLE', `the address resolver ${services.udp} has no IPv4 or IPv6 address`)
  return second ? { resolver: first.text, resolver6: second.text } : { resolver: first.text }
}

async function addrsOf(field: string, hostPort: string, look: Lookup): Promise<{ family: 4 | 6; text: string }[]> {
  const hp = parseHostPort(hostPort)
  if (!hp) throw new SkywireError('ECONFIG', `${field} must be HOST:PORT, got ${hostPort}`)
  const fmt = (ip: string, family: number) => ({
    family: family === 6 ? (6 as const) : (4 as const),
    text: family === 6 ? `[${ip}]:${hp.port}` : `${ip}:${hp.port}`,
  })
  const lit = isIP(hp.host)
  if (lit) return [fmt(hp.host, lit)]
  let all: { address: string; family: number }[]
  try {
    all = await look(hp.host)
  } catch {
    throw new SkywireError('EUNREACHABLE', `cannot resolve the address resolver host ${hp.host}`)
  }
  if (all.length === 0) throw new SkywireError('EUNREACHABLE', `cannot resolve the address resolver host ${hp.host}`)
  // IPv4 first: the order the resolver's clients have always used.
  return all.map((a) => fmt(a.address, a.family)).sort((a, b) => a.family - b.family)
}
