/** Picks the store from the command line: Redis when a URL is given, else the SQLite file. */
import { RedisStore } from './redis.js'
import { SqliteStore } from './sqlite.js'
import type { Store } from './store.js'

export interface StoreChoice {
  redis?: string
  redisPrefix?: string
  db?: string
}

export const DEFAULT_DB_FILE = 'skywire-data/services.db'

export async function openStore(choice: StoreChoice): Promise<Store> {
  if (choice.redis !== undefined) return RedisStore.connect({ url: choice.redis, prefix: choice.redisPrefix })
  return new SqliteStore({ file: choice.db ?? DEFAULT_DB_FILE })
}
