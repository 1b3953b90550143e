/**
 * SUDPH bindings through real NAT (ts/netlab namespaces): the resolver must
 * record the NAT's public mapping, not the visor's private address, and its
 * peer-address messages must let two NATed visors punch through to each other.
 */
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { skipUnlessAvailable } from '../helpers/skip.js'
import { generateIdentity } from '../../../ts/native/keys.js'
import type { NsProcess } from '../../../ts/netlab/exec.js'
import { BIN } from '../helpers/cli.js'
import { labSkipReason, useTopology } from '../helpers/lab.js'

const skip = labSkipReason()
if (skip !== null) console.warn(`services NAT tests skipped: ${skip}`)

const VISOR = fileURLToPath(new URL('./fixtures/udp-visor.mjs', import.meta.url))

interface Event {
  event: string
  [k: string]: unknown
}

function events(p: NsProcess): Event[] {
  return p
    .output()
    .stdout.split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Event)
}

describe.skipIf(skipUnlessAvailable(skip))('address resolver behind NAT (network namespaces)', () => {
  const topo = useTopology({ serverBehindNat: true, ipv6: false, whoami: false, dns: false })

  it('records the NAT mapping of a binding, and two NATed visors punch through with its peer addresses', async () => {
    const t = topo()
    const svcAddr = t.services.addr
    const services = t.lab.spawn(
      t.services.ns,
      [process.execPath, BIN, 'services', '--http', `${svcAddr}:9090`, '--udp', `${svcAddr}:9091`, '--db', ':memory:', '--geoip', 'off'],
      { env: { ...process.env, SKYWIRE_LOG_LEVEL: 'info', SKYWIRE_DEBUG: '' } },
    )
    const procs: NsProcess[] = [services]
    try {
      await services.waitForOutput(/discovery services listening/, 20_000)
      const server = generateIdentity()
      const client = generateIdentity()
      const visor = (host: { ns: string; addr: string }, id: typeof server, mode: string, target = '') =>
        t.lab.spawn(host.ns, [process.execPath, VISOR], {
          env: {
            ...process.env,
            SK: id.secretKey,
            PK: id.publicKey,
            RESOLVER: `${svcAddr}:9091`,
            MODE: mode,
            TARGET: target,
            LOCAL_IP: host.addr,
          },
        })

      // Like a home router's firewall, drop unsolicited packets to the routers themselves. Without it, the first
      // punch that reaches the other NAT before that side has punched creates a conntrack entry for the router
      // itself, which clashes with the mapping the other side's punches need, so Linux picks another port and
      // the punch never meets (a dropped packet's conntrack entry is never confirmed, so it clashes with nothing).
      for (const nat of [t.natc, t.nats!]) {
        await t.lab.nft(
          nat.ns,
          'table inet sw_home_fw {\n chain input {\n  type filter hook input priority 0; policy accept;\n  iifname "wan0" ct state new drop\n }\n}\n',
        )
      }

      const target = visor(t.server, server, 'target')
      procs.push(target)
      await target.waitForOutput(/"event":"ack"/, 10_000)
      const ack = events(target).find((e) => e.event === 'ack') as Event & { observed: { ip: string; port: number }; localPort: number }
      // The resolver saw the NAT router's public address, not 10.20.0.10.
      expect(t.server.publicAddr).not.toBe(t.server.addr)
      expect(ack.observed.ip).toBe(t.server.publicAddr)
      expect(ack.ttlS).toBe(60)

      const resolved = JSON.parse(await t.httpGet(t.client.ns, `http://${svcAddr}:9090/ar/resolve/${server.publicKey}`)) as {
        sudph: { observed: string; local: string[] }
      }
      expect(resolved.sudph).toEqual({
        observed: `${t.server.publicAddr}:${ack.observed.port}`,
        local: [`${t.server.addr}:${ack.localPort}`],
      })

      const cl = visor(t.client, client, 'client', server.publicKey)
      procs.push(cl)
      await cl.waitForOutput(/"event":"punch"/, 15_000)
      await target.waitForOutput(/"event":"punch"/, 15_000)

      const clAck = events(cl).find((e) => e.event === 'ack') as Event & { observed: { ip: string; port: number } }
      expect(clAck.observed.ip).toBe(t.client.publicAddr)
      const toClient = events(cl).find((e) => e.event === 'peer') as Event & { peer: string; observed: unknown }
      const toTarget = events(target).find((e) => e.event === 'peer') as Event & { peer: string; observed: unknown }
      expect(toClient).toMatchObject({ peer: server.publicKey, observed: ack.observed })
      expect(toTarget).toMatchObject({ peer: client.publicKey, observed: clAck.observed })
      // Each side's punch came from the other's public mapping.
      expect(events(cl).find((e) => e.event === 'punch')).toMatchObject({
        pk: server.publicKey,
        from: `${ack.observed.ip}:${ack.observed.port}`,
      })
      expect(events(target).find((e) => e.event === 'punch')).toMatchObject({
        pk: client.publicKey,
        from: `${clAck.observed.ip}:${clAck.observed.port}`,
      })
    } catch (err) {
      // The visors' own account of what they saw is the quickest way to read a failure here.
      for (const p of procs.slice(1)) console.error(p.ns, p.output().stdout, p.output().stderr)
      console.error('services', services.output().stderr.slice(-2000))
      throw err
    } finally {
      await Promise.all(procs.map((p) => p.kill('SIGTERM', 2000).catch(() => undefined)))
    }
  })
})

const FORGE = fileURLToPath(new URL('./fixtures/udp-forge.mjs', import.meta.url))

describe.skipIf(skipUnlessAvailable(skip))('address resolver and forged UDP sources (network namespaces)', () => {
  const topo = useTopology({ ipv6: false, whoami: false, dns: false })

  it('forged-source binds and connect requests make the resolver send the victim no more bytes than were forged', async () => {
    const t = topo()
    const svcAddr = t.services.addr
    // The victim is the internet router's address (any host on the internet without a firewall would do);
    // the attacker is the server host.
    const victim = `${t.services.gateway}:40000`
    const procs: NsProcess[] = []
    try {
      const services = t.lab.spawn(
        t.services.ns,
        [process.execPath, BIN, 'services', '--http', `${svcAddr}:9090`, '--udp', `${svcAddr}:9091`, '--db', ':memory:', '--geoip', 'off'],
        // A generous UDP rate limit, so what is measured is the protocol, not the limiter.
        { env: { ...process.env, SKYWIRE_LOG_LEVEL: 'info', SKYWIRE_DEBUG: '', SKYWIRE_UDP_RATE: '1000,1000' } },
      )
      procs.push(services)
      await services.waitForOutput(/discovery services listening/, 20_000)
      // A forged source without a raw socket: the attacker holds the victim's address on its loopback and never
      // answers ARP for it (the LVS direct-routing set-up), so it sends with that source while every answer to
      // that address still goes to the victim.
      for (const kv of [
        'net.ipv4.conf.all.arp_ignore=1',
        'net.ipv4.conf.all.arp_announce=2',
        'net.ipv4.conf.wan0.arp_ignore=1',
        'net.ipv4.conf.wan0.arp_announce=2',
      ]) {
        await t.lab.execOk(t.server.ns, ['sysctl', '-qw', kv])
      }
      await t.lab.execOk(t.server.ns, ['ip', 'addr', 'add', `${t.services.gateway}/32`, 'dev', 'lo'])
      const v = t.lab.spawn(t.internet.ns, [process.execPath, FORGE], { env: { ...process.env, MODE: 'victim', VICTIM: victim } })
      procs.push(v)
      await v.waitForOutput(/"event":"ready"/, 10_000)
      const k1 = generateIdentity()
      const k2 = generateIdentity()
      const attacker = t.lab.spawn(t.server.ns, [process.execPath, FORGE], {
        env: {
          ...process.env,
          MODE: 'attacker',
          VICTIM: victim,
          RESOLVER: `${svcAddr}:9091`,
          REAL_IP: t.server.addr,
          SK1: k1.secretKey,
          PK1: k1.publicKey,
          SK2: k2.secretKey,
          PK2: k2.publicKey,
        },
      })
      procs.push(attacker)
      await attacker.waitForOutput(/"event":"done"/, 30_000)
      type Phase = { from: number; bytes: number }
      const { forgedBytes, forgedCount, phases } = events(attacker).find((e) => e.event === 'done') as Event & {
        forgedBytes: number
        forgedCount: number
        phases: { bind: Phase; connect: Phase }
      }
      expect(forgedCount).toBe(50)
      const rx = events(v).filter((e) => e.event === 'rx') as (Event & { t: number; len: number; type: number; from: string })[]
      const bytes = (list: typeof rx) => list.reduce((n, e) => n + e.len, 0)
      const received = bytes(rx)
      const inConnect = bytes(rx.filter((e) => e.t >= phases.connect.from))
      console.info(
        `forged ${forgedCount} datagrams, ${forgedBytes} bytes (connect phase ${phases.connect.bytes}); ` +
          `the victim received ${rx.length} datagrams, ${received} bytes (connect phase ${inConnect})`,
      )
      // Everything the victim got came from the resolver, and it is no more than was sent in its name, in total
      // and in the connect phase (where the old resolver relayed 193-byte peer addresses for 137-byte requests).
      expect(rx.every((e) => e.from === `${svcAddr}:9091`)).toBe(true)
      expect(received).toBeLessThanOrEqual(forgedBytes)
      expect(inConnect).toBeLessThanOrEqual(phases.connect.bytes)
      // Only challenges and errors, never a bind ack or a peer address.
      expect(new Set(rx.map((e) => e.type))).toEqual(new Set([0x16, 0x14]))
      // Key 2 was never bound at the victim's address.
      const res = await t.lab.exec(t.client.ns, [
        'curl',
        '-s',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        `http://${svcAddr}:9090/ar/resolve/${k2.publicKey}`,
      ])
      expect(res.stdout.trim()).toBe('404')
    } catch (err) {
      for (const p of procs) console.error(p.ns, p.output().stdout.slice(-3000), p.output().stderr.slice(-2000))
      throw err
    } finally {
      await Promise.all(procs.map((p) => p.kill('SIGTERM', 2000).catch(() => undefined)))
    }
  })
})
