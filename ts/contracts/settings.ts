/**
 * The VPN client's settings that `vpn set` / `vpn get` and the web UI's
 * settings section change on a running visor (GET/POST /api/vpn/settings),
 * persisted in the config file's vpnClient section. The shapes only: the
 * visor validates the result as a whole config (weak keys, country codes)
 * before anything changes. No node: imports (the web UI uses it).
 */
import { z } from 'zod'

const ip4 = z.ipv4()
const ip6 = z.ipv6()

/** off | last | best | best:CC | a server's public key (config vpnClient.autoConnect). */
export const AUTO_CONNECT_SHAPE = /^(off|last|best|best:[A-Z]{2}|[0-9a-f]{64})$/

export const vpnSettingsSchema = z.object({
  killswitch: z.boolean(),
  lockdown: z.boolean(),
  allowLan: z.boolean(),
  /** Empty: the server's DNS servers. */
  dns: z.array(z.string()),
  autoConnect: z.string(),
})
export type VpnSettings = z.infer<typeof vpnSettingsSchema>

/** A change: any subset; an unknown key is refused (a typo must not look like it worked). */
export const vpnSettingsPatchSchema = z
  .strictObject({
    killswitch: z.boolean(),
    lockdown: z.boolean(),
    allowLan: z.boolean(),
    dns: z
      .array(z.string().refine((s) => ip4.safeParse(s).success || ip6.safeParse(s).success, 'must be an IP address'))
      .max(4)
      .refine((a) => new Set(a).size === a.length, 'lists a server twice'),
    autoConnect: z.string().regex(AUTO_CONNECT_SHAPE, 'must be off, last, best, best:CC or a server public key'),
  })
  .partial()
export type VpnSettingsPatch = z.infer<typeof vpnSettingsPatchSchema>

/** What a change did: the settings now, where they were saved, what changed on the host now and what waits for a connect. */
export const vpnSettingsResultSchema = z.object({
  settings: vpnSettingsSchema,
  /** The config file written, or null: a visor started without one keeps them until it stops. */
  savedTo: z.string().nullable(),
  changed: z.boolean(),
  /** Settings applied on the host now (nft rules). */
  live: z.array(z.string()),
  /** Settings that take effect at the next connect (DNS) or the next visor start (auto-connect). */
  later: z.array(z.string()),
})
export type VpnSettingsResult = z.infer<typeof vpnSettingsResultSchema>
