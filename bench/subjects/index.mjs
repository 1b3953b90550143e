// The subjects, by name: each setup returns { addr, pids, stop }: the server's address through it, the
// pids of its tunnel processes (for the CPU measure), and how to take it down again.
import { setupOurs } from './ours.mjs'
import { setupTwoHop } from './two-hop.mjs'
import { setupVeth } from './veth.mjs'
import { setupWireguard } from './wireguard.mjs'

export { SUBJECTS } from '../lib/settings.mjs'

/** Display names, in the tables and the chart. */
export const LABELS = {
  veth: 'bare veth',
  sudph: 'skywire SUDPH',
  stcpr: 'skywire STCPR',
  'wireguard-go': 'wireguard-go',
  boringtun: 'boringtun',
  'two-hop': 'skywire SUDPH, one hop',
}

/** `tool` is the installed binary of a WireGuard subject ({ bin }), unused for the others. */
export function setupSubject(name, lab, env, tool) {
  if (name === 'veth') return setupVeth()
  if (name === 'sudph' || name === 'stcpr') return setupOurs(lab, env, name)
  if (name === 'two-hop') return setupTwoHop(lab, env)
  return setupWireguard(lab, env, name, tool.bin)
}
