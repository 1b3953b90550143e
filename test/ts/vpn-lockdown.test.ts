/**
 * Lockdown and allow-LAN in the lab: real services, a real server visor and
 * a client visor whose config has lockdown on.
 *
 * What leaves the client's namespace is counted on its NAT router (natc),
 * in prerouting on its LAN side, before anything there could drop it: every
 * IPv4/IPv6 packet except those to the discovery services and the server
 * (the visor's own marked sockets: transports, registrations) and neighbour
 * discovery. From the visor's start to the connect that count must not move,
 * whatever the client's programs try; after `vpn stop` and after the visor
 * stops it must not move either, until `vpn set --lockdown off`.
 *
 * That the lockdown is up before the visor opens its first socket: a loop in
 * the client namespace, started before the visor, samples every 10 ms whether
 * the lockdown table exists and whether the visor's SUDPH port is bound; no
 * sample may show the port without the table.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { skipUnlessAvailable } from './helpers/skip.js'
import type { NsProcess } from '../../ts/netlab/exec.js'
import type { Topology } from '../../ts/netlab/topology.js'
import { KILLSWITCH_TABLE } from '../../ts/sys/killswitch.js'
import { LOCKDOWN_TABLE } from '../../ts/sys/lockdown.js'
import { VisorClient } from '../../ts/visor/rpc-client.js'
import { labSkipReason } from './helpers/lab.js'
import { tempDir, useVpnLab, type TestVisor } from './helpers/visors.js'

const skip = labSkipReason()
const WHOAMI = '203.0.113.80'
const NATC_LAN = '10.10.0.1'
/** Where the visor's own sockets go: the services and the server (v4 and v6). */
const VISOR_DESTS4 = '{ 203.0.113.10, 203.0.113.20 }'
const VISOR_DESTS6 = '{ 2001:db8:203::10, 2001:db8:203::20 }'

describe.skipIf(skipUnlessAvailable(skip))('lockdown: nothing leaves outside the tunnel from visor start on, until lockdown is off', () => {
  const tmp = tempDir('skywire-lockdown-')
  const samplesFile = join(tmp.dir, 'samples')
  const stopFile = join(tmp.dir, 'stop')
  let sampler: NsProcess | null = null
  const lab = useVpnLab(
    {},
    (t) => ({
      server: { ns: t.server.ns, config: { vpnServer: { dns: ['203.0.113.53'] } } },
      client: { ns: t.client.ns, config: { vpnServer: { autostart: false }, vpnClient: { lockdown: true } } },
    }),
    {
      beforeStart: async (t) => {
        await t.lab.nft(
          t.natc.ns,
          `table inet watch {
  chain pre {
    type filter hook prerouting priority -300; policy accept;
    iifname "lan0" ip daddr != ${VISOR_DESTS4} counter comment "leak4"
    iifname "lan0" meta nfproto ipv6 icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } accept
    iifname "lan0" ip6 daddr ff02::/16 accept
    iifname "lan0" ip6 daddr != ${VISOR_DESTS6} counter comment "leak6"
  }
}
`,
        )
        // One line per sample: "<lockdown table present 0|1> <SUDPH port bound 0|1>".
        sampler = t.lab.spawn(t.client.ns, [
          'sh',
          '-c',
          `i=0; while [ $i -lt 6000 ] && [ ! -e '${stopFile}' ]; do
  l=0; case "$(nft list tables 2>&1)" in *${LOCKDOWN_TABLE}*) l=1;; esac
  s=0; [ -n "$(ss -Hlun 'sport = :7778')" ] && s=1
  echo "$l $s"; i=$((i+1)); sleep 0.01
done > '${samplesFile}'`,
        ])
        await new Promise((r) => setTimeout(r, 300))
        atStart = await leakedIn(t)
      },
    },
  )
  let atStart = Number.NaN
  let t: Topology
  let server: TestVisor
  let client: TestVisor
  let api: VisorClient
  beforeAll(() => {
    t = lab.topo()
    server = lab.visor('server')
    client = lab.visor('client')
    api = new VisorClient(client.rpc)
  })
  afterAll(async () => {
    await sampler?.kill('SIGKILL', 1000)
    // The lockdown outlives the visor by design: the lab's namespaces go with it, but say so if a test left it.
    tmp.cleanup()
  })

  const leaked = () => leakedIn(t)
  const tables = async () => (await t.lab.execOk(t.client.ns, ['nft', 'list', 'tables'])).stdout
  /** Programs of the client trying the internet, v4 and v6 (TCP), and a UDP datagram to the lab's DNS: what got an answer. */
  const tryOut = async () => {
    const web = await t.canHttpGet(t.client.ns, `http://${WHOAMI}/`, 1500)
    const web6 = t.ipv6 ? await t.canHttpGet(t.client.ns, 'http://[2001:db8:203::80]/', 1500) : false
    // Its fate shows in the leak counter only (a rejected datagram can still look sent to the program).
    await t.lab.exec(t.client.ns, ['bash', '-c', 'echo x > /dev/udp/203.0.113.53/53'])
    return { web, web6 }
  }

  it('the lockdown table was up before the visor bound its first socket', async () => {
    await new Promise((r) => setTimeout(r, 200))
    const s = readFileSync(samplesFile, 'utf8').trim().split('\n')
    const socketWithoutTable = s.filter((x) => x === '0 1').length
    const before = s.filter((x) => x === '0 0').length
    const both = s.filter((x) => x === '1 1').length
    console.log(`sampled ${s.length}: before the visor ${before}, port without lockdown ${socketWithoutTable}, both ${both}`)
    expect(before).toBeGreaterThan(0)
    expect(both).toBeGreaterThan(0)
    expect(socketWithoutTable).toBe(0)
  })

  it('before any connect: the internet, v4 and v6, is unreachable and nothing is counted leaving', async () => {
    const n0 = await leaked()
    expect(await tryOut()).toEqual({ web: false, web6: false })
    expect((await t.ping(t.client.ns, NATC_LAN, 2)).ok).toBe(false)
    expect((await leaked()) - n0).toBe(0)
    // Nor from the visor's start to here: the visor's own unmarked traffic would have been counted.
    expect(n0 - atStart).toBe(0)
    // The visor itself works: it reaches the services through its marked sockets.
    await expect.poll(() => client.cli(['cli', 'vpn', 'list']).stdout, { timeout: 20_000 }).toContain(server.config.pk)
    expect((await leaked()) - n0).toBe(0)
  }, 60_000)

  it('vpn get shows lockdown on; --allow-lan on opens the LAN now, not the internet', async () => {
    const g = client.cli(['cli', 'vpn', 'get', '--json'])
    expect(JSON.parse(g.stdout)).toMatchObject({ via: 'visor', lockdown: true, allowLan: false })
    const r = client.cli(['cli', 'vpn', 'set', '--allow-lan', 'on', '--json'])
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ via: 'visor', live: expect.arrayContaining(['lockdown', 'allowLan']), savedTo: client.file })
    const n0 = await leaked()
    expect((await t.ping(t.client.ns, NATC_LAN, 2)).ok).toBe(true)
    expect(await tryOut()).toEqual({ web: false, web6: false })
    // The pings to the LAN router were counted (they are traffic beside the tunnel, and allowed); nothing else.
    expect((await leaked()) - n0).toBeGreaterThanOrEqual(2)
    expect(JSON.parse(readFileSync(client.file, 'utf8')).vpnClient).toMatchObject({ lockdown: true, allowLan: true })
    const off = client.cli(['cli', 'vpn', 'set', '--allow-lan', 'off'])
    expect(off.code, off.stderr).toBe(0)
    expect((await t.ping(t.client.ns, NATC_LAN, 2)).ok).toBe(false)
  }, 60_000)

  it('connected, traffic goes through the tunnel; the kill switch turns on and off live', async () => {
    const s = await api.vpnStart(server.config.pk, { timeoutS: 30 })
    expect(s.state).toBe('connected')
    expect(await t.curlWhoami(t.client.ns)).toBe(t.server.publicAddr)
    expect(await tables()).not.toContain(KILLSWITCH_TABLE)
    const on = client.cli(['cli', 'vpn', 'set', '--killswitch', 'on', '--json'])
    expect(on.code, on.stderr).toBe(0)
    expect(JSON.parse(on.stdout).live).toContain('killswitch')
    expect(await tables()).toContain(KILLSWITCH_TABLE)
    expect((await api.vpnStatus()).killswitch).toBe(true)
    expect(await t.curlWhoami(t.client.ns)).toBe(t.server.publicAddr)
    // The LAN is reached beside the tunnel (its own route); both tables block it until allow-LAN, and both let it through after.
    expect((await t.ping(t.client.ns, NATC_LAN, 2)).ok).toBe(false)
    const lan = client.cli(['cli', 'vpn', 'set', '--allow-lan', 'on'])
    expect(lan.code, lan.stderr).toBe(0)
    expect((await t.ping(t.client.ns, NATC_LAN, 2)).ok).toBe(true)
    const killswitchRules = (await t.lab.execOk(t.client.ns, ['nft', 'list', 'table', 'inet', KILLSWITCH_TABLE])).stdout
    expect(killswitchRules).toMatch(/ip daddr 10\.10\.0\.0\/24 counter packets [1-9]\d* bytes \d+ accept comment "killswitch-lan"/)
    expect(client.cli(['cli', 'vpn', 'set', '--allow-lan', 'off']).code).toBe(0)
    expect((await t.ping(t.client.ns, NATC_LAN, 2)).ok).toBe(false)
    expect(await t.curlWhoami(t.client.ns)).toBe(t.server.publicAddr)
    const off = client.cli(['cli', 'vpn', 'set', '--killswitch', 'off'])
    expect(off.code, off.stderr).toBe(0)
    expect(await tables()).not.toContain(KILLSWITCH_TABLE)
    expect(await t.curlWhoami(t.client.ns)).toBe(t.server.publicAddr)
  }, 60_000)

  it('after vpn stop, and after the visor stops, everything stays blocked', async () => {
    const n0 = await leaked()
    expect((await api.vpnStop()).state).toBe('disconnected')
    expect(await tryOut()).toEqual({ web: false, web6: false })
    await client.stop()
    expect(await tables()).toContain(LOCKDOWN_TABLE)
    expect(await tryOut()).toEqual({ web: false, web6: false })
    expect((await leaked()) - n0).toBe(0)
  }, 60_000)

  it('vpn set --lockdown off without a visor edits the config; the next start removes the lockdown', async () => {
    const r = client.cli(['cli', 'vpn', 'set', '--lockdown', 'off', '-c', client.file])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('no visor is running')
    expect(JSON.parse(readFileSync(client.file, 'utf8')).vpnClient.lockdown).toBe(false)
    // Still blocked: the file changed, the host not yet.
    expect(await tables()).toContain(LOCKDOWN_TABLE)
    await client.start()
    expect(await tables()).not.toContain(LOCKDOWN_TABLE)
    expect(await t.curlWhoami(t.client.ns)).toBe(t.natc.wanAddr)
  }, 60_000)

  it('vpn set --lockdown on on a running visor blocks at once, and off opens again', async () => {
    const on = client.cli(['cli', 'vpn', 'set', '--lockdown', 'on'])
    expect(on.code, on.stderr).toBe(0)
    expect(await tryOut()).toEqual({ web: false, web6: false })
    const off = client.cli(['cli', 'vpn', 'set', '--lockdown', 'off'])
    expect(off.code, off.stderr).toBe(0)
    expect(await t.curlWhoami(t.client.ns)).toBe(t.natc.wanAddr)
    expect(await tables()).not.toContain(LOCKDOWN_TABLE)
  }, 60_000)
})

async function leakedIn(t: Topology): Promise<number> {
  const out = (await t.lab.execOk(t.natc.ns, ['nft', 'list', 'table', 'inet', 'watch'])).stdout
  const n = (c: string) => Number(new RegExp(`counter packets (\\d+) bytes \\d+ comment "${c}"`).exec(out)?.[1] ?? Number.NaN)
  return n('leak4') + n('leak6')
}
