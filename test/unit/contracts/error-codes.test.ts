/**
 * The error-code table is the one source: the generated Rust and TypeScript
 * files are fresh, every code the Rust side can raise is in it, and what the
 * addon throws arrives in TypeScript as a SkywireError with a listed code.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ERROR_CODE_FROM, ERROR_CODES, EXIT_CODE_OF, ExitCode } from '../../../ts/contracts/error-codes.js'
import { SkywireError } from '../../../ts/errors.js'
import { callNative, native } from '../../../ts/native.js'

interface Entry {
  code: string
  rust?: string
  exit: string
  from: string[]
}
const table = JSON.parse(readFileSync('ts/contracts/error-codes.json', 'utf8')) as { codes: Entry[] }

function rustSources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((d) => d.isFile() && d.name.endsWith('.rs'))
    .map((d) => join(d.parentPath, d.name))
}

describe('error codes', () => {
  it('the generated files are fresh (npm run check:codes)', () => {
    const r = spawnSync(process.execPath, ['scripts/gen-error-codes.mjs', '--check'], { encoding: 'utf8' })
    expect(r.status, r.stderr).toBe(0)
  })

  it('TypeScript has every code of the table, with an exit code and an origin', () => {
    expect([...ERROR_CODES]).toEqual(table.codes.map((e) => e.code))
    for (const e of table.codes) {
      expect(Object.values(ExitCode)).toContain(EXIT_CODE_OF[e.code as keyof typeof EXIT_CODE_OF])
      expect(ERROR_CODE_FROM[e.code as keyof typeof ERROR_CODE_FROM]).toEqual(e.from)
    }
    expect(new SkywireError('EINVALIDSIG', 'x').exitCode).toBe(ExitCode.Usage)
  })

  it('every code the core and the binding can raise is a variant of the generated enum, listed in the table', () => {
    const variants = new Set(table.codes.filter((e) => e.rust).map((e) => e.rust))
    const used = new Set<string>()
    for (const file of [...rustSources('crates/skywire-core/src'), ...rustSources('crates/skywire-napi/src')]) {
      if (file.endsWith('codes.rs')) continue
      const text = readFileSync(file, 'utf8')
      for (const m of text.matchAll(/\bCode::([A-Z][a-z][A-Za-z]*)/g)) used.add(m[1] as string)
      // No code spelled as a string beside the table: it could drift from it.
      expect(text.match(/"E[A-Z]{3,}"/g), file).toBeNull()
    }
    expect(used.size).toBeGreaterThan(10)
    for (const v of used) expect(variants, `Code::${v}`).toContain(v)
  })

  it('what the addon throws becomes a SkywireError with a listed code', () => {
    const cases: [() => unknown, string][] = [
      [() => native.publicKeyFromSecret('zz'), 'EINVALIDSK'],
      [() => native.verify('00', Buffer.alloc(0), Buffer.alloc(64)), 'EINVALIDPK'],
      [() => native.sign('00', Buffer.alloc(0)), 'EINVALIDSK'],
    ]
    for (const [fn, code] of cases) {
      let err: unknown
      try {
        callNative(fn)
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(SkywireError)
      expect((err as SkywireError).code).toBe(code)
      expect(ERROR_CODES).toContain((err as SkywireError).code)
    }
  })
})
