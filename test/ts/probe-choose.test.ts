/**
 * The ranking's probe against a real node over loopback: the signed SUDPH
 * probe when the server has a binding (counted by the node), a TCP connect to
 * its STCPR address when it has none or the key does not answer there.
 */
import { createServer, type Server } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defaultProbe } from '../../ts/discovery/latency.js'
import { generateIdentity } from '../../ts/native/keys.js'
import { Node } from '../../ts/native/node.js'

describe('defaultProbe', () => {
  let node: Node
  let tcp: Server
  let stcpr = ''
  const id = generateIdentity()

  beforeAll(async () => {
    node = await Node.start({ secretKey: id.secretKey, sudphListen: '127.0.0.1:0' })
    tcp = createServer((s) => s.destroy())
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r))
    stcpr = `127.0.0.1:${(tcp.address() as { port: number }).port}`
  })
  afterAll(async () => {
    node?.close()
    await new Promise<void>((r) => tcp.close(() => r()))
  })

  it('uses the signed probe at the SUDPH binding', async () => {
    const before = node.limitStats().probesAnswered
    const ms = await defaultProbe({ pk: id.publicKey, addresses: [], sudph: [node.sudphAddr as string] }, 1500)
    expect(ms).not.toBeNull()
    expect(ms as number).toBeLessThan(1000)
    expect(node.limitStats().probesAnswered).toBe(before + 1)
  })

  it('falls back to STCPR when the key does not answer at the binding, within the timeout', async () => {
    const other = generateIdentity().publicKey
    const t = Date.now()
    const ms = await defaultProbe({ pk: other, addresses: [stcpr], sudph: [node.sudphAddr as string] }, 1000)
    expect(ms).not.toBeNull()
    expect(Date.now() - t).toBeLessThan(1200)
  })

  it('is null when nothing answers, within the timeout; garbage addresses are skipped', async () => {
    const other = generateIdentity().publicKey
    const t = Date.now()
    expect(await defaultProbe({ pk: other, addresses: ['nonsense'], sudph: ['also nonsense', node.sudphAddr as string] }, 600)).toBeNull()
    expect(Date.now() - t).toBeLessThan(900)
  })
})
