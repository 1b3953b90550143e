/**
 * The page's state as a pure reducer over what the visor says (SSE ticks and
 * state changes) and what the user does, so the logic is testable without a
 * browser. Throughput comes from byte counters between ticks.
 */
import type { Banner } from './errors.js'
import type { ServerSummary, VpnClientStatus as ClientStatus } from '../../contracts/status.js'

export interface Sample {
  t: number
  rxBps: number
  txBps: number
}

/** The event stream: 'denied' when the visor refused this page's token. */
export type Stream = 'opening' | 'open' | 'lost' | 'denied'

export interface UiState {
  client: ClientStatus | null
  server: ServerSummary | null
  samples: Sample[]
  /** Counters at the previous tick, to turn totals into rates. */
  last: { t: number; server: string | null; rx: number; tx: number } | null
  stream: Stream
  /** The PK a connect is in flight to, or 'stop' while disconnecting. */
  busy: string | null
  banner: Banner | null
}

/** Two minutes of one-second ticks. */
export const MAX_SAMPLES = 120

export type Action =
  | { type: 'tick'; t: number; client: ClientStatus; server: ServerSummary }
  | { type: 'state'; t: number; client: ClientStatus }
  | { type: 'stream'; stream: Stream }
  | { type: 'busy'; busy: string | null }
  | { type: 'banner'; banner: Banner | null }

export function initialState(): UiState {
  return { client: null, server: null, samples: [], last: null, stream: 'opening', busy: null, banner: null }
}

function sample(s: UiState, t: number, c: ClientStatus): Pick<UiState, 'samples' | 'last'> {
  const live = c.state === 'connected' || c.state === 'reconnecting'
  if (!live) return { samples: s.last ? [] : s.samples, last: null }
  const now = { t, server: c.server, rx: c.rxBytes, tx: c.txBytes }
  const prev = s.last
  // A new server or counters that went back (a new session) start a new graph.
  if (!prev || prev.server !== c.server || c.rxBytes < prev.rx || c.txBytes < prev.tx) {
    return { samples: prev && prev.server === c.server ? s.samples : [], last: now }
  }
  const dt = (t - prev.t) / 1000
  if (dt <= 0) return { samples: s.samples, last: prev }
  const next = [...s.samples, { t, rxBps: (c.rxBytes - prev.rx) / dt, txBps: (c.txBytes - prev.tx) / dt }]
  return { samples: next.slice(-MAX_SAMPLES), last: now }
}

export function reduce(s: UiState, a: Action): UiState {
  switch (a.type) {
    case 'tick':
      return { ...s, ...sample(s, a.t, a.client), client: a.client, server: a.server, stream: 'open' }
    case 'state': {
      // A state change carries no new counters worth a sample; the next tick takes them.
      const dropped = a.client.state === 'disconnected'
      return { ...s, client: a.client, ...(dropped ? { samples: [], last: null } : {}) }
    }
    case 'stream':
      return { ...s, stream: a.stream }
    case 'busy':
      return { ...s, busy: a.busy }
    case 'banner':
      return { ...s, banner: a.banner }
  }
}

/** What the big status line says. */
export function stateLabel(s: UiState): string {
  if (s.stream === 'lost') return 'visor unreachable'
  if (s.stream === 'denied') return 'not authorised'
  if (!s.client) return 'loading'
  return s.client.state
}

/** Connect buttons are usable only while the client is idle and nothing is in flight. */
export function canConnect(s: UiState): boolean {
  return s.stream === 'open' && s.busy === null && s.client?.state === 'disconnected'
}

export function canDisconnect(s: UiState): boolean {
  return s.busy !== 'stop' && s.client !== null && s.client.state !== 'disconnected'
}
