/**
 * Choosing a server on the lab, as a user does: two servers in DE (one admits
 * nobody), a client with auto-connect that connects by itself, another that
 * lists (never itself) and runs `vpn start -c DE`, skipping the server that
 * refuses; and a visor started before its uplink is up, connecting once it is.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { beforeAll, describe, expect, it } from 'vitest'
import { generateConfig } from '../../ts/config/file.js'
import { labSkipReason } from './helpers/lab.js'
import { skipUnlessAvailable } from './helpers/skip.js'
import { expectOneLineError } from './helpers/cli.js'
import { SERVICES_HTTP, SERVICES_UDP, useVpnLab, type TestVisor } from './helpers/visors.js'

const skip = labSkipReason()
/** A key nobody holds: server2 admits only it, so it refuses every client. */
const NOBODY = generateConfig({}).pk

/** refreshS 1: a server's client count reaches service discovery within a second (the lab's services, spelled out: an override replaces the whole section). */
const services = { url: `http://${SERVICES_HTTP}`, udp: SERVICES_UDP, refreshS: 1 }

const status = (v: TestVisor) => JSON.parse(v.cli(['cli', 'vpn', 'status', '--json']).stdout) as { state: string; server: string | null }

describe.skipIf(skipUnlessAvailable(skip))('choosing a server (two servers in DE, two NATed clients)', () => {
  const lab = useVpnLab({ clients: 2, servers: 2 }, (t) => ({
    server: { ns: t.server.ns, config: { services, vpnServer: { dns: ['203.0.113.53'], country: 'DE' } } },
    server2: {
      ns: (t.server2 as { ns: string }).ns,
      config: { services, vpnServer: { dns: ['203.0.113.53'], country: 'DE', whitelist: [NOBODY] } },
    },
    auto: { ns: t.clients[0]!.ns, config: { vpnServer: { autostart: false }, vpnClient: { autoConnect: 'best:DE' } } },
    // Its own VPN server runs (the default): the list must not offer it.
    picker: { ns: t.clients[1]!.ns, config: { vpnServer: { country: 'FR' } } },
  }))
  let server: TestVisor
  let server2: TestVisor
  let auto: TestVisor
  let picker: TestVisor
  beforeAll(() => {
    server = lab.visor('server')
    server2 = lab.visor('server2')
    auto = lab.visor('auto')
    picker = lab.visor('picker')
  })

  it('a visor with auto-connect connects by itself, to the server that admits it', async () => {
    await expect.poll(() => status(auto).state, { timeout: 90_000, interval: 1000 }).toBe('connected')
    expect(status(auto).server).toBe(server.config.pk)
    // The loop logs once its connect call returns, a moment after the client reports connected.
    await expect.poll(() => auto.proc?.output().stdout ?? '', { timeout: 10_000, interval: 100 }).toMatch(/auto-connect: connected/)
  }, 120_000)

  it('vpn list ranks every server but never the visor itself', async () => {
    const r = picker.cli(['cli', 'vpn', 'list', '--json'])
    expect(r.code, r.stderr).toBe(0)
    const keys = (JSON.parse(r.stdout).entries as { pk: string }[]).map((e) => e.pk)
    expect(keys).toEqual(expect.arrayContaining([server.config.pk, server2.config.pk]))
    expect(keys).not.toContain(picker.config.pk)
    // The picker's own server is registered all the same: the auto client's list has it.
    await expect.poll(() => auto.cli(['cli', 'vpn', 'list', '--keys', '-c', 'FR']).stdout.trim(), { timeout: 15_000 }).toBe(picker.config.pk)
  })

  it('vpn start -c DE picks the best in DE and skips the server that refuses', async () => {
    // The auto client on `server` makes it the more loaded: server2 ranks first and must be skipped.
    await expect
      .poll(() => picker.cli(['cli', 'vpn', 'list', '--keys', '-c', 'DE', '--no-latency']).stdout.trim().split('\n')[0], { timeout: 15_000 })
      .toBe(server2.config.pk)
    const r = picker.cli(['cli', 'vpn', 'start', '-c', 'DE', '-t', '60'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(new RegExp(`skipped ${server2.config.pk}: .*whitelist`))
    expect(r.stdout).toMatch(new RegExp(`connected to ${server.config.pk}`))
    expect(status(picker).server).toBe(server.config.pk)
    const stop = picker.cli(['cli', 'vpn', 'stop'])
    expect(stop.code, stop.stderr).toBe(0)
  }, 120_000)

  it('vpn start -c with no server there is one line and a non-zero exit', () => {
    const r = picker.cli(['cli', 'vpn', 'start', '-c', 'JP', '-t', '10'])
    expect(r.code).not.toBe(0)
    expect(expectOneLineError(r)).toMatch(/no VPN server in JP/)
  })

  it('the user stopping the VPN cancels auto-connect until the next start', async () => {
    const stop = auto.cli(['cli', 'vpn', 'stop'])
    expect(stop.code, stop.stderr).toBe(0)
    await new Promise((r) => setTimeout(r, 5000))
    expect(status(auto).state).toBe('disconnected')
  })

  it('a visor started before its uplink is up connects once it is', async () => {
    const t = lab.topo()
    const ns = t.clients[1]!.ns
    await picker.stop()
    const cfg = JSON.parse(readFileSync(picker.file, 'utf8'))
    // Its own server off: with no default route it would have no interface to NAT out of.
    const next = { ...cfg, vpnServer: { ...cfg.vpnServer, autostart: false }, vpnClient: { ...cfg.vpnClient, autoConnect: server.config.pk } }
    writeFileSync(picker.file, JSON.stringify(next), { mode: 0o600 })
    const route = (await t.lab.execOk(ns, ['ip', '-4', 'route', 'show', 'default'])).stdout.trim()
    const gw = /via (\S+) dev (\S+)/.exec(route)
    expect(gw, route).not.toBeNull()
    await t.lab.execOk(ns, ['ip', 'link', 'set', gw![2]!, 'down'])
    try {
      await picker.start()
      await picker.proc!.waitForOutput(/auto-connect: waiting for the network \(no default route\)/, 20_000)
      expect(status(picker).state).toBe('disconnected')
    } finally {
      await t.lab.execOk(ns, ['ip', 'link', 'set', gw![2]!, 'up'])
      await t.lab.exec(ns, ['ip', 'route', 'replace', 'default', 'via', gw![1]!, 'dev', gw![2]!])
    }
    // Backoff reaches at most a minute between attempts.
    await expect.poll(() => status(picker).state, { timeout: 90_000, interval: 1000 }).toBe('connected')
    expect(status(picker).server).toBe(server.config.pk)
  }, 150_000)
})
