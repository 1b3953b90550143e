/**
 * The fast entry: `bin/run.js` hands every command line here first, and the few
 * hot ones (`--version`, `cli vpn status`, `cli vpn start -k PK`, in the plain
 * forms of cli/fast-argv.ts) run without loading oclif, whose import and config
 * load alone cost more than a bare `node -e 0` (bench/README.md, "The time a
 * user waits"). The commands' behaviour is not repeated here: they run the same
 * code as their oclif classes (cli/vpn-status.ts, cli/vpn-start.ts), and this
 * file only does what oclif's `Command` does around a run: print the lines
 * unless --json, print the result (or the error) as JSON with --json, and set
 * the exit code. A value the command's own parsers refuse is left to oclif, so
 * bad input reads exactly as it always did.
 *
 * Everything past the matcher is imported on use: this module is on the path of
 * every `skywire` command.
 */
import { type FastCommand, matchFast } from './fast-argv.js'

// Builtins by getBuiltinModule, not `import`: an ES import builds the module's
// namespace and so runs its lazy getters (node:fs's streams and promises).
const { readFileSync } = process.getBuiltinModule('node:fs')
const { arch, platform, release } = process.getBuiltinModule('node:os')

/** Runs `argv` when it is a fast command; false when oclif must (nothing was printed or done then). */
export async function runFast(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const cmd = matchFast(argv, env)
  if (!cmd) return false
  if (cmd.id === 'version') return version()
  if (cmd.id === 'vpn-status') return status(cmd)
  return start(cmd)
}

/** oclif's `config.userAgent`: name/version platform-arch node-version. */
function version(): boolean {
  // oclif says "wsl" on WSL (it asks the wsl-utils package); leave that to it.
  if (/microsoft/i.test(release())) return false
  const pjson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name: string; version?: string }
  const a = arch() === 'ia32' ? 'x86' : arch()
  console.log(`${pjson.name}/${pjson.version || '0.0.0'} ${platform()}-${a} node-${process.version}`)
  return true
}

async function client(rpc: string | undefined) {
  const [{ VisorClient }, { DEFAULT_RPC }] = await Promise.all([import('../visor/rpc-client.js'), import('../contracts/constants.js')])
  return new VisorClient(rpc ?? DEFAULT_RPC)
}

async function status(cmd: Extract<FastCommand, { id: 'vpn-status' }>): Promise<boolean> {
  const { showStatus } = await import('./vpn-status.js')
  await asCommand(cmd.json, async () => showStatus(await client(cmd.rpc), lineOut(cmd.json)))
  return true
}

async function start(cmd: Extract<FastCommand, { id: 'vpn-start' }>): Promise<boolean> {
  const { parseStartTimeout, startVpn } = await import('./vpn-start.js')
  const { parsePublicKey } = await import('../native/keys.js')
  // The checks of the flags' parsers (oclif's default -t is 20); a refusal is oclif's to word.
  let pk: string
  let timeout: number
  try {
    pk = parsePublicKey(cmd.pk)
    timeout = cmd.timeout === undefined ? 20 : parseStartTimeout(cmd.timeout)
  } catch {
    return false
  }
  const input = {
    ...(cmd.pkPositional ? { positionalPk: cmd.pk } : { pk }),
    // oclif leaves an absent boolean flag undefined, so the body sent has no existingTp then.
    ...(cmd.existingTp ? { existingTp: true } : {}),
    timeout,
    ...(cmd.rpc !== undefined ? { rpc: cmd.rpc } : {}),
  }
  await asCommand(cmd.json, () =>
    startVpn(input, {
      json: cmd.json,
      log: lineOut(cmd.json),
      logToStderr: (l) => {
        if (!cmd.json) console.error(l)
      },
      visor: () => client(cmd.rpc),
    }),
  )
  return true
}

/** oclif's `this.log`: a line on stdout, none with --json. */
const lineOut = (json: boolean) => (line: string) => {
  if (!json) console.log(line)
}

/**
 * What oclif's `Command._run` does around `run`: with --json, the result (or
 * `{ error }`) pretty-printed on stdout and the error's exit code; without,
 * the error goes up to bin/run.js, which prints its one line.
 */
async function asCommand(json: boolean, run: () => Promise<unknown>): Promise<void> {
  let result: unknown
  try {
    result = await run()
  } catch (err) {
    if (!json) throw err
    process.exitCode = process.exitCode ?? (err as { exitCode?: number }).exitCode ?? 1
    const e = err instanceof Error ? { error: { ...err, message: err.message, name: err.name } } : { error: err }
    console.log(JSON.stringify(e, null, 2))
    return
  }
  if (result && json) console.log(JSON.stringify(result, null, 2))
}
