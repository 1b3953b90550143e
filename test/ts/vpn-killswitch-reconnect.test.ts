/**
 * The kill switch across a reconnect that gets a NEW tunnel address: real
 * services, a real server visor and a real client visor with the kill switch
 * on. The server is stopped while the client is connected, its pool changed
 * (10.77.0.0/16 -> 10.78.0.0/16) and started again, so the reconnect is
 * handed an address in the new pool and the client must rebuild its TUN.
 *
 * Two observations across the whole reconnect, both from inside the lab:
 * - a shell loop in the client namespace samples `nft list tables` every
 *   20 ms: the kill switch table must be in every sample;
 * - a ping loop in the client namespace keeps trying the fake internet's
 *   whoami host, and the client's NAT router counts what arrives from the
 *   client's LAN for it (prerouting, before anything could drop it): while
 *   not connected through the tunnel nothing may leave.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { skipUnlessAvailable } from './helpers/skip.js'
import type { NsProcess } from '../../ts/netlab/exec.js'
import { createLab, type Lab } from '../../ts/netlab/netns.js'
import { snapshotNet } from '../../ts/netlab/probe.js'
import type { Topology } from '../../ts/netlab/topology.js'
import { KILLSWITCH_TABLE } from '../../ts/sys/killswitch.js'
import { VisorClient } from '../../ts/visor/rpc-client.js'
import { labSkipReason } from './helpers/lab.js'
import { tempDir, useVpnLab, type TestVisor } from './helpers/visors.js'
import { sysSkipReason } from './sys/helpers.js'

const skip = labSkipReason()

const WHOAMI = '203.0.113.80'
const NEW_POOL = '10.78.0.0/16'
/** Samples at most (20 ms apart plus the nft run: several minutes), so the loop ends even if the test never stops it. */
const MAX_SAMPLES = 10_000
/** Samples the kill-switch watcher must take across the reconnect, so the check covers it densely. */
const MIN_SAMPLES = 100

describe.skipIf(skipUnlessAvailable(skip))('kill switch across a reconnect that gets a new tunnel address', () => {
  let before: Awaited<ReturnType<typeof snapshotNet>>
  const lab = useVpnLab(
    {},
    (t) => ({
      server: { ns: t.server.ns, config: { vpnServer: { dns: ['203.0.113.53'] } } },
      client: { ns: t.client.ns, config: { vpnServer: { autostart: false }, vpnClient: { killswitch: true } } },
    }),
    {
      beforeStart: async (t) => {
        await t.lab.nft(
          t.natc.ns,
          `table inet watch {
  chain pre {
    type filter hook prerouting priority -300; policy accept;
    iifname "lan0" ip daddr ${WHOAMI} counter comment "whoami"
  }
}
`,
        )
        before = await snapshotNet(t.client.ns)
      },
    },
  )
  const tmp = tempDir('skywire-ksr-')
  const loops: NsProcess[] = []
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
    for (const p of loops) await p.kill('SIGKILL', 1000)
    tmp.cleanup()
  })

  const left = async () => {
    const out = (await t.lab.execOk(t.natc.ns, ['nft', 'list', 'table', 'inet', 'watch'])).stdout
    return Number(/counter packets (\d+) bytes \d+ comment "whoami"/.exec(out)?.[1] ?? NaN)
  }
  const tablePresent = async () => (await t.lab.execOk(t.client.ns, ['nft', 'list', 'tables'])).stdout.includes(KILLSWITCH_TABLE)

  it('the lab works: before connecting, pings to whoami leave through the NAT and are counted', async () => {
    const n0 = await left()
    await t.lab.exec(t.client.ns, ['ping', '-n', '-c', '2', '-i', '0.2', '-W', '1', WHOAMI])
    expect((await left()) - n0).toBeGreaterThan(0)
  })

  it('connects with the kill switch on, with an address from the default pool', async () => {
    await expect.poll(() => client.cli(['cli', 'vpn', 'list']).stdout, { timeout: 20_000 }).toContain(server.config.pk)
    const s = await api.vpnStart(server.config.pk, { timeoutS: 30 })
    expect(s.state).toBe('connected')
    expect(s.tunnelIp).toMatch(/^10\.77\./)
    expect(await tablePresent()).toBe(true)
    expect(await t.curlWhoami(t.client.ns)).toBe(t.server.publicAddr)
  }, 60_000)

  it('a reconnect that gets a new address never removes the kill switch, and nothing leaves meanwhile', async () => {
    const samples = join(tmp.dir, 'samples')
    const stopFile = join(tmp.dir, 'stop')
    // One line per sample: 1 table present, 0 absent, E nft failed.
    loops.push(
      t.lab.spawn(t.client.ns, [
        'sh',
        '-c',
        `i=0; while [ $i -lt ${MAX_SAMPLES} ] && [ ! -e '${stopFile}' ]; do
  if out=$(nft list tables 2>&1); then case "$out" in *${KILLSWITCH_TABLE}*) echo 1;; *) echo 0;; esac; else echo E; fi
  i=$((i+1)); sleep 0.02
done > '${samples}'`,
      ]),
    )
    // A fresh ping process each time, so each picks its route and source anew.
    loops.push(
      t.lab.spawn(t.client.ns, [
        'sh',
        '-c',
        `i=0; while [ $i -lt ${MAX_SAMPLES} ] && [ ! -e '${stopFile}' ]; do ping -n -c 1 -W 0.05 ${WHOAMI} >/dev/null 2>&1; i=$((i+1)); sleep 0.02; done`,
      ]),
    )
    await expect.poll(() => readFileSync(samples, 'utf8').split('\n').length, { timeout: 10_000, interval: 100 }).toBeGreaterThan(5)
    const n0 = await left()

    await server.stop()
    await expect.poll(async () => (await api.vpnStatus()).state, { timeout: 40_000, interval: 200 }).toBe('reconnecting')
    writeFileSync(server.file, JSON.stringify({ ...server.config, vpnServer: { ...server.config.vpnServer, pool: NEW_POOL } }), { mode: 0o600 })
    await server.start()
    await expect
      .poll(
        async () => {
          const s = await api.vpnStatus()
          return `${s.state} ${s.tunnelIp}`
        },
        { timeout: 90_000, interval: 200 },
      )
      .toMatch(/^connected 10\.78\./)
    // A little past the reconnect, so the sampler sees the new setup settle, and long enough for the
    // sample count below: a reconnect now takes well under a second (the backoff starts at once).
    await new Promise((r) => setTimeout(r, 1000))
    // Counted as below (trimmed): the file's last newline is no sample, or a fast reconnect stops at exactly MIN_SAMPLES.
    await expect.poll(() => readFileSync(samples, 'utf8').trim().split('\n').length, { timeout: 20_000, interval: 100 }).toBeGreaterThan(MIN_SAMPLES)
    writeFileSync(stopFile, '')
    await Promise.all(loops.map((p) => p.exited))
    const leaked = (await left()) - n0

    const s = readFileSync(samples, 'utf8').trim().split('\n')
    const absent = s.filter((x) => x === '0').length
    const failed = s.filter((x) => x === 'E').length
    console.log(
      `kill switch sampled ${s.length} times across the reconnect: absent ${absent}, nft failed ${failed}; pings that left beside the tunnel: ${leaked}`,
    )
    expect(s.length).toBeGreaterThan(MIN_SAMPLES)
    expect(failed).toBe(0)
    expect(absent).toBe(0)
    expect(leaked).toBe(0)
    expect(await tablePresent()).toBe(true)
    expect(await t.curlWhoami(t.client.ns)).toBe(t.server.publicAddr)
  }, 180_000)

  it('vpn stop still removes everything, the kill switch included', async () => {
    const s = await api.vpnStop()
    expect(s.state).toBe('disconnected')
    expect(await tablePresent()).toBe(false)
    expect(await snapshotNet(t.client.ns)).toEqual(before)
    expect(await t.curlWhoami(t.client.ns)).toBe(t.natc.wanAddr)
  }, 30_000)
})

/**
 * The host side of the same promise, on the real LinuxClientHost inside a
 * lab namespace (a TUN standing in for the core's): restore with
 * keepKillSwitch leaves exactly the kill switch, and a later full restore
 * (what `vpn stop` does) takes it down, also when the handle is gone because
 * the reconnect's apply failed after adopting it.
 */
const HOST_RUNNER = `
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
const [mod, stateFile, tun] = process.argv.slice(1)
const { LinuxClientHost } = await import(mod)
const host = new LinuxClientHost(stateFile, 'swks', { dnsRecheckMs: 0 })
const look = () => ({
  table: execFileSync('nft', ['list', 'tables']).toString().includes('${KILLSWITCH_TABLE}'),
  state: existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, 'utf8')) : null,
})
const apply = (t) => host.apply({ tun: t, tunnelIp: '10.99.0.2', dns: [], killswitch: true })
const out = {}
await apply(tun)
out.applied = look()
await host.restore({ keepKillSwitch: true })
out.kept = look()
await host.restore()
out.stopped = look()
await apply(tun)
// A reconnect whose apply fails (its TUN is gone): the adopted kill switch stays, the handle does not.
out.failed = await apply('swksgone0').then(() => 'applied', (e) => e.message)
out.afterFailed = look()
await host.restore()
out.stoppedAfterFailed = look()
process.stdout.write(JSON.stringify(out) + '\\n')
`

const hostSkip = sysSkipReason()

describe.skipIf(skipUnlessAvailable(hostSkip))('LinuxClientHost: restore keeping the kill switch, then vpn stop', () => {
  const root = fileURLToPath(new URL('../../', import.meta.url))
  const TUN = 'swks0'
  let lab: Lab
  let ns: string
  const tmp = tempDir('skywire-ksh-')
  beforeAll(async () => {
    lab = createLab()
    ns = await lab.addNamespace('client')
    await lab.ip(ns, ['tuntap', 'add', 'dev', TUN, 'mode', 'tun'])
    await lab.addr(ns, TUN, '10.99.0.2/24')
    await lab.ip(ns, ['link', 'set', TUN, 'up'])
  })
  afterAll(async () => {
    await lab?.close()
    tmp.cleanup()
  })

  it('keeps only the kill switch, and a full restore removes it even without a handle', async () => {
    const stateFile = join(tmp.dir, 'vpn-client.state.json')
    const p = lab.spawn(ns, [
      process.execPath,
      '--input-type=module',
      '-e',
      HOST_RUNNER,
      pathToFileURL(`${root}dist/vpn/linux-host.js`).href,
      stateFile,
      TUN,
    ])
    const info = await Promise.race([p.exited, new Promise<null>((r) => setTimeout(() => r(null), 60_000))])
    if (info === null) await p.kill('SIGKILL', 1000)
    const { stdout, stderr } = p.output()
    expect(info?.code, stderr).toBe(0)
    const out = JSON.parse(stdout.trim().split('\n').pop() as string)
    expect(out.applied.table).toBe(true)
    expect(out.applied.state.routes.length).toBeGreaterThan(0)
    // Routes gone, kill switch up, and the state file says so (the next apply adopts it).
    expect(out.kept.table).toBe(true)
    expect(out.kept.state).toMatchObject({ routes: [], resolvConf: null, killSwitch: { table: KILLSWITCH_TABLE } })
    expect(out.stopped).toEqual({ table: false, state: null })
    expect(out.failed).toMatch(/swksgone0/)
    expect(out.afterFailed.table).toBe(true)
    expect(out.afterFailed.state).toMatchObject({ routes: [], killSwitch: { table: KILLSWITCH_TABLE } })
    expect(out.stoppedAfterFailed).toEqual({ table: false, state: null })
  }, 90_000)
})
