// Our tunnel over one transport kind: a server node and a client node (test/fixtures/peer.mjs), each
// with its TUN, the client dialing the server.
import { generateKeypair } from '../lib/native.mjs'
import { serverAddr, spawnNode } from '../lib/node-proc.mjs'
import { PEER } from '../lib/paths.mjs'

export async function setupOurs(lab, env, transport) {
  const server = generateKeypair()
  const client = generateKeypair()
  const srv = spawnNode(lab, env.a, PEER, {
    sk: server.secretKey,
    stcpr: '192.0.2.1:7777',
    sudph: '192.0.2.1:7778',
    tun: { name: 'swb0', ipv4: '10.99.0.1/24' },
    allow: { [client.publicKey]: ['10.99.0.2/32'] },
  })
  let cli = null
  const stop = async () => {
    await cli?.kill('SIGTERM', 2000)
    await srv.kill('SIGTERM', 2000)
  }
  try {
    await srv.waitForOutput(/"ready"/, 10_000)
    cli = spawnNode(lab, env.b, PEER, {
      sk: client.secretKey,
      sudph: '0.0.0.0:0',
      tun: { name: 'swb0', ipv4: '10.99.0.2/24' },
      allow: { [server.publicKey]: ['10.99.0.0/24'] },
      dial: { pk: server.publicKey, transport, addrs: [serverAddr(transport)], timeoutMs: 8000 },
    })
    const m = await cli.waitForOutput(/"dialed":\d+|"dialError":\{[^\n]*/, 15_000)
    if (m[0].includes('dialError')) throw new Error(`dial over ${transport} failed: ${m[0]}`)
  } catch (e) {
    // Nothing may keep the ports or TUN names the next subjects use.
    await stop()
    throw e
  }
  const ifaces = [
    { role: 'server', ns: env.a, ifname: 'swb0' },
    { role: 'client', ns: env.b, ifname: 'swb0' },
  ]
  // The tokio runtime starts one worker per core unless told otherwise.
  const config = { tokioWorkerThreads: process.env.TOKIO_WORKER_THREADS ?? 'one per core (default)' }
  return { addr: '10.99.0.1', pids: [srv.pid, cli.pid], ifaces, config, stop }
}
