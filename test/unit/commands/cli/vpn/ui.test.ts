/** `skywire cli vpn ui`: which opener, and what to say where there is none. */
import { describe, expect, it } from 'vitest'
import { chooseOpener, sshHint } from '../../../../../ts/commands/cli/vpn/ui.js'

const URL = 'http://127.0.0.1:3435/#token=T'
const all = (): boolean => true

describe('vpn ui opener', () => {
  it('uses xdg-open on a Linux desktop and open on macOS', () => {
    expect(chooseOpener(URL, { DISPLAY: ':0' }, 'linux', 1000, all)).toEqual({ cmd: 'xdg-open', args: [URL] })
    expect(chooseOpener(URL, { WAYLAND_DISPLAY: 'wayland-0' }, 'linux', 1000, all)?.cmd).toBe('xdg-open')
    expect(chooseOpener(URL, {}, 'darwin', 501, all)).toEqual({ cmd: 'open', args: [URL] })
  })

  it('has none on a server, over SSH without X forwarding, or without xdg-open', () => {
    expect(chooseOpener(URL, {}, 'linux', 1000, all)).toBeNull()
    expect(chooseOpener(URL, { SSH_CONNECTION: '1 2 3 4' }, 'linux', 0, all)).toBeNull()
    expect(chooseOpener(URL, { DISPLAY: ':0' }, 'linux', 1000, () => false)).toBeNull()
  })

  it('opens the browser as the user behind sudo, not as root', () => {
    const o = chooseOpener(URL, { DISPLAY: ':0', SUDO_USER: 'alice' }, 'linux', 0, all)
    expect(o?.cmd).toBe('sudo')
    expect(o?.args.slice(0, 2)).toEqual(['-u', 'alice'])
    expect(o?.args.slice(-2)).toEqual(['xdg-open', URL])
  })

  it('tells how to tunnel to the loopback port', () => {
    expect(sshHint('127.0.0.1:3435')).toMatch(/ssh -L 3435:127\.0\.0\.1:3435/)
  })
})
