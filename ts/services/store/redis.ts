/**
 * The shared store: every entry is a Redis string with a PX TTL, so Redis
 * itself forgets dead entries, and sorted sets scored by expiry index them for
 * listing and counting. Several stateless `skywire services` replicas point at
 * one Redis and see one state.
 */
import { Redis } from 'ioredis'
import { SkywireError } from '../../contracts/errors.js'
import {
  MAX_SCAN,
  type CounterScope,
  type EntryCounts,
  type Page,
  type ServiceCounts,
  type ServiceEntry,
  type ServiceQuery,
  type ServiceSource,
  type StcprRecord,
  type Store,
  type SudphRecord,
  type TransportEntry,
} from './store.js'

// Compare-and-set in one round trip: the check and the write must not interleave with another replica's.
// KEYS: counter, counter index. ARGV: value, ttlMs, expiresAt. The index only feeds counts().
const ADVANCE = `
local cur = redis.call('GET', KEYS[1])
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], KEYS[1])
return 1
`

// A service registration, atomically: the per-source cap, the removal of the key's previous entry (any
// address or type), the write. The owner key (one per PK) holds "entry key\nsource\ntype" of its entry.
// KEYS: entry, owner, source index, all-entries index, type index.
// ARGV: json, ttlMs, expiresAt, now, max per source, pk, key prefix, source, type.
const PUT_SERVICE = `
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[4])
local n = redis.call('ZCARD', KEYS[3])
if redis.call('ZSCORE', KEYS[3], ARGV[6]) then n = n - 1 end
if n >= tonumber(ARGV[5]) then return 0 end
local prev = redis.call('GET', KEYS[2])
if prev then
  local a = string.find(prev, '\\n', 1, true)
  local b = string.find(prev, '\\n', a + 1, true)
  local oldKey = string.sub(prev, 1, a - 1)
  local oldSrc = string.sub(prev, a + 1, b - 1)
  local oldType = string.sub(prev, b + 1)
  redis.call('ZREM', ARGV[7] .. 'sd:type:' .. oldType, oldKey)
  if oldKey ~= KEYS[1] then
    redis.call('DEL', oldKey)
    redis.call('ZREM', KEYS[4], oldKey)
  end
  if oldSrc ~= ARGV[8] then redis.call('ZREM', ARGV[7] .. 'sd:src:' .. oldSrc, ARGV[6]) end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], KEYS[1] .. '\\n' .. ARGV[8] .. '\\n' .. ARGV[9], 'PX', ARGV[2])
redis.call('ZADD', KEYS[5], ARGV[3], KEYS[1])
redis.call('ZADD', KEYS[4], ARGV[3], KEYS[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[6])
return 1
`

export interface RedisStoreOptions {
  url: string
  /** Prepended to every key, so tests (or deployments) sharing one Redis do not collide. */
  prefix?: string
  connectTimeoutMs?: number
}

export class RedisStore implements Store {
  readonly kind = 'redis' as const
  private readonly redis: Redis
  private readonly p: string

  private constructor(redis: Redis, prefix: string) {
    this.redis = redis
    this.p = prefix
  }

  /** Connects and pings; throws EUNREACHABLE with one line when Redis is not there. */
  static async connect(opts: RedisStoreOptions): Promise<RedisStore> {
    const redis = new Redis(opts.url, {
      lazyConnect: true,
      connectTimeout: opts.connectTimeoutMs ?? 3000,
      maxRetriesPerRequest: 2,
      // While Redis is away, fail requests at once (503, which clients retry with backoff) instead of
      // queueing them and holding every HTTP request open.
      enableOfflineQueue: false,
      // Keep trying after start-up (Redis restarts), but never during the first connect.
      retryStrategy: (times) => Math.min(times * 200, 2000),
    })
    let lastError = ''
    redis.on('error', (err: Error) => {
      // Failures surface on the commands that hit them; without a listener ioredis prints to stderr.
      lastError = err.message
    })
    const timeoutMs = opts.connectTimeoutMs ?? 3000
    let timer: NodeJS.Timeout | undefined
    try {
      // Something that accepts TCP but never speaks Redis must not hang start-up.
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new PingTimeout(timeoutMs)), timeoutMs)
      })
      await Promise.race([redis.connect().then(() => redis.ping()), timeout])
      clearTimeout(timer)
    } catch (err) {
      clearTimeout(timer)
      lastError = err instanceof PingTimeout ? err.message : lastError
      redis.disconnect()
      throw new SkywireError('EUNREACHABLE', `redis at ${redactUrl(opts.url)} is not reachable: ${lastError || (err as Error).message}`, {
        cause: err,
      })
    }
    return new RedisStore(redis, opts.prefix ?? 'skywire:')
  }

  private k(...parts: string[]): string {
    return this.p + parts.join(':')
  }

  async advanceCounter(scope: CounterScope, pk: string, value: number, ttlMs: number): Promise<boolean> {
    if (!(ttlMs > 0)) throw new RangeError('a counter needs a positive TTL')
    const r = await this.redis.eval(
      ADVANCE,
      2,
      this.k('ctr', scope, pk),
      this.k('ctr-index'),
      String(value),
      String(ttlMs),
      String(Date.now() + ttlMs),
    )
    return r === 1
  }

  private async putIndexed(key: string, index: string, json: string, ttlMs: number): Promise<number> {
    const expiresAt = Date.now() + ttlMs
    await this.redis.multi().set(key, json, 'PX', ttlMs).zadd(index, expiresAt, key).exec()
    return expiresAt
  }

  private async getJson<T>(key: string): Promise<T | null> {
    const s = await this.redis.get(key)
    return s === null ? null : (JSON.parse(s) as T)
  }

  private async deleteIndexed(key: string, ...indexes: string[]): Promise<boolean> {
    const m = this.redis.multi().del(key)
    for (const i of indexes) m.zrem(i, key)
    const res = await m.exec()
    return (res?.[0]?.[1] as number) > 0
  }

  /** Live members of an index; prunes the dead ones first so indexes do not grow without bound. */
  private async liveMembers(index: string): Promise<string[]> {
    const now = Date.now()
    const res = await this.redis.multi().zremrangebyscore(index, '-inf', now).zrangebyscore(index, `(${now}`, '+inf', 'LIMIT', 0, MAX_SCAN).exec()
    return (res?.[1]?.[1] as string[]) ?? []
  }

  private async liveCount(index: string): Promise<number> {
    const now = Date.now()
    const res = await this.redis.multi().zremrangebyscore(index, '-inf', now).zcard(index).exec()
    return (res?.[1]?.[1] as number) ?? 0
  }

  private async mgetJson<T>(keys: string[]): Promise<T[]> {
    const out: T[] = []
    // Chunked so one huge MGET does not block Redis for other replicas.
    for (let i = 0; i < keys.length; i += 1000) {
      const vals = await this.redis.mget(...keys.slice(i, i + 1000))
      for (const v of vals) if (v !== null) out.push(JSON.parse(v) as T)
    }
    return out
  }

  async putStcpr(rec: StcprRecord, ttlMs: number): Promise<void> {
    await this.putIndexed(this.k('ar', 'stcpr', rec.pk), this.k('ar', 'stcpr-index'), JSON.stringify(rec), ttlMs)
  }

  async getStcpr(pk: string): Promise<StcprRecord | null> {
    return this.getJson(this.k('ar', 'stcpr', pk))
  }

  async deleteStcpr(pk: string): Promise<boolean> {
    return this.deleteIndexed(this.k('ar', 'stcpr', pk), this.k('ar', 'stcpr-index'))
  }

  async putSudph(rec: SudphRecord, ttlMs: number): Promise<void> {
    await this.putIndexed(this.k('ar', 'sudph', rec.pk), this.k('ar', 'sudph-index'), JSON.stringify(rec), ttlMs)
  }

  async getSudph(pk: string): Promise<SudphRecord | null> {
    return this.getJson(this.k('ar', 'sudph', pk))
  }

  /** The key's live entry, found through its owner record. */
  private async entryOfPk(pk: string): Promise<ServiceEntry | null> {
    const owner = await this.redis.get(this.k('sd', 'owner', pk))
    return owner ? this.getJson<ServiceEntry>(owner.split('\n')[0] ?? '') : null
  }

  async putService(entry: Omit<ServiceEntry, 'expiresAt' | 'since'>, ttlMs: number, source: ServiceSource): Promise<ServiceEntry | null> {
    const key = this.k('sd', 'svc', entry.address)
    const now = Date.now()
    // `since` is read outside the script: two racing heartbeats of one key can only disagree by a few ms.
    const prev = await this.entryOfPk(entry.pk)
    const full: ServiceEntry = { ...entry, since: prev ? (prev.since ?? prev.updatedAt) : now, expiresAt: now + ttlMs }
    const ok = await this.redis.eval(
      PUT_SERVICE,
      5,
      key,
      this.k('sd', 'owner', entry.pk),
      this.k('sd', 'src', source.key),
      this.k('sd', 'index'),
      this.k('sd', 'type', entry.type),
      JSON.stringify(full),
      String(ttlMs),
      String(full.expiresAt),
      String(now),
      String(source.max),
      entry.pk,
      this.p,
      source.key,
      entry.type,
    )
    return ok === 1 ? full : null
  }

  async getService(address: string): Promise<ServiceEntry | null> {
    return this.getJson(this.k('sd', 'svc', address))
  }

  private async servicesOfType(type: string): Promise<ServiceEntry[]> {
    const keys = await this.liveMembers(this.k('sd', 'type', type))
    const entries = await this.mgetJson<ServiceEntry>(keys)
    return entries.filter((e) => e.type === type)
  }

  async listServices(q: ServiceQuery): Promise<Page<ServiceEntry>> {
    const all = (await this.servicesOfType(q.type))
      .filter((e) => (q.country === undefined || e.country === q.country) && (q.version === undefined || e.version === q.version))
      .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0))
    return { entries: all.slice(q.offset, q.offset + q.limit), total: all.length }
  }

  async countServices(type: string): Promise<ServiceCounts> {
    const byCountry: Record<string, number> = {}
    const all = await this.servicesOfType(type)
    for (const e of all) {
      const c = e.country ?? 'unknown'
      byCountry[c] = (byCountry[c] ?? 0) + 1
    }
    return { total: all.length, byCountry }
  }

  async deleteService(address: string): Promise<boolean> {
    const key = this.k('sd', 'svc', address)
    const old = await this.getJson<ServiceEntry>(key)
    if (!old) return false
    const ownerKey = this.k('sd', 'owner', old.pk)
    const owner = (await this.redis.get(ownerKey))?.split('\n')
    if (owner?.[0] === key) {
      await this.redis
        .multi()
        .del(ownerKey)
        .zrem(this.k('sd', 'src', owner[1] ?? ''), old.pk)
        .exec()
    }
    return this.deleteIndexed(key, this.k('sd', 'type', old.type), this.k('sd', 'index'))
  }

  async putTransport(entry: Omit<TransportEntry, 'expiresAt'>, ttlMs: number): Promise<TransportEntry> {
    const key = this.k('tpd', 'tp', entry.id)
    const old = await this.getJson<TransportEntry>(key)
    const full: TransportEntry = { ...entry, expiresAt: Date.now() + ttlMs }
    const m = this.redis.multi()
    if (old) for (const pk of old.edges) m.zrem(this.k('tpd', 'pk', pk), key)
    m.set(key, JSON.stringify(full), 'PX', ttlMs)
    for (const pk of full.edges) m.zadd(this.k('tpd', 'pk', pk), full.expiresAt, key)
    m.zadd(this.k('tpd', 'index'), full.expiresAt, key)
    await m.exec()
    return full
  }

  async getTransport(id: string): Promise<TransportEntry | null> {
    return this.getJson(this.k('tpd', 'tp', id))
  }

  async listTransports(pk: string, offset: number, limit: number): Promise<Page<TransportEntry>> {
    const keys = await this.liveMembers(this.k('tpd', 'pk', pk))
    const all = (await this.mgetJson<TransportEntry>(keys))
      .filter((t) => t.edges.includes(pk))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    return { entries: all.slice(offset, offset + limit), total: all.length }
  }

  async deleteTransport(id: string): Promise<boolean> {
    const key = this.k('tpd', 'tp', id)
    const old = await this.getJson<TransportEntry>(key)
    if (!old) return false
    return this.deleteIndexed(key, ...old.edges.map((pk) => this.k('tpd', 'pk', pk)), this.k('tpd', 'index'))
  }

  async counts(): Promise<EntryCounts> {
    const [stcpr, sudph, services, transports, counters] = await Promise.all([
      this.liveCount(this.k('ar', 'stcpr-index')),
      this.liveCount(this.k('ar', 'sudph-index')),
      this.liveCount(this.k('sd', 'index')),
      this.liveCount(this.k('tpd', 'index')),
      this.liveCount(this.k('ctr-index')),
    ])
    return { stcpr, sudph, services, transports, counters }
  }

  async ping(): Promise<void> {
    await this.redis.ping()
  }

  async close(): Promise<void> {
    try {
      await this.redis.quit()
    } catch {
      this.redis.disconnect()
    }
  }
}

/** A Redis URL may carry a password; never print it. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return '(malformed URL)'
  }
}

/** Our own start-up deadline ran out (as opposed to an error ioredis reported). */
class PingTimeout extends Error {
  constructor(ms: number) {
    super(`no answer to PING within ${ms} ms`)
  }
}
