// The subjects' rounds: in each round every wanted subject is set up, measured (after its warm-up run)
// and taken down again, in that round's interleaved order (lib/order.mjs), so a drift of the machine
// during the run spreads over all subjects instead of landing on whichever came last.
import { log } from '../lib/log.mjs'
import { interleavedOrder } from '../lib/order.mjs'
import { SUBJECTS, wanted } from '../lib/settings.mjs'
import { setupSubject } from '../subjects/index.mjs'
import { measureRound, newAccumulator, summarize } from './path.mjs'

export async function measureSubjects(lab, env, settings, tools, res) {
  const names = []
  for (const name of SUBJECTS) {
    if (!wanted(settings, name)) continue
    if (tools[name]?.error) res.subjects[name] = { error: 'not installed' }
    else names.push(name)
  }
  const order = interleavedOrder(names, settings.repeat)
  res.order = order
  const acc = Object.fromEntries(names.map((n) => [n, newAccumulator()]))
  const failed = {}
  for (const [round, row] of order.entries()) {
    if (row.length === 0) continue
    log(`round ${round + 1}/${order.length}: ${row.join(', ')}`)
    for (const name of row) {
      if (failed[name]) continue
      log(`${name}: setting up`)
      let path = null
      try {
        path = await setupSubject(name, lab, env, tools[name])
        // The UDP sweep takes a dozen runs: once per subject, in the last round, when every path is warm.
        await measureRound(lab, env, settings, name, path, acc[name], { round, udp: round === order.length - 1 })
      } catch (e) {
        // One failure drops the subject's row: a row of the rounds that happened to work would not be comparable.
        failed[name] = e.message.split('\n')[0]
        const msg = `${name}: ${failed[name]}`
        console.log(`bench: ${msg} — skipping its row`)
        res.skipped.push(msg)
      } finally {
        await path?.stop()
      }
    }
  }
  for (const name of names) res.subjects[name] = failed[name] ? { error: failed[name] } : summarize(acc[name])
}
