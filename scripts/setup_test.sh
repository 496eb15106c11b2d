#!/usr/bin/env bash
# Installs what the test suite needs beyond Node/npm and the Deno running it: Bun (the Bun adapter
# checks run under it), Debian's chromium (status page and browser WebSocket tests) and openssl
# (certificate fixtures). Needs root for apt-get; does nothing when everything is present.
set -euo pipefail
if ! bun --version 2>/dev/null | grep -qx "1.4.5"; then
  echo "setup: installing bun@1.4.5 with npm"
  npm install -g bun@1.4.5 >/dev/null
fi
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v openssl >/dev/null || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]} with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
