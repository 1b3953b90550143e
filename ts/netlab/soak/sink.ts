/**
 * The soak's far end on the fake internet: a TCP sink that acks what it has
 * read (one decimal line "<bytes read so far>\n" at most every 250 ms per
 * connection), and a UDP echo for the probes. Standalone: node built-ins only.
 *
 * argv: HOST TCP_PORT UDP_PORT
 */
import dgram from 'node:dgram'
import net from 'node:net'

const [host = '0.0.0.0', tcpPort = '9000', udpPort = '9001'] = process.argv.slice(2)
let conns = 0
let bytes = 0

const tcp = net.createServer((s) => {
  conns++
  let read = 0
  let acked = 0
  s.on('data', (d: Buffer) => {
    read += d.length
    bytes += d.length
  })
  const t = setInterval(() => {
    if (read !== acked && s.writable) {
      acked = read
      s.write(`${read}\n`)
    }
  }, 250)
  s.on('error', () => {})
  s.on('close', () => {
    clearInterval(t)
    conns--
  })
})
const udp = dgram.createSocket('udp4')
udp.on('message', (m, r) => udp.send(m, r.port, r.address))
udp.on('error', () => {})

let up = 0
const ready = () => {
  if (++up === 2) process.stdout.write(`sink listening on ${host}:${tcpPort}/tcp ${host}:${udpPort}/udp\n`)
}
tcp.listen(Number(tcpPort), host, ready)
udp.bind(Number(udpPort), host, ready)
setInterval(() => process.stdout.write(JSON.stringify({ conns, bytes }) + '\n'), 10_000).unref()
process.on('SIGTERM', () => process.exit(0))
