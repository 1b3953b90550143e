/**
 * Multi-hop in the Rust core end to end, without VPN policy: a client, a hop
 * and an exit in three network namespaces, each a bare node (fixtures/peer.mjs)
 * with real sockets; client and exit with real TUNs. The client reaches the
 * exit only through the hop's circuit (no route between them): ping and a TCP
 * transfer (iperf3) cross both layers; the exit sees the client's key and the
 * hop's address. For scale, the same transfer over a direct transport routed
 * through the same middle namespace (as an IP router, not a hop).
 */
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLab, labPrerequisites, type Lab, type NsProcess } from '../../ts/netlab/netns.js'
import { ping } from '../../ts/netlab/probe.js'
import { native } from '../../ts/native/loader.js'
import { skipUnlessAvailable } from './helpers/skip.js'

const PEER = fileURLToPath(new URL('../fixtures/peer.mjs', import.meta.url))
const pre = labPrerequisites()
/** The client's TUN MTU: the direct tunnel's 1420 less one circuit layer. */
const MTU = 1420 - native.CIRCUIT_OVERHEAD

function startPeer(lab: Lab, ns: string, cfg: object): NsProcess {
  return lab.spawn(ns, [process.execPath, PEER, JSON.stringify(cfg)])
}

async function iperf(lab: Lab, clientNs: string, serverNs: string, addr: string): Promise<number> {
  const srv = lab.spawn(serverNs, ['iperf3', '-s', '-B', addr, '-p', '5201'])
  try {
    await lab.waitForTcp(serverNs, addr, 5201, 5000)
    const r = await lab.execOk(clientNs, ['iperf3', '-c', addr, '-p', '5201', '-t', '3', '-J'], { timeoutMs: 30_000 })
    const j = JSON.parse(r.stdout) as { error?: string; end: { sum_received?: { bits_per_second: number; bytes: number } } }
    expect(j.error, r.stdout.slice(0, 2000)).toBeUndefined()
    expect(j.end.sum_received?.bytes).toBeGreaterThan(0)
    return j.end.sum_received?.bits_per_second ?? 0
  } finally {
    await srv.kill('SIGTERM', 1000)
  }
}

describe.skipIf(skipUnlessAvailable(pre.ok ? null : pre.reason))('core multi-hop: client → hop → exit', () => {
  let lab: Lab
  let exitNs: string
  let hopNs: string
  let cliNs: string
  const exit = native.generateKeypair()
  const hop = native.generateKeypair()
  const client = native.generateKeypair()
  const procs: NsProcess[] = []

  beforeAll(async () => {
    lab = createLab()
    exitNs = await lab.addNamespace('mhe')
    hopNs = await lab.addNamespace('mhh')
    cliNs = await lab.addNamespace('mhc')
    await lab.veth({ ns: exitNs, ifname: 'mhe0', addrs: ['192.0.2.1/24'] }, { ns: hopNs, ifname: 'mhh0', addrs: ['192.0.2.2/24'] })
    await lab.veth({ ns: cliNs, ifname: 'mhc0', addrs: ['198.51.100.2/24'] }, { ns: hopNs, ifname: 'mhh1', addrs: ['198.51.100.1/24'] })
  })
  afterAll(async () => {
    for (const p of procs) await p.kill('SIGTERM', 2000)
    await lab?.teardown()
  })

  for (const transport of ['sudph', 'stcpr'] as const) {
    it(`${transport}: ping and TCP cross the hop's circuit; the exit sees the client's key from the hop's address`, async () => {
      const port = transport === 'stcpr' ? 7777 : 7778
      try {
        const e = startPeer(lab, exitNs, {
          sk: exit.secretKey,
          stcpr: '192.0.2.1:7777',
          sudph: '192.0.2.1:7778',
          tun: { name: 'swm0', ipv4: '10.98.0.1/24', mtu: MTU },
          allow: { [client.publicKey]: ['10.98.0.2/32'] },
        })
        procs.push(e)
        await e.waitForOutput(/"ready"/, 10_000)
        const h = startPeer(lab, hopNs, {
          sk: hop.secretKey,
          stcpr: '0.0.0.0:7777',
          sudph: '0.0.0.0:7778',
          splice: true,
          dial: { pk: exit.publicKey, transport, addrs: [`192.0.2.1:${port}`], timeoutMs: 8000 },
        })
        procs.push(h)
        await h.waitForOutput(/"dialed":\d+/, 15_000)
        const c = startPeer(lab, cliNs, {
          sk: client.secretKey,
          stcpr: '0.0.0.0:0',
          sudph: '0.0.0.0:0',
          tun: { name: 'swm0', ipv4: '10.98.0.2/24', mtu: MTU },
          allow: { [exit.publicKey]: ['10.98.0.0/24'] },
          dial: { pk: hop.publicKey, transport, addrs: [`198.51.100.1:${port}`], timeoutMs: 8000 },
          via: { pk: exit.publicKey },
        })
        procs.push(c)
        await c.waitForOutput(/"dialedVia":\d+/, 15_000)
        // The exit: the client's key, through its transport from the hop, at the hop's address.
        const up = await e.waitForOutput(new RegExp(`"kind":"transport-up"[^\\n]*"peer":"${client.publicKey}"[^\\n]*`), 5000)
        expect(up[0]).toMatch(/"remote":"192\.0\.2\.2:\d+"/)
        expect(up[0]).toMatch(/"via":\d+/)
        await e.waitForOutput(/"kind":"control"[^\n]*"data":"ping\?"/, 5000)
        await c.waitForOutput(/"kind":"control"[^\n]*"data":"pong!"/, 5000)

        const p = await ping(cliNs, '10.98.0.1', { count: 5 })
        expect(p.received, p.output).toBe(5)
        // A full-size packet for the lowered MTU crosses both layers unfragmented.
        const big = await lab.exec(cliNs, ['ping', '-n', '-c', '2', '-i', '0.2', '-W', '2', '-M', 'do', '-s', String(MTU - 28), '10.98.0.1'])
        expect(big.stdout, big.stdout + big.stderr).toMatch(/2 packets transmitted, 2 received/)

        const via = await iperf(lab, cliNs, exitNs, '10.98.0.1')
        console.log(`${transport} iperf3 TCP through one hop: ${(via / 1e9).toFixed(2)} Gbit/s`)
        expect(via).toBeGreaterThan(1e6)
      } finally {
        for (const x of procs.splice(0).reverse()) await x.kill('SIGTERM', 2000)
      }
    })
  }
})
