#!/usr/bin/env bash
# `npm run check`: the fast checks, in order, stopping at the first that fails and naming it.
# No root, no network namespaces, nothing written outside the cargo target dir and the temp dir.
set -uo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1 && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then
  export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi
t0=$(date +%s)

step() {
  local name=$1
  shift
  local s
  s=$(date +%s)
  printf '\033[1mcheck:\033[0m %s\n' "$name"
  if ! "$@"; then
    printf '\033[1;31mcheck: FAILED at %s\033[0m (%s)\n' "$name" "$*" >&2
    exit 1
  fi
  printf '\033[1mcheck:\033[0m %s ok (%ss)\n' "$name" $(($(date +%s) - s))
}

# An npm script another part of the tree adds; until it exists, say so instead of failing.
npm_step() {
  if node -e 'process.exit(require("./package.json").scripts?.[process.argv[1]] ? 0 : 1)' "$1"; then
    step "$1" npm run --silent "$1"
  else
    printf '\033[1mcheck:\033[0m %s: no such npm script yet, not run\n' "$1"
  fi
}

step 'cargo fmt' cargo fmt --all --check
step 'cargo clippy' cargo clippy --workspace --all-targets --locked -- -D warnings
npm_step check:codes
npm_step check:layers
# check:types = tsc over ts/ and test/ (tsconfig.test.json), then the web UI's tsconfig; check:lint = biome check.
step 'check:types' npm run --silent check:types
step 'check:lint' npm run --silent check:lint
step 'test:unit' npm run --silent test:unit
printf '\033[1mcheck: all passed\033[0m (%ss)\n' $(($(date +%s) - t0))
