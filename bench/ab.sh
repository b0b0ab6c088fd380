#!/usr/bin/env bash
# A/B of two filter builds through one Envoy setup: the same policy, the same Envoy config,
# only the wasm module differs. Envoy (--concurrency 1) is pinned to CPU 0 and wrk to CPU 1;
# the two modules are run alternately, PAIRS times each, SECS seconds of wrk per run after a
# 3 s warm-up. `make bench` moves by 10-15% from one run to the next on a shared VM; an A/B
# of alternated runs is how engine changes are compared (see README "Benchmarks").
#
#   bench/ab.sh A.wasm B.wasm            (or: make bench-ab WASM_A=... WASM_B=...)
#   EXAMPLE=crs KIND=get PAIRS=6 SECS=10 bench/ab.sh A.wasm B.wasm
#   BUNDLE_A=old.waapb BUNDLE_B=new.waapb bench/ab.sh M.wasm M.wasm   (a compiler change)
#
# Needs `make build` and `make setup` (waapc, waap-devtool, waap-echo, waap-bench, Envoy)
# and wrk. Output: each run's req/s and Envoy CPU time per request (user + system, from
# /proc: time the VM's neighbours steal is not in it), then per module the runs sorted and
# the medians.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ $# -eq 2 ] || { echo "usage: bench/ab.sh A.wasm B.wasm" >&2; exit 2; }
wasm_a=$(realpath "$1")
wasm_b=$(realpath "$2")
EXAMPLE=${EXAMPLE:-crs}
KIND=${KIND:-get}
PAIRS=${PAIRS:-6}
SECS=${SECS:-10}
LISTEN=${LISTEN:-18190}
ADMIN=${ADMIN:-18191}
UPSTREAM=${UPSTREAM:-18192}
ENVOY=${ENVOY:-.venv/bin/envoy}
out=target/ab
mkdir -p "$out"
for tool in target/release/waapc target/release/waap-devtool target/release/waap-echo \
  target/release/waap-bench "$ENVOY"; do
  [ -x "$tool" ] || { echo "bench/ab.sh: $tool missing (make setup build; cargo build --release -p waap-bench)" >&2; exit 2; }
done
command -v wrk >/dev/null || { echo "bench/ab.sh: wrk not found (apt-get install wrk)" >&2; exit 2; }

target/release/waapc compile "examples/$EXAMPLE/policy.yaml" -o "$out/policy.waapb" >/dev/null
script=$(target/release/waap-bench wrk-script "$KIND" "$out")
for side in a b; do
  wasm=$wasm_a
  [ "$side" = b ] && wasm=$wasm_b
  # A compiler change is compared with two bundles of the example (BUNDLE_A, BUNDLE_B,
  # each compiled by its own waapc) and one module passed as both A and B.
  bundle=$out/policy.waapb
  if [ "$side" = a ] && [ -n "${BUNDLE_A:-}" ]; then bundle=$(realpath "$BUNDLE_A"); fi
  if [ "$side" = b ] && [ -n "${BUNDLE_B:-}" ]; then bundle=$(realpath "$BUNDLE_B"); fi
  target/release/waap-devtool ecds --wasm "$wasm" --bundle "$bundle" -o "$out/$side.ecds.yaml"
  target/release/waap-devtool render --example "$EXAMPLE" --listen "$LISTEN" --admin "$ADMIN" \
    --upstream-port "$UPSTREAM" --ecds "$out/$side.ecds.yaml" -o "$out/$side.envoy.yaml"
done

mock=()
[ -f "examples/$EXAMPLE/upstream.json" ] && mock=(--mock "examples/$EXAMPLE/upstream.json")
target/release/waap-echo --port "$UPSTREAM" "${mock[@]}" >/dev/null 2>&1 &
echo_pid=$!
envoy_pid=
cleanup() {
  [ -n "$envoy_pid" ] && kill "$envoy_pid" 2>/dev/null || true
  kill "$echo_pid" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

declare -A runs=([a]="" [b]="")
declare -A cpus=([a]="" [b]="")
for pair in $(seq "$PAIRS"); do
  for side in a b; do
    taskset -c 0 "$ENVOY" -c "$out/$side.envoy.yaml" --disable-hot-restart --concurrency 1 \
      -l warn >"$out/$side.envoy.log" 2>&1 &
    envoy_pid=$!
    for _ in $(seq 120); do
      curl -s -o /dev/null "http://127.0.0.1:$LISTEN/" && break
      sleep 0.5
    done
    taskset -c 1 wrk -t1 -c8 -d3s -s "$script" "http://127.0.0.1:$LISTEN" >/dev/null
    cpu0=$(awk '{print $14 + $15}' "/proc/$envoy_pid/stat")
    res=$(taskset -c 1 wrk -t1 -c8 -d"${SECS}s" -s "$script" "http://127.0.0.1:$LISTEN")
    cpu1=$(awk '{print $14 + $15}' "/proc/$envoy_pid/stat")
    rps=$(echo "$res" | awk '/Requests\/sec/ {print $2}')
    us=$(echo "$res" | awk -v a="$cpu0" -v b="$cpu1" -v hz="$(getconf CLK_TCK)" \
      '/requests in/ { if ($1 > 0) printf "%.1f", (b - a) / hz * 1e6 / $1 }')
    echo "pair $pair $side $(basename "$([ "$side" = a ] && echo "$wasm_a" || echo "$wasm_b")") ${rps:-0} req/s ${us:-0} us CPU/request"
    runs[$side]="${runs[$side]} ${rps:-0}"
    cpus[$side]="${cpus[$side]} ${us:-0}"
    kill "$envoy_pid"
    wait "$envoy_pid" 2>/dev/null || true
    envoy_pid=
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
ma=$(echo "${runs[a]}" | median)
mb=$(echo "${runs[b]}" | median)
echo "A $wasm_a:$(echo "${runs[a]}" | tr ' ' '\n' | grep -v '^$' | sort -n | tr '\n' ' ') median $ma"
echo "B $wasm_b:$(echo "${runs[b]}" | tr ' ' '\n' | grep -v '^$' | sort -n | tr '\n' ' ') median $mb"
ca=$(echo "${cpus[a]}" | median)
cb=$(echo "${cpus[b]}" | median)
echo "CPU/request median: A $ca us, B $cb us"
awk -v a="$ma" -v b="$mb" -v ca="$ca" -v cb="$cb" -v ex="$EXAMPLE" -v kind="$KIND" \
  -v pairs="$PAIRS" -v secs="$SECS" 'BEGIN { if (a > 0 && cb > 0)
    printf "B/A = %.3f, CPU per request A/B = %.3f (%s, %s, %d pairs of %d s)\n",
      b / a, ca / cb, ex, kind, pairs, secs }'
