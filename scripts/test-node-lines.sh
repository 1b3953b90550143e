#!/usr/bin/env bash
# The type check and the unit tests under Node 22 and 24 (the maintained LTS lines), next to the machine's own Node
# (20 on Debian 13), which runs everything else. Node comes from the npm registry's `node` package, into
# .ci/node<major>/ (git-ignored, kept between runs). node_modules stay the ones built for the machine's Node, so a
# dependency built for one Node ABI (not N-API) fails here: on purpose.
set -euo pipefail
cd "$(dirname "$0")/.."
for major in ${SKYWIRE_NODE_LINES:-22 24}; do
  dir=.ci/node$major
  if [ ! -x "$dir/node_modules/.bin/node" ]; then
    mkdir -p "$dir"
    # The package's preinstall fetches the platform binary: allow that one script, nothing else.
    printf '{ "private": true, "allowScripts": { "node": true } }\n' >"$dir/package.json"
    npm install --prefix "$dir" --no-audit --no-fund --no-save "node@$major"
  fi
  echo "node-lines: Node $("$dir/node_modules/.bin/node" --version): type check and unit tests"
  PATH="$PWD/$dir/node_modules/.bin:$PATH" npm run check:types
  PATH="$PWD/$dir/node_modules/.bin:$PATH" npm run test:unit
done
