/**
 * The layer rules of ts/ as a check: `npm run check:layers`. See docs/architecture.md.
 *
 * Layers, lowest first. A folder imports only from folders of a LOWER rank (and
 * from itself); two folders of one rank never import each other, so the folder
 * graph has no cycles by construction.
 *
 *   0 contracts   types, zod schemas, the control API's route table, error codes, constants
 *                 (no node: imports: the web UI bundles it)
 *   1 native      the only importer of the addon: loader, keys, the node wrapper
 *   2 sys         the host: commands, files, routes, firewall, DNS, address helpers (node:net)
 *   3 config      the visor's config schema and file (uses sys for safe writes, native for keys)
 *   3 discovery   the client of the discovery services, and dialing a transport through them
 *   4 services    the discovery services' server (uses discovery's request signing)
 *   4 vpn         the VPN client and server over the node (dials through discovery)
 *   5 visor       one identity's running program: node, VPN, control API, web UI's server side
 *   6 cli         the oclif base, flags and output shared by the commands; talks to a visor over RPC
 *   6 netlab      the network lab (namespaces, NAT, soak, NAT matrix): drives visors like the CLI does
 *   7 commands    oclif commands (the CLI's leaves)
 *   7 demo        `npm run demo`: a lab with visors in it
 *   7 ui          the web UI (browser code: contracts only, see ui-browser-only)
 *   7 index.ts    the library's entry point re-exports every layer
 */
const RANK = {
  contracts: 0,
  native: 1,
  sys: 2,
  config: 3,
  discovery: 3,
  services: 4,
  vpn: 4,
  visor: 5,
  cli: 6,
  netlab: 6,
  commands: 7,
  demo: 7,
  ui: 7,
}

const folders = Object.keys(RANK)
const layerRules = folders.map((f) => {
  const notBelow = folders.filter((g) => g !== f && RANK[g] >= RANK[f])
  return {
    name: `layer-${f}`,
    severity: 'error',
    comment: `ts/${f} (rank ${RANK[f]}) imports only from lower layers: not ${notBelow.join(', ')} (docs/architecture.md)`,
    from: { path: `^ts/${f}/` },
    to: { path: [`^ts/(${notBelow.join('|')})/`, '^ts/index\\.ts$'] },
  }
})

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'no-loose-root-files',
      severity: 'error',
      comment: 'Every module lives in a layer folder; ts/index.ts (the library entry point) is the one file at the root.',
      from: { path: '^ts/[^/]+$', pathNot: '^ts/index\\.ts$' },
      to: {},
    },
    {
      name: 'no-folder-cycles',
      severity: 'error',
      comment: 'Folders of ts/ import one way (the layer rules say which); a cycle between folders is a layering bug.',
      scope: 'folder',
      from: { path: '^ts/' },
      to: { circular: true },
    },
    {
      name: 'contracts-no-node',
      severity: 'error',
      comment: 'ts/contracts is bundled into the web UI: no node: modules, no packages but zod.',
      from: { path: '^ts/contracts/' },
      to: { pathNot: ['^ts/contracts/', '(^|/)node_modules/zod/'] },
    },
    {
      name: 'ui-browser-only',
      severity: 'error',
      comment: 'The web UI runs in a browser: it imports ts/ui, ts/contracts and zod only (no Node code in the bundle).',
      from: { path: '^ts/ui/' },
      to: { pathNot: ['^ts/ui/', '^ts/contracts/', '(^|/)node_modules/zod/'] },
    },
    {
      name: 'addon-only-in-native',
      severity: 'error',
      comment: 'The napi addon (native/) is loaded by ts/native only: one place maps its errors and types.',
      from: { path: '^ts/', pathNot: '^ts/native/' },
      to: { path: '^native/' },
    },
    {
      name: 'no-unresolvable',
      severity: 'error',
      comment: 'An import that does not resolve is a typo or a missing dependency.',
      from: { path: '^ts/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: ['node_modules', '^native/'] },
    exclude: { path: ['^dist/', '\\.d\\.ts$'] },
    // Type-only imports count: a type import upward is a layering bug too.
    tsPreCompilationDeps: true,
    // Built into Node 22.13+ and 24 (the store prefers it); Node 20, which may run this check, does not list it.
    builtInModules: { add: ['node:sqlite', 'sqlite'] },
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.d.ts'],
    },
    reporterOptions: {
      archi: { collapsePattern: '^ts/[^/]+/' },
      dot: { collapsePattern: '^ts/[^/]+/' },
    },
  },
}
