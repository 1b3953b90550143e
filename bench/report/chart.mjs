// The throughput chart (PNG) of a run: TCP ×1 and ×4 per subject, median with min–max whiskers.
import { writeFileSync } from 'node:fs'
import { barChart } from '../lib/png.mjs'
import { LABELS, SUBJECTS } from '../subjects/index.mjs'

export function chart(res, file) {
  const names = SUBJECTS.filter((n) => res.subjects[n])
  const groups = names.map((n) => {
    const r = res.subjects[n]
    const v = (g) => (g ? { value: g.median, min: g.min, max: g.max } : null)
    return { label: LABELS[n], values: r.error ? [null, null] : [v(r.tcp1.gbps), v(r.tcp4.gbps)] }
  })
  // The veth is usually 10x and more above the tunnels: then the axis fits the tunnels and the veth bars are cut.
  const top = (ns) => Math.max(0, ...ns.flatMap((n) => groups[names.indexOf(n)].values.filter(Boolean).map((v) => Math.max(v.value, v.max))))
  const tunnels = top(names.filter((n) => n !== 'veth'))
  const scaleMax = tunnels > 0 && top(['veth'].filter((n) => names.includes(n))) > 3 * tunnels ? tunnels * 1.1 : undefined
  const st = res.settings
  const png = barChart({
    title: 'iperf3 TCP throughput through each tunnel (Gbit/s)',
    subtitle: `${res.date.slice(0, 16).replace('T', ' ')} UTC${commit(res)}, ${res.machine.cpus} cores${res.loaded ? ', LOADED' : ''}, ${st.seconds} s runs, median and min-max of ${st.repeat}`,
    unit: 'Gbit/s',
    series: ['1 stream', '4 streams'],
    groups,
    scaleMax,
  })
  writeFileSync(file, png)
}

/** ", at 1234abcde (dirty)" when the run recorded its commit. */
function commit(res) {
  const g = res.git
  return g?.commit ? `, at ${g.commit.slice(0, 9)}${g.dirty ? ' (dirty)' : ''}` : ''
}
