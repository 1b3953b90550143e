// WireGuard peers configured without `wg`: keys from node:crypto, settings
// through the cross-platform userspace API (UAPI) socket every userspace
// implementation serves at /var/run/wireguard/<ifname>.sock — plain text,
// `set=1`, key=value lines, an empty line, answered by `errno=N`.
import { generateKeyPairSync } from 'node:crypto'
import { existsSync } from 'node:fs'
import { createConnection } from 'node:net'

export const UAPI_DIR = '/var/run/wireguard'

/** A Curve25519 keypair as the UAPI wants it: 64 hex characters each. */
export function wgKeypair() {
  const { publicKey, privateKey } = generateKeyPairSync('x25519')
  const hex = (b64url) => Buffer.from(b64url, 'base64url').toString('hex')
  return { privateKey: hex(privateKey.export({ format: 'jwk' }).d), publicKey: hex(publicKey.export({ format: 'jwk' }).x) }
}

export function uapiPath(ifname) {
  return `${UAPI_DIR}/${ifname}.sock`
}

export async function waitForUapi(ifname, timeoutMs, proc) {
  const deadline = Date.now() + timeoutMs
  while (!existsSync(uapiPath(ifname))) {
    if (proc?.exitInfo()) throw new Error(`exited before opening its UAPI socket: ${proc.output().stderr.slice(-500)}`)
    if (Date.now() > deadline) throw new Error(`no UAPI socket ${uapiPath(ifname)} after ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

function uapi(ifname, request, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const sock = createConnection(uapiPath(ifname))
    let answer = ''
    const timer = setTimeout(() => {
      sock.destroy()
      reject(new Error(`UAPI ${ifname}: no answer in ${timeoutMs} ms`))
    }, timeoutMs)
    sock.setEncoding('utf8')
    sock.on('data', (d) => {
      answer += d
      if (answer.endsWith('\n\n')) {
        clearTimeout(timer)
        sock.end()
        resolve(answer)
      }
    })
    sock.on('error', (e) => {
      clearTimeout(timer)
      reject(new Error(`UAPI ${ifname}: ${e.message}`))
    })
    sock.write(request)
  })
}

/**
 * `set=1` with the interface's private key and listen port and one peer.
 * Throws unless the answer is errno=0.
 */
export async function uapiSet(ifname, { privateKey, listenPort, peer }) {
  const lines = ['set=1', `private_key=${privateKey}`]
  if (listenPort !== undefined) lines.push(`listen_port=${listenPort}`)
  lines.push('replace_peers=true', `public_key=${peer.publicKey}`)
  if (peer.endpoint) lines.push(`endpoint=${peer.endpoint}`)
  lines.push('replace_allowed_ips=true')
  for (const ip of peer.allowedIps) lines.push(`allowed_ip=${ip}`)
  const answer = await uapi(ifname, lines.join('\n') + '\n\n')
  if (!/^errno=0$/m.test(answer)) throw new Error(`UAPI set on ${ifname} refused: ${answer.trim()}`)
}

/** `get=1`: the peer counters, to check a handshake happened. */
export async function uapiGet(ifname) {
  const answer = await uapi(ifname, 'get=1\n\n')
  const out = {}
  for (const line of answer.split('\n')) {
    const i = line.indexOf('=')
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1)
  }
  return out
}
