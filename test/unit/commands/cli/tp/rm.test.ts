/** `skywire cli tp rm -a` against an in-memory visor: what it closes, what it keeps, and the races it tolerates. */
import { describe, expect, it } from 'vitest'
import { closeAllTransports, type TransportCloser } from '../../../../../ts/commands/cli/tp/rm.js'
import { SkywireError } from '../../../../../ts/contracts/errors.js'
import type { TransportInfo, VpnClientStatus } from '../../../../../ts/contracts/status.js'

const tp = (id: number): TransportInfo => ({ id, peer: `peer${id}`, type: 'sudph', remote: '192.0.2.1:7778', rttMs: null, lastRxMs: null })

/** A visor holding `ids`, its VPN on `vpn`; `onClose` may change it under the command's feet (the races). */
function fakeVisor(ids: number[], vpn: number | null, onClose: (id: number, v: { ids: Set<number>; vpn: number | null }) => void = () => {}) {
  const state = { ids: new Set(ids), vpn }
  const closed: number[] = []
  const visor: TransportCloser = {
    vpnStatus: async () => ({ transportId: state.vpn }) as VpnClientStatus,
    transports: async () => [...state.ids].map(tp),
    closeTransport: async (id: number) => {
      onClose(id, state)
      if (!state.ids.has(id)) throw new SkywireError('ENOTFOUND', `no transport ${id}`)
      if (id === state.vpn) throw new SkywireError('ESTATE', `transport ${id} carries the VPN; run \`skywire cli vpn stop\` first`)
      state.ids.delete(id)
      closed.push(id)
      return { closed: id }
    },
  }
  return { visor, state, closed }
}

describe('tp rm -a', () => {
  it("closes every transport but the VPN's, and never asks the visor to close that one", async () => {
    const f = fakeVisor([1, 2, 3], 2)
    const r = await closeAllTransports(f.visor)
    expect(r.closed).toEqual([1, 3])
    expect(r.kept).toEqual([{ id: 2, reason: expect.stringMatching(/carries the VPN/) }])
    expect(f.closed).toEqual([1, 3])
    expect([...f.state.ids]).toEqual([2])
  })

  it('closes all of them without a VPN, and nothing when there are none', async () => {
    expect(await closeAllTransports(fakeVisor([4, 5], null).visor)).toEqual({ closed: [4, 5], kept: [] })
    expect(await closeAllTransports(fakeVisor([], null).visor)).toEqual({ closed: [], kept: [] })
  })

  it('a transport its peer closed meanwhile is neither an error nor counted as closed', async () => {
    const f = fakeVisor([1, 2], null, (id, v) => {
      if (id === 1) v.ids.delete(1)
    })
    expect(await closeAllTransports(f.visor)).toEqual({ closed: [2], kept: [] })
  })

  it('the VPN moving onto a transport meanwhile keeps it: the visor refuses, and that is reported', async () => {
    const f = fakeVisor([1, 2], null, (id, v) => {
      if (id === 2) v.vpn = 2
    })
    const r = await closeAllTransports(f.visor)
    expect(r.closed).toEqual([1])
    expect(r.kept).toEqual([{ id: 2, reason: 'transport 2 carries the VPN; run `skywire cli vpn stop` first' }])
  })

  it('any other failure stops it with that error', async () => {
    const visor: TransportCloser = {
      vpnStatus: async () => ({ transportId: null }) as VpnClientStatus,
      transports: async () => [tp(1)],
      closeTransport: async () => {
        throw new SkywireError('EUNREACHABLE', 'no visor is running at /run/skywire/visor.sock')
      },
    }
    await expect(closeAllTransports(visor)).rejects.toThrow(/no visor is running/)
  })
})
