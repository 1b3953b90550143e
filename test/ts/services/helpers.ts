/** Shared set-up of the services tests: store factories (SQLite and Redis), in-process servers, identities. */
import { randomBytes } from 'node:crypto'
import { pino } from 'pino'
import { generateIdentity, type Identity } from '../../../ts/native/keys.js'
import { RedisStore } from '../../../ts/services/store/redis.js'
import { SqliteStore } from '../../../ts/services/store/sqlite.js'
import type { Store } from '../../../ts/services/store/store.js'
import { startServices, type RunningServices, type ServicesOptions } from '../../../ts/services/server.js'
import { startRedis, type RedisProcess } from '../helpers/redis.js'

let redis: Promise<RedisProcess> | null = null

/** One redis-server per test file, started on first use; call stopSharedRedis in afterAll. */
export function sharedRedis(): Promise<RedisProcess> {
  redis ??= startRedis()
  return redis
}

export async function stopSharedRedis(): Promise<void> {
  if (!redis) return
  const r = await redis.catch(() => null)
  redis = null
  await r?.stop()
}

export interface StoreFactory {
  name: 'sqlite' | 'redis'
  /** A fresh, empty store (its own Redis key prefix). */
  make(): Promise<Store>
}

export const storeFactories: StoreFactory[] = [
  { name: 'sqlite', make: async () => new SqliteStore({ file: ':memory:' }) },
  {
    name: 'redis',
    make: async () => RedisStore.connect({ url: (await sharedRedis()).url, prefix: `test-${randomBytes(6).toString('hex')}:` }),
  },
]

export const quietLogger = () => pino({ level: 'silent' })

export async function startTest(store: Store, opts: Partial<ServicesOptions> = {}): Promise<RunningServices> {
  return startServices({
    http: { host: '127.0.0.1', port: 0 },
    udp: null,
    store,
    geoip: 'off',
    logger: quietLogger(),
    httpRate: null,
    ...opts,
  })
}

export function identities(n: number): Identity[] {
  return Array.from({ length: n }, () => generateIdentity())
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Poll until `fn` is true; bounded, so a broken expiry fails instead of hanging. */
export async function eventually(fn: () => Promise<boolean>, timeoutMs = 5000, stepMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await fn()) return
    await sleep(stepMs)
  }
  throw new Error(`condition not met within ${timeoutMs} ms`)
}
