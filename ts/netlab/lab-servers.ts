/**
 * The lab's own servers, run as child processes inside namespaces: whoami
 * (answers with the caller's address) and the DNS server that logs who asked.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { DnsQueryLog } from './dns.js'
import { NetlabError } from './errors.js'
import type { NsProcess } from './exec.js'
import { INTERNET, LAB_NAMES } from './lab-addresses.js'
import type { Lab } from './netns.js'

/** dist/netlab/<name>.js, also when this file runs from ts/ under vitest (child processes need compiled JS). */
export function labScript(name: 'whoami' | 'dns'): string {
  const candidates = [new URL(`./${name}.js`, import.meta.url), new URL(`../../dist/netlab/${name}.js`, import.meta.url)]
  for (const u of candidates) {
    const p = fileURLToPath(u)
    if (existsSync(p)) return p
  }
  throw new NetlabError('EPREREQ', `dist/netlab/${name}.js is missing: build the TypeScript first (npx tsc -p .)`)
}

/** Starts whoami on port 80 of addr (and addr6); resolves once it listens. */
export async function startWhoami(lab: Lab, ns: string, v6: boolean, addr: string, addr6: string): Promise<void> {
  const listen = ['--listen', `${addr}:80`, ...(v6 ? ['--listen', `[${addr6}]:80`] : [])]
  const p = lab.spawn(ns, [process.execPath, labScript('whoami'), ...listen])
  await p.waitForOutput(v6 ? /listening on \[.*\]:80/ : /listening on/, 10_000)
}

/** Starts the DNS server at INTERNET.dns (and dns6) in the internet namespace; `ready` settles once it listens. */
export function startDns(lab: Lab, inet: string, v6: boolean): { proc: NsProcess; ready: Promise<unknown> } {
  const rec = (name: string, a: string, a6: string) => ['--record', `${name}=${a}`, ...(v6 ? ['--record', `${name}=${a6}`] : [])]
  const proc = lab.spawn(inet, [
    process.execPath,
    labScript('dns'),
    '--listen',
    `${INTERNET.dns}:53`,
    // IPv6-only hosts ask here (their resolv.conf), so lookups work on every stack.
    ...(v6 ? ['--listen', `[${INTERNET.dns6}]:53`] : []),
    ...rec(LAB_NAMES.whoami, INTERNET.whoami, INTERNET.whoami6),
    ...rec(LAB_NAMES.services, INTERNET.services, INTERNET.services6),
  ])
  return { proc, ready: proc.waitForOutput(v6 ? /dns listening on \[/ : /dns listening/, 10_000) }
}

/** The queries the DNS server logged so far (one JSON line each), oldest first. */
export function dnsQueries(proc: NsProcess | null): DnsQueryLog[] {
  return (proc?.output().stdout ?? '')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as DnsQueryLog)
}
