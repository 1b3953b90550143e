// The WireGuard userspace peers we compare against (wireguard-go, boringtun), one daemon per end,
// configured through the UAPI socket (bench/lib/wg.mjs) without `wg`.
import { rmSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { reachable } from '../measures/ping.mjs'
import { uapiGet, uapiPath, uapiSet, waitForUapi, wgKeypair } from '../lib/wg.mjs'

/**
 * How many threads each daemon runs on. boringtun's default is 4 whatever the machine (its --threads);
 * wireguard-go starts its workers per core (runtime.NumCPU) and Go's scheduler uses every core unless
 * GOMAXPROCS says otherwise. Both get the machine's cores, so neither is held back or oversubscribed.
 */
export function wireguardConfig(kind) {
  const cores = availableParallelism()
  return kind === 'boringtun' ? { threads: cores } : { gomaxprocs: process.env.GOMAXPROCS ?? `${cores} (default: cores)` }
}

/** wireguard-go or boringtun on both ends, configured through the UAPI socket. */
export async function setupWireguard(lab, env, kind, bin) {
  const config = wireguardConfig(kind)
  const net = kind === 'wireguard-go' ? '10.98.0' : '10.97.0'
  const tag = kind === 'wireguard-go' ? 'wg' : 'bt'
  const ends = [
    { ns: env.a, ifname: `${tag}-${lab.id}-a`, key: wgKeypair(), addr: `${net}.1/24`, port: 51820 },
    { ns: env.b, ifname: `${tag}-${lab.id}-b`, key: wgKeypair(), addr: `${net}.2/24`, port: 51821 },
  ]
  const procs = []
  const stop = async () => {
    for (const p of procs) await p.kill('SIGTERM', 2000)
    for (const e of ends) rmSync(uapiPath(e.ifname), { force: true })
  }
  env.cleanups.push(() => {
    for (const e of ends) rmSync(uapiPath(e.ifname), { force: true })
  })
  try {
    for (const e of ends) {
      const argv =
        kind === 'wireguard-go'
          ? [bin, '-f', e.ifname]
          : [bin, '--foreground', '--disable-drop-privileges', '--threads', String(config.threads), e.ifname]
      // WG_PROCESS_FOREGROUND also silences wireguard-go's "use the kernel module" banner.
      const p = lab.spawn(e.ns, argv, { env: { ...process.env, WG_PROCESS_FOREGROUND: '1', LOG_LEVEL: 'error' } })
      procs.push(p)
      await waitForUapi(e.ifname, 10_000, p)
    }
    const [a, b] = ends
    await uapiSet(a.ifname, { privateKey: a.key.privateKey, listenPort: a.port, peer: { publicKey: b.key.publicKey, allowedIps: [`${net}.2/32`] } })
    await uapiSet(b.ifname, {
      privateKey: b.key.privateKey,
      listenPort: b.port,
      peer: { publicKey: a.key.publicKey, endpoint: `192.0.2.1:${a.port}`, allowedIps: [`${net}.0/24`] },
    })
    for (const e of ends) {
      await lab.ip(e.ns, ['addr', 'add', e.addr, 'dev', e.ifname])
      await lab.ip(e.ns, ['link', 'set', e.ifname, 'mtu', '1420', 'up'])
    }
    await reachable(lab, env.b, `${net}.1`)
    // The ping answered, so the handshake happened; rx_bytes says it went through this peer. (Not
    // last_handshake_time_sec: boringtun reports the time since the handshake there, 0 right after it.)
    const g = await uapiGet(b.ifname)
    if (!(Number(g.rx_bytes) > 0)) throw new Error('the WireGuard peer received nothing')
  } catch (e) {
    await stop()
    throw e
  }
  const ifaces = ends.map((e, i) => ({ role: i === 0 ? 'server' : 'client', ns: e.ns, ifname: e.ifname }))
  return { addr: `${net}.1`, pids: procs.map((p) => p.pid), ifaces, config, stop }
}
