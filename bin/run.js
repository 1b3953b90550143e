#!/usr/bin/env node
// Entry point of the `skywire` command. Errors a user can cause (bad flags,
// bad keys, a visor that is down) are printed as one line with a non-zero
// exit code; a stack trace only appears with SKYWIRE_DEBUG=1.
//
// Starting is most of what a user waits for in `skywire cli vpn status`
// (bench/README.md, "The time a user waits"), so this file loads as little as
// it can, and only after turning on Node's compile cache; oclif's `run` and
// `flush` come by their subpaths, not the package's index, which loads all of
// oclif and `semver` to check oclif's own engines.
import module from 'node:module'
import { userInfo } from 'node:os'
import { join } from 'node:path'

// Node's compile cache (22.1+; on Node 20 the function is absent): compiled
// code kept on disk between runs. Not in os.tmpdir(), Node's default, where
// any local user could plant code for root's next `skywire`, but in the
// running user's home from the password database ($HOME survives some sudo
// setups). NODE_COMPILE_CACHE, when set, is Node's own switch and wins.
if (module.enableCompileCache && process.env.NODE_COMPILE_CACHE === undefined) {
  try {
    module.enableCompileCache(join(userInfo().homedir, '.cache', 'skywire', 'node-compile-cache'))
  } catch {
    // No passwd entry: run without the cache.
  }
}

// The hot commands in their plain forms (`--version`, `cli vpn status`, `cli vpn
// start -k PK`) run without oclif (dist/cli/fast.js); every other command
// line, and any the fast entry does not fully understand, goes to oclif.
// SKYWIRE_CLI_FAST=0 sends everything to oclif (to compare the two).
const argv = process.argv.slice(2)
try {
  const fast = process.env.SKYWIRE_CLI_FAST !== '0' && (await (await import('../dist/cli/fast.js')).runFast(argv))
  if (!fast) {
    const { run } = await import('@oclif/core/run')
    const { flush } = await import('@oclif/core/flush')
    await run(argv, import.meta.url)
    await flush()
  }
} catch (err) {
  const { reportAndExit } = await import('../dist/cli/report.js')
  reportAndExit(err)
}
