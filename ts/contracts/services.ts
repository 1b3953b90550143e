/**
 * What the discovery services store and answer, as the discovery client reads
 * it back: one definition for the server (ts/services), the client
 * (ts/discovery) and the web UI. No node: imports.
 */
import { z } from 'zod'

/** A transport kind. */
export type TransportType = 'stcpr' | 'sudph'

/** A visor's STCPR listening addresses (HOST:PORT). */
export interface StcprRecord {
  pk: string
  addresses: string[]
  updatedAt: number
}

/** A visor's SUDPH binding: the address the resolver saw, and the addresses the visor reported for its LAN. */
export interface SudphRecord {
  pk: string
  observed: string
  local: string[]
  updatedAt: number
}

export interface ServiceEntry {
  /** `pk:port`, the key of the entry. */
  address: string
  pk: string
  type: string
  /** ISO 3166 alpha-2, or null when neither the geo-IP database nor the visor knew. */
  country: string | null
  version: string
  stats: Record<string, number>
  /**
   * When this key's entry was first registered (kept over heartbeats and
   * re-registrations while it stays live). Self-reported stats cannot be
   * checked; how long a server has been listed can, so a client may prefer
   * established servers over fresh ones claiming zero load.
   */
  since?: number
  updatedAt: number
  expiresAt: number
}

export interface TransportEntry {
  id: string
  /** Sorted, so one transport has one spelling whichever edge reports it. */
  edges: [string, string]
  type: TransportType
  updatedAt: number
  expiresAt: number
}

export interface Page<T> {
  entries: T[]
  total: number
}

export interface ServiceCounts {
  total: number
  /** Entries with an unknown country are counted under "unknown". */
  byCountry: Record<string, number>
}

/** The address resolver's answer for one visor (GET /resolve/:pk). */
export interface ResolveResult {
  pk: string
  stcpr: string[]
  /** The SUDPH binding over IPv4 when there is one, else over IPv6. */
  sudph: { observed: string; local: string[] } | null
  /** The SUDPH binding over IPv6 (since 0.4.0; absent when there is none, and from older services). */
  sudph6?: { observed: string; local: string[] }
}

export interface PageResult<T> extends Page<T> {
  offset: number
  limit: number
}

export interface Health {
  status: 'ok'
  store: 'sqlite' | 'redis'
  uptimeS: number
}

// zod schemas of the records the control API passes on to the CLI and the web
// UI (GET /api/vpn/servers, /api/vpn/servers/count); the interfaces above stay
// the store's and client's types, and ts/visor/control-api.ts checks they agree.

export const serviceEntrySchema = z.object({
  address: z.string(),
  pk: z.string(),
  type: z.string(),
  country: z.string().nullable(),
  version: z.string(),
  stats: z.record(z.string(), z.number()),
  since: z.number().optional(),
  updatedAt: z.number(),
  expiresAt: z.number(),
})

export const serviceCountsSchema = z.object({
  total: z.number(),
  byCountry: z.record(z.string(), z.number()),
})
