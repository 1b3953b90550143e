// Our tunnel through one hop (issue 16): client (bench-cli) → hop (its own namespace, bench-hop) → exit
// (bench-srv), SUDPH on both links, three bare nodes (test/fixtures/peer.mjs: its `splice` and `via` stand
// in for the visor's hop control). The client runs its Noise session with the hop and, inside it, a second
// one end to end with the exit; the hop splices the two in Rust, without a rate limit.
// Compare it with the `sudph` row of the same run (one transport, client → exit): the target is
// at least 60 % of its TCP throughput.
//
//   bench-cli 192.0.2.2 ─ va/vb ─ bench-srv 192.0.2.1         (the other subjects' pair, unused here)
//   bench-cli 198.51.100.2 ─ hc/ch ─ bench-hop 198.51.100.1
//                                    bench-hop 198.18.0.2 ─ hs/sh ─ bench-srv 198.18.0.1
import { createRequire } from 'node:module'
import { generateKeypair } from '../lib/native.mjs'
import { spawnNode } from '../lib/node-proc.mjs'
import { PEER } from '../lib/paths.mjs'

/** The client's and the exit's TUN MTU: the direct tunnel's 1420, less one circuit layer (forward header and the inner session's framing). */
const mtu = () => 1420 - createRequire(import.meta.url)('../../native/index.js').CIRCUIT_OVERHEAD

/** The hop's namespace and its two links, made once per run (the lab removes them at its end). */
async function hopNamespace(lab, env) {
  if (env.hop) return env.hop
  const ns = await lab.addNamespace('bench-hop')
  await lab.veth({ ns: env.b, ifname: 'ch', addrs: ['198.51.100.2/24'] }, { ns, ifname: 'hc', addrs: ['198.51.100.1/24'] })
  await lab.veth({ ns, ifname: 'hs', addrs: ['198.18.0.2/24'] }, { ns: env.a, ifname: 'sh', addrs: ['198.18.0.1/24'] })
  env.hop = ns
  return ns
}

export async function setupTwoHop(lab, env) {
  const hopNs = await hopNamespace(lab, env)
  const [exitKey, hopKey, clientKey] = [generateKeypair(), generateKeypair(), generateKeypair()]
  const procs = []
  const stop = async () => {
    for (const p of [...procs].reverse()) await p.kill('SIGTERM', 2000)
  }
  try {
    const exit = spawnNode(lab, env.a, PEER, {
      sk: exitKey.secretKey,
      sudph: '198.18.0.1:7788',
      tun: { name: 'swh0', ipv4: '10.96.0.1/24', mtu: mtu() },
      allow: { [clientKey.publicKey]: ['10.96.0.2/32'] },
    })
    procs.push(exit)
    await exit.waitForOutput(/"ready"/, 10_000)
    const hop = spawnNode(lab, hopNs, PEER, {
      sk: hopKey.secretKey,
      sudph: '0.0.0.0:7798',
      splice: true,
      dial: { pk: exitKey.publicKey, transport: 'sudph', addrs: ['198.18.0.1:7788'], timeoutMs: 8000 },
    })
    procs.push(hop)
    const h = await hop.waitForOutput(/"dialed":\d+|"dialError":\{[^\n]*/, 15_000)
    if (h[0].includes('dialError')) throw new Error(`the hop could not reach the exit: ${h[0]}`)
    const client = spawnNode(lab, env.b, PEER, {
      sk: clientKey.secretKey,
      sudph: '0.0.0.0:0',
      tun: { name: 'swh0', ipv4: '10.96.0.2/24', mtu: mtu() },
      allow: { [exitKey.publicKey]: ['10.96.0.0/24'] },
      dial: { pk: hopKey.publicKey, transport: 'sudph', addrs: ['198.51.100.1:7798'], timeoutMs: 8000 },
      via: { pk: exitKey.publicKey },
    })
    procs.push(client)
    const c = await client.waitForOutput(/"dialedVia":\d+|"dialError":\{[^\n]*/, 20_000)
    if (c[0].includes('dialError')) throw new Error(`client → hop → exit failed: ${c[0]}`)
  } catch (e) {
    // Nothing may keep the ports or TUN names a later subject or repeat uses.
    await stop()
    throw e
  }
  const ifaces = [
    { role: 'server', ns: env.a, ifname: 'swh0' },
    { role: 'client', ns: env.b, ifname: 'swh0' },
  ]
  const config = {
    tokioWorkerThreads: process.env.TOKIO_WORKER_THREADS ?? 'one per core (default)',
    hop: 'SUDPH both links, splice without a rate limit',
    tunMtu: mtu(),
  }
  // Server end first (exit, hop, client), as the other subjects list theirs.
  return { addr: '10.96.0.1', pids: procs.map((p) => p.pid), ifaces, config, stop }
}
