/** Picks the store from the command line: Redis when a URL is given, else the SQLite file. */
import { homedir } from 'node:os'
import { join } from 'node:path'
import { RedisStore } from './redis.js'
import { SqliteStore } from './sqlite.js'
import type { Store } from './store.js'

export interface StoreChoice {
  redis?: string
  redisPrefix?: string
  db?: string
}

/**
 * The default data dir matches the visor config's (`/var/lib/skywire`) for root, and the XDG data dir for
 * anyone else; SKYWIRE_DATA_DIR overrides both. Never the working directory, which may be a source tree.
 */
export function defaultDbFile(env: NodeJS.ProcessEnv = process.env): string {
  const dir =
    env.SKYWIRE_DATA_DIR || (process.getuid?.() === 0 ? '/var/lib/skywire' : join(env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'skywire'))
  return join(dir, 'services.db')
}

export async function openStore(choice: StoreChoice): Promise<Store> {
  if (choice.redis !== undefined) return RedisStore.connect({ url: choice.redis, prefix: choice.redisPrefix })
  return new SqliteStore({ file: choice.db ?? defaultDbFile() })
}
