/**
 * The fast entry's matcher (ts/cli/fast-argv.ts): it takes only the plain forms of the hot commands and gives
 * every other command line, hostile or odd, to oclif (null), whose parser then words the error or the help.
 */
import { describe, expect, it } from 'vitest'
import { matchFast } from '../../../ts/cli/fast-argv.js'

const PK = `02${'ab'.repeat(32)}`.slice(0, 64)
const noEnv = {}
const m = (...argv: string[]) => matchFast(argv, noEnv)

describe('matchFast: the plain forms', () => {
  it('--version, alone', () => {
    expect(m('--version')).toEqual({ id: 'version' })
  })

  it('vpn status with --json and --rpc in any order and both spellings', () => {
    expect(m('cli', 'vpn', 'status')).toEqual({ id: 'vpn-status', json: false })
    expect(m('cli', 'vpn', 'status', '--json')).toEqual({ id: 'vpn-status', json: true })
    expect(m('cli', 'vpn', 'status', '--rpc', '/run/s.sock', '--json')).toEqual({ id: 'vpn-status', json: true, rpc: '/run/s.sock' })
    expect(m('cli', 'vpn', 'status', '--json', '--rpc=127.0.0.1:8000')).toEqual({ id: 'vpn-status', json: true, rpc: '127.0.0.1:8000' })
    // The value may itself hold '=': only the first one splits.
    expect(m('cli', 'vpn', 'status', '--rpc=/tmp/a=b.sock')).toEqual({ id: 'vpn-status', json: false, rpc: '/tmp/a=b.sock' })
  })

  it('vpn start with a key from -k, --pk, --pk= or the positional, and its flags', () => {
    const base = { id: 'vpn-start', json: false, pk: PK, pkPositional: false, existingTp: false }
    expect(m('cli', 'vpn', 'start', '-k', PK)).toEqual(base)
    expect(m('cli', 'vpn', 'start', '--pk', PK)).toEqual(base)
    expect(m('cli', 'vpn', 'start', `--pk=${PK}`)).toEqual(base)
    expect(m('cli', 'vpn', 'start', PK)).toEqual({ ...base, pkPositional: true })
    expect(m('cli', 'vpn', 'start', '-k', PK, '--existing-tp', '-t', '20', '--json', '--rpc', '/s')).toEqual({
      ...base,
      json: true,
      existingTp: true,
      timeout: '20',
      rpc: '/s',
    })
    expect(m('cli', 'vpn', 'start', '--timeout=0', PK)).toEqual({ ...base, pkPositional: true, timeout: '0' })
  })

  it('the matcher does not judge values (the command parsers do, then oclif words a refusal)', () => {
    expect(m('cli', 'vpn', 'start', '-k', 'nonsense', '-t', 'abc')).toMatchObject({ pk: 'nonsense', timeout: 'abc' })
  })
})

describe('matchFast: everything else goes to oclif', () => {
  const cases: [string, string[]][] = [
    ['no arguments (help)', []],
    ['--version with more', ['--version', '--json']],
    ['-v (not a version flag here)', ['-v']],
    ['another command', ['cli', 'vpn', 'stop']],
    ['another topic', ['cli', 'tp', 'ls']],
    ['a prefix', ['cli', 'vpn']],
    ['status --help', ['cli', 'vpn', 'status', '--help']],
    ['status -h', ['cli', 'vpn', 'status', '-h']],
    ['status --watch', ['cli', 'vpn', 'status', '--watch']],
    ['status -w', ['cli', 'vpn', 'status', '-w']],
    ['an unknown flag', ['cli', 'vpn', 'status', '--bogus']],
    ['an unknown short flag', ['cli', 'vpn', 'status', '-x']],
    ['a positional to status', ['cli', 'vpn', 'status', 'extra']],
    ['--', ['cli', 'vpn', 'status', '--', '--json']],
    ['a bare -', ['cli', 'vpn', 'status', '-']],
    ['--json twice', ['cli', 'vpn', 'status', '--json', '--json']],
    ['--json=true', ['cli', 'vpn', 'status', '--json=true']],
    ['--json=', ['cli', 'vpn', 'status', '--json=']],
    ['--rpc without a value', ['cli', 'vpn', 'status', '--rpc']],
    ['--rpc= empty', ['cli', 'vpn', 'status', '--rpc=']],
    ['--rpc followed by a flag', ['cli', 'vpn', 'status', '--rpc', '--json']],
    ['--rpc with a dash value', ['cli', 'vpn', 'status', '--rpc', '-x']],
    ['--rpc twice', ['cli', 'vpn', 'status', '--rpc', 'a', '--rpc', 'b']],
    ['--rpc twice, mixed forms', ['cli', 'vpn', 'status', '--rpc=a', '--rpc', 'b']],
    ['an empty --rpc value', ['cli', 'vpn', 'status', '--rpc', '']],
    ['start without a key (the server list)', ['cli', 'vpn', 'start']],
    ['start with -c', ['cli', 'vpn', 'start', '-c', 'DE']],
    ['start with a key and -c', ['cli', 'vpn', 'start', '-k', PK, '-c', 'DE']],
    ['start --via', ['cli', 'vpn', 'start', '-k', PK, '--via', PK]],
    ['start --hops', ['cli', 'vpn', 'start', '-k', PK, '--hops', '1']],
    ['start with two keys (flag and positional)', ['cli', 'vpn', 'start', '-k', PK, PK]],
    ['start with two positionals', ['cli', 'vpn', 'start', PK, PK]],
    ['start with -k twice', ['cli', 'vpn', 'start', '-k', PK, '-k', PK]],
    ['start with -k and --pk', ['cli', 'vpn', 'start', '-k', PK, '--pk', PK]],
    ['start with -k glued to its value', ['cli', 'vpn', 'start', `-k${PK}`]],
    ['start with -k=', ['cli', 'vpn', 'start', `-k=${PK}`]],
    ['start with -k and no value', ['cli', 'vpn', 'start', '-k']],
    ['start with -t and no value', ['cli', 'vpn', 'start', '-k', PK, '-t']],
    ['start with a negative -t', ['cli', 'vpn', 'start', '-k', PK, '-t', '-1']],
    ['start with -t twice', ['cli', 'vpn', 'start', '-k', PK, '-t', '1', '--timeout', '2']],
    ['start --existing-tp twice', ['cli', 'vpn', 'start', '-k', PK, '--existing-tp', '--existing-tp']],
    ['start --existing-tp=yes', ['cli', 'vpn', 'start', '-k', PK, '--existing-tp=yes']],
    ['start with a bundle of short flags', ['cli', 'vpn', 'start', '-kt', PK, '5']],
    ['start --help', ['cli', 'vpn', 'start', '-k', PK, '--help']],
    ['start with --', ['cli', 'vpn', 'start', '--', PK]],
    ['status with a start flag', ['cli', 'vpn', 'status', '--existing-tp']],
  ]
  for (const [what, argv] of cases) {
    it(what, () => expect(m(...argv)).toBeNull())
  }

  it("with an env var that changes oclif's output (its debug log, JSON by env, our stack traces)", () => {
    for (const k of ['DEBUG', 'SKYWIRE_DEBUG', 'SKYWIRE_CONTENT_TYPE']) {
      expect(matchFast(['cli', 'vpn', 'status'], { [k]: '1' })).toBeNull()
      expect(matchFast(['--version'], { [k]: '*' })).toBeNull()
    }
    // Set but empty is unset (the test helpers pass SKYWIRE_DEBUG='').
    expect(matchFast(['cli', 'vpn', 'status'], { SKYWIRE_DEBUG: '' })).toEqual({ id: 'vpn-status', json: false })
  })
})
