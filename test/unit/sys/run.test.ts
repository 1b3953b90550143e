import { describe, expect, it } from 'vitest'
import { SkywireError } from '../../../ts/contracts/errors.js'
import { isNotInstalled, tryRun } from '../../../ts/sys/run.js'

describe('isNotInstalled', () => {
  it('is true for a command that does not exist (spawn ENOENT)', async () => {
    const err = await tryRun(['skywire-no-such-command-here']).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(SkywireError)
    expect((err as SkywireError).code).toBe('ESYSCMD')
    expect(isNotInstalled(err)).toBe(true)
  })

  it('reads the cause, not the words: an error that only says so is not it', () => {
    expect(isNotInstalled(new SkywireError('ESYSCMD', 'cannot run x: x is not installed'))).toBe(false)
    const notFound = Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT', syscall: 'open' })
    expect(isNotInstalled(new SkywireError('ESYSCMD', 'open failed', { cause: notFound }))).toBe(false)
  })

  it('a command that runs and fails is installed', async () => {
    const r = await tryRun(['sh', '-c', 'exit 3'])
    expect(r.code).toBe(3)
  })
})
