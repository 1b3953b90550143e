/**
 * Debian's chromium, driven by playwright-core (no browser download), run inside a lab namespace so the page reaches
 * the visor's loopback listener there. Page errors and console errors are collected for the test to check.
 */
import { chmodSync, existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Browser, chromium, type Page } from 'playwright-core'
import { labSkipReason } from './lab.js'

export const CHROMIUM = '/usr/bin/chromium'
const BUILT_UI = join(fileURLToPath(new URL('../../../', import.meta.url)), 'dist', 'ui', 'index.html')

/** Why the browser tests cannot run here (no lab, no chromium, the UI not built), or null. */
export function browserSkipReason(): string | null {
  return (
    labSkipReason() ??
    (existsSync(CHROMIUM) ? null : `${CHROMIUM} is missing (apt-get install chromium)`) ??
    (existsSync(BUILT_UI) ? null : 'the UI is not built (npm run build:ui)')
  )
}

export interface NsBrowser {
  browser: Browser
  page: Page
  /** Page errors and console errors, in order. */
  problems: string[]
}

/** Launches chromium in `ns` (a wrapper script in `dir`: playwright passes its own flags to the executable). */
export async function launchChromiumIn(ns: string, dir: string, viewport: { width: number; height: number }): Promise<NsBrowser> {
  const wrapper = join(dir, 'chromium-in-ns')
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${ns} ${CHROMIUM} "$@"\n`)
  chmodSync(wrapper, 0o755)
  const browser = await chromium.launch({
    executablePath: wrapper,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    timeout: 30_000,
  })
  const page = await browser.newPage({ viewport })
  const problems: string[] = []
  page.on('pageerror', (e) => problems.push(e.message))
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text())
  })
  return { browser, page, problems }
}
