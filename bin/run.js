#!/usr/bin/env node
// Entry point of the `skywire` command. Errors a user can cause (bad flags,
// bad keys, a visor that is down) are printed as one line with a non-zero
// exit code; a stack trace only appears with SKYWIRE_DEBUG=1.
import { run, flush } from '@oclif/core'
import { reportAndExit } from '../dist/cli/report.js'

try {
  await run(process.argv.slice(2), import.meta.url)
  await flush()
} catch (err) {
  reportAndExit(err)
}
