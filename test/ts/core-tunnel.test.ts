/**
 * The Rust core end to end, without any VPN policy: two nodes in two network
 * namespaces joined by a veth, each with a real TUN; ping and a TCP transfer
 * (iperf3) through STCPR and through SUDPH; a spoofed source is dropped by
 * cryptokey routing.
 */
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { skipUnlessAvailable } from './helpers/skip.js'
import { createLab, labPrerequisites, type Lab, type NsProcess } from '../../ts/netlab/netns.js'
import { ping } from '../../ts/netlab/probe.js'
import { native } from '../../ts/native.js'

const PEER = fileURLToPath(new URL('../fixtures/peer.mjs', import.meta.url))
const pre = labPrerequisites()

interface Session {
  id: number
  peer: string
  transport: string
  stats: { txPackets: number; rxPackets: number; dropped: number; rttMs?: number }
}

function startPeer(lab: Lab, ns: string, cfg: object): NsProcess {
  return lab.spawn(ns, [process.execPath, PEER, JSON.stringify(cfg)])
}

const seqs = new Map<number, number>()
async function sessions(p: NsProcess): Promise<Session[]> {
  const n = (seqs.get(p.pid) ?? 0) + 1
  seqs.set(p.pid, n)
  process.kill(p.pid, 'SIGUSR1')
  const m = await p.waitForOutput(new RegExp(`\\{"seq":${n},"transports":(.*)\\}\\n`), 5000)
  return JSON.parse(m[1] as string) as Session[]
}

async function iperf(lab: Lab, clientNs: string, serverNs: string, addr: string): Promise<number> {
  // Not -1 (one-off): the readiness probe would use up its one session.
  const srv = lab.spawn(serverNs, ['iperf3', '-s', '-B', addr, '-p', '5201'])
  try {
    await lab.waitForTcp(serverNs, addr, 5201, 5000)
    const r = await lab.execOk(clientNs, ['iperf3', '-c', addr, '-p', '5201', '-t', '2', '-J'], { timeoutMs: 20_000 })
    const j = JSON.parse(r.stdout) as { error?: string; end: { sum_received?: { bits_per_second: number; bytes: number } } }
    expect(j.error, r.stdout.slice(0, 2000)).toBeUndefined()
    expect(j.end.sum_received?.bytes).toBeGreaterThan(0)
    return j.end.sum_received?.bits_per_second ?? 0
  } finally {
    await srv.kill('SIGTERM', 1000)
  }
}

/**
 * A server node at 192.0.2.1 (tunnel 10.99.0.1) and a client node that dials
 * it over `transport` (tunnel 10.99.0.2), each with its TUN `swt0`; resolves
 * once the client has dialed. The caller kills both.
 */
async function startPair(
  lab: Lab,
  ns: { server: string; client: string },
  keys: { server: { secretKey: string; publicKey: string }; client: { secretKey: string; publicKey: string } },
  transport: 'stcpr' | 'sudph',
): Promise<{ srv: NsProcess; cli: NsProcess }> {
  const port = transport === 'stcpr' ? 7777 : 7778
  const srv = startPeer(lab, ns.server, {
    sk: keys.server.secretKey,
    stcpr: '192.0.2.1:7777',
    sudph: '192.0.2.1:7778',
    tun: { name: 'swt0', ipv4: '10.99.0.1/24' },
    allow: { [keys.client.publicKey]: ['10.99.0.2/32'] },
  })
  await srv.waitForOutput(/"ready"/, 10_000)
  const cli = startPeer(lab, ns.client, {
    sk: keys.client.secretKey,
    stcpr: '0.0.0.0:0',
    sudph: '0.0.0.0:0',
    tun: { name: 'swt0', ipv4: '10.99.0.2/24' },
    allow: { [keys.server.publicKey]: ['10.99.0.0/24'] },
    dial: { pk: keys.server.publicKey, transport, addrs: [`192.0.2.1:${port}`], timeoutMs: 8000 },
  })
  try {
    await cli.waitForOutput(/"dialed":\d+/, 15_000)
  } catch (e) {
    await cli.kill('SIGTERM', 2000)
    await srv.kill('SIGTERM', 2000)
    throw e
  }
  return { srv, cli }
}

describe.skipIf(skipUnlessAvailable(pre.ok ? null : pre.reason))('core tunnel between two namespaces', () => {
  let lab: Lab
  let a: string
  let b: string
  const server = native.generateKeypair()
  const client = native.generateKeypair()

  beforeAll(async () => {
    lab = createLab()
    a = await lab.addNamespace('a')
    b = await lab.addNamespace('b')
    await lab.veth({ ns: a, ifname: 'va', addrs: ['192.0.2.1/24'] }, { ns: b, ifname: 'vb', addrs: ['192.0.2.2/24'] })
  })
  afterAll(() => lab?.teardown())

  for (const transport of ['stcpr', 'sudph'] as const) {
    it(`${transport}: handshake, control message, ping and TCP through the TUNs; spoofed source dropped`, async () => {
      const { srv, cli } = await startPair(lab, { server: a, client: b }, { server, client }, transport)
      try {
        // The server saw who we are, over which transport, and our control message.
        const up = await srv.waitForOutput(/"kind":"transport-up"[^\n]*/, 5000)
        expect(up[0]).toContain(client.publicKey)
        expect(up[0]).toContain(`"transport":"${transport}"`)
        await srv.waitForOutput(/"kind":"control"[^\n]*"data":"ping\?"/, 5000)
        await cli.waitForOutput(/"kind":"control"[^\n]*"data":"pong!"/, 5000)

        const p = await ping(b, '10.99.0.1', { count: 5 })
        expect(p.received, p.output).toBe(5)

        const bps = await iperf(lab, b, a, '10.99.0.1')
        console.log(`${transport} iperf3 TCP through the tunnel: ${(bps / 1e9).toFixed(2)} Gbit/s`)
        expect(bps).toBeGreaterThan(0)

        // A packet whose source is not the client's tunnel address must not
        // get through, even though it is properly encrypted by the client.
        const before = (await sessions(srv)).find((s) => s.peer === client.publicKey)
        await lab.ip(b, ['addr', 'add', '10.99.0.9/32', 'dev', 'swt0'])
        const sp = await lab.exec(b, ['ping', '-n', '-c', '3', '-i', '0.2', '-W', '1', '-I', '10.99.0.9', '10.99.0.1'])
        expect(sp.stdout).toMatch(/3 packets transmitted, 0 received/)
        const after = (await sessions(srv)).find((s) => s.peer === client.publicKey)
        expect(after!.stats.dropped).toBeGreaterThanOrEqual(before!.stats.dropped + 3)
        await lab.ip(b, ['addr', 'del', '10.99.0.9/32', 'dev', 'swt0'])
      } finally {
        await cli.kill('SIGTERM', 2000)
        await srv.kill('SIGTERM', 2000)
      }
    })
  }
})

// A router on the way whose next link has an MTU below our full-size
// datagrams (1420-byte packets + 61 bytes of IP, UDP and framing): the tunnel
// must still carry full-size packets, fragmented by the router, instead of
// losing them to "don't fragment" (a black hole for every TCP flow).
describe.skipIf(skipUnlessAvailable(pre.ok ? null : pre.reason))('core tunnel across a link with a smaller MTU', () => {
  let lab: Lab
  let srvNs: string
  let cliNs: string
  const server = native.generateKeypair()
  const client = native.generateKeypair()

  beforeAll(async () => {
    lab = createLab()
    srvNs = await lab.addNamespace('srv')
    const r = await lab.addNamespace('rtr')
    cliNs = await lab.addNamespace('cli')
    await lab.veth({ ns: srvNs, ifname: 'va', addrs: ['192.0.2.1/24'] }, { ns: r, ifname: 'ra', addrs: ['192.0.2.254/24'] }, { mtu: 1400 })
    await lab.veth({ ns: cliNs, ifname: 'vb', addrs: ['198.51.100.2/24'] }, { ns: r, ifname: 'rb', addrs: ['198.51.100.254/24'] })
    await lab.sysctl(r, 'net.ipv4.ip_forward', 1)
    await lab.ip(srvNs, ['route', 'add', 'default', 'via', '192.0.2.254'])
    await lab.ip(cliNs, ['route', 'add', 'default', 'via', '198.51.100.254'])
  })
  afterAll(() => lab?.teardown())

  it('sudph: full-size packets and TCP get through', async () => {
    const { srv, cli } = await startPair(lab, { server: srvNs, client: cliNs }, { server, client }, 'sudph')
    try {
      // 1392 bytes of ICMP payload: a 1420-byte packet, the TUN's MTU.
      const p = await lab.exec(cliNs, ['ping', '-n', '-c', '3', '-i', '0.2', '-W', '2', '-M', 'do', '-s', '1392', '10.99.0.1'])
      expect(p.stdout, p.stdout + p.stderr).toMatch(/3 packets transmitted, 3 received/)
      const bps = await iperf(lab, cliNs, srvNs, '10.99.0.1')
      expect(bps).toBeGreaterThan(10e6)
    } finally {
      await cli.kill('SIGTERM', 2000)
      await srv.kill('SIGTERM', 2000)
    }
  })
})
