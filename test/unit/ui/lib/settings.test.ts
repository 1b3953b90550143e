/** The settings form's logic: only changed fields are sent; bad input stays in the page. */
import { describe, expect, it } from 'vitest'
import { formOf, patchOf } from '../../../../ts/ui/lib/settings.js'

const now = { killswitch: false, lockdown: false, allowLan: false, dns: ['1.1.1.1'], autoConnect: 'off' }

describe('settings form', () => {
  it('round-trips the settings and sends nothing when nothing changed', () => {
    expect(patchOf(formOf(now), now)).toEqual({ patch: {} })
  })

  it('sends only what changed; empty DNS means the server', () => {
    expect(patchOf({ ...formOf(now), lockdown: true, dns: '' }, now)).toEqual({ patch: { lockdown: true, dns: [] } })
    expect(patchOf({ ...formOf(now), dns: '9.9.9.9 149.112.112.112', autoConnect: 'best:DE' }, now)).toEqual({
      patch: { dns: ['9.9.9.9', '149.112.112.112'], autoConnect: 'best:DE' },
    })
  })

  it('refuses bad DNS and auto-connect values with one line', () => {
    expect(patchOf({ ...formOf(now), dns: '1.1.1.1, 300.1.1.1' }, now)).toEqual({ error: 'DNS: 300.1.1.1 is not an IP address' })
    expect(patchOf({ ...formOf(now), dns: '1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,5.5.5.5' }, now)).toMatchObject({ error: /at most 4/ })
    expect(patchOf({ ...formOf(now), autoConnect: 'best:de' }, now)).toMatchObject({ error: /Auto-connect/ })
    expect(patchOf({ ...formOf(now), autoConnect: '<script>' }, now)).toMatchObject({ error: /Auto-connect/ })
  })
})
