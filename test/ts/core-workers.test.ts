/**
 * Workers on the data path (issue 18 item 4), end to end with the real addon:
 * a server node with W workers opens W SUDPH sockets on its one port
 * (SO_REUSEPORT, counted by `ss` in its namespace) and W queues on its TUN
 * (the kernel's `numqueues`, from `ip -d link`), and N clients, each in its
 * own namespace with its own TUN, all pass traffic through it at once (ping,
 * then one iperf3 TCP stream each, together). With `workers: 1` the server
 * is as before: one socket, a single-queue TUN. Bad worker counts are refused
 * in one line before anything is bound.
 */
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { skipUnlessAvailable } from './helpers/skip.js'
import { createLab, labPrerequisites, type Lab, type NsProcess } from '../../ts/netlab/netns.js'
import { ping } from '../../ts/netlab/probe.js'
import { native } from '../../ts/native/loader.js'
import { Node } from '../../ts/native/node.js'

const PEER = fileURLToPath(new URL('../fixtures/peer.mjs', import.meta.url))
const pre = labPrerequisites()
const CLIENTS = 3
const PORT = 7778

type Keys = { secretKey: string; publicKey: string }

/** Client i: link 10.200.i.0/24 to the server, tunnel address 10.99.0.(10+i). */
const tunAddr = (i: number) => `10.99.0.${10 + i}`

function startPeer(lab: Lab, ns: string, cfg: object): NsProcess {
  return lab.spawn(ns, [process.execPath, PEER, JSON.stringify(cfg)])
}

/** UDP sockets bound at the server's SUDPH port, in its namespace. */
async function socketsAtPort(lab: Lab, ns: string): Promise<number> {
  const r = await lab.execOk(ns, ['ss', '-H', '-u', '-a', '-n', `sport = :${PORT}`])
  return r.stdout.split('\n').filter((l) => l.trim() !== '').length
}

/** The TUN's attached queues as the kernel reports them (1 for a single-queue TUN). */
async function tunQueues(lab: Lab, ns: string, dev: string): Promise<number> {
  const r = await lab.execOk(ns, ['ip', '-d', 'link', 'show', dev])
  if (!/\bmulti_queue\b/.test(r.stdout)) return 1
  const m = /numqueues (\d+)/.exec(r.stdout)
  return Number(m?.[1] ?? Number.NaN)
}

async function iperfAll(lab: Lab, srvNs: string, clients: string[]): Promise<number[]> {
  const servers = clients.map((_, i) => lab.spawn(srvNs, ['iperf3', '-s', '-B', '10.99.0.1', '-p', String(5301 + i)]))
  try {
    for (let i = 0; i < clients.length; i++) await lab.waitForTcp(srvNs, '10.99.0.1', 5301 + i, 5000)
    const runs = clients.map((ns, i) => lab.execOk(ns, ['iperf3', '-c', '10.99.0.1', '-p', String(5301 + i), '-t', '2', '-J'], { timeoutMs: 30_000 }))
    return (await Promise.all(runs)).map((r) => {
      const j = JSON.parse(r.stdout) as { error?: string; end: { sum_received?: { bits_per_second: number } } }
      expect(j.error, r.stdout.slice(0, 1000)).toBeUndefined()
      return j.end.sum_received?.bits_per_second ?? 0
    })
  } finally {
    await Promise.all(servers.map((s) => s.kill('SIGTERM', 1000)))
  }
}

describe.skipIf(skipUnlessAvailable(pre.ok ? null : pre.reason))('a server with several workers', () => {
  let lab: Lab
  let srvNs: string
  const cliNs: string[] = []
  const server: Keys = native.generateKeypair()
  const clients: Keys[] = Array.from({ length: CLIENTS }, () => native.generateKeypair())

  beforeAll(async () => {
    lab = createLab()
    srvNs = await lab.addNamespace('wsrv')
    for (let i = 0; i < CLIENTS; i++) {
      const ns = await lab.addNamespace(`wc${i}`)
      cliNs.push(ns)
      await lab.veth({ ns: srvNs, ifname: `ws${i}`, addrs: [`10.200.${i}.1/24`] }, { ns, ifname: 'wc', addrs: [`10.200.${i}.2/24`] })
    }
  })
  afterAll(() => lab?.teardown())

  /** The server with `workers`, and every client dialed in over SUDPH; the caller kills them. */
  async function start(workers: number): Promise<NsProcess[]> {
    const procs: NsProcess[] = []
    const allow = Object.fromEntries(clients.map((c, i) => [c.publicKey, [`${tunAddr(i)}/32`]]))
    const srv = startPeer(lab, srvNs, { sk: server.secretKey, sudph: `0.0.0.0:${PORT}`, tun: { name: 'wt0', ipv4: '10.99.0.1/24' }, allow, workers })
    procs.push(srv)
    try {
      await srv.waitForOutput(/"ready"/, 10_000)
      for (let i = 0; i < CLIENTS; i++) {
        const c = startPeer(lab, cliNs[i] as string, {
          sk: clients[i]?.secretKey,
          sudph: '0.0.0.0:0',
          workers: 1,
          tun: { name: 'wt0', ipv4: `${tunAddr(i)}/24` },
          allow: { [server.publicKey]: ['10.99.0.0/24'] },
          dial: { pk: server.publicKey, transport: 'sudph', addrs: [`10.200.${i}.1:${PORT}`], timeoutMs: 8000 },
        })
        procs.push(c)
        await c.waitForOutput(/"dialed":\d+/, 15_000)
      }
      return procs
    } catch (e) {
      await Promise.all(procs.map((p) => p.kill('SIGTERM', 2000)))
      throw e
    }
  }

  for (const workers of [3, 1]) {
    it(`${workers} worker(s): ${workers} socket(s) on the port, ${workers} TUN queue(s), and all ${CLIENTS} clients pass traffic at once`, async () => {
      const procs = await start(workers)
      try {
        expect(await socketsAtPort(lab, srvNs)).toBe(workers)
        expect(await tunQueues(lab, srvNs, 'wt0')).toBe(workers)
        for (const ns of cliNs) {
          const p = await ping(ns, '10.99.0.1', { count: 3 })
          expect(p.received, p.output).toBe(3)
        }
        const bps = await iperfAll(lab, srvNs, cliNs)
        console.log(`${workers} worker(s), ${CLIENTS} clients at once: ${bps.map((b) => (b / 1e9).toFixed(2)).join(' + ')} Gbit/s`)
        for (const b of bps) expect(b).toBeGreaterThan(1e6)
      } finally {
        await Promise.all(procs.map((p) => p.kill('SIGTERM', 2000)))
      }
    })
  }
})

describe('worker counts from JavaScript', () => {
  it.each([0, 65, -1, 1.5, Number.NaN])('workers %s is refused in one line, before anything is bound', async (workers) => {
    const { secretKey } = native.generateKeypair()
    const err = await Node.start({ secretKey, sudphListen: '127.0.0.1:0', workers }).then(
      () => null,
      (e: unknown) => e as { code?: string; message: string },
    )
    expect(err?.code).toBe('EUSAGE')
    expect(err?.message).toMatch(/^workers must be an integer from 1 to 64, got /)
    expect(err?.message).not.toContain('\n')
  })

  it('the binding itself refuses what the wrapper would have caught', async () => {
    const { secretKey } = native.generateKeypair()
    // Straight to the addon: 0 and 65 are u32s it must check itself.
    for (const workers of [0, 65]) {
      await expect(native.Node.start({ secretKey, sudphListen: '127.0.0.1:0', workers }, () => {})).rejects.toThrow(
        /workers must be an integer from 1 to 64/,
      )
    }
  })

  it('TUN queue counts are checked the same way, by the wrapper and the binding', async () => {
    const { secretKey } = native.generateKeypair()
    const node = await Node.start({ secretKey, sudphListen: '127.0.0.1:0', workers: 1 })
    try {
      for (const queues of [0, 65, -1, 2.5]) {
        expect(() => node.createTun({ queues })).toThrow(/^queues must be an integer from 1 to 64, got /)
      }
    } finally {
      node.close()
    }
    const raw = await native.Node.start({ secretKey, sudphListen: '127.0.0.1:0', workers: 1 }, () => {})
    try {
      expect(() => raw.createTun({ queues: 65 })).toThrow(/queues must be an integer from 1 to 64, got 65/)
    } finally {
      raw.close()
    }
  })

  it('a node reports its workers: as asked, or one per core', async () => {
    const { secretKey } = native.generateKeypair()
    const two = await Node.start({ secretKey, sudphListen: '127.0.0.1:0', workers: 2 })
    try {
      expect(two.workers).toBe(2)
    } finally {
      two.close()
    }
    const dflt = await Node.start({ secretKey, sudphListen: '127.0.0.1:0' })
    try {
      expect(dflt.workers).toBe(Math.min(64, (await import('node:os')).availableParallelism()))
    } finally {
      dflt.close()
    }
  })
})
