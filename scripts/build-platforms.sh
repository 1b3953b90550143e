#!/usr/bin/env bash
# Builds the addon for every platform package in npm/ that this machine can
# build, into native/ (or $PLATFORMS_OUT), named skywire.<platform>.node, which
# scripts/pack.sh then packs into npm/<platform>/.
#
#   linux-x64-gnu    always (the host; a failure here fails the script)
#   linux-arm64-gnu  needs: rustup target add aarch64-unknown-linux-gnu
#                           and the linker aarch64-linux-gnu-gcc (Debian: gcc-aarch64-linux-gnu)
#   linux-x64-musl   needs: rustup target add x86_64-unknown-linux-musl
#                           and musl-gcc (Debian: musl-tools)
#
# A platform whose Rust target or linker is missing is skipped with the reason;
# the script exits 0 when the host build succeeded, and lists what it skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${PLATFORMS_OUT:-native}
mkdir -p "$OUT"
MANIFEST=crates/skywire-napi/Cargo.toml
log() { printf 'build-platforms: %s\n' "$*" >&2; }

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then export PATH="$HOME/.cargo/bin:$PATH"; fi
installed=$(rustup target list --installed 2>/dev/null || rustc -vV | sed -n 's/^host: //p')

built=()
skipped=()

# The host, exactly as `npm run build:native` builds it (same target dir, so incremental).
log "linux-x64-gnu: building"
npx napi build --platform --release --manifest-path "$MANIFEST" --output-dir "$OUT" --js index.js --dts index.d.ts
built+=(linux-x64-gnu)

# cross_build PLATFORM TRIPLE LINKER [RUSTFLAGS]
cross_build() {
  local platform=$1 triple=$2 linker=$3 rustflags=${4:-}
  if ! grep -qx "$triple" <<<"$installed"; then
    skipped+=("$platform (Rust target $triple is not installed: rustup target add $triple)")
    return
  fi
  if ! command -v "$linker" >/dev/null 2>&1; then
    skipped+=("$platform (linker $linker not found on PATH)")
    return
  fi
  local up env_triple
  up=$(tr 'a-z-' 'A-Z_' <<<"$triple")
  env_triple=${triple//-/_}
  log "$platform: building for $triple with $linker"
  if env "CARGO_TARGET_${up}_LINKER=$linker" "CC_${env_triple}=$linker" \
      ${rustflags:+"CARGO_TARGET_${up}_RUSTFLAGS=$rustflags"} \
      npx napi build --platform --release --manifest-path "$MANIFEST" --target "$triple" --output-dir "$OUT" --no-js; then
    built+=("$platform")
  else
    skipped+=("$platform (the build for $triple failed; see above)")
  fi
}

cross_build linux-arm64-gnu aarch64-unknown-linux-gnu aarch64-linux-gnu-gcc
# A Node addon is a shared library: musl's default static C runtime cannot make one.
cross_build linux-x64-musl x86_64-unknown-linux-musl musl-gcc '-C target-feature=-crt-static'

log "built: ${built[*]}"
if [ ${#skipped[@]} -gt 0 ]; then
  for s in "${skipped[@]}"; do log "skipped: $s"; done
fi
exit 0
