/**
 * What a visor reports about itself over the control API: the CLI's `--json`
 * output, the web UI's state and live events. zod schemas, so a client may
 * check an answer; the TS types are inferred from them. The visor and VPN keep
 * their own interfaces (VisorStatus in visor/visor.ts, VpnClientStatus in
 * vpn/client.ts, VpnServerStatus in vpn/server.ts); ts/visor/control-api.ts
 * fails to compile when they and these drift apart.
 */
import { z } from 'zod'
import { TRANSPORT_KINDS } from './constants.js'

export const transportKindSchema = z.enum(TRANSPORT_KINDS)
export type TransportKind = z.infer<typeof transportKindSchema>

export const clientStateSchema = z.enum(['disconnected', 'connecting', 'connected', 'reconnecting'])
export type ClientState = z.infer<typeof clientStateSchema>

/** One transport of the visor (GET /api/tp, POST /api/tp). */
export const transportInfoSchema = z.object({
  id: z.number(),
  peer: z.string(),
  type: z.string(),
  remote: z.string(),
  rttMs: z.number().nullable(),
  lastRxMs: z.number().nullable(),
})
export type TransportInfo = z.infer<typeof transportInfoSchema>

export const visorStatusSchema = z.object({
  pk: z.string(),
  version: z.string(),
  uptimeS: z.number(),
  stcpr: z.string().nullable(),
  sudph: z.string().nullable(),
  observed: z.string().nullable(),
  services: z.string(),
  transports: z.array(transportInfoSchema),
})
export type VisorStatus = z.infer<typeof visorStatusSchema>

/** One visor on the VPN client's route (multi-hop). */
export const routeLinkSchema = z.object({
  pk: z.string(),
  role: z.enum(['hop', 'exit']),
  transport: transportKindSchema,
})
export type RouteLink = z.infer<typeof routeLinkSchema>

/** The VPN client: the tunnel this visor uses. */
export const vpnClientStatusSchema = z.object({
  state: clientStateSchema,
  /** The transport the VPN rides on. */
  transportId: z.number().nullable(),
  server: z.string().nullable(),
  transport: transportKindSchema.nullable(),
  remote: z.string().nullable(),
  tunnelIp: z.string().nullable(),
  tun: z.string().nullable(),
  dns: z.array(z.string()),
  rxBytes: z.number(),
  txBytes: z.number(),
  rxPackets: z.number(),
  txPackets: z.number(),
  latencyMs: z.number().nullable(),
  lastPacketMs: z.number().nullable(),
  /** Rekeys completed on the current session. */
  rekeys: z.number(),
  connectedAt: z.string().nullable(),
  uptimeS: z.number().nullable(),
  lastError: z.string().nullable(),
  killswitch: z.boolean(),
  /** The exit's public IP and country as the server claims them (VPN exit-info); null: unknown (e.g. a 0.2.0 server); absent from 0.2.0 visors. */
  exitIp: z.string().nullable().optional(),
  exitCountry: z.string().nullable().optional(),
  /**
   * The chain the tunnel crosses while connected, first hop to exit (without hops: the exit alone); empty when
   * not connected; absent from 0.3.0 visors. `transport`: the kind of the link under it (a circuit rides its
   * first hop's).
   */
  route: z.array(routeLinkSchema).optional(),
})
export type VpnClientStatus = z.infer<typeof vpnClientStatusSchema>

/** One client of this visor's VPN server. */
export const serverClientInfoSchema = z.object({
  pk: z.string(),
  transportId: z.number(),
  tunnelIp: z.string(),
  transport: transportKindSchema,
  remote: z.string(),
  connectedAt: z.string(),
  rxBytes: z.number(),
  txBytes: z.number(),
  rekeys: z.number(),
})
export type ServerClientInfo = z.infer<typeof serverClientInfoSchema>

/** The VPN server: this visor as an exit. */
export const vpnServerStatusSchema = z.object({
  running: z.boolean(),
  netifc: z.string().nullable(),
  secure: z.boolean(),
  whitelist: z.array(z.string()),
  tun: z.string().nullable(),
  gateway: z.string().nullable(),
  clients: z.array(serverClientInfoSchema),
})
export type VpnServerStatus = z.infer<typeof vpnServerStatusSchema>

/** GET /api/status: everything at once (`skywire cli ... --json`). */
export const remoteStatusSchema = z.object({
  visor: visorStatusSchema,
  client: vpnClientStatusSchema,
  server: vpnServerStatusSchema,
})
export type RemoteStatus = z.infer<typeof remoteStatusSchema>

/** What the UI shows of the server side on every tick: the count, not the whitelist. */
export const serverSummarySchema = z.object({
  running: z.boolean(),
  secure: z.boolean(),
  netifc: z.string().nullable(),
  gateway: z.string().nullable(),
  clients: z.number(),
  rxBytes: z.number(),
  txBytes: z.number(),
})
export type ServerSummary = z.infer<typeof serverSummarySchema>

/** The live events of GET /api/events (server-sent events, by event name). */
export const tickEventSchema = z.object({ t: z.number(), client: vpnClientStatusSchema, server: serverSummarySchema })
export type TickEvent = z.infer<typeof tickEventSchema>
export const stateEventSchema = z.object({ t: z.number(), client: vpnClientStatusSchema })
export type StateEvent = z.infer<typeof stateEventSchema>
export const EVENTS = { tick: tickEventSchema, state: stateEventSchema } as const
