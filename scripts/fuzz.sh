#!/usr/bin/env bash
# Run every cargo-fuzz target of skywire-core for FUZZ_SECONDS each (default 10).
#
#   scripts/fuzz.sh                      # all targets, 10 s each
#   FUZZ_SECONDS=60 scripts/fuzz.sh      # longer
#   scripts/fuzz.sh frame_decoder        # only the named targets
#   FUZZ_STATS=file scripts/fuzz.sh      # also append one JSON line of stats per target
#                                        # (scripts/fuzz-long.sh turns them into the report)
#
# Exits non-zero if any target crashes (the reproducer is left in
# crates/skywire-core/fuzz/artifacts/<target>/). Needs the nightly toolchain;
# installs the pinned cargo-fuzz when it is missing or another version.
set -euo pipefail

# Pinned so that every machine builds the targets the same way; bump it here
# (and check the targets still build) to move.
CARGO_FUZZ_VERSION=0.13.2

seconds="${FUZZ_SECONDS:-10}"
stats="${FUZZ_STATS:+$(realpath -m "$FUZZ_STATS")}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/crates/skywire-core"

installed() {
    cargo +nightly fuzz --version 2>/dev/null | sed -n 's/^cargo-fuzz //p'
}
if [ "$(installed)" != "$CARGO_FUZZ_VERSION" ]; then
    echo "fuzz.sh: installing cargo-fuzz $CARGO_FUZZ_VERSION (found: $(installed || true))" >&2
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION" --force
fi
if [ "$(installed)" != "$CARGO_FUZZ_VERSION" ]; then
    echo "fuzz.sh: cargo fuzz is '$(installed || true)', need $CARGO_FUZZ_VERSION" >&2
    exit 1
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

# One build for all targets, then each binary is run directly (as `cargo
# fuzz run` would, without its two cargo checks per target), so the
# per-target time is spent fuzzing.
cargo +nightly fuzz build
bin="fuzz/target/$(rustc +nightly -vV | sed -n 's/^host: //p')/release"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_odr_violation=0}"

# `key: value` from libFuzzer's last status line (`#N DONE cov: 307 ft: 1125
# corp: 140/8228b ...`; on a crash, the last line it printed before).
# Empty when there is none (a crash while loading the corpus prints none).
status_field() {
    { grep -E '^#[0-9]+' "$1" || true; } | { grep -F " $2: " || true; } | tail -1 | sed -E "s/.* $2: ([^ ]+).*/\1/"
}

# One JSON line for the report: numbers from -print_final_stats and the status line.
record() {
    local t="$1" log="$2" result="$3"
    local execs eps rss cov ft files bytes
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
    cov=$(status_field "$log" cov)
    ft=$(status_field "$log" ft)
    files=$(find "fuzz/corpus/$t" -type f | wc -l)
    bytes=$(find "fuzz/corpus/$t" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
    printf '{"target":"%s","seconds":%s,"executions":%s,"execs_per_sec":%s,"cov":%s,"ft":%s,"corpus_files":%s,"corpus_bytes":%s,"peak_rss_mb":%s,"result":"%s"}\n' \
        "$t" "$seconds" "${execs:-null}" "${eps:-null}" "${cov:-null}" "${ft:-null}" "$files" "$bytes" "${rss:-null}" "$result" >>"$stats"
}

failed=()
mkdir -p fuzz/target
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    log="fuzz/target/fuzz-$t.log"
    if "$bin/$t" -artifact_prefix="fuzz/artifacts/$t/" -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
        "fuzz/corpus/$t" >"$log" 2>&1; then
        result=ok
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        echo "fuzz.sh: $t: ${seconds}s, ${execs:-?} runs, ok" >&2
    else
        result=crash
        echo "fuzz.sh: $t: FAILED (crash or error); from crates/skywire-core/$log:" >&2
        { grep -m1 -A4 'panicked at' "$log" || true; } >&2
        tail -n 12 "$log" >&2
        failed+=("$t")
    fi
    if [ -n "$stats" ]; then
        record "$t" "$log" "$result"
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz.sh: FAILED: ${failed[*]} (see crates/skywire-core/fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz.sh: ${#targets[@]} targets, ${seconds}s each, no crash" >&2
