// Our node fixtures (test/fixtures/peer.mjs, bench/fixtures/*.mjs) started inside a lab namespace.

/** A node process with a high file-descriptor limit (many sessions = many sockets). */
export function spawnNode(lab, ns, script, cfg) {
  return lab.spawn(ns, ['sh', '-c', 'ulimit -n 65536 2>/dev/null || true; exec "$0" "$@"', process.execPath, script, JSON.stringify(cfg)])
}

/** The server's listening address for one transport kind (the bench's server is always 192.0.2.1). */
export const serverAddr = (transport) => (transport === 'stcpr' ? '192.0.2.1:7777' : '192.0.2.1:7778')
