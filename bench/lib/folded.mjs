// What a profile says, from its folded stacks (`inferno-collapse-perf --all`: one line per distinct stack,
// `frame;frame;…;leaf COUNT`, kernel frames ending in `_[k]`). Pure, for the tests: the symbols with the most
// self time, and the share of the samples in the kinds of work issue 18 item 3 asks about.

/**
 * Kinds of self time, tried in this order on a sample's leaf frame (the function that was running):
 * the cipher, user-space copies, the allocator, then anything in the kernel (syscalls, the network stack,
 * TUN and softirq work done in the process's context). The rest is "other" (our code, tokio, node).
 */
export const KINDS = [
  { key: 'crypto', label: 'crypto (ChaCha20, Poly1305)', test: (f, k) => !k && /chacha|poly1305|aead/i.test(f) },
  { key: 'memcpy', label: 'memcpy/memmove (user space)', test: (f, k) => !k && /mem(cpy|move)/i.test(f) },
  {
    key: 'alloc',
    label: 'malloc/free',
    test: (f, k) =>
      !k &&
      /(^|[^a-z])(malloc|free|calloc|realloc|cfree|_int_malloc|_int_free|tcache_\w+|__rust_(alloc|dealloc|realloc)\w*|sdallocx|mallocx)([^a-z]|$)/i.test(
        f,
      ),
  },
  { key: 'kernel', label: 'kernel (syscalls, network stack, TUN)', test: (_f, k) => k },
]

/** A frame of a stack inside a system call (the kernel's entry points on x86-64). */
const SYSCALL = /^(entry_SYSCALL_64\w*|do_syscall_64|__x64_sys_\w+)_\[k\]$/

/**
 * A kernel frame. perf marks the vDSO's functions as kernel ones, but they run in user space without a
 * system call (`clock_gettime` through the vDSO is a few reads of shared memory): they are "other".
 */
const isKernel = (frame) => frame.endsWith('_[k]') && !frame.startsWith('__vdso_')

/** One folded line: its frames and its sample count, or null for a line that is not one. */
export function parseFoldedLine(line) {
  const m = /^(.*\S)\s+(\d+)$/.exec(line)
  if (!m) return null
  const frames = m[1].split(';')
  return { frames, count: Number(m[2]) }
}

/**
 * The summary of one process's folded stacks: total samples, the `top` leaf symbols by self time (share
 * of the samples, kernel ones marked), each kind's share of self time, and the share of samples under a
 * system call anywhere in the stack (inclusive).
 */
export function summarizeFolded(text, top = 15) {
  const self = new Map()
  const kinds = Object.fromEntries([...KINDS.map((k) => k.key), 'other'].map((k) => [k, 0]))
  let total = 0
  let inSyscall = 0
  for (const line of text.split('\n')) {
    const p = parseFoldedLine(line)
    if (!p || p.count === 0) continue
    total += p.count
    const leaf = p.frames.at(-1)
    self.set(leaf, (self.get(leaf) ?? 0) + p.count)
    const kernel = isKernel(leaf)
    const name = leaf.endsWith('_[k]') ? leaf.slice(0, -4) : leaf
    const kind = KINDS.find((k) => k.test(name, kernel))
    kinds[kind?.key ?? 'other'] += p.count
    if (p.frames.some((f) => SYSCALL.test(f))) inSyscall += p.count
  }
  const share = (n) => (total > 0 ? n / total : null)
  const symbols = [...self.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, top)
    .map(([leaf, n]) => {
      return { symbol: leaf.endsWith('_[k]') ? leaf.slice(0, -4) : leaf, kernel: isKernel(leaf), samples: n, share: share(n) }
    })
  return {
    samples: total,
    top: symbols,
    kinds: Object.fromEntries(Object.entries(kinds).map(([k, n]) => [k, share(n)])),
    inSyscall: share(inSyscall),
  }
}

/**
 * The printed summary of one process: its top symbols and the kinds' shares. `unit` names the samples'
 * weight: inferno sums perf's periods, which for cpu-clock are nanoseconds of CPU.
 */
export function formatSummary(title, s, unit = 'samples', width = 100) {
  const pct = (x) => (x === null ? '—' : `${(x * 100).toFixed(1)} %`)
  if (s.samples === 0) return [`${title}: no samples`]
  const label = (k) => KINDS.find((x) => x.key === k)?.label ?? 'other (our code, tokio, node, libc)'
  const cut = (sym) => (sym.length > width ? `${sym.slice(0, width - 1)}…` : sym)
  return [
    `${title}: ${unit === 'ns' ? `${(s.samples / 1e6).toFixed(0)} ms of CPU sampled` : `${s.samples} ${unit}`}; self time by kind: ${Object.entries(
      s.kinds,
    )
      .map(([k, v]) => `${label(k)} ${pct(v)}`)
      .join(', ')}; under a system call (inclusive) ${pct(s.inSyscall)}`,
    `  top ${s.top.length} symbols by self time:`,
    ...s.top.map((t) => `  ${pct(t.share).padStart(7)}  ${cut(t.symbol)}${t.kernel ? ' [kernel]' : t.symbol.startsWith('__vdso_') ? ' [vDSO]' : ''}`),
  ]
}
