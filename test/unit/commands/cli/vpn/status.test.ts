/** `skywire cli vpn status` and `--watch`: what is shown of the exit, and how the watch ends. */
import { describe, expect, it } from 'vitest'
import { exitText, lines, oneLine, watchStatus } from '../../../../../ts/commands/cli/vpn/status.js'
import { SkywireError } from '../../../../../ts/contracts/errors.js'
import type { VpnClientStatus } from '../../../../../ts/contracts/status.js'

const S: VpnClientStatus = {
  state: 'connected',
  transportId: 3,
  server: 'e'.repeat(64),
  transport: 'sudph',
  remote: '203.0.113.20:30000',
  tunnelIp: '10.77.0.2',
  tun: 'swvpn0',
  dns: ['203.0.113.53'],
  rxBytes: 2048,
  txBytes: 1024,
  rxPackets: 2,
  txPackets: 1,
  latencyMs: 1.25,
  lastPacketMs: 300,
  rekeys: 0,
  connectedAt: '2026-12-05T03:00:00.000Z',
  uptimeS: 65,
  lastError: null,
  killswitch: false,
  exitIp: '203.0.113.20',
  exitCountry: 'DE',
}

describe('vpn status: the exit', () => {
  it("shows the server's claim, and unknown where a server does not say (0.2.0) or a visor does not report it", () => {
    expect(lines(S)).toContain('exit:       203.0.113.20 (DE) (as the server says)')
    expect(exitText({ ...S, exitIp: null, exitCountry: null })).toBe('unknown')
    // A 0.2.0 visor's status has no exit fields at all.
    const { exitIp: _i, exitCountry: _c, ...old } = S
    expect(exitText(old)).toBe('unknown')
    expect(exitText({ ...S, exitCountry: null })).toBe('203.0.113.20')
    expect(exitText({ ...S, exitIp: null })).toBe('unknown (DE)')
    expect(lines({ ...S, state: 'reconnecting' }).some((l) => l.startsWith('exit:'))).toBe(false)
  })

  it('keeps the lines it showed before (transport, traffic, latency, uptime)', () => {
    const out = lines(S).join('\n')
    expect(out).toMatch(/transport: {2}sudph \(203\.0\.113\.20:30000\)/)
    expect(out).toMatch(/traffic: {4}1\.0 KiB sent \(1 packets\), 2\.0 KiB received \(2 packets\)/)
    expect(out).toMatch(/latency: {4}1\.3 ms|latency: {4}1\.2 ms/)
    expect(out).toMatch(/uptime: {5}1m5s/)
    expect(oneLine(S)).toMatch(/ connected server=e{64} exit=203\.0\.113\.20\(DE\) transport=sudph latency=1\.\dms tx=1024 rx=2048 uptime=65s$/)
  })
})

describe('vpn status: IPv6', () => {
  it('shows the tunnel IPv6 address, says IPv6 is blocked when the server has none, and says nothing for a 0.3.0 visor', () => {
    expect(lines({ ...S, tunnelIp6: 'fd12:3456:789a::2' })).toContain('tunnel IPv6: fd12:3456:789a::2')
    expect(lines({ ...S, tunnelIp6: null })).toContain('tunnel IPv6: none (the server carries no IPv6: blocked)')
    expect(lines(S).some((l) => l.startsWith('tunnel IPv6'))).toBe(false)
    expect(lines({ ...S, state: 'reconnecting', tunnelIp6: null }).some((l) => l.startsWith('tunnel IPv6'))).toBe(false)
  })
})

describe('vpn status --watch', () => {
  it('--json: one object per line, every period, until Ctrl-C (the abort) ends it cleanly', async () => {
    const out: string[] = []
    const ac = new AbortController()
    let n = 0
    const get = async () => {
      n++
      if (n === 3) setTimeout(() => ac.abort(), 5)
      return { ...S, uptimeS: n }
    }
    await watchStatus(get, { mode: 'json', write: (t) => out.push(t), signal: ac.signal, periodMs: 20 })
    expect(out).toHaveLength(3)
    expect(out.map((l) => JSON.parse(l).uptimeS)).toEqual([1, 2, 3])
    expect(out.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n'))).toBe(true)
  })

  it('redraw: moves back up over the previous block before drawing the next', async () => {
    const out: string[] = []
    const ac = new AbortController()
    let n = 0
    const get = async () => {
      if (++n === 2) ac.abort()
      return S
    }
    await watchStatus(get, { mode: 'redraw', write: (t) => out.push(t), signal: ac.signal, periodMs: 1 })
    expect(out).toHaveLength(2)
    expect(out[0]?.startsWith('\x1b[J')).toBe(true)
    expect(out[1]?.startsWith(`\x1b[${lines(S).length}F\x1b[J`)).toBe(true)
  })

  it('a visor that goes away ends the watch with one line and an error; one never there fails with its own error', async () => {
    const ac = new AbortController()
    let n = 0
    const gone = new SkywireError('EUNREACHABLE', 'no visor is running at /run/skywire.sock')
    const get = async () => {
      if (++n > 2) throw gone
      return S
    }
    const err = await watchStatus(get, { mode: 'lines', write: () => {}, signal: ac.signal, periodMs: 1 }).catch((e: SkywireError) => e)
    expect(err).toMatchObject({ code: 'EUNREACHABLE', message: `lost the visor while watching: ${gone.message}` })
    expect((err as Error).message).not.toContain('\n')
    const aborted = new AbortController()
    aborted.abort()
    const never = await watchStatus(
      async () => {
        throw gone
      },
      { mode: 'lines', write: () => {}, signal: aborted.signal, periodMs: 1 },
    ).catch((e: SkywireError) => e)
    // Already aborted: nothing is asked at all.
    expect(never).toBeUndefined()
    const first = await watchStatus(
      async () => {
        throw gone
      },
      { mode: 'lines', write: () => {}, signal: new AbortController().signal, periodMs: 1 },
    ).catch((e: SkywireError) => e)
    expect(first).toBe(gone)
  })
})
