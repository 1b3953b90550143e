/**
 * The shapes the page gets from the control API. Declared here rather than
 * imported from the visor's sources so the browser bundle pulls in no Node
 * code; test/ts/ui checks they still match.
 */
export type ClientState = 'disconnected' | 'connecting' | 'connected' | 'reconnecting'

export interface ClientStatus {
  state: ClientState
  server: string | null
  transport: string | null
  remote: string | null
  tunnelIp: string | null
  rxBytes: number
  txBytes: number
  rxPackets: number
  txPackets: number
  latencyMs: number | null
  lastPacketMs: number | null
  uptimeS: number | null
  lastError: string | null
  killswitch: boolean
}

export interface ServerSummary {
  running: boolean
  secure: boolean
  netifc: string | null
  gateway: string | null
  clients: number
  rxBytes: number
  txBytes: number
}

export interface ServerEntry {
  address: string
  pk?: string
  type: string
  country?: string | null
  version?: string
  stats?: { connectedClients?: number }
  updatedAt?: string
  expiresAt?: string
}

export interface ServerPage {
  entries: ServerEntry[]
  total: number
  offset: number
  limit: number
}

export interface TickEvent {
  t: number
  client: ClientStatus
  server: ServerSummary
}

export interface StateEvent {
  t: number
  client: ClientStatus
}
