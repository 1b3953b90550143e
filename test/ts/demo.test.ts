/** The README's main job, as a user runs it: `npm run demo -- --once`. */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { skipUnlessAvailable } from './helpers/skip.js'
import { listNetns } from '../../ts/netlab/netns.js'
import { labSkipReason } from './helpers/lab.js'

const DEMO = fileURLToPath(new URL('../../dist/demo/run.js', import.meta.url))

describe.skipIf(skipUnlessAvailable(labSkipReason()))('npm run demo', () => {
  it("connects, shows the public IP change to the server's, and leaves no namespace behind", () => {
    const r = spawnSync(process.execPath, [DEMO, '--once'], { encoding: 'utf8', timeout: 120_000 })
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/client's public IP before: 203\.0\.113\.30/)
    expect(r.stdout).toMatch(/connected over sudph/)
    expect(r.stdout).toMatch(/client's public IP now: +203\.0\.113\.20/)
    expect(r.stdout).toMatch(/disconnected; client's public IP: 203\.0\.113\.30/)
    // Its own namespaces, by the prefix it prints (another lab may run on this machine meanwhile).
    const prefix = /namespaces (sw-[a-z0-9]+)-\*/.exec(r.stdout)?.[1]
    expect(prefix, r.stdout).toBeDefined()
    expect(listNetns().filter((n) => n.startsWith(`${prefix}-`))).toEqual([])
  }, 150_000)
})
