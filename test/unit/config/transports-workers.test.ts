/** The data-path workers in the config: absent by default (one per core), 1..64, anything else refused by name. */
import { describe, expect, it } from 'vitest'
import { generateConfig, parseConfig } from '../../../ts/config/file.js'

const base = generateConfig()
const withWorkers = (workers: unknown) => ({ ...base, transports: { ...base.transports, workers } })

describe('transports.workers', () => {
  it('is absent in new configs, so the node starts one worker per core', () => {
    expect(base.transports.workers).toBeUndefined()
    expect(parseConfig(base, 't').transports.workers).toBeUndefined()
  })

  it('takes 1 to 64', () => {
    expect(parseConfig(withWorkers(1), 't').transports.workers).toBe(1)
    expect(parseConfig(withWorkers(64), 't').transports.workers).toBe(64)
  })

  it.each([0, 65, -1, 1.5, '2', null])('refuses %j, naming the field', (v) => {
    expect(() => parseConfig(withWorkers(v), 't')).toThrow(/transports\.workers/)
  })
})
