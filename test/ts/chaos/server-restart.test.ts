/**
 * Issue 18 item 2: back within about a second after the server restarts. The server visor dies with SIGKILL and
 * is restarted at once with the same key; each client (SUDPH and STCPR) must carry traffic through its tunnel
 * again soon after the new server is up: SUDPH because the restarted server answers the client's packets for the
 * lost session with an unknown-session hint (the client pings, gets no pong, redials at once), STCPR because the
 * server's kernel resets the connection; both redial at once and then every 0.1-1 s until the server answers.
 * The bound is generous for a loaded machine; before the hint a SUDPH client needed the silence timeout
 * (CHAOS_STALE_S = 7 s here, 15 s by default) plus a 1 s backoff. The second restart forces the gap behind the
 * bench's 10.7 s outlier: clients saying their hello to a restarted visor whose VPN server does not run yet.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { BIN } from '../helpers/cli.js'
import { labSkipReason } from '../helpers/lab.js'
import { skipUnlessAvailable } from '../helpers/skip.js'
import { CHAOS_STALE_S, itConnectsAll, itRestoresHosts, useChaosLab } from './chaos-lab.js'

const skip = labSkipReason()
/** From the restarted server's control API listening to the first answer through the tunnel. */
const BACK_WITHIN_MS = 5_000
/** Each nft call of the slowed server waits this long first: its VPN server starts seconds after its node is up. */
const NFT_DELAY_S = 1

describe.skipIf(skipUnlessAvailable(skip))('chaos: traffic flows again soon after a server restart (SUDPH and STCPR)', () => {
  const lab = useChaosLab({ killswitch: false })
  const t = () => lab.topo()

  /** How long after `ready` each client's traffic flows through the tunnel again (Infinity after 30 s). */
  const backAfter = (ready: number) =>
    Promise.all(
      lab.clients().map(async (c) => {
        // Bounded: at most 30 s of tries, each at most 400 ms (a try whose SYN went into the gap would otherwise
        // wait for TCP's 1 s retransmit and measure that).
        while (Date.now() - ready < 30_000) {
          const got = await t()
            .curlWhoami(c.host.ns, { timeoutMs: 400 })
            .catch(() => null)
          if (got === t().server.publicAddr) return { transport: c.transport, ms: Date.now() - ready }
          await new Promise((r) => setTimeout(r, 50))
        }
        return { transport: c.transport, ms: Number.POSITIVE_INFINITY }
      }),
    )

  itConnectsAll(lab)

  it(`both clients carry traffic again within ${BACK_WITHIN_MS} ms of the restarted server being up`, async () => {
    expect(BACK_WITHIN_MS).toBeLessThan(CHAOS_STALE_S * 1000)
    const server = lab.server()
    await server.kill9()
    await server.start()
    const ready = Date.now()
    const back = await backAfter(ready)
    console.log(`server restart: back after ${back.map((b) => `${b.transport} ${b.ms} ms`).join(', ')} (from the server's control API up)`)
    for (const b of back) expect(b.ms, `${b.transport}: ${b.ms} ms`).toBeLessThan(BACK_WITHIN_MS)
  }, 90_000)

  // Issue 18 (d6): the user-wait bench's 10.7 s outlier. The restarted visor's node answers handshakes before its
  // VPN server runs; a client that redials at once is up in that gap and says its one hello, which the server
  // dropped: the client then waited for the server's 10 s hello timeout. Forced here: the new server's nft calls
  // (stale-state recovery, its firewall) each wait NFT_DELAY_S, so its VPN server starts seconds after its node,
  // and the clients' ping loops make them redial within that gap. Now the hello is held and answered on start.
  it(`a hello said before the restarted server's VPN server runs is answered when it runs (back within ${BACK_WITHIN_MS} ms)`, async () => {
    const server = lab.server()
    const slow = mkdtempSync(join(tmpdir(), 'skywire-slow-nft-'))
    try {
      writeFileSync(join(slow, 'nft'), `#!/bin/sh\nsleep ${NFT_DELAY_S}\nPATH='${process.env.PATH}' exec nft "$@"\n`, { mode: 0o755 })
      await server.kill9()
      // Started by hand for the PATH; the lab still stops it (server.proc) after the file.
      const proc = t().lab.spawn(server.ns, [process.execPath, BIN, 'visor', '-c', server.file], {
        env: { ...process.env, PATH: `${slow}:${process.env.PATH}` },
      })
      server.proc = proc
      await proc.waitForOutput(/control API listening/, 60_000)
      const ready = Date.now()
      const back = await backAfter(ready)
      const out = proc.output().stdout
      const held = out.split('\n').filter((l) => l.includes('came while the vpn server was starting'))
      console.log(`slow-starting server: back after ${back.map((b) => `${b.transport} ${b.ms} ms`).join(', ')}; ${held.length} hold line(s)`)
      for (const b of back) expect(b.ms, `${b.transport}: ${b.ms} ms`).toBeLessThan(BACK_WITHIN_MS)
      // The gap was really hit: the new server held frames said before its VPN server ran (otherwise this test
      // would pass without exercising anything).
      expect(held.length, 'no frames were held: the clients did not say hello before the VPN server ran').toBeGreaterThan(0)
      expect(out).not.toMatch(/no vpn hello in time/)
    } finally {
      rmSync(slow, { recursive: true, force: true })
    }
  }, 120_000)

  itRestoresHosts(lab)
})
