/**
 * Hops in service discovery, on both stores: a forwarding visor's `type=hop`
 * entry (at pk:4, with its country), and a VPN server that also forwards
 * (its one entry per key is `type=vpn` with the stat `hop: 1`) are what
 * `--hops` and `hop list` see (listHops); a plain VPN server is not a hop.
 * Registering the other type replaces a key's entry, which is why the visor
 * flags its VPN entry instead of registering twice.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ServicesClient } from '../../../ts/discovery/client.js'
import type { Identity } from '../../../ts/native/keys.js'
import type { RunningServices } from '../../../ts/services/server.js'
import { HOP_PORT, HOP_SERVICE_TYPE, listHops } from '../../../ts/vpn/hop-pick.js'
import { identities, startTest, stopSharedRedis, storeFactories } from './helpers.js'

afterAll(stopSharedRedis)

describe.each(storeFactories)('hop entries on $name', (factory) => {
  let svc: RunningServices
  const [hop, both, vpn, reader] = identities(4) as [Identity, Identity, Identity, Identity]
  const client = (id: Identity) => new ServicesClient({ url: svc.url, secretKey: id.secretKey, retries: 0 })

  beforeEach(async () => {
    svc = await startTest(await factory.make())
  })
  afterEach(async () => {
    await svc?.close()
  })

  it('lists type=hop and flagged VPN entries, with their countries, and not plain VPN servers', async () => {
    const { entry } = await client(hop).registerService({
      port: HOP_PORT,
      type: HOP_SERVICE_TYPE,
      version: '0.4.0',
      country: 'FR',
      stats: { connectedClients: 0 },
    })
    expect(entry).toMatchObject({ address: `${hop.publicKey}:${HOP_PORT}`, type: 'hop', country: 'FR' })
    await client(both).registerService({ port: 3, type: 'vpn', version: '0.4.0', country: 'NL', stats: { connectedClients: 1, hop: 1 } })
    await client(vpn).registerService({ port: 3, type: 'vpn', version: '0.4.0', country: 'DE', stats: { connectedClients: 0 } })
    const hops = await listHops(client(reader))
    expect(hops.map((h) => [h.pk, h.country]).sort()).toEqual(
      [
        [hop.publicKey, 'FR'],
        [both.publicKey, 'NL'],
      ].sort(),
    )
    expect((await listHops(client(reader), { exclude: [hop.publicKey] })).map((h) => h.pk)).toEqual([both.publicKey])
  })

  it("a key's hop entry replaces its VPN entry (one entry per key): why the visor flags the VPN entry instead", async () => {
    await client(both).registerService({ port: 3, type: 'vpn', version: '0.4.0', stats: { connectedClients: 0 } })
    await client(both).registerService({ port: HOP_PORT, type: HOP_SERVICE_TYPE, version: '0.4.0', stats: { connectedClients: 0 } })
    expect((await client(reader).listServices({ type: 'vpn' })).total).toBe(0)
    expect((await client(reader).listServices({ type: HOP_SERVICE_TYPE })).total).toBe(1)
  })
})
