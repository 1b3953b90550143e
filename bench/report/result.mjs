// The run's JSON record: what it starts with (settings, machine, provenance, method) and where it is written.
import { readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, release } from 'node:os'
import { join } from 'node:path'
import { RESULTS, ROOT } from '../lib/paths.mjs'
import { buildInfo, gitState } from '../lib/provenance.mjs'
import { chart } from './chart.mjs'
import { report } from './tables.mjs'

const METHOD = {
  rounds:
    'BENCH_REPEAT rounds; in each, every subject is set up, warmed up with one unrecorded BENCH_WARMUP-second TCP run, measured and taken down, in the order of one row of a balanced Latin square (`order`), so no subject always runs first or last',
  tcp: 'iperf3 -c <server tunnel address> -t BENCH_SECONDS [-P 4] -J from the client namespace; end.sum_received; one 1-stream and one 4-stream run per round; median and min-max over the rounds',
  udp: 'in the last round: iperf3 -u -l (BENCH_UDP_PACKET - 28) -b <rate> -w 4M -t BENCH_UDP_SECONDS at fixed offered rates, doubling from 20 kpps while the loss stays under BENCH_UDP_LOSS %, then bisecting to 5 %; the highest passing rate is reported (`steps` has every run); a rate the sender could not offer (< 90 %) ends the climb (`senderLimited`)',
  ping: 'ping -i 0.01 -c BENCH_PINGS per round: median and nearest-rank p99 of all replies; added RTT = median minus the bare veth median',
  cpu: 'utime+stime from /proc/<pid>/stat of every tunnel process at both ends (all threads), before/after each measured TCP run, summed over all of them and divided by the Gbit received; machine-wide busy time from /proc/stat is kept too (includes iperf3, the kernel and other load)',
  processes:
    'per tunnel process, in the order the subject lists them (server end first): its name, threads right after setup and the most seen (/proc/<pid>/status sampled every 250 ms), over all rounds',
  offloads: "`ethtool -k` of the veth pair (`links`) and of each subject's own links (its TUNs), read after the warm-up of its first round",
  load: 'the 1-minute load average before the first round must not exceed BENCH_MAX_LOAD; with --allow-loaded the run goes on and `loaded` is true',
  clients:
    'one server node (test/fixtures/peer.mjs, SUDPH, TUN) in its own namespace with a bridge, BENCH_CLIENTS client nodes each in its own namespace (a veth to the bridge) with its own TUN; one iperf3 server per client behind the server TUN; after an unrecorded BENCH_WARMUP run all clients run iperf3 -c -t BENCH_SECONDS at once, BENCH_REPEAT times; aggregate = sum of end.sum_received; CPU = utime+stime of the server process, and of the client processes together, over the runs divided by all Gbit received; threads = /proc/<pid>/status of the server sampled every 250 ms',
  connect:
    'bench/fixtures/connect.mjs in a fresh process: Node.start, dial, createTun+attach, UDP probes every 2 ms to an echo server behind the server TUN until the first answer; time from Node.start',
  memory:
    'VmRSS of a fresh server node (test/fixtures/peer.mjs) before and after bench/fixtures/load.mjs opened BENCH_SESSIONS idle transports (one Node per client key, no TUN), divided by the sessions the server reported up; then utime+stime of the server over BENCH_IDLE_SECONDS of idling, as a share of one core. The large SUDPH row (BENCH_SCALE_SESSIONS) splits its sessions over 4 load processes',
}

function sysctl(name) {
  try {
    return Number(readFileSync(`/proc/sys/${name}`, 'utf8').trim())
  } catch {
    return null
  }
}

export function newResult(settings) {
  return {
    date: new Date().toISOString(),
    git: gitState(ROOT),
    build: buildInfo(ROOT),
    loaded: false,
    settings: { ...settings, only: settings.only.length ? settings.only : undefined },
    machine: {
      cpus: cpus().length,
      model: cpus()[0]?.model,
      kernel: release(),
      node: process.version,
      loadavgBefore: loadavg(),
      // Caps of every socket buffer asked for (iperf3 -w, the tunnels' own), in bytes.
      rmemMax: sysctl('net/core/rmem_max'),
      wmemMax: sysctl('net/core/wmem_max'),
    },
    method: METHOD,
    tools: {},
    links: {},
    order: [],
    subjects: {},
    skipped: [],
  }
}

/** Writes bench/results/<UTC time>.json and .png, and prints the tables. */
export function finish(res, startedAt) {
  res.machine.loadavgAfter = loadavg()
  res.durationS = Math.round((Date.now() - startedAt) / 1000)
  const stamp = `${res.date.slice(0, 19).replace(/:/g, '-')}Z`
  const jsonFile = join(RESULTS, `${stamp}.json`)
  const pngFile = join(RESULTS, `${stamp}.png`)
  writeFileSync(jsonFile, `${JSON.stringify(res, null, 2)}\n`)
  chart(res, pngFile)
  console.log('')
  console.log(report(res))
  console.log('')
  console.log(`wrote ${jsonFile.slice(ROOT.length + 1)} and ${pngFile.slice(ROOT.length + 1)}`)
}
