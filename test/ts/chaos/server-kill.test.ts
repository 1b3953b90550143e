/**
 * Chaos A.1: the server visor dies with SIGKILL (no bye, no cleanup) and
 * is restarted at once (as systemd would) with the same key. Both clients (SUDPH with the kill switch on,
 * STCPR with it off) must say "reconnecting" while it is gone, connect again
 * on their own once it is back, carry traffic again, and let nothing out of
 * their LANs beside the tunnel meanwhile (a ping loop keeps trying; the NAT
 * routers count). Afterwards `vpn stop` leaves each host as it was.
 *
 * The server comes back with its address pool moved, so both clients are
 * handed new tunnel addresses: the client without a kill switch must re-address
 * its TUN without ever taking the routes into it down (it used to rebuild
 * the TUN, and everything went around the tunnel until the new one was up).
 *
 * STCPR sees the server's kernel reset the TCP connection at once; SUDPH learns
 * it from the restarted server's unknown-session hint (docs/wire.md section 1)
 * as soon as it is up, and may be connected again before a status poll sees
 * "reconnecting": a new tunnel address (the moved pool) counts as noticed too.
 */
import { writeFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { labSkipReason } from '../helpers/lab.js'
import { skipUnlessAvailable } from '../helpers/skip.js'
import { cliState, expectTunnelTraffic, itConnectsAll, itRestoresHosts, useChaosLab, waitState } from './chaos-lab.js'

const skip = labSkipReason()
const NEW_POOL = '10.78.0.0/16'

describe.skipIf(skipUnlessAvailable(skip))('chaos: server visor killed with SIGKILL and restarted (SUDPH with kill switch, STCPR without)', () => {
  const lab = useChaosLab({ killswitch: { sudph: true, stcpr: false } })
  const t = () => lab.topo()

  itConnectsAll(lab, async (c) => expect((await c.api.vpnStatus()).tunnelIp).toMatch(/^10\.77\./))

  it('both clients reconnect after the server comes back, and nothing leaks meanwhile', async () => {
    const server = lab.server()
    const n0 = await lab.leaked()
    const kill = Date.now()
    await server.kill9()
    writeFileSync(server.file, JSON.stringify({ ...server.config, vpnServer: { ...server.config.vpnServer, pool: NEW_POOL } }), { mode: 0o600 })
    // Restarted at once, as a supervisor would: each client must still notice it lost the session and say so.
    const [noticed, restarted] = await Promise.all([
      Promise.all(
        lab.clients().map((c) =>
          expect
            .poll(
              async () => {
                const s = await c.api.vpnStatus()
                return s.state === 'reconnecting' || s.tunnelIp?.startsWith('10.78.') === true
              },
              { timeout: 30_000, interval: 100, message: `${c.transport} client never noticed the restart` },
            )
            .toBe(true),
        ),
      ).then(() => Date.now() - kill),
      server.start().then(() => Date.now() - kill),
    ])
    await Promise.all(
      lab.clients().map(async (c) => {
        const s = await waitState(c, 'connected', 60_000)
        expect(s.transport).toBe(c.transport)
        expect(s.tunnelIp).toMatch(/^10\.78\./)
        await expectTunnelTraffic(t(), c)
        expect(cliState(c)).toBe('connected')
      }),
    )
    const leaked = (await lab.leaked()) - n0
    console.log(
      `server kill -9: both clients reconnecting after ${noticed} ms, server back after ${restarted} ms, both connected after ${Date.now() - kill} ms; packets beside the tunnel: ${leaked}`,
    )
    expect(leaked, await lab.leaks()).toBe(0)
  }, 120_000)

  itRestoresHosts(lab)
})
