/**
 * Prometheus text exposition, kept by hand: a few counters, one latency
 * histogram and entry gauges read from the store at scrape time.
 */
import type { EntryCounts } from '../store/store.js'

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

interface Histogram {
  counts: number[]
  sum: number
  n: number
}

function label(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

export class Metrics {
  private readonly requests = new Map<string, number>()
  private readonly latency = new Map<string, Histogram>()
  private readonly udp = new Map<string, number>()

  observeHttp(method: string, route: string, status: number, seconds: number): void {
    const key = `method="${label(method)}",route="${label(route)}",status="${status}"`
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1)
    const hk = `method="${label(method)}",route="${label(route)}"`
    let h = this.latency.get(hk)
    if (!h) {
      h = { counts: BUCKETS.map(() => 0), sum: 0, n: 0 }
      this.latency.set(hk, h)
    }
    BUCKETS.forEach((b, i) => {
      if (seconds <= b) h.counts[i] = (h.counts[i] ?? 0) + 1
    })
    h.sum += seconds
    h.n += 1
  }

  observeUdp(type: string, result: string): void {
    const key = `type="${label(type)}",result="${label(result)}"`
    this.udp.set(key, (this.udp.get(key) ?? 0) + 1)
  }

  render(entries: EntryCounts | null): string {
    const out: string[] = []
    out.push('# HELP skywire_http_requests_total HTTP requests by method, route and status.')
    out.push('# TYPE skywire_http_requests_total counter')
    for (const [k, v] of this.requests) out.push(`skywire_http_requests_total{${k}} ${v}`)
    out.push('# HELP skywire_http_request_duration_seconds HTTP request latency.')
    out.push('# TYPE skywire_http_request_duration_seconds histogram')
    for (const [k, h] of this.latency) {
      BUCKETS.forEach((b, i) => {
        out.push(`skywire_http_request_duration_seconds_bucket{${k},le="${b}"} ${h.counts[i]}`)
      })
      out.push(`skywire_http_request_duration_seconds_bucket{${k},le="+Inf"} ${h.n}`)
      out.push(`skywire_http_request_duration_seconds_sum{${k}} ${h.sum}`)
      out.push(`skywire_http_request_duration_seconds_count{${k}} ${h.n}`)
    }
    out.push('# HELP skywire_udp_datagrams_total Address resolver datagrams by type and outcome.')
    out.push('# TYPE skywire_udp_datagrams_total counter')
    for (const [k, v] of this.udp) out.push(`skywire_udp_datagrams_total{${k}} ${v}`)
    if (entries) {
      out.push('# HELP skywire_entries Live (unexpired) entries in the store.')
      out.push('# TYPE skywire_entries gauge')
      for (const [kind, n] of Object.entries(entries)) out.push(`skywire_entries{kind="${kind}"} ${n}`)
    }
    return out.join('\n') + '\n'
  }
}
