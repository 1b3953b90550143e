/** Network-lab glue for vitest: skip reasons and a topology per describe block. */
import { afterAll, beforeAll } from 'vitest'
import { labPrerequisites } from '../../../ts/netlab/netns.js'
import { buildTopology, type Topology, type TopologyOptions } from '../../../ts/netlab/topology.js'

/** null when namespace tests can run here, else why not (for describe.skipIf and its title). */
export function labSkipReason(): string | null {
  const pre = labPrerequisites()
  return pre.ok ? null : pre.reason
}

/**
 * Builds a topology before the block's tests and tears it down after them.
 * Call the returned function inside a test to get it.
 */
export function useTopology(opts: TopologyOptions = {}): () => Topology {
  let topo: Topology | undefined
  beforeAll(async () => {
    topo = await buildTopology(opts)
  })
  // close(), not teardown(): visors get SIGTERM and time to restore before the namespaces go.
  afterAll(async () => topo?.close())
  return () => {
    if (topo === undefined) throw new Error('topology not built (did beforeAll fail?)')
    return topo
  }
}

/**
 * The address a transport to `host` shows as its remote: its IPv4 or its IPv6 address, since a dual-stack SUDPH
 * dial takes whichever family's resolver answer comes first.
 */
export function remoteOf(host: { publicAddr: string; publicAddr6: string | null }): RegExp {
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const v6 = host.publicAddr6 === null ? [] : [`\\[${esc(host.publicAddr6)}\\]:`]
  return new RegExp(`^(?:${[`${esc(host.publicAddr)}:`, ...v6].join('|')})\\d+$`)
}
