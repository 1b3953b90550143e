/**
 * Looking at the network from inside a namespace: HTTP GET, ping, and a
 * snapshot of the routing/firewall/DNS state that tests compare byte for byte
 * before and after a VPN session.
 */
import { readFileSync } from 'node:fs'
import { CommandError } from './errors.js'
import { exec, execOk } from './exec.js'

// node rather than curl: node is there wherever the tests run, curl may not be.
const HTTP_GET = `
const http = require('node:http')
const [url, ms] = process.argv.slice(1)
const req = http.get(url, { timeout: Number(ms) }, (res) => {
  let body = ''
  res.setEncoding('utf8')
  res.on('data', (d) => (body += d))
  res.on('end', () => {
    process.stdout.write(body)
    process.exit(res.statusCode >= 200 && res.statusCode < 300 ? 0 : 3)
  })
})
req.on('timeout', () => { console.error('timeout'); process.exit(4) })
req.on('error', (e) => { console.error(e.code || e.message); process.exit(5) })
`

/** GET `url` from inside `ns`; resolves with the body, throws CommandError (stderr: the error code) on failure. */
export async function httpGet(ns: string, url: string, timeoutMs = 5000): Promise<string> {
  const r = await execOk(ns, [process.execPath, '-e', HTTP_GET, url, String(timeoutMs)], { timeoutMs: timeoutMs + 5000 })
  return r.stdout
}

/** Whether GET `url` from `ns` succeeds; for "must NOT be reachable" checks. */
export async function canHttpGet(ns: string, url: string, timeoutMs = 2000): Promise<boolean> {
  try {
    await httpGet(ns, url, timeoutMs)
    return true
  } catch (e) {
    if (e instanceof CommandError) return false
    throw e
  }
}

export interface PingResult {
  ok: boolean
  sent: number
  received: number
  /** Round-trip times in ms, one per reply. */
  rtts: number[]
  output: string
}

export async function ping(ns: string, addr: string, opts: { count?: number; intervalS?: number; timeoutS?: number } = {}): Promise<PingResult> {
  const count = opts.count ?? 3
  const interval = opts.intervalS ?? 0.2
  const wait = opts.timeoutS ?? 1
  // -w bounds the whole run, so an unreachable address cannot stall a test.
  const deadline = Math.ceil(count * interval + wait + 1)
  const r = await exec(ns, ['ping', '-n', '-c', String(count), '-i', String(interval), '-W', String(wait), '-w', String(deadline), addr], {
    timeoutMs: (deadline + 5) * 1000,
  })
  const stats = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout)
  const sent = Number(stats?.[1] ?? 0)
  const received = Number(stats?.[2] ?? 0)
  const rtts = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]))
  return { ok: received > 0, sent, received, rtts, output: r.stdout + r.stderr }
}

/** Every routing table (`show table all`), so a VPN's policy-routing tables and leftover local routes count too. */
export interface NetSnapshot {
  route: string
  route6: string
  rule: string
  rule6: string
  nft: string
  resolvConf: string
}

/** The state a VPN client changes and must restore exactly. */
export async function snapshotNet(ns: string, resolvConfPath = `/etc/netns/${ns}/resolv.conf`): Promise<NetSnapshot> {
  const [route, route6, rule, rule6, nft] = await Promise.all([
    execOk(null, ['ip', '-n', ns, '-4', 'route', 'show', 'table', 'all']),
    execOk(null, ['ip', '-n', ns, '-6', 'route', 'show', 'table', 'all']),
    execOk(null, ['ip', '-n', ns, 'rule', 'show']),
    execOk(null, ['ip', '-n', ns, '-6', 'rule', 'show']),
    execOk(ns, ['nft', 'list', 'ruleset']),
  ])
  let resolvConf = ''
  try {
    resolvConf = readFileSync(resolvConfPath, 'utf8')
  } catch {
    // a namespace the lab did not give a resolv.conf
  }
  return {
    route: route.stdout,
    route6: route6.stdout,
    rule: rule.stdout,
    rule6: rule6.stdout,
    nft: nft.stdout,
    resolvConf,
  }
}
