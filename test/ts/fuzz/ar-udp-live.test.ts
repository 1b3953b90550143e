/**
 * The resolver's UDP socket (ts/services/ar/udp-server.ts) fed the same
 * datagrams as the parser properties, for real over loopback: whatever
 * arrives, every datagram is handled (counted in /metrics) without an
 * internal failure, every answer is a well-formed resolver message, and an
 * honest visor still gets its bind answered afterwards.
 */
import { createSocket, type Socket } from 'node:dgram'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateIdentity } from '../../../ts/native/keys.js'
import { native } from '../../../ts/native/loader.js'
import { MSG, encodeBind, parseMessage } from '../../../ts/services/ar/udp-wire.js'
import type { RunningServices } from '../../../ts/services/server.js'
import { SqliteStore } from '../../../ts/services/store/sqlite.js'
import { eventually, startTest } from '../services/helpers.js'
import { datagram, mutate, mutation, validDatagram } from '../../unit/helpers/ar-arbitraries.js'
import { fc, params, timeoutFor } from '../../unit/helpers/fc.js'

const RUNS = 4
const BATCH = 60

/** Datagrams the resolver has handled so far (its own errors, type "error" with a numeric code, are not inputs). */
async function handled(svc: RunningServices): Promise<{ total: number; internal: number }> {
  const text = await (await fetch(`${svc.url}/metrics`)).text()
  let total = 0
  let internal = 0
  for (const m of text.matchAll(/^skywire_udp_datagrams_total\{type="([^"]+)",result="([^"]+)"\} (\d+)$/gm)) {
    if (m[1] === 'error' && /^\d+$/.test(m[2]!)) continue
    total += Number(m[3])
    if (m[1] === 'internal') internal += Number(m[3])
  }
  return { total, internal }
}

describe('resolver UDP socket under arbitrary datagrams (properties, real socket)', () => {
  let svc: RunningServices
  let sock: Socket
  const replies: Buffer[] = []
  beforeAll(async () => {
    // Limits out of the way: what is under test is handling, not rate limiting.
    svc = await startTest(new SqliteStore({ file: ':memory:' }), {
      udp: { host: '127.0.0.1', port: 0 },
      udpRate: { ratePerSec: 1e6, burst: 1e6 },
      udpTotalRate: { ratePerSec: 1e6, burst: 1e6 },
    })
    sock = createSocket('udp4')
    sock.on('message', (m) => replies.push(m))
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r))
  })
  afterAll(async () => {
    sock?.close()
    await svc?.close()
  })

  it(
    'every datagram is handled without an internal failure, and every answer is a resolver message',
    async () => {
      const input = fc.oneof(
        datagram,
        validDatagram,
        fc.tuple(validDatagram, mutation).map(([b, m]) => mutate(b, m)),
      )
      await fc.assert(
        fc.asyncProperty(fc.array(input, { minLength: BATCH, maxLength: BATCH }), async (batch) => {
          const before = await handled(svc)
          replies.length = 0
          for (const b of batch) sock.send(b, svc.udp!.port, '127.0.0.1')
          // Loopback does not lose datagrams this small; the bound only turns a lost one into a failure.
          await eventually(async () => (await handled(svc)).total >= before.total + batch.length, 20_000)
          const after = await handled(svc)
          expect(after.internal).toBe(before.internal)
          for (const r of replies) {
            const m = parseMessage(r)
            expect(m, r.toString('hex')).not.toBeNull()
            expect(['bindChallenge', 'bindAck', 'peerAddress', 'error']).toContain(m!.type)
          }
        }),
        params(RUNS),
      )
      // And the resolver still serves an honest visor.
      const id = generateIdentity()
      replies.length = 0
      sock.send(
        encodeBind({ pk: id.publicKey, timestampMs: Date.now(), local: [] }, (m) => native.sign(id.secretKey, m)),
        svc.udp!.port,
        '127.0.0.1',
      )
      await eventually(async () => replies.some((r) => r[0] === MSG.bindChallenge || r[0] === MSG.bindAck), 10_000)
      expect((await fetch(`${svc.url}/health`)).status).toBe(200)
    },
    timeoutFor(RUNS, 5000),
  )
})
