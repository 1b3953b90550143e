/**
 * Every VPN server in service discovery, page after page. The services answer
 * at most 100 entries a page; a list that stopped there said nothing of the
 * rest. The pager trusts nothing the pages claim: a `total` that lies, a page
 * that repeats, a list that never ends all stop at a bound, and entries are
 * told apart by their address.
 */
import type { PageResult, ServiceEntry } from '../contracts/services.js'

/** One page of the list: `offset` and `limit` as the services take them. */
export type FetchPage = (offset: number, limit: number) => Promise<PageResult<ServiceEntry>>

export interface ListAllOptions {
  /** Entries asked per page (the services' and the control API's maximum is 100). */
  pageSize?: number
  /** Stop after this many distinct entries, whatever the pages say is left. */
  maxEntries?: number
  /** Stop after this many pages (a bound on requests when pages keep coming back short or repeated). */
  maxPages?: number
}

export interface AllServers {
  entries: ServiceEntry[]
  /** The services' last word on the total (may be wrong; `entries.length` is what was seen). */
  total: number
  /** True when a bound stopped the paging before the list ended. */
  truncated: boolean
}

export const PAGE_SIZE = 100
export const MAX_ENTRIES = 10_000

export async function listAllServers(fetchPage: FetchPage, o: ListAllOptions = {}): Promise<AllServers> {
  const pageSize = Math.min(Math.max(1, Math.floor(o.pageSize ?? PAGE_SIZE)), PAGE_SIZE)
  const maxEntries = o.maxEntries ?? MAX_ENTRIES
  const maxPages = o.maxPages ?? Math.ceil(maxEntries / pageSize) + 1
  const seen = new Map<string, ServiceEntry>()
  let total = 0
  let offset = 0
  for (let page = 0; ; page++) {
    if (page >= maxPages || seen.size >= maxEntries) return { entries: [...seen.values()], total, truncated: true }
    const p = await fetchPage(offset, pageSize)
    const entries = Array.isArray(p?.entries) ? p.entries : []
    total = Number.isFinite(p?.total) ? p.total : seen.size
    let fresh = 0
    for (const e of entries) {
      if (typeof e?.address !== 'string' || seen.has(e.address)) continue
      if (seen.size >= maxEntries) return { entries: [...seen.values()], total, truncated: true }
      seen.set(e.address, e)
      fresh++
    }
    // The end: a short or empty page, or one with nothing new (a server that ignores the offset).
    // `total` is never trusted to end or extend the paging (it may be a lie either way): a list of
    // exactly N pages costs one more request, for an empty page.
    // A server may answer fewer than asked per page, and says so in `limit`.
    const served = Number.isInteger(p?.limit) && p.limit > 0 && p.limit < pageSize ? p.limit : pageSize
    if (entries.length < served || fresh === 0) break
    offset += entries.length
  }
  return { entries: [...seen.values()], total, truncated: false }
}
