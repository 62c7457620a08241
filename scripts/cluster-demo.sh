#!/usr/bin/env bash
# Three Kindling nodes on one machine as one platform: a throwaway PostgreSQL (scripts/postgres-cluster.js),
# a blobs directory all three share (KINDLING_BLOBS), each node with its own data dir, port and advertised
# URL. Prints the endpoints; Ctrl-C stops the nodes and PostgreSQL and removes everything it made.
#   scripts/cluster-demo.sh [FIRST_PORT]     (default 9101: nodes on 9101, 9102, 9103)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/src/cli/main.js ] || npm run build >/dev/null

first_port=${1:-9101}
work=$(mktemp -d "${TMPDIR:-/tmp}/kindling-cluster-XXXXXX")
pids=()

cleanup() {
  trap - INT TERM EXIT
  echo
  echo "cluster-demo: stopping the nodes"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  node scripts/postgres-cluster.js stop "$work/pg" >/dev/null 2>&1 || true
  rm -rf "$work"
  echo "cluster-demo: stopped, $work removed"
}
trap cleanup INT TERM EXIT

echo "cluster-demo: starting PostgreSQL in $work/pg"
store=$(node scripts/postgres-cluster.js start "$work/pg" | grep -o 'postgres://[^ ]*' | head -n1)
mkdir -p "$work/blobs" "$work/hello"
printf '%s\n' 'export const handler = async (event) => ({ hello: "from kindling", event });' >"$work/hello/index.mjs"

# One admin key for the whole cluster (set before the first start, as KINDLING_ROOT_* always is).
export KINDLING_ROOT_ACCESS_KEY_ID=${KINDLING_ROOT_ACCESS_KEY_ID:-AKIACLUSTERDEMO00001}
export KINDLING_ROOT_SECRET_ACCESS_KEY=${KINDLING_ROOT_SECRET_ACCESS_KEY:-$(head -c 30 /dev/urandom | base64 | tr -d '/+=' | head -c 40)}

for i in 1 2 3; do
  port=$((first_port + i - 1))
  mkdir -p "$work/node$i"
  KINDLING_STORE="$store" KINDLING_BLOBS="$work/blobs" KINDLING_ADVERTISE_URL="http://127.0.0.1:$port" \
    node bin/kindling.js serve --port "$port" --host 127.0.0.1 --data-dir "$work/node$i" \
    >"$work/node$i.log" 2>&1 &
  pids+=($!)
done

for i in 1 2 3; do
  for _ in $(seq 1 300); do
    grep -q 'listening on' "$work/node$i.log" 2>/dev/null && break
    if ! kill -0 "${pids[$((i - 1))]}" 2>/dev/null; then
      echo "cluster-demo: node $i exited:" >&2
      cat "$work/node$i.log" >&2
      exit 1
    fi
    sleep 0.1
  done
done

cat <<INFO

Kindling cluster: three nodes, one platform (any node answers any request)
  node 1  http://127.0.0.1:$first_port     log $work/node1.log
  node 2  http://127.0.0.1:$((first_port + 1))     log $work/node2.log
  node 3  http://127.0.0.1:$((first_port + 2))     log $work/node3.log
  store   $store
  blobs   $work/blobs

Try:
  export KINDLING_ENDPOINT=http://127.0.0.1:$first_port
  export AWS_ACCESS_KEY_ID=$KINDLING_ROOT_ACCESS_KEY_ID
  export AWS_SECRET_ACCESS_KEY=$KINDLING_ROOT_SECRET_ACCESS_KEY
  node bin/kindling.js nodes
  node bin/kindling.js deploy $work/hello --name hello --handler index.handler
  node bin/kindling.js invoke hello --payload '{"n":1}'
  node bin/kindling.js nodes drain NODE_ID

Ctrl-C stops all three nodes and PostgreSQL.
INFO
wait
