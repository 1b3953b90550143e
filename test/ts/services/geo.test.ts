/**
 * Country from the geo-IP database shipped in geoip-lite, and its precedence
 * over what a visor claims. Addresses were checked against the shipped DB
 * (well-known anycast/registry hosts), not assumed.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { ServicesClient } from '../../../ts/discovery/client.js'
import { HEADER_NONCE, HEADER_PK, HEADER_SIG, NonceSource, signingMessage } from '../../../ts/discovery/signing.js'
import type { Identity } from '../../../ts/native/keys.js'
import { native } from '../../../ts/native/loader.js'
import { builtinGeoip, resolveCountry } from '../../../ts/services/geo.js'
import type { RunningServices } from '../../../ts/services/server.js'
import { identities, startTest, stopSharedRedis, storeFactories } from './helpers.js'

afterAll(stopSharedRedis)

describe('builtin geo-IP database', () => {
  const lookup = builtinGeoip()

  it.each([
    ['8.8.8.8', 'US'],
    ['81.2.69.142', 'GB'],
    ['193.0.6.139', 'NL'],
    ['133.242.0.3', 'JP'],
    ['5.255.255.5', 'RU'],
    ['2001:4860:4860::8888', 'US'],
    ['::ffff:81.2.69.142', 'GB'],
  ])('%s is in %s', (ip, cc) => {
    expect(lookup(ip)).toBe(cc)
  })

  it.each([['10.0.0.1'], ['192.168.1.1'], ['127.0.0.1'], ['203.0.113.5'], ['100.64.0.1'], ['not-an-ip']])('%s is unknown', (ip) => {
    expect(lookup(ip)).toBeNull()
  })

  it("precedence: the database for a public address, else the visor's claim, else null", () => {
    expect(resolveCountry(lookup, '8.8.8.8', 'DE')).toBe('US')
    expect(resolveCountry(lookup, '10.0.0.1', 'DE')).toBe('DE')
    expect(resolveCountry(lookup, '10.0.0.1', undefined)).toBeNull()
  })
})

describe.each(storeFactories)('service country on $name', (factory) => {
  let svc: RunningServices
  afterEach(async () => {
    await svc?.close()
  })

  async function register(id: Identity, forwardedFor: string, country?: string) {
    const body = Buffer.from(
      JSON.stringify({ address: `${id.publicKey}:3`, type: 'vpn', version: '1', stats: { connectedClients: 0 }, ...(country ? { country } : {}) }),
    )
    const nonce = new NonceSource().next()
    const res = await fetch(`${svc.url}/sd/services`, {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json',
        'x-forwarded-for': forwardedFor,
        [HEADER_PK]: id.publicKey,
        [HEADER_NONCE]: nonce,
        [HEADER_SIG]: native.sign(id.secretKey, signingMessage('POST', '/sd/services', body, nonce)).toString('hex'),
      },
    })
    expect(res.status).toBe(200)
  }

  it("comes from the request's public address (behind a trusted proxy), the claim only where the DB does not know", async () => {
    svc = await startTest(await factory.make(), { geoip: 'builtin', trustProxy: 1 })
    const [a, b, c] = identities(3) as [Identity, Identity, Identity]
    await register(a, '81.2.69.142', 'DE')
    await register(b, '192.168.7.7', 'DE')
    await register(c, '193.0.6.139')
    const cl = new ServicesClient({ url: svc.url })
    expect((await cl.getService(`${a.publicKey}:3`))?.country).toBe('GB')
    expect((await cl.getService(`${b.publicKey}:3`))?.country).toBe('DE')
    expect((await cl.getService(`${c.publicKey}:3`))?.country).toBe('NL')
    expect(await cl.countServices()).toMatchObject({ total: 3, byCountry: { GB: 1, DE: 1, NL: 1 } })
    expect((await cl.listServices({ country: 'GB' })).entries.map((e) => e.pk)).toEqual([a.publicKey])
  })

  it('believes only as many X-Forwarded-For hops as configured, or only the configured proxy CIDRs', async () => {
    // The client put a Dutch address in front; our one proxy appended the address it saw (British).
    svc = await startTest(await factory.make(), { geoip: 'builtin', trustProxy: 1 })
    const [a, b, c] = identities(3) as [Identity, Identity, Identity]
    await register(a, '193.0.6.139, 81.2.69.142', 'DE')
    const cl = new ServicesClient({ url: svc.url })
    expect((await cl.getService(`${a.publicKey}:3`))?.country).toBe('GB')
    await svc.close()
    // Proxies by address: loopback (the socket peer) and 10.0.0.0/8 are ours; the first other entry from the right is the client.
    svc = await startTest(await factory.make(), { geoip: 'builtin', trustProxy: ['127.0.0.1', '10.0.0.0/8'] })
    await register(b, '193.0.6.139, 81.2.69.142, 10.1.2.3', 'DE')
    await register(c, '81.2.69.142, 193.0.6.139', 'DE')
    const cl2 = new ServicesClient({ url: svc.url })
    expect((await cl2.getService(`${b.publicKey}:3`))?.country).toBe('GB')
    expect((await cl2.getService(`${c.publicKey}:3`))?.country).toBe('NL')
  })

  it('ignores X-Forwarded-For unless --trust-proxy', async () => {
    svc = await startTest(await factory.make(), { geoip: 'builtin' })
    const [a] = identities(1) as [Identity]
    await register(a, '81.2.69.142', 'DE')
    expect((await new ServicesClient({ url: svc.url }).getService(`${a.publicKey}:3`))?.country).toBe('DE')
  })
})
