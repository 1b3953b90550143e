/**
 * The client's check of a server's setup (issue 12, item 8), case by case;
 * the lab test in vpn-hello.test.ts drives the same through a real client
 * visor and a hostile exit.
 */
import { describe, expect, it } from 'vitest'
import { checkOffer, notUnicastReason } from '../../../ts/vpn/offer.js'
import type { Status } from '../../../ts/vpn/protocol.js'

const ctx = { usedNets: ['192.168.1.0/24', '172.17.0.0/16'], mustReach: ['203.0.113.20', '198.51.100.7', '2001:db8::1'], useServerDns: true }
const good: Status = {
  type: 'status',
  status: 'ok',
  address: '10.77.0.2',
  gateway: '10.77.0.1',
  prefix: 16,
  mtu: 1420,
  dns: ['1.1.1.1', '10.77.0.1'],
}
const check =
  (patch: Partial<Status>, c = ctx) =>
  () =>
    checkOffer('PK', { ...good, ...patch }, c)

describe('checkOffer', () => {
  it('takes a sane setup, with the MTU defaulted', () => {
    expect(checkOffer('PK', good, ctx)).toEqual({ address: '10.77.0.2', gateway: '10.77.0.1', prefix: 16, mtu: 1420, dns: ['1.1.1.1', '10.77.0.1'] })
    expect(checkOffer('PK', { ...good, mtu: undefined }, ctx).mtu).toBe(1420)
  })

  it('refuses addresses that are not unicast host addresses', () => {
    expect(check({ address: '127.0.0.5', gateway: '127.0.0.1', prefix: 8 })).toThrow(/tunnel address 127\.0\.0\.5 is loopback/)
    expect(check({ gateway: '127.0.0.1' })).toThrow(/gateway 127\.0\.0\.1 is loopback/)
    expect(check({ address: '239.1.2.3', gateway: '239.1.2.1' })).toThrow(/multicast/)
    expect(check({ address: '0.0.0.7', gateway: '0.0.0.1' })).toThrow(/unspecified/)
    expect(check({ address: '255.255.255.255' })).toThrow(/broadcast/)
    expect(check({ address: '169.254.3.4', gateway: '169.254.3.1' })).toThrow(/link-local/)
    expect(check({ address: '250.0.0.2', gateway: '250.0.0.1' })).toThrow(/reserved/)
    expect(check({ address: 'fd00::2', gateway: 'fd00::1' })).toThrow(/IPv4 only/)
    expect(check({ address: undefined })).toThrow(/no tunnel address/)
    expect(check({ gateway: undefined })).toThrow(/no tunnel address, gateway/)
  })

  it('wants address and gateway in one sane prefix', () => {
    expect(check({ gateway: '10.78.0.1' })).toThrow(/not in the gateway's network/)
    expect(check({ prefix: 4 })).toThrow(/prefix \/4 is outside/)
    expect(check({ prefix: 31, address: '10.77.0.1', gateway: '10.77.0.0' })).toThrow(/prefix \/31 is outside/)
    expect(check({ prefix: undefined })).toThrow(/no tunnel address, gateway or prefix/)
    expect(check({ address: '10.77.0.1' })).toThrow(/is the gateway itself/)
    expect(check({ address: '10.77.255.255' })).toThrow(/network or broadcast/)
    expect(check({ address: '10.77.0.0' })).toThrow(/network or broadcast/)
  })

  it('keeps our own networks and the endpoints we must reach out of the tunnel', () => {
    expect(check({ address: '192.168.1.50', gateway: '192.168.1.1', prefix: 24 })).toThrow(/own network 192\.168\.1\.0\/24/)
    expect(check({ address: '203.0.113.77', gateway: '203.0.113.1', prefix: 24 })).toThrow(/contains 203\.0\.113\.20/)
    expect(check({ address: '198.0.0.2', gateway: '198.0.0.1', prefix: 8 })).toThrow(/contains 198\.51\.100\.7/)
    // The gateway is never routed to (the TUN holds address/32): a server
    // whose fixed gateway falls inside our LAN is still usable.
    expect(check({ address: '172.18.0.2', gateway: '172.17.0.1', prefix: 12 })).not.toThrow()
  })

  it('bounds the MTU and checks the DNS servers it will use', () => {
    expect(check({ mtu: 9001 })).toThrow(/MTU 9001/)
    expect(check({ mtu: 576 })).not.toThrow()
    expect(check({ dns: ['127.0.0.53'] })).toThrow(/DNS server 127\.0\.0\.53 is loopback/)
    expect(check({ dns: ['192.168.1.1'] })).toThrow(/DNS server 192\.168\.1\.1 lies in this host's own network/)
    expect(check({ dns: ['224.0.0.251'] })).toThrow(/multicast/)
    expect(check({ dns: ['2606:4700::1111'] })).toThrow(/IPv4 only/)
    expect(check({ dns: ['1.1.1.1', '1.0.0.1', '9.9.9.9', '8.8.8.8', '8.8.4.4'] })).toThrow(/5 DNS servers/)
    // With DNS servers of our own, the server's are not used and not judged.
    expect(check({ dns: ['127.0.0.53'] }, { ...ctx, useServerDns: false })).not.toThrow()
  })

  it('says what is wrong in one line', () => {
    try {
      check({ address: '127.0.0.5', gateway: '127.0.0.1', prefix: 8 })()
      expect.unreachable()
    } catch (err) {
      expect((err as Error).message).toBe('server PK sent an unusable VPN setup: tunnel address 127.0.0.5 is loopback; nothing was changed')
      expect((err as Error).message).not.toContain('\n')
    }
    expect(notUnicastReason('8.8.8.8')).toBeNull()
  })
})
