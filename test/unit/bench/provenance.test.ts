// The commit and dirtiness a run records (bench/lib/provenance.mjs), on a real git repository made for
// the test, and the thread counts it samples (bench/lib/procfs.mjs) on this very process.
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { afterAll, describe, expect, it } from 'vitest'
import { processThreads, watchThreads } from '../../../bench/lib/procfs.mjs'
import { gitState } from '../../../bench/lib/provenance.mjs'

const dir = mkdtempSync(join(tmpdir(), 'bench-git-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const git = (...args: string[]) => {
  const r = spawnSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd: dir, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(r.stderr)
  return r.stdout.trim()
}

describe('git state of a run', () => {
  it('a clean tree, then a changed file, an untracked file, and results of earlier runs that do not count', () => {
    git('init', '-q')
    writeFileSync(join(dir, 'a.txt'), 'one\n')
    git('add', 'a.txt')
    git('commit', '-q', '-m', 'first commit')
    const clean = gitState(dir)
    if ('error' in clean) throw new Error(clean.error)
    expect(clean.commit).toBe(git('rev-parse', 'HEAD'))
    expect(clean.subject).toBe('first commit')
    expect(clean.dirty).toBe(false)

    mkdirSync(join(dir, 'bench/results'), { recursive: true })
    writeFileSync(join(dir, 'bench/results/x.json'), '{}\n')
    expect(gitState(dir)).toMatchObject({ dirty: false })

    writeFileSync(join(dir, 'a.txt'), 'two\n')
    writeFileSync(join(dir, 'b.txt'), 'new\n')
    expect(gitState(dir)).toMatchObject({ dirty: true, dirtyFiles: ['a.txt', 'b.txt'], dirtyCount: 2 })
  })

  it('outside a repository it says why instead of throwing', () => {
    const none = mkdtempSync(join(tmpdir(), 'bench-nogit-'))
    try {
      const s = gitState(none)
      expect('error' in s && s.error).toMatch(/git/)
    } finally {
      rmSync(none, { recursive: true, force: true })
    }
  })
})

describe('thread counts', () => {
  it('sees a thread started while it watches, and nothing of a process that is gone', async () => {
    const before = processThreads(process.pid)!
    expect(before.threads).toBeGreaterThan(0)
    const w = watchThreads([process.pid, 2 ** 22 + 12345], 20)
    const worker = new Worker('setTimeout(() => {}, 300)', { eval: true })
    await new Promise((r) => setTimeout(r, 150))
    const [self, gone] = w.stop()
    await worker.terminate()
    expect(self!.name).toBe(before.name)
    expect(self!.max!).toBeGreaterThan(self!.first!)
    expect(gone).toMatchObject({ name: null, first: null, max: null })
  })
})
