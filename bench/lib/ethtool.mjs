// The offload settings of a link (`ethtool -k`), recorded for every veth and TUN a run uses: GSO/GRO/TSO
// decide how many packets a syscall carries, so a run without them is a different experiment.

/**
 * Parses `ethtool -k IFNAME` output into { features: { name: on }, fixed: [names], requested: { name: on } }:
 * `fixed` lists what the driver does not let anyone change, `requested` what was asked for but not
 * granted (`off [requested on]`). Pure; throws on output that is not a feature list.
 */
export function parseEthtoolFeatures(text) {
  const features = {}
  const fixed = []
  const requested = {}
  for (const line of text.split('\n')) {
    if (line.trim() === '' || /^Features for /.test(line)) continue
    const m = /^\s*([A-Za-z0-9_-]+): (on|off)(?: \[(fixed|requested (?:on|off))\])?\s*$/.exec(line)
    if (!m) continue
    const [, name, state, note] = m
    features[name] = state === 'on'
    if (note === 'fixed') fixed.push(name)
    else if (note) requested[name] = note === 'requested on'
  }
  if (Object.keys(features).length === 0) throw new Error(`not an ethtool -k feature list: ${JSON.stringify(text.slice(0, 80))}`)
  return { features, fixed, requested }
}

/** The offloads that shape a tunnel's batches, as "on"/"off" text for the report (one line per link). */
export const KEY_OFFLOADS = {
  tso: 'tcp-segmentation-offload',
  gso: 'generic-segmentation-offload',
  gro: 'generic-receive-offload',
  'tx-udp-seg': 'tx-udp-segmentation',
  'rx-udp-gro-fwd': 'rx-udp-gro-forwarding',
  'tx-csum': 'tx-checksumming',
}

export function offloadSummary(parsed) {
  if (!parsed?.features) return '—'
  return Object.entries(KEY_OFFLOADS)
    .map(([short, name]) => `${short} ${parsed.features[name] === undefined ? '?' : parsed.features[name] ? 'on' : 'off'}`)
    .join(', ')
}

/** `ethtool -k` of one link inside a lab namespace: the parsed features, or { error }. Never throws. */
export async function readOffloads(lab, ns, ifname) {
  try {
    const r = await lab.exec(ns, ['ethtool', '-k', ifname], { timeoutMs: 10_000 })
    if (r.code !== 0) return { error: (r.stderr || r.stdout).trim().split('\n').at(-1) || `ethtool exit ${r.code}` }
    return parseEthtoolFeatures(r.stdout)
  } catch (e) {
    return { error: e.message.split('\n')[0] }
  }
}
