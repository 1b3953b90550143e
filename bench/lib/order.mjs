// The order the subjects run in, round by round. A fixed order would give one subject the machine's
// quiet first minutes and another the heat of everything before it; a drift (a cron job, thermal limits,
// a neighbour VM) would then read as a difference between tunnels. Instead each round uses one row of a
// balanced Latin square (Williams design): over a full set of rows every subject runs once in every
// position, and (for an even count) directly after every other subject once.

/** Row `r` of the Williams square of `n` items, as indexes 0..n-1. */
function williamsRow(n, r) {
  // First row 0, 1, n-1, 2, n-2, ...; row r adds r to each (mod n). With n odd the rows' mirror images
  // follow (rows n..2n-1), since odd squares need both to balance who-follows-whom.
  const first = []
  for (let i = 0, lo = 1, hi = n - 1; i < n; i++) {
    if (i === 0) first.push(0)
    else if (i % 2 === 1) first.push(lo++)
    else first.push(hi--)
  }
  const rows = n % 2 === 0 ? n : 2 * n
  const k = r % rows
  const row = first.map((x) => (x + (k % n)) % n)
  return k >= n ? row.reverse() : row
}

/** The subjects of each of `rounds` rounds, each round a permutation of `names`. */
export function interleavedOrder(names, rounds) {
  const out = []
  for (let r = 0; r < rounds; r++) out.push(names.length ? williamsRow(names.length, r).map((i) => names[i]) : [])
  return out
}
