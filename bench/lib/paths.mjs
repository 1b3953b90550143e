// Where the bench finds its fixtures and tools, and writes its results.
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..')
export const PEER = join(ROOT, 'test/fixtures/peer.mjs')
export const CONNECT = join(ROOT, 'bench/fixtures/connect.mjs')
export const LOAD = join(ROOT, 'bench/fixtures/load.mjs')
export const ECHO = join(ROOT, 'bench/fixtures/udp-echo.mjs')
export const TOOLS = join(ROOT, '.bench-tools')
export const RESULTS = join(ROOT, 'bench/results')
