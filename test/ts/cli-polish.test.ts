import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { ExitCode } from '../../ts/contracts/errors.js'
import { expectOneLineError, skywire } from './helpers/cli.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const tmp = mkdtempSync(join(tmpdir(), 'skywire-polish-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

describe('CLI polish', () => {
  it('--version names the package and its version', () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
    const r = skywire(['--version'])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(`skywire-vpn/${version}`)
  })

  it('autocomplete is a command', () => {
    const r = skywire(['autocomplete', '--help'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/bash/)
  })

  it('no colour escapes when NO_COLOR is set or output is not a terminal', () => {
    const r = skywire(['cli', 'vpn', 'start', '--help'])
    // biome-ignore lint/suspicious/noControlCharactersInRegex: ESC is exactly what this test looks for
    expect(r.stdout).not.toMatch(/\x1b\[/)
  })

  it('README exit-code table matches ts/contracts/errors.ts', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    const table = readme.slice(readme.indexOf('### Exit codes'))
    const codes = [...table.matchAll(/^\| (\d+) \|/gm)].map((m) => Number(m[1]))
    expect(codes.sort((a, b) => a - b)).toEqual([0, ...Object.values(ExitCode)].sort((a, b) => a - b))
  })

  it('install-service --dry-run prints a unit for this skywire and config', () => {
    const cfg = join(tmp, 'c.json')
    expect(skywire(['cli', 'config', 'gen', '-o', cfg]).code).toBe(0)
    const r = skywire(['cli', 'visor', 'install-service', '-c', cfg, '--dry-run'])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('[Service]')
    expect(r.stdout).toContain(`ExecStart=${process.execPath} ${join(ROOT, 'bin/run.js')} visor -c ${cfg}`)
    expect(r.stdout).toContain('WantedBy=multi-user.target')
    // Sandboxed (test/ts/sys/unit-sandbox.test.ts checks it in full, with systemd-analyze).
    for (const line of [
      'CapabilityBoundingSet=CAP_NET_ADMIN',
      'NoNewPrivileges=yes',
      'ProtectSystem=strict',
      'ReadWritePaths=/proc/sys/net',
      'DeviceAllow=/dev/net/tun rw',
    ]) {
      expect(r.stdout.split('\n')).toContain(line)
    }
    expect(r.stdout).not.toContain('MemoryDenyWriteExecute')
    const j = skywire(['cli', 'visor', 'install-service', '-c', cfg, '--dry-run', '--json'])
    expect(JSON.parse(j.stdout)).toMatchObject({ path: '/etc/systemd/system/skywire-visor.service', written: false })
  })

  it('install-service refuses a missing config', () => {
    const r = skywire(['cli', 'visor', 'install-service', '-c', join(tmp, 'nope.json'), '--dry-run'])
    expect(r.code).toBe(2)
    expect(expectOneLineError(r)).toMatch(/cannot read config/)
  })
})
