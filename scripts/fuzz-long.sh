#!/usr/bin/env bash
# `npm run fuzz:long`: every fuzz target for FUZZ_SECONDS each (default 600),
# through scripts/fuzz.sh, then the results into docs/fuzz-results.json and
# the table between `<!-- fuzz:begin -->` and `<!-- fuzz:end -->` in README.md
# (scripts/fuzz-report.mjs). Exits non-zero if a target crashed; the report
# is written anyway, with that target's result "crash".
#
#   FUZZ_SECONDS=60 scripts/fuzz-long.sh              # all targets, 1 min each
#   scripts/fuzz-long.sh stcpr_stream frame_decoder   # only these
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export FUZZ_SECONDS="${FUZZ_SECONDS:-600}"
stats="$(mktemp)"
trap 'rm -f "$stats"' EXIT

# The load the runs shared the machine with: exec counts are only comparable
# between runs on an otherwise idle machine.
export FUZZ_LOAD_START="$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || true)"
rc=0
FUZZ_STATS="$stats" bash "$root/scripts/fuzz.sh" "$@" || rc=$?
if [ ! -s "$stats" ]; then
    echo "fuzz-long.sh: no target ran (fuzz.sh exited $rc)" >&2
    exit $((rc == 0 ? 1 : rc))
fi
node "$root/scripts/fuzz-report.mjs" "$stats" "$root/docs/fuzz-results.json" "$root/README.md"
exit "$rc"
