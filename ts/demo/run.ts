/**
 * `npm run demo`: a real VPN connection on a small local network of
 * namespaces, on the embedded default services (SQLite). Builds the lab
 * (fake internet with a what-is-my-IP server, discovery services, a server
 * visor, a client visor behind NAT), connects, shows the client's public IP
 * before and after, and tears everything down on Ctrl-C (or at once with
 * --once). Touches nothing outside the namespaces it creates.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateConfig } from '../config/file.js'
import { reportAndExit } from '../cli/report.js'
import { SkywireError } from '../contracts/errors.js'
import { labPrerequisites } from '../netlab/netns.js'
import { buildTopology, type Topology } from '../netlab/topology.js'
import type { NsProcess } from '../netlab/exec.js'
import { LAB_SERVICES_CONFIG, LAB_SERVICES_HTTP, LAB_SERVICES_UDP, startLabServices } from '../netlab/lab-services.js'
import { VisorClient } from '../visor/rpc-client.js'

const BIN = fileURLToPath(new URL('../../bin/run.js', import.meta.url))

const say = (s: string) => process.stdout.write(`${s}\n`)

async function main(): Promise<void> {
  const once = process.argv.includes('--once')
  if (process.getuid?.() !== 0) throw new SkywireError('EPERM', 'the demo needs root: it creates network namespaces, TUNs and routes')
  const pre = labPrerequisites()
  if (!pre.ok) throw new SkywireError('ENOTAVAILABLE', `the demo cannot run here: ${pre.reason}`)

  const dir = mkdtempSync(join(tmpdir(), 'skywire-demo-'))
  let topo: Topology | null = null
  const procs: NsProcess[] = []
  const cleanup = async () => {
    for (const p of procs.reverse()) await p.kill('SIGTERM', 10_000).catch(() => {})
    await topo?.close()
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    say('building the demo network (namespaces: internet, services, server + LAN, client behind NAT) ...')
    topo = await buildTopology({})
    const t = topo
    say(`namespaces ${t.lab.prefix}-*`)
    procs.push(await startLabServices(t, { store: { db: join(dir, 'services.db') }, bin: BIN, timeoutMs: 20_000 }))
    say(`discovery services on http://${LAB_SERVICES_HTTP} (UDP ${LAB_SERVICES_UDP}), SQLite store`)

    const visor = async (name: string, ns: string, serverAutostart: boolean, uiListen = '') => {
      const sock = join(dir, `${name}.sock`)
      const cfg = generateConfig({
        dataDir: join(dir, name),
        services: { ...LAB_SERVICES_CONFIG },
        control: { socket: sock, listen: uiListen },
        vpnServer: { autostart: serverAutostart, dns: ['203.0.113.53'] },
      })
      const file = join(dir, `${name}.json`)
      writeFileSync(file, JSON.stringify(cfg), { mode: 0o600 })
      const p = t.lab.spawn(ns, [process.execPath, BIN, 'visor', '-c', file])
      procs.push(p)
      await p.waitForOutput(/control API listening/, 30_000)
      return { pk: cfg.pk, sock, api: new VisorClient(sock) }
    }
    const server = await visor('server', t.server.ns, true)
    say(`server visor ${server.pk} (public address ${t.server.publicAddr}, VPN server on)`)
    const client = await visor('client', t.client.ns, false, '127.0.0.1:3435')
    say(`client visor ${client.pk} (behind NAT ${t.natc.wanAddr})`)

    say(`client's public IP before: ${await t.curlWhoami(t.client.ns)}`)
    const s = await client.api.vpnStart(server.pk, { timeoutS: 30 })
    say(`connected over ${s.transport} to ${s.server}; tunnel IP ${s.tunnelIp}`)
    say(`client's public IP now:    ${await t.curlWhoami(t.client.ns)}`)
    const ui = await openUi(t, dir, client.api, procs)
    say(`web UI of the client visor: ${ui}`)
    say('or the CLI:')
    say(`  ${BIN} cli vpn status --rpc ${client.sock}`)
    say(`  ${BIN} cli vpn server status --rpc ${server.sock}`)
    if (!once) {
      say('press Ctrl-C to disconnect and tear the demo network down')
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve)
        process.once('SIGTERM', resolve)
      })
    }
    await client.api.vpnStop()
    say(`disconnected; client's public IP: ${await t.curlWhoami(t.client.ns)}`)
  } finally {
    await cleanup()
    say('demo network removed')
  }
}

/**
 * The client visor's UI listens on 127.0.0.1:3435 inside the client's
 * namespace, out of reach of the host's browser. Bridge it: a relay inside the
 * namespace turns a unix socket (the filesystem is shared) into that port, and
 * this process listens on the host's loopback and feeds the socket. The UI
 * checks that Origin matches Host, so any host port works.
 */
async function openUi(t: Topology, dir: string, api: VisorClient, procs: NsProcess[]): Promise<string> {
  const relaySock = join(dir, 'ui-relay.sock')
  const relay = `const net=require('net');net.createServer((c)=>{const u=net.connect(3435,'127.0.0.1');c.pipe(u).pipe(c);c.on('error',()=>u.destroy());u.on('error',()=>c.destroy())}).listen(${JSON.stringify(relaySock)})`
  const p = t.lab.spawn(t.client.ns, [process.execPath, '-e', relay])
  procs.push(p)
  const { url } = await api.ui()
  const server = createServer((c) => {
    const u = connect(relaySock)
    c.pipe(u).pipe(c)
    c.on('error', () => u.destroy())
    u.on('error', () => c.destroy())
  })
  const port = await new Promise<number>((resolve) => {
    server.once('error', () => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)))
    server.listen(3435, '127.0.0.1', () => resolve((server.address() as AddressInfo).port))
  })
  server.unref()
  return url.replace(/127\.0\.0\.1:3435/, `127.0.0.1:${port}`)
}

main().catch(reportAndExit)
