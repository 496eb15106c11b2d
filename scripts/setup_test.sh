#!/usr/bin/env bash
# What the test suite needs beyond Node/npm and the Deno running it, checked before anything runs.
# Bun comes through npx (the compile task and the Bun adapter checks use `npx -y bun@1.4.5` when no
# bun is on PATH), so nothing here needs root but Debian's chromium (status page and browser
# WebSocket tests), openssl (certificate fixtures), dnsmasq-base (a DNS server on loopback for the
# discovery and ACME tests; the binary alone, without the system service of package dnsmasq) and
# pebble (Let's Encrypt's test CA, for the ACME tests): as root they are installed; otherwise one
# line says what to run.
set -euo pipefail
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v openssl >/dev/null || missing+=(openssl)
# In /usr/sbin, off a user's PATH.
[ -x /usr/sbin/dnsmasq ] || command -v dnsmasq >/dev/null || missing+=(dnsmasq-base)
command -v pebble >/dev/null || missing+=(pebble)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "setup: the tests need ${missing[*]}: run 'sudo apt-get install -y ${missing[*]}' once, then the test command again" >&2
  exit 1
fi
echo "setup: installing ${missing[*]} with apt-get"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
