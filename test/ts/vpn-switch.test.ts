/**
 * Switching servers without a leak, on the lab: real services, two real
 * server visors (server, server2, with different pools) and a client visor
 * WITHOUT the kill switch, so nothing but the make-before-break order keeps
 * packets inside a tunnel. While a ping loop runs in the client namespace,
 * `skywire cli vpn start -k SERVER2` moves the client from server to server2.
 *
 * The capture is on the client's uplink, at its NAT router (prerouting, before
 * anything could drop a packet): every IPv4 packet from the client's LAN to an
 * address that is not a VPN server or the services, and every global IPv6
 * packet, is counted. Across the switch that count must stay 0, while the
 * packets to the servers (the transports) keep flowing; the whoami host sees
 * the first server's public address before and the second's after, and
 * `vpn status` says where it exits (the server's claim over exit-info).
 */
import { join } from 'node:path'
import { readFileSync, writeFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NsProcess } from '../../ts/netlab/exec.js'
import type { Topology } from '../../ts/netlab/topology.js'
import { VisorClient } from '../../ts/visor/rpc-client.js'
import { BIN } from './helpers/cli.js'
import { labSkipReason } from './helpers/lab.js'
import { skipUnlessAvailable } from './helpers/skip.js'
import { tempDir, useVpnLab, type TestVisor } from './helpers/visors.js'

const skip = labSkipReason()

const WHOAMI = '203.0.113.80'
const SERVICES = '203.0.113.10'
const SERVICES6 = '2001:db8:203::10'
const MAX_PINGS = 20_000

describe.skipIf(skipUnlessAvailable(skip))('vpn start -k OTHER while connected: make-before-break, nothing leaves beside a tunnel', () => {
  let servers = ''
  const lab = useVpnLab(
    { servers: 2 },
    (t) => ({
      server: { ns: t.server.ns, config: { vpnServer: { dns: ['203.0.113.55'], country: 'DE' } } },
      server2: {
        ns: (t.server2 as NonNullable<Topology['server2']>).ns,
        config: { vpnServer: { dns: ['203.0.113.54'], pool: '10.88.0.0/16', country: 'NL' } },
      },
      client: { ns: t.client.ns, config: { vpnServer: { autostart: false } } },
    }),
    {
      beforeStart: async (t) => {
        servers = `${t.server.publicAddr}, ${(t.server2 as NonNullable<Topology['server2']>).publicAddr}, ${SERVICES}`
        // The transports and the resolver run over IPv6 too (issue 15): the same hosts' IPv6 addresses.
        const servers6 = `${t.server.publicAddr6}, ${(t.server2 as NonNullable<Topology['server2']>).publicAddr6}, ${SERVICES6}`
        await t.lab.nft(
          t.natc.ns,
          `table inet watch {
  chain pre {
    type filter hook prerouting priority -300; policy accept;
    iifname "lan0" ip daddr { ${servers} } counter comment "transport"
    iifname "lan0" ip daddr != { ${servers}, 255.255.255.255, 224.0.0.0/4 } counter comment "leak"
    iifname "lan0" ip6 daddr { ${servers6} } counter comment "transport6"
    iifname "lan0" ip6 daddr != { ${servers6}, fe80::/10, ff00::/8 } counter comment "leak6"
  }
}
`,
        )
      },
    },
  )
  const tmp = tempDir('skywire-switch-')
  const loops: NsProcess[] = []
  let t: Topology
  let server: TestVisor
  let server2: TestVisor
  let client: TestVisor
  let api: VisorClient
  beforeAll(() => {
    t = lab.topo()
    server = lab.visor('server')
    server2 = lab.visor('server2')
    client = lab.visor('client')
    api = new VisorClient(client.rpc)
  })
  afterAll(async () => {
    for (const p of loops) await p.kill('SIGKILL', 1000)
    tmp.cleanup()
  })

  const resolvConf = async () => (await t.lab.execOk(t.client.ns, ['cat', '/etc/resolv.conf'])).stdout
  const counters = async () => {
    const out = (await t.lab.execOk(t.natc.ns, ['nft', 'list', 'table', 'inet', 'watch'])).stdout
    const n = (c: string) => Number(new RegExp(`counter packets (\\d+) bytes \\d+ comment "${c}"`).exec(out)?.[1] ?? Number.NaN)
    return { transport: n('transport') + n('transport6'), leak: n('leak'), leak6: n('leak6') }
  }

  it('the capture works: before connecting, pings to whoami leave beside any tunnel and are counted', async () => {
    const c0 = await counters()
    await t.lab.exec(t.client.ns, ['ping', '-n', '-c', '2', '-i', '0.2', '-W', '1', WHOAMI])
    expect((await counters()).leak - c0.leak).toBeGreaterThan(0)
  })

  it('connects to the first server, and vpn status says where it exits', async () => {
    await expect.poll(() => client.cli(['cli', 'vpn', 'list']).stdout, { timeout: 30_000 }).toContain(server2.config.pk)
    expect(client.cli(['cli', 'vpn', 'list']).stdout).toContain(server.config.pk)
    const s = await api.vpnStart(server.config.pk, { timeoutS: 30 })
    expect(s.state).toBe('connected')
    expect(await t.curlWhoami(t.client.ns)).toBe(t.server.publicAddr)
    await expect.poll(async () => (await api.vpnStatus()).exitIp, { timeout: 10_000 }).toBe(t.server.publicAddr)
    const st = JSON.parse(client.cli(['cli', 'vpn', 'status', '--json']).stdout)
    expect(st).toMatchObject({ state: 'connected', server: server.config.pk, exitIp: t.server.publicAddr, exitCountry: 'DE' })
    expect(await resolvConf()).toContain('nameserver 203.0.113.55')
    expect(client.cli(['cli', 'vpn', 'status']).stdout).toMatch(new RegExp(`exit:\\s+${t.server.publicAddr.replace(/\./g, '\\.')} \\(DE\\)`))
  }, 90_000)

  it('switches to the second server under a steady ping: only transport packets leave, and whoami sees the new exit', async () => {
    const stopFile = join(tmp.dir, 'stop')
    const log = join(tmp.dir, 'pings')
    // A fresh ping each time (its own route and source lookup), 20 ms apart: one line per reply.
    loops.push(
      t.lab.spawn(t.client.ns, [
        'sh',
        '-c',
        `i=0; while [ $i -lt ${MAX_PINGS} ] && [ ! -e '${stopFile}' ]; do ping -n -c 1 -W 0.2 ${WHOAMI} >/dev/null 2>&1 && echo ok || echo lost; i=$((i+1)); sleep 0.02; done > '${log}'`,
      ]),
    )
    await new Promise((r) => setTimeout(r, 1000))
    const c0 = await counters()
    const before = readFileSync(log, 'utf8').trim().split('\n').length
    const t0 = Date.now()
    const r = client.cli(['cli', 'vpn', 'start', '-k', server2.config.pk, '-t', '30', '--json'])
    const switchMs = Date.now() - t0
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ state: 'connected', server: server2.config.pk })
    await new Promise((res) => setTimeout(res, 1000))
    writeFileSync(stopFile, '')
    await Promise.all(loops.map((p) => p.exited))
    const c1 = await counters()
    const pings = readFileSync(log, 'utf8').trim().split('\n')
    const lost = pings.filter((x) => x === 'lost').length
    console.log(
      `switch took ${switchMs} ms; ${pings.length - before} pings meanwhile (${pings.length} in all), ${lost} lost; packets to servers/services ${c1.transport - c0.transport}, ` +
        `beside a tunnel: IPv4 ${c1.leak - c0.leak}, IPv6 ${c1.leak6 - c0.leak6}`,
    )
    expect(pings.length - before).toBeGreaterThan(20)
    // Every ping after the first count crossed the uplink inside a transport (to one server or the other).
    expect(c1.transport - c0.transport).toBeGreaterThanOrEqual(pings.length - before - 1)
    // Make before break: the flow barely notices (break before make loses every ping of the ~2 s dial and hello).
    expect(lost).toBeLessThan((pings.length - before) / 5)
    expect(c1.leak - c0.leak).toBe(0)
    expect(c1.leak6 - c0.leak6).toBe(0)
    // The old server was told and let us go; the new one holds us.
    const status = await api.vpnStatus()
    expect(status).toMatchObject({ state: 'connected', server: server2.config.pk })
    expect(status.tunnelIp).toMatch(/^10\.88\./)
    expect(await t.curlWhoami(t.client.ns)).toBe((t.server2 as NonNullable<Topology['server2']>).publicAddr)
    const old = JSON.parse(server.cli(['cli', 'vpn', 'server', 'status', '--json']).stdout)
    expect(old.clients).toEqual([])
    await expect
      .poll(async () => (await api.vpnStatus()).exitIp, { timeout: 10_000 })
      .toBe((t.server2 as NonNullable<Topology['server2']>).publicAddr)
    expect((await api.vpnStatus()).exitCountry).toBe('NL')
    // The second server's DNS, written in place (the routes stayed, as the counters show).
    expect(await resolvConf()).toContain('nameserver 203.0.113.54')
    expect(await resolvConf()).not.toContain('203.0.113.55')
  }, 120_000)

  it('vpn status --watch --json follows live, one object per line, and ends cleanly on Ctrl-C', async () => {
    const p = t.lab.spawn(t.client.ns, [process.execPath, BIN, 'cli', 'vpn', 'status', '--watch', '--json', '--rpc', client.rpc])
    await expect.poll(() => p.output().stdout.split('\n').filter(Boolean).length, { timeout: 20_000, interval: 100 }).toBeGreaterThanOrEqual(3)
    const info = await p.kill('SIGINT', 5000)
    expect(info.code, p.output().stderr).toBe(0)
    const objs = p
      .output()
      .stdout.trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(objs.every((o) => o.state === 'connected' && o.exitIp === (t.server2 as NonNullable<Topology['server2']>).publicAddr)).toBe(true)
    // Live: the uptime moves from one line to the next.
    expect((objs.at(-1)?.uptimeS ?? 0) - (objs[0]?.uptimeS ?? 0)).toBeGreaterThanOrEqual(1)
  }, 60_000)

  it('vpn stop after a switch restores the host: pings leave directly again', async () => {
    expect((await api.vpnStop()).state).toBe('disconnected')
    expect(await t.curlWhoami(t.client.ns)).toBe(t.natc.wanAddr)
    // The lab's own resolv.conf is back.
    expect(await resolvConf()).toContain('nameserver 203.0.113.53')
    expect(await resolvConf()).not.toContain('203.0.113.54')
  }, 30_000)

  it('vpn status -w exits non-zero with one line when the visor goes away', async () => {
    const p = t.lab.spawn(t.client.ns, [process.execPath, BIN, 'cli', 'vpn', 'status', '-w', '--rpc', client.rpc])
    // Not a terminal: one line per tick.
    await expect.poll(() => p.output().stdout, { timeout: 20_000, interval: 100 }).toMatch(/Z disconnected\n/)
    await client.stop()
    const info = await Promise.race([p.exited, new Promise<null>((r) => setTimeout(() => r(null), 15_000))])
    if (info === null) await p.kill('SIGKILL', 1000)
    expect(info?.code).not.toBe(0)
    const err = p.output().stderr.trim()
    expect(err.split('\n')).toHaveLength(1)
    expect(err).toMatch(/lost the visor while watching/)
  }, 60_000)
})
