#!/usr/bin/env bash
# Run every cargo-fuzz target of skywire-core for FUZZ_SECONDS each (default 10).
#
#   scripts/fuzz.sh                      # all targets, 10 s each
#   FUZZ_SECONDS=60 scripts/fuzz.sh      # longer
#   scripts/fuzz.sh frame_decoder        # only the named targets
#
# Exits non-zero if any target crashes (the reproducer is left in
# crates/skywire-core/fuzz/artifacts/<target>/). Needs the nightly toolchain;
# installs cargo-fuzz when it is missing.
set -euo pipefail

seconds="${FUZZ_SECONDS:-10}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/crates/skywire-core"

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

# One build for all targets, so the per-target time is spent fuzzing.
cargo +nightly fuzz build

failed=()
mkdir -p fuzz/target
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    log="fuzz/target/fuzz-$t.log"
    if cargo +nightly fuzz run "$t" -- -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        echo "fuzz.sh: $t: ${seconds}s, ${execs:-?} runs, ok" >&2
    else
        echo "fuzz.sh: $t: FAILED (crash or error); last lines of $log:" >&2
        tail -n 40 "$log" >&2
        failed+=("$t")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz.sh: FAILED: ${failed[*]} (see crates/skywire-core/fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz.sh: ${#targets[@]} targets, ${seconds}s each, no crash" >&2
