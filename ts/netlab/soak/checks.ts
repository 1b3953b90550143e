/**
 * What the soak asserts, judged from a SoakResult. Each check says what it
 * measured; `ok: null` means the run was too short for it (said so, never a pass).
 */
import { flatness } from './sampler.js'
import { EXPIRY_S, REKEY_AFTER_S, type ClientRecord, type SoakResult } from './soak.js'

export interface Bounds {
  /** Lost UDP probes over all steady clients, percent. */
  lossPct: number
  /** Lost probes of the worst single client, percent. */
  clientLossPct: number
  /** TCP bytes the sink acked as a share of the bytes scheduled, percent (minimum). */
  tcpDeliveredPct: number
  /** RSS: late-window max may exceed early-window max by this ratio plus this many KiB. */
  rssRatio: number
  rssSlackKiB: number
  /**
   * fds: late-window max may exceed early-window max by this many (a visor
   * runs `ip`/`nft` now and then: a sample taken while a child's pipes are
   * open sees up to ~8 more), and the late-window minimum the early one by
   * fdFloorSlack (a leaked fd lifts the floor).
   */
  fdSlack: number
  fdFloorSlack: number
}

export const DEFAULT_BOUNDS: Bounds = {
  lossPct: 0.5,
  clientLossPct: 2,
  tcpDeliveredPct: 98,
  rssRatio: 0.1,
  rssSlackKiB: 16 * 1024,
  fdSlack: 10,
  fdFloorSlack: 1,
}

export interface Check {
  name: string
  ok: boolean | null
  detail: string
}

const pct = (a: number, b: number) => (b === 0 ? 0 : (100 * a) / b)
const f1 = (x: number) => x.toFixed(1)
const f2 = (x: number) => x.toFixed(2)

/** Totals over the clients that kept steady traffic (all but the idle one). */
export function trafficTotals(clients: ClientRecord[]) {
  const t = {
    probesSent: 0,
    probesEchoed: 0,
    probesLost: 0,
    probesPending: 0,
    tcpScheduled: 0,
    tcpAcked: 0,
    tcpRedials: 0,
    bursts: 0,
    burstsDone: 0,
    burstMsMax: 0,
    burstMsSum: 0,
    stallMsMax: 0,
    worstLossPct: 0,
    worst: '',
  }
  for (const c of clients) {
    const a = c.traffic
    if (c.idle || !a) continue
    t.probesSent += a.probesSent
    t.probesEchoed += a.probesEchoed
    t.probesLost += a.probesLost
    t.probesPending += a.probesPending
    t.tcpScheduled += a.tcpScheduled
    t.tcpAcked += a.tcpAcked
    t.tcpRedials += a.tcpRedials
    t.bursts += a.bursts
    t.burstsDone += a.burstsDone
    t.burstMsSum += a.burstMsSum
    t.burstMsMax = Math.max(t.burstMsMax, a.burstMsMax)
    t.stallMsMax = Math.max(t.stallMsMax, a.stallMsMax)
    const l = pct(a.probesLost, a.probesSent)
    if (l >= t.worstLossPct) {
      t.worstLossPct = l
      t.worst = c.name
    }
  }
  return t
}

export function judge(r: SoakResult, b: Bounds = DEFAULT_BOUNDS): Check[] {
  const steady = r.clients.filter((c) => !c.idle)
  return [
    connectCheck(r),
    transportCheck(r, steady),
    reconnectCheck(r, steady),
    ...trafficChecks(r, b, steady),
    ...flatnessChecks(r, b),
    rekeyCheck(r, steady),
    idleCheck(r),
  ]
}

const check = (name: string, ok: boolean | null, detail: string): Check => ({ name, ok, detail })

function connectCheck(r: SoakResult): Check {
  const n = r.clients.length
  const retried = r.clients.filter((c) => (c.connectAttempts ?? 1) > 1).length
  return check(
    'every client connected',
    r.connectFailures.length === 0,
    `${n - r.connectFailures.length}/${n}${retried ? ` (${retried} needed more than one start request)` : ', each at the first start request'}${r.connectFailures.length ? `; first failure: ${r.connectFailures[0]}` : ''}`,
  )
}

/** Every steady client kept one transport id, never left 'connected', and its server still lists it. */
function transportCheck(r: SoakResult, steady: ClientRecord[]): Check {
  const lost = steady.filter((c) => c.transportIds.length !== 1 || c.badStates.length > 0 || !c.serverSeen)
  const downs = r.servers.flatMap((s) => s.down.filter((d) => steady.some((c) => c.pk === d.peer)).map((d) => `${s.name}: ${d.reason}`))
  return check(
    'no transport lost',
    lost.length === 0 && downs.length === 0,
    lost.length === 0 && downs.length === 0
      ? `${steady.length} transports kept their id from connect to end; no transport down on the servers`
      : `${lost.map((c) => `${c.name}: ids ${c.transportIds.join('>')} states ${c.badStates.slice(0, 3).join(',')}${c.serverSeen ? '' : ' (gone from server)'}`).join('; ')} ${downs.slice(0, 5).join('; ')}`,
  )
}

function reconnectCheck(r: SoakResult, steady: ClientRecord[]): Check {
  const unexpected = steady.filter((c) => c.reconnectLogs.length > 0)
  const idle = r.clients.find((c) => c.idle)
  return check(
    'no reconnect the test did not cause',
    unexpected.length === 0,
    unexpected.length === 0
      ? `0 reconnect log lines from ${steady.length} steady clients${idle ? `; the idle client logged ${idle.reconnectLogs.length} (caused by the test)` : ''}`
      : unexpected
          .slice(0, 5)
          .map((c) => `${c.name}: ${c.reconnectLogs.slice(0, 2).join(' | ')}`)
          .join('; '),
  )
}

/** UDP loss, TCP delivery and bursts, from every client's final counters. */
function trafficChecks(r: SoakResult, b: Bounds, steady: ClientRecord[]): Check[] {
  const t = trafficTotals(r.clients)
  const loss = pct(t.probesLost, t.probesSent)
  const delivered = pct(t.tcpAcked, t.tcpScheduled)
  return [
    check(
      'UDP probe loss',
      t.probesSent > 0 && loss <= b.lossPct && t.worstLossPct <= b.clientLossPct,
      `${t.probesLost} of ${t.probesSent} lost (${f2(loss)} %, bound ${b.lossPct} %); worst client ${t.worst} ${f2(t.worstLossPct)} % (bound ${b.clientLossPct} %)`,
    ),
    check(
      'steady TCP delivered',
      t.tcpScheduled > 0 && delivered >= b.tcpDeliveredPct && t.tcpRedials === 0,
      `${f1(t.tcpAcked / 1048576)} of ${f1(t.tcpScheduled / 1048576)} MiB scheduled acked by the sink (${f2(delivered)} %, bound ≥ ${b.tcpDeliveredPct} %); ${t.tcpRedials} redials; longest ack stall ${f1(t.stallMsMax / 1000)} s`,
    ),
    check(
      'bursts completed',
      t.bursts > 0 && t.burstsDone >= t.bursts - steady.length,
      `${t.burstsDone}/${t.bursts} bursts acked (the last of each client may be in flight at the end); slowest ${f1(t.burstMsMax / 1000)} s, mean ${t.burstsDone ? f2(t.burstMsSum / t.burstsDone / 1000) : '-'} s`,
    ),
  ]
}

/** RSS and fd flatness of the named visors: which are over the bounds, how many had enough samples, the largest growths. */
function flatOf(r: SoakResult, b: Bounds, names: string[]) {
  const bad: string[] = []
  let judged = 0
  let worstRss = { name: '', growth: -Infinity }
  let worstFd = { name: '', growth: -Infinity }
  for (const name of names) {
    const s = r.series[name] ?? []
    const rss = flatness(s, 'rssKiB', b.rssRatio, b.rssSlackKiB)
    const fds = flatness(s, 'fds', 0, b.fdSlack, b.fdFloorSlack)
    if (!rss || !fds) continue
    judged++
    if (rss.growth > worstRss.growth) worstRss = { name, growth: rss.growth }
    if (fds.growth > worstFd.growth) worstFd = { name, growth: fds.growth }
    if (!rss.flat) bad.push(`${name} RSS ${Math.round(rss.earlyMax / 1024)} -> ${Math.round(rss.lateMax / 1024)} MiB`)
    if (!fds.flat) bad.push(`${name} fds max ${fds.earlyMax} -> ${fds.lateMax}, min ${fds.earlyMin} -> ${fds.lateMin}`)
  }
  return { bad, judged, worstRss, worstFd }
}

/** Memory and fds: servers one by one; clients one by one, summarised. */
function flatnessChecks(r: SoakResult, b: Bounds): Check[] {
  const n = r.clients.length
  const out: Check[] = []
  const bound = `RSS: late-window max and min ≤ early-window max and min × ${1 + b.rssRatio} + ${b.rssSlackKiB / 1024} MiB; fds: late max ≤ early max + ${b.fdSlack}, late min ≤ early min + ${b.fdFloorSlack}`
  for (const s of r.servers) {
    const f = flatOf(r, b, [s.name])
    const ser = r.series[s.name] ?? []
    const rss = flatness(ser, 'rssKiB', b.rssRatio, b.rssSlackKiB)
    const fds = flatness(ser, 'fds', 0, b.fdSlack, b.fdFloorSlack)
    out.push(
      check(
        `${s.name} RSS and fds flat`,
        f.judged === 1 && f.bad.length === 0,
        rss && fds
          ? `RSS max ${f1(rss.earlyMax / 1024)} -> ${f1(rss.lateMax / 1024)} MiB, fds max ${fds.earlyMax} -> ${fds.lateMax}, min ${fds.earlyMin} -> ${fds.lateMin} (${bound})${f.bad.length ? `: ${f.bad.join('; ')}` : ''}`
          : 'too few samples',
      ),
    )
  }
  const cf = flatOf(
    r,
    b,
    r.clients.map((c) => c.name),
  )
  out.push(
    check(
      'client RSS and fds flat',
      cf.judged === n && cf.bad.length === 0,
      `${cf.judged}/${n} clients judged; largest growth RSS ${cf.worstRss.name} ${f1(cf.worstRss.growth / 1024)} MiB, fds ${cf.worstFd.name} ${cf.worstFd.growth} (${bound})${cf.bad.length ? `; over: ${cf.bad.slice(0, 6).join('; ')}` : ''}`,
    ),
  )
  return out
}

/** The client dials, so it rekeys every 120 s; its server counts the same rekeys. */
function rekeyCheck(r: SoakResult, steady: ClientRecord[]): Check {
  const longest = Math.min(...steady.map((c) => c.uptimeS ?? 0))
  if (longest < REKEY_AFTER_S + 15) {
    return check(
      'rekeys happened',
      null,
      `sessions were up ${longest} s, less than the ${REKEY_AFTER_S} s rekey time: not judged (the full run judges it)`,
    )
  }
  const short = steady.filter((c) => c.rekeys < Math.max(1, Math.floor((c.uptimeS ?? 0) / REKEY_AFTER_S) - 1))
  const total = steady.reduce((a, c) => a + c.rekeys, 0)
  const srvMin = Math.min(...r.servers.map((s) => s.rekeysMin ?? 0))
  return check(
    'rekeys happened',
    short.length === 0 && srvMin >= 1,
    `${total} rekeys on ${steady.length} client sessions (min ${Math.min(...steady.map((c) => c.rekeys))}, sessions up ≥ ${longest} s, one per ${REKEY_AFTER_S} s expected); servers: ${r.servers.map((s) => `${s.name} ${s.rekeysTotal} (min ${s.rekeysMin})`).join(', ')}${
      short.length
        ? `; too few: ${short
            .slice(0, 5)
            .map((c) => `${c.name} ${c.rekeys} in ${c.uptimeS} s`)
            .join(', ')}`
        : ''
    }`,
  )
}

function idleCheck(r: SoakResult): Check {
  const i = r.idle
  if (!i) return check('idle transport expires, comes back', null, `run shorter than the ${EXPIRY_S} s expiry: not judged (the full run judges it)`)
  const idle = r.clients.find((c) => c.idle)
  const after = (idle?.traffic?.probesEchoed ?? 0) - i.echoedBeforeResume
  const okExpiry =
    i.expiredAfterS !== null && i.expiredAfterS >= EXPIRY_S - 5 && i.expiredAfterS <= EXPIRY_S + 15 && /expired/.test(i.expiryReason ?? '')
  return check(
    'idle transport expires, comes back',
    okExpiry && i.cleaned && i.reconnectS !== null && after > 0,
    `${i.client} (${i.transport}) cut off at ${i.cutAtS} s: ${i.server} ${i.expiredAfterS === null ? 'never dropped it' : `dropped it ${i.expiredAfterS} s later ("${i.expiryReason}", expected ${EXPIRY_S} s)`}; ${i.cleaned ? 'its address was freed' : 'still listed by the server'}; reconnected ${i.reconnectS ?? 'never'} s after the link came back; ${after} probes echoed after that`,
  )
}
