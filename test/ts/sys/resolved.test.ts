/**
 * DNS under systemd-resolved.
 *
 * Detection and the resolvectl calls are checked on real files in a temp
 * root. Then a real systemd-resolved runs inside a lab namespace: a private
 * mount namespace with its own /run (so nothing of the machine's /run or bus
 * is touched), a private system dbus-daemon, and resolved itself, which needs
 * neither systemd as PID 1 nor anything outside that namespace. The client's
 * host changes then run inside the same namespaces, and what resolved holds
 * for the tunnel's link is read back with resolvectl.
 *
 * systemd-resolved is not installed on the machine (installing it turns the
 * machine's /etc/resolv.conf into a link to its stub). Its binaries come from
 * the Debian package unpacked without installing it:
 *   apt-get download systemd-resolved && dpkg -x systemd-resolved_*.deb /opt/skywire-test/resolved
 * (or SKYWIRE_TEST_RESOLVED_ROOT=<dir>); an installed resolved is used when present.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { skipUnlessAvailable } from '../helpers/skip.js'
import { createLab, type Lab, type NsProcess } from '../../../ts/netlab/netns.js'
import { resolvConfShape, resolvectlApplyArgv, resolvectlRevertArgv, resolvedControl } from '../../../ts/sys/resolved.js'
import { requireFreshDist, sysSkipReason } from './helpers.js'

describe('systemd-resolved detection and calls (real files, temp root)', () => {
  let dir: string
  beforeAll(() => {
    dir = mkdtempSync(`${tmpdir()}/sw-resolved-unit-`)
    mkdirSync(`${dir}/run/systemd/resolve`, { recursive: true })
    mkdirSync(`${dir}/etc`)
    writeFileSync(`${dir}/run/systemd/resolve/stub-resolv.conf`, '# stub\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n')
    writeFileSync(`${dir}/run/systemd/resolve/resolv.conf`, 'nameserver 192.168.1.1\n')
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const runDir = () => `${dir}/run/systemd/resolve`
  const rc = (name: string) => `${dir}/etc/${name}`

  it('tells the stub, the uplink list, a file of its own and no file apart', () => {
    symlinkSync('../run/systemd/resolve/stub-resolv.conf', rc('stub-rel'))
    symlinkSync(`${runDir()}/stub-resolv.conf`, rc('stub-abs'))
    symlinkSync('../run/systemd/resolve/resolv.conf', rc('uplink'))
    writeFileSync(rc('copied-stub'), 'nameserver 127.0.0.53\n')
    writeFileSync(rc('mixed'), 'nameserver 127.0.0.53\nnameserver 192.168.1.1\n')
    writeFileSync(rc('plain'), 'nameserver 192.168.1.1\n')
    symlinkSync('../run/resolvconf/resolv.conf', rc('dangling'))
    expect(resolvConfShape(rc('stub-rel'), runDir())).toBe('stub')
    expect(resolvConfShape(rc('stub-abs'), runDir())).toBe('stub')
    expect(resolvConfShape(rc('uplink'), runDir())).toBe('uplink')
    expect(resolvConfShape(rc('copied-stub'), runDir())).toBe('stub')
    // One real server beside the stub: libc may ask it directly, so it is not "everything through resolved".
    expect(resolvConfShape(rc('mixed'), runDir())).toBe('other')
    expect(resolvConfShape(rc('plain'), runDir())).toBe('other')
    expect(resolvConfShape(rc('dangling'), runDir())).toBe('missing')
    expect(resolvConfShape(rc('nothing'), runDir())).toBe('missing')
  })

  it('without a resolved run directory and without the stub, resolved is not running (and resolvectl is not even asked)', async () => {
    const d = await resolvedControl({ runDir: `${dir}/run/nothing`, resolvConfPath: rc('plain'), resolvectl: `${dir}/no-such-resolvectl` }).detect()
    expect(d).toMatchObject({ running: false, resolvConf: 'other' })
    expect(d.why).toMatch(/no .*run\/nothing/)
  })

  it('with the directory but no answer on the bus, it is not running either (a stopped resolved leaves the directory)', async () => {
    const d = await resolvedControl({ runDir: runDir(), resolvConfPath: rc('stub-rel'), resolvectl: `${dir}/no-such-resolvectl` }).detect()
    expect(d).toMatchObject({ running: false, resolvConf: 'stub' })
    expect(d.why).toMatch(/not installed/)
  })

  it('builds the resolvectl calls: servers, the catch-all routing domain, default route, cache flush; revert', () => {
    expect(resolvectlApplyArgv('swvpn0', ['10.77.0.1', 'fd77::1'])).toEqual([
      ['resolvectl', 'dns', 'swvpn0', '10.77.0.1', 'fd77::1'],
      ['resolvectl', 'domain', 'swvpn0', '~.'],
      ['resolvectl', 'default-route', 'swvpn0', 'true'],
      ['resolvectl', 'flush-caches'],
    ])
    expect(resolvectlRevertArgv('swvpn0')).toEqual(['resolvectl', 'revert', 'swvpn0'])
    expect(() => resolvectlApplyArgv('swvpn0; rm', ['10.77.0.1'])).toThrow(/bad interface name/)
    expect(() => resolvectlApplyArgv('swvpn0', ['--set-dns'])).toThrow(/not an IP address/)
    expect(() => resolvectlApplyArgv('swvpn0', [])).toThrow(/no DNS servers/)
    expect(() => resolvectlRevertArgv('-h')).not.toThrow() // a valid name; argv, never a shell, and resolvectl takes it as the link
  })
})

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url))
const RESOLVED_ROOT = process.env.SKYWIRE_TEST_RESOLVED_ROOT ?? '/opt/skywire-test/resolved'

function findResolved(): { daemon: string; bin: string } | null {
  for (const r of ['', RESOLVED_ROOT]) {
    const daemon = `${r}/lib/systemd/systemd-resolved`
    const bin = `${r}/usr/bin/resolvectl`
    if (existsSync(daemon) && existsSync(bin)) return { daemon, bin }
  }
  return null
}

function realSkipReason(): string | null {
  const s = sysSkipReason()
  if (s !== null) return s
  if (findResolved() === null) return `no systemd-resolved binaries (installed, or unpacked in ${RESOLVED_ROOT}; see the file comment)`
  if (!existsSync('/usr/bin/dbus-daemon')) return 'dbus-daemon is not installed'
  return null
}
const skip = realSkipReason()
if (skip !== null) console.warn(`real systemd-resolved tests skipped: ${skip}`)

/**
 * Inside `ip netns exec` + `unshare -m`: a private /run, a user for resolved
 * to drop to (bind-mounted passwd/group copies), a private system bus, resolved.
 * Prints READY once resolvectl gets answers; dies with its process group.
 */
const RESOLVED_HOST = `
set -e
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/dbus /run/systemd/resolve /run/sw
cp /etc/passwd /run/sw/passwd; echo 'systemd-resolve:x:991:991:resolve:/:/usr/sbin/nologin' >> /run/sw/passwd
cp /etc/group /run/sw/group; echo 'systemd-resolve:x:991:' >> /run/sw/group
mount --bind /run/sw/passwd /etc/passwd
mount --bind /run/sw/group /etc/group
chown 991:991 /run/systemd/resolve
cat > /run/sw/bus.conf <<'EOF'
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
EOF
dbus-daemon --config-file=/run/sw/bus.conf --nofork --nopidfile --nosyslog &
i=0; while [ ! -S /run/dbus/system_bus_socket ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
SYSTEMD_LOG_TARGET=console "$DAEMON" &
i=0; until "$RESOLVECTL" status --no-pager >/dev/null 2>&1; do [ $i -lt 200 ] || exit 1; sleep 0.05; i=$((i+1)); done
echo READY
wait
`

const TUN = 'swres0'
const STUB =
  '# This is /run/systemd/resolve/stub-resolv.conf managed by man:systemd-resolved(8).\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n'
const PLAIN = '# from DHCP\nnameserver 203.0.113.53\nsearch home.lan\n'
const DNS = ['10.99.0.1', 'fd99::1']

/** Runs dist/sys ops; prints RESULT <json> or ERROR <json>; with HANG stays alive afterwards. */
const RUNNER = `
const [mod, payload] = process.argv.slice(1)
const m = await import(mod)
const { ops, hang } = JSON.parse(payload)
const results = []
try {
  for (const op of ops) {
    const f = op.fn === 'detectResolved' ? (...a) => m.resolvedControl(...a).detect() : m[op.fn]
    results.push((await f(...(op.args ?? []))) ?? null)
  }
} catch (e) {
  process.stdout.write('ERROR ' + JSON.stringify({ code: e.code ?? null, message: e.message }) + '\\n')
  process.exit(1)
}
process.stdout.write('RESULT ' + JSON.stringify(results, (k, v) => (typeof v === 'function' ? undefined : v)) + '\\n')
if (hang) setInterval(() => {}, 1 << 30)
`

describe.skipIf(skipUnlessAvailable(skip))(
  `DNS through a real systemd-resolved in a lab namespace${skip === null ? '' : ` (skipped: ${skip})`}`,
  () => {
    let lab: Lab
    let ns: string
    let dir: string
    let stateFile: string
    let host: NsProcess
    let bins: { daemon: string; bin: string }

    /** argv run inside the resolved host's mount namespace (and the lab's network namespace), resolvectl on PATH. */
    const inside = (argv: string[]) => [
      'nsenter',
      '-t',
      String(host.pid),
      '-m',
      '--',
      'env',
      `PATH=${bins.bin.replace(/\/resolvectl$/, '')}:${process.env.PATH}`,
      ...argv,
    ]
    const resolvectl = async (...args: string[]) => (await lab.execOk(ns, inside(['resolvectl', ...args]))).stdout
    const link = async () => ({
      dns: (await resolvectl('dns', TUN)).trim(),
      domain: (await resolvectl('domain', TUN)).trim(),
      defaultRoute: (await resolvectl('default-route', TUN)).trim(),
    })
    const runnerArgv = (ops: { fn: string; args?: unknown[] }[], hang = false) =>
      inside([
        process.execPath,
        '--input-type=module',
        '-e',
        RUNNER,
        pathToFileURL(`${repoRoot}dist/sys/index.js`).href,
        JSON.stringify({ ops, hang }),
      ])
    const call = async (fn: string, ...args: unknown[]): Promise<unknown> => {
      const r = await lab.exec(ns, runnerArgv([{ fn, args }]), { timeoutMs: 60_000 })
      const err = /^ERROR (.*)$/m.exec(r.stdout)
      if (err) throw Object.assign(new Error((JSON.parse(err[1] as string) as { message: string }).message), JSON.parse(err[1] as string))
      const ok = /^RESULT (.*)$/m.exec(r.stdout)
      if (!ok) throw new Error(`runner printed no result: ${r.stdout} ${r.stderr}`)
      return (JSON.parse(ok[1] as string) as unknown[])[0]
    }
    const setResolvConf = (text: string) => writeFileSync(lab.resolvConfPath(ns), text) // in place: the mounted inode stays
    const opts = () => ({ tunIf: TUN, dns: DNS, stateFile })

    beforeAll(async () => {
      requireFreshDist()
      bins = findResolved() as { daemon: string; bin: string }
      dir = mkdtempSync(`${tmpdir()}/sw-resolved-`)
      stateFile = `${dir}/vpn-client.state.json`
      lab = createLab()
      ns = await lab.addNamespace('client', { resolvConf: STUB })
      await lab.ip(ns, ['tuntap', 'add', 'dev', TUN, 'mode', 'tun'])
      await lab.addr(ns, TUN, '10.99.0.2/24')
      await lab.ip(ns, ['link', 'set', TUN, 'up'])
      host = lab.spawn(ns, [
        'unshare',
        '-m',
        '--propagation',
        'private',
        'env',
        `DAEMON=${bins.daemon}`,
        `RESOLVECTL=${bins.bin}`,
        'sh',
        '-c',
        RESOLVED_HOST,
      ])
      await host.waitForOutput(/^READY$/m, 30_000)
    }, 60_000)
    afterAll(async () => {
      await host?.kill('SIGTERM', 3000)
      lab?.teardown()
      if (dir) rmSync(dir, { recursive: true, force: true })
    })

    it('detects the running resolved and its stub', async () => {
      expect(await call('detectResolved', {})).toMatchObject({ running: true, resolvConf: 'stub' })
    })

    it('with the stub: the TUN link gets our servers, ~. and the DNS default route; resolv.conf is left to resolved; disconnect reverts it', async () => {
      expect((await link()).dns).toMatch(new RegExp(`^Link \\d+ \\(${TUN}\\):$`))
      await call('applyClientRouting', opts())
      try {
        const l = await link()
        expect(l.dns).toMatch(new RegExp(`^Link \\d+ \\(${TUN}\\): 10\\.99\\.0\\.1 fd99::1$`))
        expect(l.domain).toMatch(/: ~\.$/)
        expect(l.defaultRoute).toMatch(/: yes$/)
        expect(readFileSync(lab.resolvConfPath(ns), 'utf8')).toBe(STUB)
        const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { resolved: unknown; resolvConf: unknown }
        expect(state.resolved).toEqual({ tunIf: TUN })
        expect(state.resolvConf).toBeNull()
      } finally {
        await call('restoreClientRouting', stateFile)
      }
      const after = await link()
      expect(after.dns).toMatch(/\):$/)
      expect(after.domain).toMatch(/\):$/)
      expect(readFileSync(lab.resolvConfPath(ns), 'utf8')).toBe(STUB)
    })

    it('settings lost behind our back (resolvectl revert by somebody else) are put back by the re-check', async () => {
      await lab.exec(ns, runnerArgv([{ fn: 'applyClientRouting', args: [opts()] }]))
      try {
        await resolvectl('revert', TUN)
        expect((await link()).dns).toMatch(/\):$/)
        const state = await call('readState', stateFile)
        expect(await call('verifyClientRouting', state)).toMatchObject({ dns: false, intact: false })
        expect(await call('reassertClientDns', state)).toEqual({ repaired: ['resolved'] })
        expect((await link()).dns).toMatch(/: 10\.99\.0\.1 fd99::1$/)
        expect(await call('reassertClientDns', state)).toEqual({ repaired: [] })
      } finally {
        await call('restoreClientRouting', stateFile)
      }
    })

    it('a SIGKILLed visor: crash recovery reverts the link from the state file', async () => {
      const visor = lab.spawn(ns, runnerArgv([{ fn: 'applyClientRouting', args: [opts()] }], true))
      await visor.waitForOutput(/^RESULT /m, 30_000)
      expect((await link()).dns).toMatch(/: 10\.99\.0\.1 fd99::1$/)
      await visor.kill('SIGKILL', 1000)
      expect(await call('recoverStale', stateFile)).toMatchObject({ resolved: { tunIf: TUN } })
      expect((await link()).dns).toMatch(/\):$/)
      expect(existsSync(stateFile)).toBe(false)
    })

    it('resolved running but resolv.conf its own file (libc bypasses resolved): both are set, both restored', async () => {
      setResolvConf(PLAIN)
      try {
        await call('applyClientRouting', opts())
        expect(readFileSync(lab.resolvConfPath(ns), 'utf8')).toMatch(/^nameserver 10\.99\.0\.1\nnameserver fd99::1\n/m)
        expect((await link()).dns).toMatch(/: 10\.99\.0\.1 fd99::1$/)
        await call('restoreClientRouting', stateFile)
        expect(readFileSync(lab.resolvConfPath(ns), 'utf8')).toBe(PLAIN)
        expect((await link()).dns).toMatch(/\):$/)
      } finally {
        setResolvConf(STUB)
      }
    })
  },
)
