// The control API's route table (contracts/control-routes.ts) is what the visor serves and what clients call.
import { describe, expect, it } from 'vitest'
import { CONTROL_ROUTES, targetOf } from '../../../ts/contracts/control-routes.js'
import { controlRoutes } from '../../../ts/contracts/control-api.js'
import { controlApp, controlRoutes as registerControlRoutes } from '../../../ts/visor/control-api.js'
import type { Visor } from '../../../ts/visor/visor.js'

// Registration reads only the config; no handler runs in these tests.
const visor = { config: { dataDir: '/nonexistent', control: { listen: '' } } } as unknown as Visor

describe('control route table', () => {
  it('fills path parameters encoded and appends only defined query values', () => {
    expect(targetOf(CONTROL_ROUTES.closeTransport, { id: 7 })).toBe('/api/tp/7/close')
    expect(targetOf({ path: '/x/:id' }, { id: 'a/b' })).toBe('/x/a%2Fb')
    expect(targetOf(CONTROL_ROUTES.vpnServers, {}, { limit: 100, offset: 0, country: undefined })).toBe('/api/vpn/servers?limit=100&offset=0')
    expect(() => targetOf(CONTROL_ROUTES.closeTransport)).toThrow(/missing parameter id/)
  })

  it('the schema table has every plain route, with the same method, path and auth', () => {
    expect(Object.keys(controlRoutes).sort()).toEqual(Object.keys(CONTROL_ROUTES).sort())
    for (const [name, r] of Object.entries(CONTROL_ROUTES)) {
      const s = controlRoutes[name as keyof typeof controlRoutes]
      expect([s.method, s.path, s.auth], name).toEqual([r.method, r.path, r.auth])
    }
  })

  it('the visor serves every route of the table on the socket, and the table names every route it serves', async () => {
    const app = controlApp(visor, null, (api) => registerControlRoutes(api, visor))
    const served: string[] = []
    app.addHook('onRoute', (o) => {
      if (o.url.startsWith('/api/')) for (const m of [o.method].flat()) if (m !== 'HEAD') served.push(`${m} ${o.url}`)
    })
    await app.ready()
    const table = Object.values(CONTROL_ROUTES)
      .filter((r) => !('webOnly' in r && r.webOnly))
      .map((r) => `${r.method} ${r.path}`)
    expect(served.sort()).toEqual(table.sort())
    await app.close()
  })
})
