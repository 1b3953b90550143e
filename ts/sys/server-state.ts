/**
 * The VPN server's state file: the forwarding switches as they were before
 * the server turned them on, its nft table and its TUN, on disk before any of
 * them changes (same mechanism as the client's, ts/sys/state-file.ts). A
 * server that is SIGKILLed or loses power leaves ip_forward=1 and its table
 * behind; the next visor start reads this file, puts the original values
 * back and removes the rest, so the start after that records the true
 * original instead of the 1 the crash left.
 */
import { z } from 'zod'
import { SkywireError } from '../contracts/errors.js'
import { checkTableName, nftIfname } from './nft.js'
import { tryRun } from './run.js'
import { removeServerFirewall } from './server-firewall.js'
import { checkForwardingSnapshot, restoreForwarding, type ForwardingSnapshot } from './sysctl.js'
import { bootId, deleteStateFile, invalidState, ownedByLiveProcess, readStateFile, stateHeader, writeStateFile } from './state-file.js'

const WHAT = 'VPN server state file'

const forwarding = z.object({
  globals: z.array(z.object({ path: z.string(), value: z.string() })).max(2),
  perInterface: z.record(z.string(), z.string()),
  /** The uplink's accept_ra kept taking router advertisements (IPv6 for clients); absent before 0.4.0. */
  acceptRa: z.record(z.string(), z.string()).optional(),
})

const state = stateHeader.extend({
  /** The TUN the core creates; gone with the process normally, removed at recovery if not. */
  tunIf: z.string(),
  table: z.string(),
  /** null until the server is about to turn forwarding on. */
  forwarding: forwarding.nullable(),
})
export type ServerState = z.infer<typeof state>

/** What this visor manages: a state naming anything else is refused, not acted on. */
export interface ServerStateExpect {
  tunIf: string
  table: string
}

export function newServerState(expect: ServerStateExpect): ServerState {
  return {
    version: 1,
    pid: process.pid,
    bootId: bootId(),
    createdAt: new Date().toISOString(),
    tunIf: expect.tunIf,
    table: expect.table,
    forwarding: null,
  }
}

export function writeServerState(path: string, s: ServerState): void {
  nftIfname(s.tunIf)
  checkTableName(s.table)
  if (s.forwarding !== null) checkForwardingSnapshot(s.forwarding)
  writeStateFile(path, s, WHAT)
}

/** null when there is none; refused when it names another TUN or table, or sysctls other than forwarding switches. */
export function readServerState(path: string, expect: ServerStateExpect): ServerState | null {
  const s = readStateFile(path, state, WHAT)
  if (s === null) return null
  if (s.tunIf !== expect.tunIf) throw invalidState(path, WHAT, `tunIf: is ${JSON.stringify(s.tunIf)}, but this visor only manages ${expect.tunIf}`)
  if (s.table !== expect.table) throw invalidState(path, WHAT, `table: is ${JSON.stringify(s.table)}, but this visor only manages ${expect.table}`)
  if (s.forwarding !== null) {
    try {
      checkForwardingSnapshot(s.forwarding)
    } catch (e) {
      throw invalidState(path, WHAT, `forwarding: ${(e as Error).message}`)
    }
  }
  return s
}

export function deleteServerState(path: string): void {
  deleteStateFile(path, WHAT)
}

/** Deletes `name` if it is a TUN device; anything else by that name is not ours. */
async function removeTun(name: string): Promise<void> {
  nftIfname(name)
  const r = await tryRun(['ip', '-d', '-j', 'link', 'show', 'dev', name])
  if (r.code !== 0) return // gone with the process that held it
  const info = (JSON.parse(r.stdout) as { linkinfo?: { info_kind?: string } }[])[0]
  if (info?.linkinfo?.info_kind !== 'tun') return
  const del = await tryRun(['ip', 'link', 'del', 'dev', name])
  if (del.code !== 0 && !/Cannot find device/.test(del.stderr)) throw new SkywireError('ESYSCMD', `ip link del ${name}: ${del.stderr.trim()}`)
}

/**
 * Undoes everything a server state names, forwarding first (so the host
 * never forwards without our table in between), then the table, then the
 * TUN (unless the caller's core still holds it and closes it itself). Tries
 * every step; one error names all that failed.
 */
export async function undoServerState(s: ServerState, opts: { removeTun?: boolean } = {}): Promise<void> {
  const failures: string[] = []
  const attempt = async (f: () => Promise<unknown>) => {
    try {
      await f()
    } catch (e) {
      failures.push((e as Error).message)
    }
  }
  const fwd: ForwardingSnapshot | null = s.forwarding
  if (fwd !== null) await attempt(() => restoreForwarding(fwd))
  await attempt(() => removeServerFirewall(s.table))
  if (opts.removeTun ?? true) await attempt(() => removeTun(s.tunIf))
  if (failures.length > 0) throw new SkywireError('ESTATE', `could not undo all VPN server host changes: ${failures.join('; ')}`)
}

/**
 * Visor start: undoes what a server that did not stop cleanly left. Returns
 * the state it undid, or null when there was none. Refuses (ESTATE) when the
 * owner is another live process in this boot (a visor still serving).
 */
export async function recoverServerStale(path: string, expect: ServerStateExpect): Promise<ServerState | null> {
  const s = readServerState(path, expect)
  if (s === null) return null
  if (ownedByLiveProcess(s)) throw new SkywireError('ESTATE', `${WHAT} ${path} belongs to running process ${s.pid}: stop that visor first`)
  await undoServerState(s)
  deleteServerState(path)
  return s
}
