#!/usr/bin/env bash
# Installs what Kindling needs on Debian/Ubuntu when it is missing (bubblewrap, slirp4netns; Node.js 20+ where the
# distribution has it), installs the npm dependencies, builds, and runs `kindling serve` (args passed on).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else echo "start.sh: need root to run: $*" >&2; return 1
  fi
}

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
# Outbound network for tenants an admin grants it: user-mode networking in the sandbox's own namespace.
command -v slirp4netns >/dev/null 2>&1 || missing+=(slirp4netns)
# provided.* runtimes: the build compiles their Runtime API shim (C) with cc.
command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
# python3.x functions run Debian's Python 3 with boto3 importable, as on Lambda.
/usr/bin/python3 -c 'import boto3' >/dev/null 2>&1 || missing+=(python3-boto3)
if [ "$(node_major)" -lt 20 ] || ! command -v npm >/dev/null 2>&1; then missing+=(nodejs npm); fi
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "start.sh: installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    echo "start.sh: please install: ${missing[*]}" >&2
  fi
fi
if [ "$(node_major)" -lt 20 ]; then
  echo "start.sh: Kindling needs Node.js 20 or newer (found $(node --version 2>/dev/null || echo none))." >&2
  echo "          Debian 12 ships Node 18: install Node 20 from https://deb.nodesource.com or with nvm, then rerun." >&2
  exit 1
fi

# npm ci only when the installed tree is missing or older than the lockfile.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
exec npm start -- "$@"
