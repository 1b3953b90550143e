/** The web UI's pure logic: formatting, the state reducer, the token in the URL, errors, filtering, the graph. */
import { describe, expect, it } from 'vitest'
import { ApiError, apiErrorOf, bannerFor } from '../../../../ts/ui/lib/errors.js'
import { countryName, entryPk, flagEmoji, formatBytes, formatDuration, formatLatency, formatRate, shortPk } from '../../../../ts/ui/lib/format.js'
import { graphPaths, niceCeil } from '../../../../ts/ui/lib/graph.js'
import { countries, filterServers } from '../../../../ts/ui/lib/servers.js'
import { MAX_SAMPLES, canConnect, canDisconnect, initialState, reduce, stateLabel, type UiState } from '../../../../ts/ui/lib/state.js'
import { hashWithoutToken, tokenFromHash } from '../../../../ts/ui/lib/token.js'
import type { ServerEntry } from '../../../../ts/ui/lib/servers.js'
import type { ServerSummary, VpnClientStatus as ClientStatus } from '../../../../ts/contracts/status.js'
import { clientStatus } from '../../fakes/status.js'

const PK = 'a'.repeat(64)
const PK2 = 'b'.repeat(64)

const client = clientStatus
const server: ServerSummary = { running: false, secure: true, netifc: null, gateway: null, clients: 0, rxBytes: 0, txBytes: 0 }

describe('format', () => {
  it('bytes, rates, durations and latency read like a person wrote them', () => {
    expect(formatBytes(0)).toBe('0 B')
    expect(formatBytes(1023)).toBe('1023 B')
    expect(formatBytes(1536)).toBe('1.50 KiB')
    expect(formatBytes(50 * 1024 * 1024)).toBe('50.0 MiB')
    expect(formatRate(100)).toBe('800 bit/s')
    expect(formatRate(125)).toBe('1.00 kbit/s')
    expect(formatRate(125_000)).toBe('1.00 Mbit/s')
    expect(formatRate(12_500_000)).toBe('100.0 Mbit/s')
    expect(formatDuration(null)).toBe('–')
    expect(formatDuration(59)).toBe('59s')
    expect(formatDuration(3661)).toBe('1h 1m 1s')
    expect(formatDuration(90061)).toBe('1d 1h 1m')
    expect(formatLatency(null)).toBe('–')
    expect(formatLatency(3.06)).toBe('3.1 ms')
    expect(formatLatency(42.6)).toBe('43 ms')
  })

  it('country codes become flags and names; anything else becomes nothing', () => {
    expect(flagEmoji('de')).toBe('🇩🇪')
    expect(flagEmoji('US')).toBe('🇺🇸')
    expect(flagEmoji('')).toBe('')
    expect(flagEmoji(null)).toBe('')
    expect(flagEmoji('USA')).toBe('')
    expect(countryName('DE')).toBe('Germany')
    expect(countryName(undefined)).toBe('Unknown country')
  })

  it('keys are shortened for people and taken from the address when the entry has no pk', () => {
    expect(shortPk(PK)).toBe('aaaaaaaa…aaaa')
    expect(shortPk(null)).toBe('–')
    expect(entryPk({ address: `${PK}:3` })).toBe(PK)
    expect(entryPk({ pk: PK2, address: `${PK}:3` })).toBe(PK2)
  })
})

describe('token in the URL', () => {
  it('is read from the fragment and removed from it, keeping anything else', () => {
    const t = 'A'.repeat(43)
    expect(tokenFromHash(`#token=${t}`)).toBe(t)
    expect(tokenFromHash(`token=${t}`)).toBe(t)
    expect(tokenFromHash('#token=short')).toBeNull()
    expect(tokenFromHash('#token=<script>')).toBeNull()
    expect(tokenFromHash('')).toBeNull()
    expect(hashWithoutToken(`#token=${t}`)).toBe('')
    expect(hashWithoutToken(`#token=${t}&tab=servers`)).toBe('#tab=servers')
  })
})

describe('state reducer', () => {
  const connected = (rx: number, tx: number, o: Partial<ClientStatus> = {}): ClientStatus =>
    client({ state: 'connected', server: PK, rxBytes: rx, txBytes: tx, ...o })

  it('turns byte counters on each tick into rates', () => {
    let s = reduce(initialState(), { type: 'tick', t: 0, client: connected(0, 0), server })
    expect(s.stream).toBe('open')
    expect(s.samples).toEqual([])
    s = reduce(s, { type: 'tick', t: 1000, client: connected(1000, 500), server })
    s = reduce(s, { type: 'tick', t: 3000, client: connected(5000, 500), server })
    expect(s.samples).toEqual([
      { t: 1000, rxBps: 1000, txBps: 500 },
      { t: 3000, rxBps: 2000, txBps: 0 },
    ])
  })

  it('keeps a bounded history', () => {
    let s = initialState()
    for (let i = 0; i <= MAX_SAMPLES + 10; i++) s = reduce(s, { type: 'tick', t: i * 1000, client: connected(i * 10, i), server })
    expect(s.samples).toHaveLength(MAX_SAMPLES)
    expect(s.samples.at(-1)?.t).toBe((MAX_SAMPLES + 10) * 1000)
  })

  it('starts a new graph for a new server or a new session, and clears it on disconnect', () => {
    let s = reduce(initialState(), { type: 'tick', t: 0, client: connected(0, 0), server })
    s = reduce(s, { type: 'tick', t: 1000, client: connected(100, 100), server })
    expect(s.samples).toHaveLength(1)
    // counters went back: a reconnect made a new session; the graph goes on from there
    s = reduce(s, { type: 'tick', t: 2000, client: connected(10, 10), server })
    expect(s.samples).toHaveLength(1)
    s = reduce(s, { type: 'tick', t: 3000, client: connected(20, 20), server })
    expect(s.samples).toHaveLength(2)
    s = reduce(s, { type: 'tick', t: 4000, client: connected(30, 30, { server: PK2 }), server })
    expect(s.samples).toEqual([])
    s = reduce(s, { type: 'state', t: 4500, client: client() })
    expect(s.samples).toEqual([])
    expect(s.last).toBeNull()
    expect(s.client?.state).toBe('disconnected')
  })

  it('says when buttons may be used and what the status line reads', () => {
    let s: UiState = initialState()
    expect(stateLabel(s)).toBe('loading')
    expect(canConnect(s)).toBe(false)
    s = reduce(s, { type: 'tick', t: 0, client: client(), server })
    expect(stateLabel(s)).toBe('disconnected')
    expect(canConnect(s)).toBe(true)
    expect(canDisconnect(s)).toBe(false)
    s = reduce(s, { type: 'busy', busy: PK })
    expect(canConnect(s)).toBe(false)
    s = reduce(s, { type: 'state', t: 1, client: client({ state: 'connecting', server: PK }) })
    expect(canDisconnect(s)).toBe(true)
    s = reduce(s, { type: 'stream', stream: 'lost' })
    expect(stateLabel(s)).toBe('visor unreachable')
    expect(stateLabel(reduce(s, { type: 'stream', stream: 'denied' }))).toBe('not authorised')
    const b = bannerFor(new ApiError('ETIMEOUT', 'slow', 504), 'connecting')
    s = reduce(s, { type: 'banner', banner: b })
    expect(s.banner).toBe(b)
  })
})

describe('error banners', () => {
  it('name what happened from the API error code', () => {
    expect(bannerFor(new ApiError('EFORBIDDEN', 'server x refused the connection (forbidden)', 403), 'connecting to x')).toEqual({
      kind: 'forbidden',
      title: 'Forbidden: connecting to x was refused',
      message: 'server x refused the connection (forbidden)',
    })
    expect(bannerFor(new ApiError('EOFFLINE', 'gone', 502), 'connecting').kind).toBe('offline')
    expect(bannerFor(new ApiError('EUNREACHABLE', 'down', 502), 'loading').kind).toBe('offline')
    expect(bannerFor(new ApiError('ETIMEOUT', 'slow', 504), 'connecting').kind).toBe('timeout')
    expect(bannerFor(new ApiError('EAUTH', 'no token', 401), 'x').message).toMatch(/skywire cli vpn url/)
    expect(bannerFor(new ApiError('ESTATE', 'busy', 409), 'connecting').title).toBe('Connecting failed')
    expect(bannerFor(new TypeError('Failed to fetch'), 'disconnecting')).toEqual({
      kind: 'visor',
      title: 'The visor is not answering',
      message: 'Disconnecting failed: Failed to fetch',
    })
  })

  it('are built from the API body, or from the status when the body is not ours', () => {
    const e = apiErrorOf(403, { error: { code: 'EFORBIDDEN', message: 'no' } })
    expect([e.code, e.message, e.status]).toEqual(['EFORBIDDEN', 'no', 403])
    expect(apiErrorOf(401, null).code).toBe('EAUTH')
    expect(apiErrorOf(502, '<html>').message).toBe('the visor answered HTTP 502')
  })
})

describe('server list', () => {
  const entries: ServerEntry[] = [
    { address: `${PK}:3`, type: 'vpn', country: 'DE', stats: { connectedClients: 5 } },
    { address: `${PK2}:3`, type: 'vpn', country: 'US', stats: { connectedClients: 1 } },
    { address: `${'c'.repeat(64)}:3`, type: 'vpn', country: 'de', stats: { connectedClients: 1 } },
    { address: `${'d'.repeat(64)}:3`, type: 'vpn', country: null },
  ]

  it('filters by country and words, least loaded first', () => {
    expect(filterServers(entries, { country: '', query: '' }).map(entryPk)).toEqual(['d'.repeat(64), PK2, 'c'.repeat(64), PK])
    expect(filterServers(entries, { country: 'de', query: '' }).map(entryPk)).toEqual(['c'.repeat(64), PK])
    expect(filterServers(entries, { country: '', query: 'germ' })).toHaveLength(2)
    expect(filterServers(entries, { country: '', query: 'united bbbb' }).map(entryPk)).toEqual([PK2])
    expect(filterServers(entries, { country: '', query: 'nowhere' })).toEqual([])
  })

  it('lists each country once with its count', () => {
    expect(countries(entries)).toEqual([
      { code: 'DE', count: 2 },
      { code: 'US', count: 1 },
    ])
  })
})

describe('throughput graph', () => {
  it('rounds the scale and draws the newest sample at the right edge', () => {
    expect(niceCeil(0)).toBe(1)
    expect(niceCeil(3)).toBe(5)
    expect(niceCeil(1200)).toBe(2000)
    expect(niceCeil(10)).toBe(10)
    const g = graphPaths(
      [
        { t: 0, rxBps: 50, txBps: 100 },
        { t: 1, rxBps: 100, txBps: 0 },
      ],
      600,
      150,
      3,
    )
    expect(g.max).toBe(100)
    expect(g.rx).toBe('M300 75 L600 0')
    expect(g.rxArea).toBe('M300 75 L600 0 L600 150 L300 150 Z')
    expect(g.tx).toBe('M300 0 L600 150')
    expect(graphPaths([], 600, 150, 3)).toEqual({ rx: '', rxArea: '', tx: '', max: 1 })
  })
})
