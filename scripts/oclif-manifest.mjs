#!/usr/bin/env node
// Writes oclif.manifest.json from the compiled commands in dist/commands (run by `npm run build:ts`).
// With the manifest, oclif finds a command and prints --version or a topic's help without importing every
// command file (and, through them, zod, the addon and the rest); without it, each run imports all of them.
// Same content as the `oclif manifest` command of the `oclif` package (through @oclif/core's own Plugin), without
// adding that package (and its release tooling) to the devDependencies.
//
//   node scripts/oclif-manifest.mjs                 write it
//   node scripts/oclif-manifest.mjs --check         exit 1 when the file on disk differs from what dist/ gives
//   ... --root DIR                                  another copy of the package (the pack test: the installed one)
import { readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Plugin } from '@oclif/core'

const at = process.argv.indexOf('--root')
const root = at > 0 && process.argv[at + 1] ? resolve(process.argv[at + 1]) : fileURLToPath(new URL('..', import.meta.url))
const file = join(root, 'oclif.manifest.json')

const plugin = new Plugin({ root, type: 'core', isRoot: true, ignoreManifest: true, errorOnManifestCreate: true, respectNoCacheDefault: true })
await plugin.load()
// Sorted by id: oclif lists the files in the order the directory walk meets them, which varies between runs.
const { commands, ...rest } = plugin.manifest
const sorted = Object.fromEntries(
  Object.keys(commands)
    .sort()
    .map((id) => [id, commands[id]]),
)
const fresh = `${JSON.stringify({ ...rest, commands: sorted }, null, 2)}\n`

if (process.argv.includes('--check')) {
  let onDisk = ''
  try {
    onDisk = readFileSync(file, 'utf8')
  } catch {
    // A missing file is stale too.
  }
  if (onDisk !== fresh) {
    process.stderr.write(`${file} is missing or older than dist/commands: run \`npm run build:ts\`\n`)
    process.exit(1)
  }
} else {
  writeFileSync(file, fresh)
}
