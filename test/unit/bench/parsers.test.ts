// What the bench reads from tools' output: ethtool -k, iperf3 -J, go version -m, cargo install --list,
// git status (bench/lib/*.mjs). Recorded output of this machine's tools (test/unit/bench/fixtures), and
// hostile input: the parsers refuse it rather than make up numbers.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { offloadSummary, parseEthtoolFeatures } from '../../../bench/lib/ethtool.mjs'
import { parseTcp, parseUdp, udpBitrate } from '../../../bench/lib/iperf-json.mjs'
import { loadVerdict } from '../../../bench/lib/load.mjs'
import { changedPaths } from '../../../bench/lib/provenance.mjs'
import { BORINGTUN, parseCargoInstallList, parseGoBuildInfo, WIREGUARD_GO } from '../../../bench/lib/tools.mjs'

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')

describe('ethtool -k', () => {
  it('reads every feature of a veth, with the fixed ones listed', () => {
    const text = fixture('ethtool-veth.txt')
    const p = parseEthtoolFeatures(text)
    const lines = text.split('\n').filter((l) => /: (on|off)/.test(l))
    expect(Object.keys(p.features).length).toBe(lines.length)
    expect(p.features['generic-segmentation-offload']).toBe(true)
    expect(p.features['generic-receive-offload']).toBe(false)
    expect(p.features['tx-checksum-ip-generic']).toBe(true)
    expect(p.fixed).toContain('large-receive-offload')
    expect(p.fixed.length).toBe(lines.filter((l) => l.endsWith('[fixed]')).length)
    expect(p.requested).toEqual({})
  })

  it('keeps what a TUN was asked for but does not have', () => {
    const p = parseEthtoolFeatures(fixture('ethtool-tun.txt'))
    expect(p.features['tx-tcp-segmentation']).toBe(false)
    expect(p.requested['tx-tcp-segmentation']).toBe(true)
    expect(p.fixed).toContain('rx-checksumming')
    expect(offloadSummary(p)).toMatch(/^tso off, gso on, gro on,/)
  })

  it('refuses what is not a feature list, and the summary of a failed read is a dash', () => {
    expect(() => parseEthtoolFeatures('')).toThrow(/not an ethtool/)
    expect(() => parseEthtoolFeatures('netlink error: no device matches name')).toThrow(/not an ethtool/)
    expect(() => parseEthtoolFeatures('x'.repeat(100_000))).toThrow(/not an ethtool/)
    expect(parseEthtoolFeatures('Features for x:\nweird line\nrx-gro-list: off\n$(rm -rf /): on\n').features).toEqual({ 'rx-gro-list': false })
    expect(offloadSummary({ error: 'No such device' })).toBe('—')
    expect(offloadSummary(null)).toBe('—')
  })
})

describe('iperf3 -J', () => {
  it("a UDP run: received = the receiver's packets minus its lost ones; loss against what was sent", () => {
    const j = JSON.parse(fixture('iperf3-udp-loss.json'))
    const r = parseUdp(j, 1372, 1)
    const rx = j.end.sum_received
    expect(r.sentPackets).toBe(j.end.sum_sent.packets)
    expect(r.receivedPackets).toBe(rx.packets - rx.lost_packets)
    // The receiver's byte count agrees with that packet count.
    expect(r.receivedPackets * 1372).toBe(rx.bytes)
    expect(r.lossPct).toBeCloseTo(rx.lost_percent, 6)
    expect(r.receivedPps).toBeCloseTo(r.receivedPackets / rx.seconds, 6)
  })

  it('iperf3 before 3.10 (end.sum only) still parses', () => {
    const j = JSON.parse(fixture('iperf3-udp-loss.json'))
    const old = { end: { sum: j.end.sum } }
    const r = parseUdp(old, 1372, 1)
    expect(r.receivedPackets).toBe(j.end.sum.packets - j.end.sum.lost_packets)
  })

  it("a TCP run: received bits per second and bytes, the sender's retransmits", () => {
    const j = JSON.parse(fixture('iperf3-tcp.json'))
    expect(parseTcp(j)).toEqual({ bps: j.end.sum_received.bits_per_second, bytes: j.end.sum_received.bytes, retransmits: j.end.sum_sent.retransmits })
  })

  it('refuses an error, a missing summary or something else entirely', () => {
    for (const bad of [null, 42, 'x', {}, { error: 'unable to connect to server' }, { end: {} }]) {
      expect(() => parseTcp(bad)).toThrow(/iperf3 TCP/)
      expect(() => parseUdp(bad, 1372, 1)).toThrow(/iperf3 UDP/)
    }
    expect(parseUdp({ end: { sum: { packets: 0, lost_packets: 0, seconds: 1 } } }, 1372, 1).lossPct).toBeNull()
  })

  it('offers the bitrate of the packet rate asked for', () => {
    expect(udpBitrate(20_000, 1372)).toBe(20_000 * 1372 * 8)
  })
})

describe('the pinned WireGuard peers', () => {
  it('reads the Go release and module version a binary was built from', () => {
    const b = parseGoBuildInfo(fixture('go-version-m.txt'))
    expect(b).toEqual({ go: 'go1.26.8', module: WIREGUARD_GO.module, version: WIREGUARD_GO.version })
    expect(parseGoBuildInfo('not a go binary')).toEqual({ go: null, module: null, version: null })
  })

  it('reads the installed boringtun-cli version, and nothing from other crates', () => {
    expect(parseCargoInstallList(fixture('cargo-install-list.txt'), BORINGTUN.crate)).toBe(BORINGTUN.version)
    expect(parseCargoInstallList('ripgrep v14.1.0:\n    rg\n', BORINGTUN.crate)).toBeNull()
    expect(parseCargoInstallList('', BORINGTUN.crate)).toBeNull()
  })

  it('the pins are exact versions, not ranges or @latest', () => {
    expect(WIREGUARD_GO.version).toMatch(/^v0\.0\.0-\d{14}-[0-9a-f]{12}$/)
    expect(BORINGTUN.version).toMatch(/^\d+\.\d+\.\d+$/)
  })
})

describe('the load check', () => {
  it('refuses above the limit in one line, unless told to go on; at the limit is fine', () => {
    const over = loadVerdict(2.5, { maxLoad: 0.5, allowLoaded: false })
    expect(over.over).toBe(true)
    expect(over.refuse).toMatch(/2\.50, above 0\.5.*--allow-loaded/)
    expect(over.refuse).not.toContain('\n')
    expect(loadVerdict(2.5, { maxLoad: 0.5, allowLoaded: true })).toMatchObject({ over: true, refuse: null })
    expect(loadVerdict(0.5, { maxLoad: 0.5, allowLoaded: false })).toMatchObject({ over: false, refuse: null })
  })
})

describe('git status', () => {
  it('lists changed paths, new paths of renames, untracked files; earlier results do not count', () => {
    const z = [' M bench/run.mjs', 'R  new.mjs', 'old.mjs', '?? scratch.txt', '?? bench/results/2026-12-05T06-00-00Z.json', ''].join('\0')
    expect(changedPaths(z)).toEqual(['bench/run.mjs', 'new.mjs', 'scratch.txt'])
    expect(changedPaths('')).toEqual([])
  })
})
