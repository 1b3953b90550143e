/**
 * The NAT matrix: for each pairing of client site and server site (public,
 * behind one NAT of a kind, behind a double NAT, or both behind one NAT), real
 * `skywire visor` processes on a lab, and which transport connects and how
 * fast. One lab holds every site (each visor has its own outside address, so
 * pairings do not share NAT state); pairings run in rounds in which no visor
 * takes part twice. Used by `npm run nat-matrix` (all pairings) and by
 * test/ts/nat-matrix.test.ts (a subset).
 */
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateConfig } from '../../config/file.js'
import { NetlabError } from '../errors.js'
import type { NsProcess } from '../exec.js'
import { LAB_SERVICES_CONFIG, startLabServices } from '../lab-services.js'
import type { SiteKind } from '../nat-kinds.js'
import { addSite, type Site, type SiteHost } from '../nat-sites.js'
import { buildTopology, type Topology } from '../topology.js'
import { VisorClient } from '../../visor/rpc-client.js'

export interface Pairing {
  client: SiteKind
  server: SiteKind
  /** Client and server are two hosts behind the same NAT (of kind `server`). */
  sameNat?: boolean
}

export interface Attempt {
  ok: boolean
  /** Wall time of the dial (request to transport up, or to the error). */
  ms: number
  error?: string
}

export interface PairingResult extends Pairing {
  sudph: Attempt
  stcpr: Attempt
  /** Only when neither transport connected: what `skywire cli vpn start` said and its exit code. */
  vpnStart?: { code: number; line: string }
}

export interface MatrixOptions {
  pairings: Pairing[]
  /** Seconds each dial may take (default 8). */
  timeoutS?: number
  /** Also run `vpn start` where nothing connected (default true). */
  checkVpnStart?: boolean
  log?: (line: string) => void
}

export function pairingName(p: Pairing): string {
  return p.sameNat ? `${p.client} + ${p.server} (same NAT)` : `${p.client} -> ${p.server}`
}

const SHORT: Record<SiteKind, string> = {
  public: 'pub',
  'full-cone': 'fc',
  'address-restricted': 'ar',
  'port-restricted': 'pr',
  symmetric: 'sy',
  icmp: 'ic',
  hairpin: 'hp',
  double: 'dn',
}

/** bin/run.js, from ts/ (vitest) or dist/ (npm run nat-matrix). */
function binPath(): string {
  const p = fileURLToPath(new URL('../../../bin/run.js', import.meta.url))
  if (!existsSync(p)) throw new NetlabError('EPREREQ', `${p} is missing`)
  return p
}

interface Visor {
  name: string
  host: SiteHost
  pk: string
  rpc: string
  client: VisorClient
  proc: NsProcess
}

export async function runMatrix(o: MatrixOptions): Promise<PairingResult[]> {
  const log = o.log ?? (() => {})
  const timeoutS = o.timeoutS ?? 8
  const bin = binPath()
  const dir = mkdtempSync(join(tmpdir(), 'skywire-natm-'))
  const topo = await buildTopology({ ipv6: false, whoami: false, dns: false })
  try {
    return await run(topo, dir, bin, o, timeoutS, log)
  } finally {
    await topo.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

async function run(topo: Topology, dir: string, bin: string, o: MatrixOptions, timeoutS: number, log: (l: string) => void): Promise<PairingResult[]> {
  await startLabServices(topo, { store: { db: join(dir, 'services.db') }, bin })
  const { plan, sites } = await planSites(topo, o.pairings)
  log(`lab ${topo.lab.prefix}: ${sites} sites built`)
  const visors = await startVisors(topo, dir, bin, plan)
  log(`${visors.size} visors up and bound`)
  const results = new Map<Pairing, PairingResult>()
  for (const round of rounds(plan)) {
    await Promise.all(
      round.map(async (x) => {
        const c = visors.get(x.clientKey) as Visor
        const s = visors.get(x.serverKey) as Visor
        const r = await pair(c, s, x.p, timeoutS, o.checkVpnStart ?? true, bin)
        results.set(x.p, r)
        log(
          `${pairingName(x.p)}: SUDPH ${fmt(r.sudph)}, STCPR ${fmt(r.stcpr)}${r.vpnStart ? `; vpn start exit ${r.vpnStart.code}: ${r.vpnStart.line}` : ''}`,
        )
      }),
    )
  }
  await Promise.all([...visors.values()].map((v) => v.proc.kill('SIGTERM', 10_000)))
  // NAT_MATRIX_DEBUG=DIR: every visor's log there (debug level), to see a punch step by step.
  const debugDir = process.env.NAT_MATRIX_DEBUG
  if (debugDir) for (const v of visors.values()) writeFileSync(join(debugDir, `${v.name}.log`), v.proc.output().stdout + v.proc.output().stderr)
  return o.pairings.map((p) => results.get(p) as PairingResult)
}

/** One pairing to run: the keys of its two visors and the hosts they run on. */
interface PlanItem {
  p: Pairing
  clientKey: string
  serverKey: string
  clientHost: () => SiteHost
  serverHost: () => SiteHost
}

/** One site per distinct client kind, per distinct server kind, and per same-NAT pairing. */
async function planSites(topo: Topology, pairings: Pairing[]): Promise<{ plan: PlanItem[]; sites: number }> {
  let index = 0
  const sites = new Map<string, Site>()
  const site = async (key: string, id: string, kind: SiteKind, hosts = 1): Promise<Site> => {
    let s = sites.get(key)
    if (!s) {
      s = await addSite(topo, { id, kind, index: index++, hosts })
      sites.set(key, s)
    }
    return s
  }
  const plan: PlanItem[] = []
  for (const p of pairings) {
    if (p.sameNat) {
      const key = `same-${p.server}`
      const s = await site(key, `x${SHORT[p.server]}`, p.server, 2)
      plan.push({
        p,
        clientKey: `${key}/c`,
        serverKey: `${key}/s`,
        clientHost: () => s.hosts[1] as SiteHost,
        serverHost: () => s.hosts[0] as SiteHost,
      })
    } else {
      const c = await site(`c-${p.client}`, `c${SHORT[p.client]}`, p.client)
      const s = await site(`s-${p.server}`, `s${SHORT[p.server]}`, p.server)
      plan.push({
        p,
        clientKey: `c-${p.client}`,
        serverKey: `s-${p.server}`,
        clientHost: () => c.hosts[0] as SiteHost,
        serverHost: () => s.hosts[0] as SiteHost,
      })
    }
  }
  return { plan, sites: sites.size }
}

/** Every visor of the plan, once each: servers run the VPN server (vpn start needs one), clients do not. */
async function startVisors(topo: Topology, dir: string, bin: string, plan: PlanItem[]): Promise<Map<string, Visor>> {
  const visors = new Map<string, Visor>()
  const starting: Promise<void>[] = []
  for (const x of plan) {
    starting.push(
      startVisor(topo, dir, bin, visors, x.serverKey, x.serverHost(), true),
      startVisor(topo, dir, bin, visors, x.clientKey, x.clientHost(), false),
    )
  }
  await Promise.all(starting)
  // Ready = bound at the resolver's UDP port (SUDPH) and STCPR registered (both happen at start).
  await Promise.all([...visors.values()].map((v) => waitBound(v)))
  return visors
}

async function startVisor(
  topo: Topology,
  dir: string,
  bin: string,
  visors: Map<string, Visor>,
  key: string,
  host: SiteHost,
  server: boolean,
): Promise<void> {
  if (visors.has(key)) return
  const name = key.replace(/[^a-z0-9-]/g, '-')
  const rpc = join(dir, `${name}.sock`)
  const config = generateConfig({
    dataDir: join(dir, name),
    logLevel: process.env.NAT_MATRIX_DEBUG ? 'debug' : 'info',
    services: LAB_SERVICES_CONFIG,
    control: { socket: rpc, listen: '' },
    vpnServer: { autostart: server, dns: ['203.0.113.53'] },
  })
  const file = join(dir, `${name}.json`)
  writeFileSync(file, JSON.stringify(config), { mode: 0o600 })
  const proc = topo.lab.spawn(host.ns, [process.execPath, bin, 'visor', '-c', file])
  visors.set(key, { name, host, pk: config.pk, rpc, client: new VisorClient(rpc, 120_000), proc })
  await proc.waitForOutput(/control API listening/, 60_000)
}

/** The plan in rounds, greedily: no visor in two pairings of one round. */
function rounds(plan: PlanItem[]): PlanItem[][] {
  const out: PlanItem[][] = []
  const left = [...plan]
  while (left.length > 0) {
    const busy = new Set<string>()
    const round: PlanItem[] = []
    for (const x of [...left]) {
      if (busy.has(x.clientKey) || busy.has(x.serverKey)) continue
      busy.add(x.clientKey)
      busy.add(x.serverKey)
      round.push(x)
      left.splice(left.indexOf(x), 1)
    }
    out.push(round)
  }
  return out
}

function fmt(a: Attempt): string {
  return a.ok ? `ok ${a.ms} ms` : `failed after ${a.ms} ms (${a.error ?? ''})`
}

async function waitBound(v: Visor): Promise<void> {
  const until = Date.now() + 60_000
  for (;;) {
    const st = await v.client.status().catch(() => null)
    if (st?.visor.observed) return
    if (Date.now() > until) throw new NetlabError('ETIMEOUT', `visor ${v.name} never bound at the address resolver`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

async function attempt(c: Visor, s: Visor, type: 'sudph' | 'stcpr', timeoutS: number): Promise<Attempt> {
  const t0 = performance.now()
  try {
    const tp = await c.client.addTransport(s.pk, { type, timeoutS })
    const ms = Math.round(performance.now() - t0)
    // Close it, so the next attempt (and the server) start clean.
    await c.client.closeTransport(tp.id).catch(() => {})
    return { ok: true, ms }
  } catch (err) {
    return { ok: false, ms: Math.round(performance.now() - t0), error: (err as Error).message }
  }
}

async function pair(c: Visor, s: Visor, p: Pairing, timeoutS: number, checkVpn: boolean, bin: string): Promise<PairingResult> {
  const sudph = await attempt(c, s, 'sudph', timeoutS)
  const stcpr = await attempt(c, s, 'stcpr', timeoutS)
  const r: PairingResult = { ...p, sudph, stcpr }
  if (!sudph.ok && !stcpr.ok && checkVpn) {
    // The real CLI, as a user runs it: one line on stderr and a non-zero exit.
    // Not spawnSync: the other pairings of the round run meanwhile.
    const out = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [bin, 'cli', 'vpn', 'start', '-k', s.pk, '-t', String(timeoutS), '--rpc', c.rpc],
        { env: { ...process.env, SKYWIRE_DEBUG: '', NO_COLOR: '1' }, encoding: 'utf8', timeout: (timeoutS + 60) * 1000 },
        (err, _stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr }),
      )
    })
    const lines = out.stderr.split('\n').filter((l) => l.length > 0)
    r.vpnStart = { code: out.code, line: lines.length === 1 ? (lines[0] as string) : lines.join(' | ') }
  }
  return r
}
