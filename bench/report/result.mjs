// The run's JSON record: what it starts with (settings, machine, method) and where it is written.
import { writeFileSync } from 'node:fs'
import { cpus, loadavg, release } from 'node:os'
import { join } from 'node:path'
import { RESULTS, ROOT } from '../lib/paths.mjs'
import { chart } from './chart.mjs'
import { report } from './tables.mjs'

const METHOD = {
  tcp: 'iperf3 -c <server tunnel address> -t BENCH_SECONDS [-P 4] -J from the client namespace; end.sum_received; 1- and 4-stream runs interleaved, BENCH_REPEAT times',
  udp: 'iperf3 -u -l (BENCH_UDP_PACKET - 28) -b 0 (unlimited): packets received per second and loss over the run',
  ping: 'ping -i 0.01 -c BENCH_PINGS: median and nearest-rank p99; added RTT = median minus the bare veth median',
  cpu: 'utime+stime from /proc/<pid>/stat of every tunnel process at both ends (all threads), before/after each TCP run, summed over all TCP runs and divided by the Gbit received; machine-wide busy time from /proc/stat is kept too (includes iperf3, the kernel and other load)',
  connect:
    'bench/fixtures/connect.mjs in a fresh process: Node.start, dial, createTun+attach, UDP probes every 2 ms to an echo server behind the server TUN until the first answer; time from Node.start',
  memory:
    'VmRSS of a fresh server node (test/fixtures/peer.mjs) before and after bench/fixtures/load.mjs opened BENCH_SESSIONS idle transports (one Node per client key, no TUN), divided by the sessions the server reported up',
}

export function newResult(settings) {
  return {
    date: new Date().toISOString(),
    settings: { ...settings, only: settings.only.length ? settings.only : undefined },
    machine: { cpus: cpus().length, model: cpus()[0]?.model, kernel: release(), node: process.version, loadavgBefore: loadavg() },
    method: METHOD,
    tools: {},
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
  console.log(
    `Measured on ${res.machine.cpus} cores (${res.machine.model}), load average ${res.machine.loadavgBefore.map((x) => x.toFixed(2)).join(' ')} at the start.`,
  )
  console.log(`wrote ${jsonFile.slice(ROOT.length + 1)} and ${pngFile.slice(ROOT.length + 1)}`)
}
