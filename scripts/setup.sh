#!/usr/bin/env bash
# Installs everything skywire needs on a Debian machine (as root), then the
# npm dependencies, which builds the Rust addon and the TypeScript.
# Used by both README commands and by CI; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: run as root (it installs Debian packages; the VPN needs root too)" >&2
  exit 4
fi

# System packages: compilers for the addon, iproute2/nftables for the VPN and
# its network-namespace tests, redis-server for the Redis store tests,
# iperf3 and ethtool (the offloads it records) for the benchmark, chromium for the web UI's browser test; setpriv
# (util-linux), dbus-daemon and systemd-analyze (systemd, never started here)
# for the non-root, systemd-resolved and service-unit tests.
PKGS=(build-essential pkg-config ca-certificates curl git iproute2 nftables iputils-ping procps
      redis-server iperf3 ethtool chromium util-linux dbus-daemon systemd)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ! command -v node >/dev/null 2>&1; then missing+=(nodejs npm); fi
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The DNS tests run a real systemd-resolved in a namespace. Installing it would
# turn this machine's /etc/resolv.conf into a link to its stub, so its package
# is only unpacked, where test/ts/sys/resolved.test.ts looks for it.
RESOLVED_ROOT=/opt/skywire-test/resolved
if ! dpkg-query -W -f='${Status}' systemd-resolved 2>/dev/null | grep -q 'install ok installed' \
   && [ ! -x "$RESOLVED_ROOT/lib/systemd/systemd-resolved" ]; then
  log "unpacking systemd-resolved into $RESOLVED_ROOT (for the DNS tests; not installed)"
  tmp=$(mktemp -d)
  ( cd "$tmp" && { apt-get download -qq systemd-resolved 2>/dev/null || { apt-get update -qq && apt-get download -qq systemd-resolved; }; } )
  mkdir -p "$RESOLVED_ROOT"
  dpkg -x "$tmp"/systemd-resolved_*.deb "$RESOLVED_ROOT"
  rm -rf "$tmp"
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "setup: Node.js 20 or newer is needed, found $(node --version) (Debian 13 ships 20)" >&2
  exit 1
fi

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
  log "installing the Rust toolchain (rustup)"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  export PATH="$HOME/.cargo/bin:$PATH"
fi

# `npm run check` (part of `npm test`) runs cargo fmt and clippy: the minimal profile has neither.
for c in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$c"; then
    log "installing the Rust component $c (for npm run check)"
    rustup component add "$c"
  fi
done

# The short fuzz run in `npm test` uses cargo-fuzz, which needs nightly.
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  log "installing the nightly Rust toolchain (for cargo-fuzz)"
  rustup toolchain install nightly --profile minimal
fi

log "installing npm dependencies and building (Rust addon + TypeScript)"
# `npm install`, not `npm ci`: the per-platform optionalDependencies are only
# published with a release, and npm ci refuses a lock file that lacks them.
npm install --no-audit --no-fund
