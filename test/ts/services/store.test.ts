/** The store contract itself, on both implementations: counters are atomic and monotonic, TTLs hide entries. */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { Store } from '../../../ts/services/store/store.js'
import { sleep, stopSharedRedis, storeFactories } from './helpers.js'

afterAll(stopSharedRedis)

const PK = 'ab'.repeat(32)

describe.each(storeFactories)('store contract on $name', (factory) => {
  let store: Store
  beforeEach(async () => {
    store = await factory.make()
  })
  afterEach(async () => {
    await store.close()
  })

  it('a counter only moves forward, per scope and PK', async () => {
    expect(await store.advanceCounter('http', PK, 10, 0)).toBe(true)
    expect(await store.advanceCounter('http', PK, 10, 0)).toBe(false)
    expect(await store.advanceCounter('http', PK, 9, 0)).toBe(false)
    expect(await store.advanceCounter('http', PK, 11, 0)).toBe(true)
    expect(await store.advanceCounter('udp-bind', PK, 5, 0)).toBe(true)
    expect(await store.advanceCounter('http', 'cd'.repeat(32), 1, 0)).toBe(true)
  })

  it('of many concurrent attempts with one value, exactly one wins', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, () => store.advanceCounter('http', PK, 42, 0)))
    expect(results.filter(Boolean)).toHaveLength(1)
  })

  it('an expired counter accepts any value again (UDP timestamps are also bounded by the clock window)', async () => {
    expect(await store.advanceCounter('udp-connect', PK, 100, 100)).toBe(true)
    expect(await store.advanceCounter('udp-connect', PK, 50, 100)).toBe(false)
    await sleep(200)
    expect(await store.advanceCounter('udp-connect', PK, 50, 100)).toBe(true)
  })

  it('round-trips entries and hides them after their TTL', async () => {
    await store.putSudph({ pk: PK, observed: '192.0.2.1:1', local: ['10.0.0.1:1'], updatedAt: 1 }, 150)
    await store.putStcpr({ pk: PK, addresses: ['192.0.2.1:2'], updatedAt: 1 }, 150)
    const e = await store.putService(
      { address: `${PK}:1`, pk: PK, type: 'vpn', country: null, version: '1', stats: { connectedClients: 0 }, updatedAt: 1 },
      150,
    )
    expect(e.expiresAt).toBeGreaterThan(Date.now())
    expect(await store.getSudph(PK)).toEqual({ pk: PK, observed: '192.0.2.1:1', local: ['10.0.0.1:1'], updatedAt: 1 })
    expect(await store.counts()).toEqual({ stcpr: 1, sudph: 1, services: 1, transports: 0 })
    await sleep(250)
    expect(await store.getSudph(PK)).toBeNull()
    expect(await store.getStcpr(PK)).toBeNull()
    expect(await store.getService(`${PK}:1`)).toBeNull()
    expect(await store.counts()).toEqual({ stcpr: 0, sudph: 0, services: 0, transports: 0 })
  })

  it('changing a service\'s type moves it between type listings', async () => {
    const base = { address: `${PK}:1`, pk: PK, country: 'SE', version: '1', stats: { connectedClients: 0 }, updatedAt: 1 }
    await store.putService({ ...base, type: 'vpn' }, 10_000)
    await store.putService({ ...base, type: 'proxy' }, 10_000)
    expect((await store.listServices({ type: 'vpn', offset: 0, limit: 10 })).total).toBe(0)
    expect((await store.listServices({ type: 'proxy', offset: 0, limit: 10 })).total).toBe(1)
  })

  it('ping works and close is clean', async () => {
    await expect(store.ping()).resolves.toBeUndefined()
  })
})
