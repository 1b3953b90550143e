import { spawn } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'
import { VisorCommand } from '../../../cli/base.js'
import { parseHostPort } from '../../../config/schema.js'

export interface Opener {
  cmd: string
  args: string[]
}

function onPath(cmd: string, env: NodeJS.ProcessEnv): boolean {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    try {
      accessSync(join(dir, cmd), constants.X_OK)
      return true
    } catch {
      // not here
    }
  }
  return false
}

/**
 * How to open a URL on this machine, or null where no browser can appear (a
 * server, an SSH session without X forwarding). Under sudo the browser runs as
 * the user who called sudo: browsers refuse root, or run it unsandboxed.
 */
export function chooseOpener(
  url: string,
  env: NodeJS.ProcessEnv,
  platform: NodeJS.Platform,
  uid: number,
  has: (cmd: string) => boolean = (c) => onPath(c, env),
): Opener | null {
  let base: Opener | null = null
  if (platform === 'darwin') base = has('open') ? { cmd: 'open', args: [url] } : null
  else if (env.DISPLAY || env.WAYLAND_DISPLAY) base = has('xdg-open') ? { cmd: 'xdg-open', args: [url] } : null
  if (!base) return null
  if (uid === 0 && env.SUDO_USER && env.SUDO_USER !== 'root' && has('sudo')) {
    return { cmd: 'sudo', args: ['-u', env.SUDO_USER, '--preserve-env=DISPLAY,WAYLAND_DISPLAY,XAUTHORITY,XDG_RUNTIME_DIR', base.cmd, ...base.args] }
  }
  return base
}

/** One line telling how to reach a loopback-only UI from another machine. */
export function sshHint(listen: string): string {
  const port = parseHostPort(listen)?.port ?? 3435
  return `no browser here; from your own machine run \`ssh -L ${port}:127.0.0.1:${port} USER@THIS-HOST\`, then open the URL there`
}

export default class VpnUi extends VisorCommand {
  static override summary = 'Open the VPN web interface in your browser: browse servers, connect, monitor.'
  static override description =
    'Opens the URL that `vpn url` prints with xdg-open (open on macOS). Where there is no browser (no DISPLAY, an SSH session), prints the URL and how to tunnel to it.'
  static override examples = ['<%= config.bin %> cli vpn ui', '<%= config.bin %> cli vpn ui --json']

  async run(): Promise<{ url: string; opened: boolean; opener: string | null; hint: string | null }> {
    await this.parse(VpnUi)
    const ui = await (await this.visor()).ui()
    const opener = chooseOpener(ui.url, process.env, process.platform, process.getuid?.() ?? -1)
    if (opener && (await launch(opener))) {
      this.log(`opened ${ui.url}`)
      return { url: ui.url, opened: true, opener: opener.cmd, hint: null }
    }
    const hint = sshHint(ui.listen)
    this.log(ui.url)
    this.logToStderr(hint)
    return { url: ui.url, opened: false, opener: null, hint }
  }
}

/** true once the opener started; it is left running on its own. */
function launch(o: Opener): Promise<boolean> {
  return new Promise((resolve) => {
    const p = spawn(o.cmd, o.args, { detached: true, stdio: 'ignore' })
    p.once('error', () => resolve(false))
    p.once('spawn', () => {
      p.unref()
      resolve(true)
    })
  })
}
