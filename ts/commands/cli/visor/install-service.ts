import { access, mkdir, realpath, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import * as Flags from '@oclif/core/flags'
import { SkywireCommand } from '../../../cli/base.js'
import { configFlag } from '../../../cli/flags.js'
import { loadConfig } from '../../../config/file.js'
import { parseHostPort, type Config } from '../../../config/schema.js'
import { SkywireError } from '../../../contracts/errors.js'
import { RESOLV_CONF } from '../../../sys/resolv-conf.js'
import { resolvConfShape, type ResolvConfShape } from '../../../sys/resolved.js'

export const UNIT_PATH = '/etc/systemd/system/skywire-visor.service'

/** systemd splits ExecStart on spaces; quote words that need it. */
function quote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `"${word.replace(/(["\\])/g, '\\$1')}"`
}

/** What the sandbox has to leave open, from the config and this host. */
export interface UnitSandboxInput {
  /** The parsed config: its dataDir, control socket and listen ports. */
  config: Pick<Config, 'dataDir' | 'control' | 'transports'>
  /** The config file's absolute path: the visor saves runtime server settings next to it (temp file + rename). */
  configFile: string
  /** /etc/resolv.conf's shape on this host (see ts/sys/resolved.ts). */
  resolvConf: ResolvConfShape
  /** What it runs (node's and skywire's directories): readable even when they live under a home directory. */
  executables: readonly string[]
}

/** Directories hidden by ProtectHome=yes. */
const HOME_DIRS = ['/home', '/root', '/run/user']
const underAny = (path: string, dirs: readonly string[]) => dirs.some((d) => path === d || path.startsWith(`${d}/`))

/**
 * /etc entries that would give a compromised visor root's full power back (logins, sudo, units, the
 * dynamic loader, cron, PAM): read-only even where /etc itself must be writable for resolv.conf.
 */
export const ETC_READ_ONLY = [
  '/etc/passwd',
  '/etc/shadow',
  '/etc/group',
  '/etc/gshadow',
  '/etc/sudoers',
  '/etc/sudoers.d',
  '/etc/systemd',
  '/etc/ssh',
  '/etc/pam.d',
  '/etc/security',
  '/etc/ld.so.preload',
  '/etc/ld.so.conf',
  '/etc/ld.so.conf.d',
  '/etc/cron.d',
  '/etc/crontab',
  '/etc/profile',
  '/etc/profile.d',
  '/etc/environment',
  '/etc/polkit-1',
  '/etc/modprobe.d',
]

/**
 * systemd.exec(5) sandboxing for the visor: everything root could do that the
 * VPN does not need is taken away. Decided by what the visor does:
 * - it is root (routes, nftables, TUN, sysctls, DNS), but keeps only
 *   CAP_NET_ADMIN (TUN, netlink for ip/nft, net sysctls, resolved's SetLink*
 *   calls, which check it), plus CAP_NET_BIND_SERVICE when a listener is on a
 *   port below 1024. No CAP_NET_RAW (no raw or packet sockets,
 *   SO_BINDTODEVICE or SO_MARK anywhere), no CAP_DAC_OVERRIDE (everything it
 *   writes is root's, and root-only by the data dir checks). As root, no
 *   AmbientCapabilities are needed: the bounding set is what it and its
 *   ip/nft/resolvectl children get.
 * - it writes: the data dir, the config's directory (runtime server settings
 *   are saved there, atomically), the control socket's directory,
 *   /proc/sys/net (forwarding), and resolv.conf, unless resolved's stub
 *   handles DNS (then only resolvectl over D-Bus). resolv.conf needs /etc
 *   itself writable: a DHCP client replaces the file by rename, and a bind
 *   mount of the file alone would keep showing the visor the old inode, so
 *   its re-check would never see the rewrite. ETC_READ_ONLY keeps the
 *   dangerous parts of /etc read-only anyway.
 * - ProtectKernelTunables stays on (a root process that can write
 *   kernel.modprobe or kernel.core_pattern can run anything outside the
 *   sandbox); only /proc/sys/net is writable again.
 * - MemoryDenyWriteExecute is NOT set: V8's JIT needs writable+executable memory.
 */
export function sandboxLines(p: UnitSandboxInput): string[] {
  const { config } = p
  const ports = [config.transports.stcpr.listen, config.transports.sudph.listen, config.control.listen]
    .filter((l) => l !== '')
    .map((l) => parseHostPort(l)?.port ?? 0)
  const lowPort = ports.some((port) => port > 0 && port < 1024)
  const caps = ['CAP_NET_ADMIN', ...(lowPort ? ['CAP_NET_BIND_SERVICE'] : [])]

  const rw: string[] = []
  const L: string[] = [
    '# Sandboxing (systemd.exec(5)): the visor keeps what the VPN needs and nothing else. Re-run install-service',
    '# after changing dataDir, control.socket, the config path, listen ports below 1024, or how this host does DNS.',
  ]
  const dataDir = resolve(config.dataDir)
  const stateDir = /^\/var\/lib\/([A-Za-z0-9_.-]+)$/.exec(dataDir)
  if (stateDir) {
    // systemd creates it root-owned and 0700 before the start: what the visor's data dir check wants.
    L.push(`StateDirectory=${stateDir[1]}`, 'StateDirectoryMode=0700')
  } else rw.push(dataDir)
  const sockDir = dirname(resolve(config.control.socket))
  const runDir = /^\/run\/([A-Za-z0-9_.-]+)$/.exec(sockDir)
  if (runDir) L.push(`RuntimeDirectory=${runDir[1]}`, 'RuntimeDirectoryMode=0755')
  else rw.push(sockDir)
  rw.push(dirname(resolve(p.configFile)))
  rw.push('/proc/sys/net')
  if (p.resolvConf !== 'stub') rw.push(dirname(RESOLV_CONF))
  // A directory under one that is writable anyway adds nothing.
  const unique = [...new Set(rw)].filter((d, _, all) => !all.some((o) => o !== d && d.startsWith(`${o}/`)))
  const writesEtc = unique.includes('/etc')

  const home = [...unique, ...p.executables].filter((d) => underAny(d, HOME_DIRS))
  L.push(
    `CapabilityBoundingSet=${caps.join(' ')}`,
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    ...unique.map((d) => `ReadWritePaths=${d}`),
    ...(writesEtc ? [`ReadOnlyPaths=${ETC_READ_ONLY.map((e) => `-${e}`).join(' ')}`] : []),
  )
  if (home.length === 0) L.push('ProtectHome=yes')
  else {
    // Something it runs or writes lives under a home directory: everything else there stays hidden.
    L.push('ProtectHome=tmpfs')
    for (const d of [...new Set(home)]) L.push(`${unique.includes(d) ? 'BindPaths' : 'BindReadOnlyPaths'}=${d}`)
  }
  // A private /tmp would hide a config or an install that lives in the real one.
  const usesTmp = [...unique, ...p.executables].some((d) => underAny(d, ['/tmp', '/var/tmp']))
  L.push(
    `PrivateTmp=${usesTmp ? 'no' : 'yes'}`,
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectKernelLogs=yes',
    'ProtectControlGroups=yes',
    'ProtectClock=yes',
    'ProtectHostname=yes',
    'ProtectProc=invisible',
    // The TUN is the only device it opens.
    'DevicePolicy=closed',
    'DeviceAllow=/dev/net/tun rw',
    // unix: control socket, D-Bus; inet: transports and services; netlink: routes, links, nftables.
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK',
    'RestrictNamespaces=yes',
    'RestrictRealtime=yes',
    'RestrictSUIDSGID=yes',
    'LockPersonality=yes',
    'SystemCallArchitectures=native',
    'UMask=0077',
  )
  return L
}

/** The unit running `skywire visor -c CONFIG` at boot with this node and this install of skywire. */
export function visorUnit(node: string, runJs: string, config: string, sandbox?: Omit<UnitSandboxInput, 'configFile' | 'executables'>): string {
  const confined =
    sandbox === undefined ? [] : sandboxLines({ ...sandbox, configFile: config, executables: [dirname(node), dirname(dirname(runJs))] })
  return `[Unit]
Description=Skywire visor (peer-to-peer VPN node)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart=${[node, runJs, 'visor', '-c', config].map(quote).join(' ')}
Environment=NO_COLOR=1
Restart=on-failure
RestartSec=5
# The visor restores routes, nftables and sysctls on SIGTERM.
KillSignal=SIGTERM
TimeoutStopSec=30
${confined.map((l) => `${l}\n`).join('')}
[Install]
WantedBy=multi-user.target
`
}

export default class VisorInstallService extends SkywireCommand {
  static override summary = 'Install a systemd unit that runs the visor at boot (root).'
  static override description =
    `Writes ${UNIT_PATH}, which runs this installation's \`skywire visor -c CONFIG\` with this Node.js, ` +
    'restarting it if it fails. The VPN server starts with the visor unless the config disables it. ' +
    'The unit is sandboxed for what the visor does (CAP_NET_ADMIN only, read-only system but for the data dir, the ' +
    "config's directory, the control socket, /proc/sys/net and, unless systemd-resolved's stub handles DNS, /etc): " +
    're-run it after moving those or changing how the host does DNS. ' +
    'Then enable it with `systemctl daemon-reload && systemctl enable --now skywire-visor`. ' +
    'With --dry-run it prints the unit and writes nothing.'
  static override examples = [
    '<%= config.bin %> cli visor install-service -c /etc/skywire/skywire-config.json',
    '<%= config.bin %> cli visor install-service -c /etc/skywire/skywire-config.json --dry-run',
  ]
  static override flags = {
    config: configFlag,
    'dry-run': Flags.boolean({ description: 'Print the unit instead of writing it.' }),
    force: Flags.boolean({ description: `Replace an existing ${UNIT_PATH}.` }),
  }

  async run(): Promise<{ path: string; config: string; unit: string; written: boolean }> {
    const { flags } = await this.parse(VisorInstallService)
    const config = resolve(flags.config)
    // The same check the visor does at start, so a bad config fails now and not at boot.
    const cfg = await loadConfig(config)
    const runJs = await realpath(join(this.config.root, 'bin', 'run.js'))
    const unit = visorUnit(process.execPath, runJs, config, { config: cfg, resolvConf: resolvConfShape() })
    if (flags['dry-run']) {
      if (!this.jsonEnabled()) process.stdout.write(unit)
      return { path: UNIT_PATH, config, unit, written: false }
    }
    if (process.platform !== 'linux') throw new SkywireError('ENOTAVAILABLE', 'the systemd unit is for Linux only')
    if (process.getuid?.() !== 0) {
      throw new SkywireError('EPERM', `writing ${UNIT_PATH} needs root (try sudo, or --dry-run to see the unit)`)
    }
    if (
      !flags.force &&
      (await access(UNIT_PATH).then(
        () => true,
        () => false,
      ))
    ) {
      throw new SkywireError('EEXIST', `${UNIT_PATH} already exists; --force replaces it`)
    }
    // ReadWritePaths= of a directory that does not exist fails the unit's start: create what the visor would.
    for (const line of unit.split('\n')) {
      const m = /^ReadWritePaths=(\/.*)$/.exec(line)
      if (m && !(m[1] as string).startsWith('/proc/')) await mkdir(m[1] as string, { recursive: true, mode: 0o700 })
    }
    await writeFile(UNIT_PATH, unit, { mode: 0o644 })
    this.log(`wrote ${UNIT_PATH}`)
    this.log('start it now and at every boot with: systemctl daemon-reload && systemctl enable --now skywire-visor')
    return { path: UNIT_PATH, config, unit, written: true }
  }
}
