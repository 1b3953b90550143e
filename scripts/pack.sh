#!/usr/bin/env bash
# Packs the npm tarballs a user installs with `npm i -g`:
#   .pack/skywire-vpn-<version>.tgz                   the CLI + library (JS, types, web UI, loader)
#   .pack/skywire-vpn-linux-x64-gnu-<version>.tgz     the prebuilt addon for this platform
# plus a tarball for every other npm/<platform>/ whose .node has been built
# (scripts/build-platforms.sh).
#
# It reuses native/skywire.linux-x64-gnu.node when present and builds the
# addon only when it is missing (SKYWIRE_PACK_BUILD_NATIVE=1 forces a build).
# The TypeScript and the web UI are rebuilt unless SKYWIRE_PACK_NO_BUILD=1
# and dist/ is there (the tests, which run after `npm run build`). `npm pack` runs with
# --ignore-scripts, so its `prepare` (the full build) does not run again.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${PACK_DIR:-.pack}
log() { printf 'pack: %s\n' "$*" >&2; }

if [ ! -f native/skywire.linux-x64-gnu.node ] || [ "${SKYWIRE_PACK_BUILD_NATIVE:-}" = 1 ]; then
  log "building the addon"
  npm run --silent build:native
fi
if [ "${SKYWIRE_PACK_NO_BUILD:-}" = 1 ] && [ -f dist/index.js ] && [ -f dist/ui/index.html ]; then
  log "reusing dist/ (SKYWIRE_PACK_NO_BUILD=1)"
  node scripts/oclif-manifest.mjs
else
  log "building the TypeScript and the web UI"
  npm run --silent build:ts
  npm run --silent build:ui >/dev/null
fi

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rm -f "$OUT"/skywire-vpn-*.tgz

packed=()
for dir in npm/*/; do
  platform=$(basename "$dir")
  node_file="native/skywire.$platform.node"
  if [ -f "$node_file" ]; then
    cp "$node_file" "$dir"
    # The release profile keeps debug info (for profiling); users do not need it.
    strip --strip-debug "$dir/skywire.$platform.node" 2>/dev/null ||
      log "$platform: could not strip debug info; packing it as built"
  elif [ ! -f "$dir/skywire.$platform.node" ]; then
    log "skipping $platform: no $node_file (see scripts/build-platforms.sh)"
    continue
  fi
  packed+=("$OUT/$(cd "$dir" && npm pack --ignore-scripts --silent --pack-destination "$OUT")")
done
packed+=("$OUT/$(npm pack --ignore-scripts --silent --pack-destination "$OUT")")
printf '%s\n' "${packed[@]}"
