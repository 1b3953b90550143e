/**
 * While connected, something else (a DHCP renewal, NetworkManager) rewrites
 * resolv.conf: the client host puts the tunnel's back within its re-check
 * period, logs that once, and still restores the original on disconnect.
 *
 * The real LinuxClientHost runs inside a lab namespace (its /etc/resolv.conf
 * is the namespace's file, bind-mounted by `ip netns exec`), with a TUN
 * standing in for the core's; "DHCP" writes the file from inside the
 * namespace, through the same mount, as a DHCP client there would.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { skipUnlessAvailable } from '../helpers/skip.js'
import { createLab, type Lab, type NsProcess } from '../../../ts/netlab/netns.js'
import { requireFreshDist, sysSkipReason } from './helpers.js'

const skip = sysSkipReason()
if (skip !== null) console.warn(`sys DNS re-check tests skipped: ${skip}`)

const root = fileURLToPath(new URL('../../../', import.meta.url))
const TUN = 'swdns0'
const ORIGINAL = '# lab resolver\nnameserver 203.0.113.53\n'
const DHCP = '# written by dhclient\nnameserver 192.168.1.1\nsearch home.lan\n'
const PERIOD_MS = 300

/** Connects with the real LinuxClientHost, prints CONNECTED, restores on SIGTERM; logs as JSON lines. */
const RUNNER = `
const [mod, payload] = process.argv.slice(1)
const { LinuxClientHost } = await import(mod)
const { stateFile, tun, dns, periodMs } = JSON.parse(payload)
const line = (level) => (obj, msg) => process.stdout.write(JSON.stringify({ level, msg, ...obj }) + '\\n')
const host = new LinuxClientHost(stateFile, 'swdns', { dnsRecheckMs: periodMs, log: { warn: line('warn'), debug: line('debug') } })
await host.apply({ tun, tunnelIp: '10.99.0.2', dns, killswitch: false })
process.stdout.write('CONNECTED\\n')
process.on('SIGTERM', async () => {
  await host.restore()
  process.stdout.write('RESTORED\\n')
  process.exit(0)
})
setInterval(() => {}, 1 << 30)
`

describe.skipIf(skipUnlessAvailable(skip))(`DNS re-check while connected${skip === null ? '' : ` (skipped: ${skip})`}`, () => {
  let lab: Lab
  let ns: string
  let dir: string
  let visor: NsProcess | null = null

  beforeAll(async () => {
    requireFreshDist()
    dir = mkdtempSync(`${tmpdir()}/sw-dnsre-`)
    lab = createLab()
    ns = await lab.addNamespace('client', { resolvConf: ORIGINAL })
    await lab.ip(ns, ['tuntap', 'add', 'dev', TUN, 'mode', 'tun'])
    await lab.addr(ns, TUN, '10.99.0.2/24')
    await lab.ip(ns, ['link', 'set', TUN, 'up'])
  })
  afterAll(async () => {
    await visor?.kill('SIGKILL', 1000)
    lab?.teardown()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('puts the tunnel resolv.conf back after "DHCP" rewrites it, logs once, and restores the original on disconnect', async () => {
    const file = lab.resolvConfPath(ns)
    const payload = { stateFile: `${dir}/vpn-client.state.json`, tun: TUN, dns: ['10.99.0.1'], periodMs: PERIOD_MS }
    visor = lab.spawn(ns, [
      process.execPath,
      '--input-type=module',
      '-e',
      RUNNER,
      pathToFileURL(`${root}dist/vpn/linux-host.js`).href,
      JSON.stringify(payload),
    ])
    await visor.waitForOutput(/^CONNECTED$/m, 30_000)
    const ours = readFileSync(file, 'utf8')
    expect(ours).toMatch(/^nameserver 10\.99\.0\.1$/m)

    for (let round = 1; round <= 2; round++) {
      // Written the way a DHCP client in the namespace would: through the mounted /etc/resolv.conf.
      await lab.execOk(ns, ['sh', '-c', `printf '%s' '${DHCP}' > /etc/resolv.conf`])
      const t0 = Date.now()
      // Generous: the bound is one period plus a check; a loaded 2-core machine gets 20x that.
      await expect.poll(() => readFileSync(file, 'utf8'), { timeout: PERIOD_MS * 20 + 5_000, interval: 50 }).toBe(ours)
      console.log(`round ${round}: tunnel resolv.conf back ${Date.now() - t0} ms after the rewrite (period ${PERIOD_MS} ms)`)
    }
    const logs = visor
      .output()
      .stdout.split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: string; msg: string; repaired?: string[] })
    expect(logs.filter((l) => l.level === 'warn')).toHaveLength(1)
    expect(logs.find((l) => l.level === 'warn')?.repaired).toEqual(['resolv.conf'])
    expect(logs.filter((l) => l.level === 'debug' && l.repaired !== undefined)).toHaveLength(1)

    await visor.kill('SIGTERM', 10_000)
    expect(visor.output().stdout).toMatch(/^RESTORED$/m)
    visor = null
    // The original from before the connect, not DHCP's: a disconnect undoes exactly what the connect did.
    expect(readFileSync(file, 'utf8')).toBe(ORIGINAL)
  })
})
