/** The settings section: loads the visor's VPN settings into the form and saves what the user changed. */
import type { Api } from './lib/api.js'
import { formOf, patchOf, type SettingsForm } from './lib/settings.js'
import type { VpnSettings } from '../contracts/settings.js'

function el<T extends HTMLElement>(id: string): T {
  const e = document.getElementById(id)
  if (!e) throw new Error(`#${id} missing from the page`)
  return e as T
}

export function initSettings(api: Api, failed: (err: unknown, doing: string) => void): void {
  const box = (id: string) => el<HTMLInputElement>(id)
  const note = el('settings-note')
  const save = el<HTMLButtonElement>('settings-save')
  let now: VpnSettings | null = null

  const show = (s: VpnSettings) => {
    now = s
    const f = formOf(s)
    box('set-killswitch').checked = f.killswitch
    box('set-lockdown').checked = f.lockdown
    box('set-allowlan').checked = f.allowLan
    box('set-dns').value = f.dns
    box('set-autoconnect').value = f.autoConnect
    save.disabled = false
  }
  const read = (): SettingsForm => ({
    killswitch: box('set-killswitch').checked,
    lockdown: box('set-lockdown').checked,
    allowLan: box('set-allowlan').checked,
    dns: box('set-dns').value,
    autoConnect: box('set-autoconnect').value,
  })

  el('settings').addEventListener('submit', (e) => {
    e.preventDefault()
    if (now === null) return
    const r = patchOf(read(), now)
    if ('error' in r) {
      note.textContent = r.error
      return
    }
    if (Object.keys(r.patch).length === 0) {
      note.textContent = 'Nothing changed.'
      return
    }
    save.disabled = true
    note.textContent = 'Saving…'
    api
      .setSettings(r.patch)
      .then((res) => {
        show(res.settings)
        const where = res.savedTo !== null ? `Saved to ${res.savedTo}.` : 'Not saved: this visor has no config file.'
        const live = res.live.length > 0 ? ` Applied now: ${res.live.join(', ')}.` : ''
        const later = res.later.length > 0 ? ` At the next connect or start: ${res.later.join(', ')}.` : ''
        note.textContent = where + live + later
      })
      .catch((err: unknown) => {
        note.textContent = 'Not saved.'
        save.disabled = false
        failed(err, 'saving the settings')
      })
  })

  api
    .settings()
    .then(show)
    .catch((err: unknown) => {
      note.textContent = 'The settings could not be loaded.'
      failed(err, 'loading the settings')
    })
}
