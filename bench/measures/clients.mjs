// N parallel clients (issue 18, item 4): one server node (test/fixtures/peer.mjs, SUDPH, with its TUN) in
// its own namespace, and `settings.clients` client nodes, each in its own namespace with its own TUN, all
// dialing it. Each client runs its own iperf3 -c to its own iperf3 server behind the server's TUN, all
// started together for `settings.seconds`: the aggregate the server carries, the slowest and the fastest
// client, the server's CPU per Gbit (and the clients' together, apart), and the server's threads.
//
//   bench-mc1 198.19.0.11 (mc0) ─ veth ─ mcs1 ┐
//   bench-mc2 198.19.0.12 (mc0) ─ veth ─ mcs2 ┼─ bridge mcbr0 198.19.0.1 in bench-mc-srv (server, SUDPH :7779)
//   …                                         ┘
// The namespaces are made once per run; the lab removes them (and every process) at its end, on failure
// and on Ctrl-C.
import { CLIENTS_NET, clientPlan, clientsRun, clientsSummary } from '../lib/clients.mjs'
import { parseTcp } from '../lib/iperf-json.mjs'
import { log, parseJson, sleep } from '../lib/log.mjs'
import { generateKeypair } from '../lib/native.mjs'
import { PEER } from '../lib/paths.mjs'
import { cpuOf, watchThreads } from '../lib/procfs.mjs'
import { fmt, fmt3 } from '../lib/stats.mjs'
import { iperfServer } from './iperf.mjs'
import { reachable } from './ping.mjs'

/**
 * The server's worker setting forced to 1: helper d2's option (branch perf-cores, issue 18 item 4).
 * ──── D2 WORKERS HOOK ────  When that branch names it, set this to what the server node needs for one
 * worker: `{ cfg: { … } }` is merged into test/fixtures/peer.mjs's JSON config, `{ env: { … } }` into its
 * environment. While it is null the row has only the default variant (and the JSON says why).
 */
export const SERVER_ONE_WORKER = { cfg: { workers: 1 } }

/** The variants measured: the server as configured by default, and with one worker when the option exists. */
export function clientVariants() {
  const v = [{ key: 'default', label: 'server default', cfg: {}, env: {} }]
  if (SERVER_ONE_WORKER) v.push({ key: 'workers1', label: 'server 1 worker', cfg: SERVER_ONE_WORKER.cfg ?? {}, env: SERVER_ONE_WORKER.env ?? {} })
  return v
}

/** Our node fixture in `ns` with a high file-descriptor limit, and extra environment. */
function spawnPeer(lab, ns, cfg, env = {}) {
  return lab.spawn(ns, ['sh', '-c', 'ulimit -n 65536 2>/dev/null || true; exec "$0" "$@"', process.execPath, PEER, JSON.stringify(cfg)], {
    env: { ...process.env, ...env },
  })
}

/** The server's namespace with its bridge, and one namespace per client linked to it: made once per run. */
async function clientNamespaces(lab, env, n) {
  if (env.clients?.n === n) return env.clients
  const { bridge } = CLIENTS_NET
  const srv = await lab.addNamespace('bench-mc-srv')
  await lab.bridge(srv, bridge.ifname, [`${bridge.addr}/${bridge.prefix}`])
  const plan = clientPlan(n)
  for (const c of plan) {
    c.ns = await lab.addNamespace(c.role)
    await lab.veth({ ns: srv, ifname: c.serverIfname }, { ns: c.ns, ifname: c.clientIfname, addrs: [c.linkCidr] })
    await lab.bridgePort(srv, bridge.ifname, c.serverIfname)
  }
  log(`clients: ${n} client namespaces on bridge ${bridge.ifname} (${bridge.addr}/${bridge.prefix}) in ${srv}`)
  env.clients = { n, srv, plan }
  return env.clients
}

/** Server and clients up, every client's tunnel answering; returns { server, clients, stop }. */
async function startNodes(lab, net, variant) {
  const { bridge, sudphPort, tunNet, tunName } = CLIENTS_NET
  const serverKey = generateKeypair()
  const keys = net.plan.map(() => generateKeypair())
  const procs = []
  const stop = async () => {
    await Promise.all(procs.slice(1).map((p) => p.kill('SIGTERM', 2000)))
    await procs[0]?.kill('SIGTERM', 2000)
  }
  try {
    const server = spawnPeer(
      lab,
      net.srv,
      {
        sk: serverKey.secretKey,
        sudph: `${bridge.addr}:${sudphPort}`,
        tun: { name: tunName, ipv4: `${tunNet}.1/24` },
        allow: Object.fromEntries(net.plan.map((c, k) => [keys[k].publicKey, [`${c.tunAddr}/32`]])),
        ...variant.cfg,
      },
      variant.env,
    )
    procs.push(server)
    await server.waitForOutput(/"ready"/, 10_000)
    const clients = net.plan.map((c, k) => {
      const p = spawnPeer(lab, c.ns, {
        sk: keys[k].secretKey,
        sudph: '0.0.0.0:0',
        tun: { name: tunName, ipv4: `${c.tunAddr}/24` },
        allow: { [serverKey.publicKey]: [`${tunNet}.0/24`] },
        dial: { pk: serverKey.publicKey, transport: 'sudph', addrs: [`${bridge.addr}:${sudphPort}`], timeoutMs: 8000 },
      })
      procs.push(p)
      return p
    })
    const dialed = await Promise.all(clients.map((p) => p.waitForOutput(/"dialed":\d+|"dialError":\{[^\n]*/, 20_000)))
    const bad = dialed.findIndex((m) => m[0].includes('dialError'))
    if (bad >= 0) throw new Error(`client ${bad + 1} could not dial the server: ${dialed[bad][0]}`)
    for (const c of net.plan) await reachable(lab, c.ns, `${tunNet}.1`)
    return { server, clients, stop }
  } catch (e) {
    await stop()
    throw e
  }
}

/** All clients' iperf3 -c at once for `seconds`; [{ bps, bytes }] in client order, or throws with the first error. */
async function allAtOnce(lab, net, seconds) {
  const addr = `${CLIENTS_NET.tunNet}.1`
  const runs = await Promise.all(
    net.plan.map((c) =>
      lab.exec(c.ns, ['iperf3', '-c', addr, '-p', String(c.port), '-t', String(seconds), '-J'], { timeoutMs: (seconds + 30) * 1000 }),
    ),
  )
  return runs.map((r, k) => {
    const j = parseJson(r.stdout)
    if (r.code !== 0 || !j || j.error) throw new Error(`client ${k + 1}: iperf3: ${j?.error ?? (r.stderr.trim() || `exit ${r.code}`)}`)
    return parseTcp(j)
  })
}

/** One variant: nodes up, iperf3 servers, a warm-up together (not recorded), then `settings.repeat` measured runs. */
async function measureVariant(lab, net, settings, variant) {
  const nodes = await startNodes(lab, net, variant)
  const iperfs = []
  const threads = watchThreads([nodes.server.pid])
  try {
    for (const c of net.plan) iperfs.push(await iperfServer(lab, net.srv, `${CLIENTS_NET.tunNet}.1`, c.port))
    const warm = await allAtOnce(lab, net, settings.warmup)
    log(`  clients ${variant.key}: warm-up ${settings.warmup} s: ${fmt(warm.reduce((s, r) => s + r.bps, 0) / 1e9)} Gbit/s together (not recorded)`)
    const clientPids = nodes.clients.map((p) => p.pid)
    const runs = []
    for (let round = 0; round < settings.repeat; round++) {
      // iperf3's servers need a moment between runs (a start too early is reset: measures/iperf.mjs).
      await sleep(300)
      const s0 = cpuOf([nodes.server.pid])
      const c0 = cpuOf(clientPids)
      const t = watchThreads([nodes.server.pid])
      const per = await allAtOnce(lab, net, settings.seconds)
      const seen = t.stop()[0]
      const run = clientsRun(per, cpuOf([nodes.server.pid]) - s0, cpuOf(clientPids) - c0, seen?.max ?? null)
      runs.push(run)
      log(
        `  clients ${variant.key} round ${round + 1}/${settings.repeat}: ${fmt(run.aggregateGbps)} Gbit/s together, per client ${fmt3(Math.min(...run.perClientGbps))}–${fmt3(Math.max(...run.perClientGbps))}, server ${fmt(run.serverCpuS / run.gbitTransferred, 3)} CPU s/Gbit, ${seen?.max ?? '?'} threads`,
      )
    }
    const th = threads.stop()[0]
    return { ...clientsSummary(runs), serverThreadsAtStart: th?.first ?? null, serverName: th?.name ?? null, runs }
  } finally {
    threads.stop()
    await Promise.all(iperfs.map((p) => p.kill('SIGTERM', 1000)))
    await nodes.stop()
  }
}

/** The row: { clients, streamsPerClient, variants: { default, workers1? }, workersOption }. */
export async function parallelClients(lab, env, settings) {
  const net = await clientNamespaces(lab, env, settings.clients)
  const out = {
    clients: settings.clients,
    transport: 'sudph',
    streamsPerClient: 1,
    seconds: settings.seconds,
    workersOption: SERVER_ONE_WORKER ?? 'not measured: the server worker option (helper d2, branch perf-cores) is not in this tree yet',
    variants: {},
  }
  for (const v of clientVariants()) {
    log(`clients ${v.key}: ${settings.clients} clients, ${settings.repeat} runs of ${settings.seconds} s, all at once`)
    try {
      out.variants[v.key] = { label: v.label, ...(await measureVariant(lab, net, settings, v)) }
    } catch (e) {
      out.variants[v.key] = { label: v.label, error: e.message.split('\n')[0] }
    }
  }
  return out
}
