/**
 * What auto-connect uses of the visor: its VPN client, the services (listing,
 * resolving, health), the host's default route, and the file in dataDir
 * naming the last server (written at each connection, read at start).
 */
import { join } from 'node:path'
import type { Logger } from 'pino'
import { PK_PATTERN } from '../contracts/constants.js'
import { rankedCandidates } from '../discovery/choose.js'
import { ServicesClient } from '../discovery/client.js'
import { defaultProbe, LatencyCache, probeAddresses } from '../discovery/latency.js'
import { defaultRoute } from '../sys/netifc.js'
import { readTrustedFile, writeFileAtomic } from '../sys/safe-file.js'
import { AutoConnect, parseAutoConnect } from './auto-connect.js'
import type { Visor } from './visor.js'

export const LAST_SERVER_FILE = 'vpn-client.last'

export function rememberServer(dataDir: string, pk: string, log: Logger): void {
  try {
    writeFileAtomic(join(dataDir, LAST_SERVER_FILE), `${pk}\n`)
  } catch (err) {
    log.debug({ err: (err as Error).message }, 'cannot save the last VPN server')
  }
}

/** The last server's key, or null (none yet, or a file that is not one key: ignored, never trusted). */
export function lastServer(dataDir: string): string | null {
  try {
    const b = readTrustedFile(join(dataDir, LAST_SERVER_FILE), { what: 'last VPN server file', maxBytes: 256 })
    const pk = b?.toString('utf8').trim() ?? ''
    return PK_PATTERN.test(pk) ? pk : null
  } catch {
    return null
  }
}

export function autoConnectFor(visor: Visor): AutoConnect {
  const setting = visor.config.vpnClient.autoConnect
  const mode = parseAutoConnect(setting)
  const log = visor.log.child({ part: 'auto-connect' })
  // Quick checks with no retries of their own: the loop is the retry.
  const probe = new ServicesClient({ url: visor.config.services.url, timeoutMs: 3000, retries: 0, bypassMark: true })
  const cache = new LatencyCache()
  return new AutoConnect(mode, {
    connect: (pk, timeoutS) => visor.vpnClient.start(pk, { timeoutS }),
    candidates: (country) =>
      rankedCandidates(
        {
          fetchPage: (cc) => (offset, limit) => visor.services.listServices({ type: 'vpn', ...(cc ? { country: cc } : {}), offset, limit }),
          addresses: async (pk) => probeAddresses(await probe.resolve(pk)),
          probe: defaultProbe,
          cache,
        },
        { ...(country ? { country } : {}), self: visor.node.publicKey },
      ),
    lastServer: () => lastServer(visor.config.dataDir),
    networkDown: async () => {
      if ((await defaultRoute(4).catch(() => null)) === null) return 'no default route'
      try {
        await probe.health()
        return null
      } catch (err) {
        return `discovery services unreachable: ${(err as Error).message}`
      }
    },
    log: { info: (o, m) => log.info(o, m), warn: (o, m) => log.warn(o, m) },
  })
}
