/**
 * Root never trusts a file a non-root user could have written (issue 12 item 5).
 *
 * A real `skywire visor` (as root, in a lab namespace so nothing it might do
 * reaches the host's network) is pointed at data dirs and files that the user
 * `nobody` owns or could have written, through `setpriv`. Each must make the
 * visor refuse to start with one line and a non-zero exit, having created
 * nothing: on the old code the planted state file made root write a setuid
 * file with the user's content into /usr/local/bin.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { skipUnlessAvailable } from './helpers/skip.js'
import { generateConfig, writeConfig } from '../../ts/config/file.js'
import { createLab, type Lab } from '../../ts/netlab/netns.js'
import { writeState, type ClientState } from '../../ts/sys/client-state.js'
import { BIN, expectOneLineError } from './helpers/cli.js'
import { labSkipReason } from './helpers/lab.js'

const skip = labSkipReason() ?? (process.getuid?.() === 0 ? null : 'needs root')

const NOBODY = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim())
const NOGROUP = Number(execFileSync('getent', ['group', 'nogroup'], { encoding: 'utf8' }).split(':')[2])

/** Runs node code as nobody:nogroup with no supplementary groups: a local user with no rights. */
function asNobody(code: string, ...args: string[]): void {
  execFileSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, '-e', code, ...args], { stdio: 'pipe' })
}

const EVIL_CONTENT = '#!/bin/sh\nexec /bin/sh -p\n'

function plantedState(evil: string): ClientState {
  return {
    version: 1,
    pid: 2 ** 22 + 7, // above pid_max's default: never alive
    bootId: null,
    createdAt: new Date(0).toISOString(),
    tunIf: 'swvpn0',
    routes: [],
    resolvConf: { path: evil, kind: 'file', contentBase64: Buffer.from(EVIL_CONTENT).toString('base64'), mode: 0o4755 },
    dns: [],
    killSwitch: null,
  }
}

describe.skipIf(skipUnlessAvailable(skip))(`root trusts no user-writable file${skip === null ? '' : ` (skipped: ${skip})`}`, () => {
  let lab: Lab
  let ns: string
  let base: string
  const evil = `/usr/local/bin/evil-skywire-${randomBytes(4).toString('hex')}`

  beforeAll(async () => {
    lab = createLab()
    ns = await lab.addNamespace('files')
    base = mkdtempSync(join(tmpdir(), 'skywire-files-'))
    // nobody must be able to reach the data dirs below, as on a real system (/var/lib is 0755).
    chmodSync(base, 0o755)
  })
  afterEach(() => rmSync(evil, { force: true }))
  afterAll(() => {
    rmSync(evil, { force: true })
    rmSync(base, { recursive: true, force: true })
    lab?.teardown()
  })

  /** A config for a visor that touches nothing but loopback, its data dir and its socket. */
  function config(name: string, dataDir: string, mode = 0o600): string {
    const cfg = generateConfig({
      dataDir,
      services: { url: 'http://127.0.0.1:9', udp: '127.0.0.1:9' },
      transports: { stcpr: { listen: '127.0.0.1:0' }, sudph: { listen: '127.0.0.1:0' } },
      vpnServer: { autostart: false },
      control: { socket: join(base, `${name}.sock`), listen: '' },
    })
    const file = join(base, `${name}.json`)
    writeFileSync(file, JSON.stringify(cfg), { mode })
    chmodSync(file, mode)
    return file
  }

  /** Runs the visor; the old code kept running (the timeout kills it and the test fails on the exit code). */
  async function visor(file: string): Promise<{ code: number | null; stderr: string }> {
    const r = await lab.exec(ns, [process.execPath, BIN, 'visor', '-c', file], {
      timeoutMs: 15_000,
      env: { ...process.env, NO_COLOR: '1', SKYWIRE_DEBUG: '' },
    })
    return { code: r.code, stderr: r.stderr }
  }

  function refuses(r: { code: number | null; stderr: string }, re: RegExp): void {
    expect(r.code, `visor should have refused to start; stderr: ${r.stderr}`).not.toBe(0)
    expect(r.code).not.toBeNull()
    expect(expectOneLineError({ code: r.code ?? -1, stdout: '', stderr: r.stderr })).toMatch(re)
  }

  it('a data dir owned by a user, with a state file naming a setuid file: refused, nothing created', async () => {
    const dataDir = join(base, 'user-owned')
    mkdirSync(dataDir, { mode: 0o755 })
    chownSync(dataDir, NOBODY, NOGROUP)
    asNobody(
      'require("node:fs").writeFileSync(process.argv[1], process.argv[2])',
      join(dataDir, 'vpn-client.state.json'),
      JSON.stringify(plantedState(evil)),
    )
    const file = config('user-owned', dataDir)
    const before = readdirSync(dataDir).sort()
    const r = await visor(file)
    expect(existsSync(evil)).toBe(false)
    refuses(r, new RegExp(`${dataDir}.*owned by uid ${NOBODY}`))
    expect(readdirSync(dataDir).sort()).toEqual(before)
  })

  it('a root-owned data dir that others may write, a state file planted there by a user: refused, nothing created', async () => {
    const dataDir = join(base, 'world-writable')
    mkdirSync(dataDir)
    chmodSync(dataDir, 0o777)
    asNobody(
      'require("node:fs").writeFileSync(process.argv[1], process.argv[2])',
      join(dataDir, 'vpn-client.state.json'),
      JSON.stringify(plantedState(evil)),
    )
    const file = config('world-writable', dataDir)
    const before = readdirSync(dataDir).sort()
    const r = await visor(file)
    expect(existsSync(evil)).toBe(false)
    refuses(r, new RegExp(`${dataDir}.*writable by group or others`))
    expect(readdirSync(dataDir).sort()).toEqual(before)
  })

  it('a data dir under a directory a user owns (who could swap it): refused, and a missing one is not created there', async () => {
    const parent = join(base, 'user-parent')
    mkdirSync(parent, { mode: 0o755 })
    chownSync(parent, NOBODY, NOGROUP)
    const dataDir = join(parent, 'data')
    mkdirSync(dataDir, { mode: 0o700 })
    refuses(await visor(config('user-parent', dataDir)), new RegExp(`${dataDir}: its parent ${parent} is owned by uid ${NOBODY}`))
    const missing = join(parent, 'missing')
    refuses(await visor(config('user-parent-missing', missing)), new RegExp(`its parent ${parent} is owned by uid ${NOBODY}`))
    expect(existsSync(missing)).toBe(false)
  })

  it('a state file owned by a user in a root data dir (left from an older layout): refused', async () => {
    const dataDir = join(base, 'user-file')
    mkdirSync(dataDir, { mode: 0o700 })
    const state = join(dataDir, 'vpn-client.state.json')
    writeFileSync(state, JSON.stringify(plantedState(evil)), { mode: 0o600 })
    chownSync(state, NOBODY, NOGROUP)
    refuses(await visor(config('user-file', dataDir)), new RegExp(`${state}.*owned by uid`))
    expect(existsSync(evil)).toBe(false)
  })

  it('a root-owned state file naming another path or a setuid mode is not restored from', async () => {
    // Whoever wrote it (a restored backup, a bug), root only ever restores the resolv.conf it manages.
    const dataDir = join(base, 'root-state')
    mkdirSync(dataDir, { mode: 0o700 })
    writeFileSync(join(dataDir, 'vpn-client.state.json'), JSON.stringify(plantedState(evil)), { mode: 0o600 })
    refuses(await visor(config('root-state', dataDir)), /resolvConf/)
    expect(existsSync(evil)).toBe(false)
    const bad = plantedState('/etc/resolv.conf')
    writeFileSync(join(dataDir, 'vpn-client.state.json'), JSON.stringify(bad), { mode: 0o600 })
    refuses(await visor(config('root-state', dataDir)), /resolvConf\.mode/)
  })

  it('a config holding the secret key that others may read, and a UI token others may read: refused', async () => {
    const dataDir = join(base, 'perms')
    mkdirSync(dataDir, { mode: 0o700 })
    refuses(await visor(config('readable', dataDir, 0o644)), /readable by group or others.*secret key/)
    writeFileSync(join(dataDir, 'ui-token'), `${randomBytes(32).toString('base64url')}\n`, { mode: 0o644 })
    chmodSync(join(dataDir, 'ui-token'), 0o644)
    refuses(await visor(config('token', dataDir)), /ui-token.*readable by group or others/)
  })

  it('a symlink planted at the temp file path is not followed when the state is written', () => {
    const dir = mkdtempSync(join(base, 'sym-'))
    const victim = join(dir, 'victim')
    writeFileSync(victim, 'untouched\n', { mode: 0o644 })
    const state = join(dir, 'vpn-client.state.json')
    symlinkSync(victim, `${state}.tmp`)
    const s = { ...plantedState('/etc/resolv.conf'), resolvConf: null }
    writeState(state, s)
    expect(readFileSync(victim, 'utf8')).toBe('untouched\n')
    expect(lstatSync(state).isFile()).toBe(true)
    expect(statSync(state).mode & 0o777).toBe(0o600)
    expect(JSON.parse(readFileSync(state, 'utf8'))).toEqual(s)
    expect(existsSync(`${state}.tmp`)).toBe(false)
  })

  it('writing the config follows no symlink, at the temp path or at the config path, and never clobbers without force', async () => {
    const dir = mkdtempSync(join(base, 'cfg-'))
    const victim = join(dir, 'victim')
    writeFileSync(victim, 'untouched\n', { mode: 0o644 })
    const file = join(dir, 'skywire.json')
    symlinkSync(victim, `${file}.tmp`)
    const cfg = generateConfig()
    await writeConfig(file, cfg)
    expect(readFileSync(victim, 'utf8')).toBe('untouched\n')
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(cfg)
    await expect(writeConfig(file, generateConfig())).rejects.toMatchObject({ code: 'EEXIST' })
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(cfg)
    const link = join(dir, 'link.json')
    symlinkSync(victim, link)
    await writeConfig(link, cfg, true)
    expect(readFileSync(victim, 'utf8')).toBe('untouched\n')
    expect(lstatSync(link).isFile()).toBe(true)
    expect(statSync(link).mode & 0o777).toBe(0o600)
  })
})
