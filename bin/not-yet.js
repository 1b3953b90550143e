#!/usr/bin/env node
// Placeholder for npm scripts whose feature lands with a later issue. It says
// so and fails, rather than pretending to work.
const what = process.argv[2] ?? 'this script'
console.error(`skywire: \`npm run ${what}\` is not available yet`)
process.exit(69)
