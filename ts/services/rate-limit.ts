/**
 * Token buckets per source, in memory. The map is bounded: when it is full the
 * oldest sources are forgotten, so a flood of spoofed sources costs memory
 * proportional to `maxSources`, not to the flood.
 */
export interface RateLimitOptions {
  /** Sustained requests per second per source. */
  ratePerSec: number
  /** How many may arrive at once. */
  burst: number
  maxSources?: number
}

interface Bucket {
  tokens: number
  at: number
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>()
  private readonly max: number

  constructor(private readonly opts: RateLimitOptions) {
    this.max = opts.maxSources ?? 100_000
  }

  /** Take one token for `key`; false when its bucket is empty. */
  take(key: string, now = Date.now()): boolean {
    let b = this.buckets.get(key)
    if (b) {
      b.tokens = Math.min(this.opts.burst, b.tokens + ((now - b.at) / 1000) * this.opts.ratePerSec)
      b.at = now
      // Re-insert so Map order is least recently used first.
      this.buckets.delete(key)
    } else {
      b = { tokens: this.opts.burst, at: now }
      if (this.buckets.size >= this.max) {
        const oldest = this.buckets.keys().next().value
        if (oldest !== undefined) this.buckets.delete(oldest)
      }
    }
    this.buckets.set(key, b)
    if (b.tokens < 1) return false
    b.tokens -= 1
    return true
  }
}
