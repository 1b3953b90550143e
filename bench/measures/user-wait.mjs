// The time a user waits (issue 18, item 2): the real `skywire` CLI against real visors on the netlab's
// topology (discovery services on the fake internet, a public VPN server, a client behind a NAT), each time a
// ratio to a bare `node -e 0` run the same way in the same minute:
//   - `skywire --version` and `skywire cli vpn status` (visor running, not connected);
//   - `skywire cli vpn start -k SERVER` until the first packet through the tunnel (a ping to the fake internet,
//     which only the tunnel carries once it is up), per transport kind, cold (a fresh visor with a fresh key,
//     its config ordering only that kind) and warm (that kind's transport already up, `--existing-tp`), with
//     the part until the CLI returned apart (coldCli, warmCli: start-up plus the visor's work it waits for);
//   - after the server visor restarts (SIGTERM, start), how long until the client's traffic flows again, per kind.
// Every command runs in the client's namespace through `ip netns exec … sh -c`, the baseline too, so the
// spawn overhead is in both sides of each ratio. Loops are bounded (pings, tries, timeouts).
//
// Alone (as root, after `npm run build`): node bench/measures/user-wait.mjs   (prints the JSON)
//   BENCH_USERWAIT_TRIES   tries of each start and of the restart (default 5); CLI-only commands run 4× that
//   BENCH_USERWAIT_COMPARE another checkout's bin/run.js: its --version, status and warm start are timed in the
//                          same loops (before/after a change in one run); the visors are always this tree's
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ROOT } from '../lib/paths.mjs'

const BIN = join(ROOT, 'bin/run.js')
/** Targets of issue 18, as ratios to `node -e 0` (status, start) and milliseconds (back after a restart). */
export const USER_WAIT_TARGETS = { status: 1.5, startPublic: 2.5, backMs: 1000 }

const dist = (p) => import(pathToFileURL(join(ROOT, 'dist', p)).href)
const median = (a) => {
  const s = [...a].sort((x, y) => x - y)
  return s.length === 0 ? null : s[Math.floor(s.length / 2)]
}
const q = (s) => `'${String(s).replace(/'/g, "'\\''")}'`

/** Runs `cmd` in `ns` under sh; resolves with its wall time (ms) and exit code. */
async function timed(lab, ns, cmd, timeoutMs = 60_000) {
  const t0 = performance.now()
  const r = await lab.exec(ns, ['sh', '-c', cmd], { timeoutMs })
  const end = performance.now()
  return { ms: end - t0, end, code: r.code, out: r.stdout, err: r.stderr.trim().split('\n')[0] ?? '' }
}

/**
 * `start` (a CLI command), then the first-packet loop, in one shell: timed as one by `timed`, and the shell
 * prints how long the CLI took (ms, by the shell's clock), so the wait splits into the CLI's part (its start-up
 * and the visor's work it waits for) and what comes after it returns (the first ping through the tunnel).
 */
const startThenPacket = (start, packet) =>
  `s=$(date +%s%N); ${start} >/dev/null || exit $?; d=$(date +%s%N); (${packet}) || exit $?; echo $(( s / 1000 )) $(( d / 1000 ))`
/** The shell's two clock readings (epoch ms, the clock the visor's log uses too): the CLI's launch and return. */
const cliSpan = (r) => {
  const [s, d] = r.out
    .trim()
    .split('\n')
    .pop()
    .split(' ')
    .map((x) => Number(x) / 1000)
  return Number.isFinite(s) && Number.isFinite(d) ? { launched: s, returned: d } : null
}
const cliPartMs = (r) => {
  const c = cliSpan(r)
  return c ? c.returned - c.launched : null
}

/**
 * Where one start's wait went, from the client visor's log ("vpn connect" stages, pino's epoch-ms `time`) and
 * the shell's clock: until the visor logged its first stage (the CLI's start-up and request), the transport
 * (dial, or finding the existing one), the hello (an address from the server), routes and DNS until the CLI
 * returned, and the first ping after that. Null when a stage is missing from the log.
 */
function startPhases(visorStdout, span, endMs) {
  if (!span) return null
  const stages = []
  for (const line of visorStdout.split('\n')) {
    if (!line.includes('"vpn connect"')) continue
    try {
      const j = JSON.parse(line)
      if (j.time >= span.launched - 5 && j.time <= span.returned + 5) stages.push(j)
    } catch {}
  }
  const at = (re) => stages.find((j) => re.test(String(j.stage)))?.time
  const first = stages[0]?.time
  const hello = at(/asking the server for an address/)
  const routes = at(/routing traffic through the tunnel/)
  if (first === undefined || hello === undefined || routes === undefined) return null
  return {
    cliToVisor: first - span.launched,
    transport: hello - first,
    hello: routes - hello,
    routesAndReturn: span.returned - routes,
    firstPacket: endMs - span.returned,
  }
}

/** A shell loop that ends at the first ping answered from `addr` (≤ `tries` pings of ≤ 200 ms each). */
const firstPacket = (addr, tries = 150) =>
  `i=0; until ping -c1 -W0.2 -n ${addr} >/dev/null 2>&1; do i=$((i+1)); [ $i -ge ${tries} ] && exit 9; done; exit 0`

function visor(topo, ns, dir, name, generateConfig, LAB_SERVICES_CONFIG, o = {}) {
  const rpc = join(dir, `${name}.sock`)
  const config = generateConfig({ dataDir: join(dir, name), services: { ...LAB_SERVICES_CONFIG }, control: { socket: rpc, listen: '' }, ...o })
  const file = join(dir, `${name}.json`)
  writeFileSync(file, JSON.stringify(config), { mode: 0o600 })
  const v = {
    ns,
    pk: config.pk,
    rpc,
    proc: null,
    async start() {
      v.proc = topo.lab.spawn(ns, [process.execPath, BIN, 'visor', '-c', file])
      await v.proc.waitForOutput(/control API listening/, 30_000)
    },
    async stop() {
      await v.proc?.kill('SIGTERM', 10_000)
      v.proc = null
    },
  }
  return v
}

export async function userWait(log = (m) => console.error(`user-wait: ${m}`)) {
  const tries = Math.max(1, Number(process.env.BENCH_USERWAIT_TRIES ?? 5) | 0)
  const compare = process.env.BENCH_USERWAIT_COMPARE || null
  const { buildTopology } = await dist('netlab/index.js')
  const { startLabServices, LAB_SERVICES_CONFIG } = await dist('netlab/lab-services.js')
  const { generateConfig } = await dist('config/file.js')
  const node = process.execPath
  const cli = (bin, args, rpc) => `${node} ${q(bin)} ${args} --rpc ${q(rpc)}`
  const topo = await buildTopology({ ipv6: false })
  const dir = mkdtempSync(join(tmpdir(), 'skywire-userwait-'))
  const lab = topo.lab
  const ns = topo.client.ns
  const target = topo.internet.whoamiUrl.replace(/^https?:\/\/([^:/]+).*$/, '$1')
  const samples = {}
  const add = (k, v) => {
    samples[k] ??= []
    samples[k].push(v)
  }
  const addPhases = (k, p) => {
    if (p) for (const [name, ms] of Object.entries(p)) add(`${k}:phase:${name}`, ms)
  }
  const errors = []
  const running = []
  try {
    const services = await startLabServices(topo, { store: { db: join(dir, 'services.db') }, bin: BIN, timeoutMs: 30_000 })
    running.push({ stop: () => services.kill('SIGTERM', 3000) })
    const mk = (name, nsOf, o) => visor(topo, nsOf, dir, name, generateConfig, LAB_SERVICES_CONFIG, o)
    const server = mk('server', topo.server.ns, { vpnServer: { dns: ['203.0.113.53'] } })
    await server.start()
    running.push(server)

    // 1. The CLI alone: node -e 0, --version, vpn status against an idle client visor, interleaved.
    const idle = mk('idle', ns, { vpnServer: { autostart: false } })
    await idle.start()
    running.push(idle)
    const bins = compare ? { '': BIN, 'compare:': compare } : { '': BIN }
    log(`CLI start-up: ${tries * 4} rounds of node -e 0, --version, vpn status${compare ? ` (and ${compare})` : ''}`)
    for (let i = 0; i < tries * 4; i++) {
      add('node0', (await timed(lab, ns, `${node} -e 0`)).ms)
      for (const [tag, bin] of Object.entries(bins)) {
        add(`${tag}version`, (await timed(lab, ns, `${node} ${q(bin)} --version >/dev/null`)).ms)
        const st = await timed(lab, ns, `${cli(bin, 'cli vpn status', idle.rpc)} >/dev/null`)
        if (st.code !== 0) errors.push(`vpn status exited ${st.code}: ${st.err}`)
        else add(`${tag}status`, st.ms)
      }
    }
    await idle.stop()
    running.pop()

    // 2. vpn start to the public server until the first packet: per kind, cold then warm.
    for (const kind of ['sudph', 'stcpr']) {
      log(`vpn start over ${kind}: ${tries} fresh visors, cold then warm (--existing-tp)`)
      for (let i = 0; i < tries; i++) {
        const c = mk(`c-${kind}-${i}`, ns, { vpnServer: { autostart: false }, transports: { order: [kind] } })
        await c.start()
        running.push(c)
        try {
          add('node0', (await timed(lab, ns, `${node} -e 0`)).ms)
          const cold = await timed(lab, ns, startThenPacket(cli(BIN, `cli vpn start -k ${server.pk} -t 20`, c.rpc), firstPacket(target)))
          if (cold.code !== 0) throw new Error(`cold start over ${kind} exited ${cold.code}: ${cold.err}`)
          const coldCli = cliPartMs(cold)
          if (coldCli !== null) add(`${kind}:cold:cli`, coldCli)
          addPhases(`${kind}:cold`, startPhases(c.proc.output().stdout, cliSpan(cold), Date.now() - (performance.now() - cold.end)))
          const st = JSON.parse((await lab.execOk(ns, [node, BIN, 'cli', 'vpn', 'status', '--json', '--rpc', c.rpc])).stdout)
          if (st.transport !== kind) throw new Error(`asked for ${kind}, connected over ${st.transport}`)
          // Through the tunnel: the fake internet sees the server's address (checked outside the timing).
          const seen = (await topo.curlWhoami(ns)).trim()
          if (seen !== topo.server.publicAddr) throw new Error(`after start the internet saw ${seen}, not the server ${topo.server.publicAddr}`)
          add(`${kind}:cold`, cold.ms)
          for (const [tag, bin] of Object.entries(bins)) {
            await lab.execOk(ns, [node, BIN, 'cli', 'vpn', 'stop', '--rpc', c.rpc])
            const tps = JSON.parse((await lab.execOk(ns, [node, BIN, 'cli', 'tp', 'ls', '--json', '--rpc', c.rpc])).stdout)
            if (!tps.some((t) => t.peer === server.pk && t.type === kind)) {
              await lab.execOk(ns, [node, BIN, 'cli', 'tp', 'add', server.pk, '-t', kind, '--rpc', c.rpc])
            }
            const warm = await timed(
              lab,
              ns,
              startThenPacket(cli(bin, `cli vpn start -k ${server.pk} --existing-tp -t 20`, c.rpc), firstPacket(target)),
            )
            if (warm.code !== 0) throw new Error(`warm start over ${kind} exited ${warm.code}: ${warm.err}`)
            const warmCli = cliPartMs(warm)
            if (warmCli !== null) add(`${tag}${kind}:warm:cli`, warmCli)
            addPhases(`${tag}${kind}:warm`, startPhases(c.proc.output().stdout, cliSpan(warm), Date.now() - (performance.now() - warm.end)))
            add(`${tag}${kind}:warm`, warm.ms)
          }
          await lab.exec(ns, [node, BIN, 'cli', 'vpn', 'stop', '--rpc', c.rpc])
        } catch (e) {
          errors.push(e.message)
          log(e.message)
        } finally {
          await c.stop()
          running.pop()
        }
      }
    }

    // 3. Back after a server restart: the client stays connected (its reconnect loop), the server restarts. Per
    // transport kind: SUDPH learns it from the restarted server's unknown-session hint, STCPR from the TCP reset.
    for (const kind of ['sudph', 'stcpr']) {
      log(`back after a server restart over ${kind}: ${tries} restarts`)
      const c = mk(`c-restart-${kind}`, ns, { vpnServer: { autostart: false }, transports: { order: [kind] } })
      await c.start()
      running.push(c)
      try {
        await lab.execOk(ns, [node, BIN, 'cli', 'vpn', 'start', '-k', server.pk, '-t', '20', '--rpc', c.rpc])
        for (let i = 0; i < tries; i++) {
          const tStop = performance.now()
          await server.stop()
          await server.start()
          const tReady = performance.now()
          const back = await timed(lab, ns, firstPacket(target, 300), 120_000)
          log(`restart ${i + 1} (${kind}): ping loop exited ${back.code} after ${Math.round(back.ms)} ms`)
          if (back.code !== 0) {
            const st = await lab.exec(ns, [node, BIN, 'cli', 'vpn', 'status', '--json', '--rpc', c.rpc])
            const s = JSON.parse(st.stdout || '{}')
            errors.push(
              `no packet through the tunnel within 60 s of the server's restart (${kind}, try ${i + 1}; client: ${s.state} over ${s.transport}, ${s.rxPackets} packets in, last ${s.lastPacketMs} ms ago, ${s.lastError ?? 'no error'})`,
            )
            break
          }
          add(`back:${kind}:fromReady`, performance.now() - tReady)
          add(`back:${kind}:fromStop`, performance.now() - tStop)
        }
        await lab.exec(ns, [node, BIN, 'cli', 'vpn', 'stop', '--rpc', c.rpc])
      } finally {
        await c.stop()
        running.pop()
      }
    }
  } finally {
    for (const p of running.reverse()) await p.stop().catch(() => {})
    await topo.close(3000)
    rmSync(dir, { recursive: true, force: true })
  }

  const base = median(samples.node0 ?? [])
  const row = (k) => {
    const ms = median(samples[k] ?? [])
    return ms === null ? null : { ms: Math.round(ms), ratio: base ? Number((ms / base).toFixed(2)) : null, n: samples[k].length }
  }
  const out = {
    how: 'wall time in the client namespace (ip netns exec … sh -c), median; ratio = to node -e 0 run the same way',
    tries,
    node0: row('node0'),
    version: row('version'),
    status: row('status'),
    // Medians of each phase of a start (startPhases), per kind and cold/warm.
    phases: Object.fromEntries(
      ['sudph:cold', 'sudph:warm', 'stcpr:cold', 'stcpr:warm', 'compare:sudph:warm', 'compare:stcpr:warm'].map((k) => [
        k,
        Object.fromEntries(
          ['cliToVisor', 'transport', 'hello', 'routesAndReturn', 'firstPacket'].map((p) => [p, row(`${k}:phase:${p}`)?.ms ?? null]),
        ),
      ]),
    ),
    // coldCli/warmCli: until `vpn start` returned (by the shell's clock); the rest of cold/warm is the first ping.
    start: {
      sudph: { cold: row('sudph:cold'), warm: row('sudph:warm'), coldCli: row('sudph:cold:cli'), warmCli: row('sudph:warm:cli') },
      stcpr: { cold: row('stcpr:cold'), warm: row('stcpr:warm'), coldCli: row('stcpr:cold:cli'), warmCli: row('stcpr:warm:cli') },
    },
    // The top-level pair is SUDPH's (the default transport; what earlier runs measured), per kind below it.
    back: {
      fromServerReadyMs: row('back:sudph:fromReady')?.ms ?? null,
      fromServerStopMs: row('back:sudph:fromStop')?.ms ?? null,
      sudph: { fromServerReadyMs: row('back:sudph:fromReady')?.ms ?? null, fromServerStopMs: row('back:sudph:fromStop')?.ms ?? null },
      stcpr: { fromServerReadyMs: row('back:stcpr:fromReady')?.ms ?? null, fromServerStopMs: row('back:stcpr:fromStop')?.ms ?? null },
    },
    targets: USER_WAIT_TARGETS,
    errors,
  }
  if (compare)
    out.compare = {
      bin: compare,
      version: row('compare:version'),
      status: row('compare:status'),
      sudphWarm: row('compare:sudph:warm'),
      stcprWarm: row('compare:stcpr:warm'),
      sudphWarmCli: row('compare:sudph:warm:cli'),
      stcprWarmCli: row('compare:stcpr:warm:cli'),
    }
  return out
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  if (process.getuid?.() !== 0) {
    console.error('user-wait: run it as root (it builds network namespaces)')
    process.exit(2)
  }
  userWait()
    .then((r) => console.log(JSON.stringify(r, null, 2)))
    .catch((e) => {
      console.error(`user-wait: ${e.stack ?? e}`)
      process.exitCode = 1
    })
}
