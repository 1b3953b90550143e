/**
 * SUDPH bindings through real NAT (ts/netlab namespaces): the resolver must
 * record the NAT's public mapping, not the visor's private address, and its
 * peer-address messages must let two NATed visors punch through to each other.
 */
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { generateIdentity } from '../../../ts/keys.js'
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

describe.skipIf(skip !== null)('address resolver behind NAT (network namespaces)', () => {
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
