#!/usr/bin/env bash
# Soak: one Envoy (--concurrency 1) with the waap filter and examples/full/policy.yaml (CRS
# PL1, rate limits, bots and the OpenAPI order API; SOAK_POLICY names another), driven
# at saturation by wrk with mixed benign and attack traffic (tests/soak/soak.lua) for
# SOAK_SECONDS. Samples Envoy's RSS and the admin wasm stats every SOAK_SAMPLE seconds and
# fails on: RSS growth over SOAK_MAX_GROWTH percent after the warm-up, any filter error in
# the Envoy log (wasm panic, "Function: ... failed", waap error lines), insane
# wasmcustom.waap.* counters, any attack not answered 403, any benign request not answered
# 200, or wrk socket errors. Writes $SOAK_OUT/result.json; the last line printed is
#   soak: PASS|FAIL rss_growth=X% requests=N attacks_blocked=A/B benign_passed=C/D
# See tests/soak/README.md. `make soak` builds everything and runs this script.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

SOAK_SECONDS="${SOAK_SECONDS:-600}"
SOAK_WARMUP="${SOAK_WARMUP:-60}"
SOAK_SAMPLE="${SOAK_SAMPLE:-10}"
SOAK_CONNECTIONS="${SOAK_CONNECTIONS:-16}"
SOAK_THREADS="${SOAK_THREADS:-2}"
SOAK_MAX_GROWTH="${SOAK_MAX_GROWTH:-5}"
SOAK_OUT="${SOAK_OUT:-$ROOT/target/soak}"
ENVOY="${ENVOY:-$ROOT/.venv/bin/envoy}"
WAAPC="${WAAPC:-$ROOT/target/release/waapc}"
WAAP_WASM="${WAAP_WASM:-$ROOT/target/wasm32-wasip1/release/waap_filter.wasm}"
DEVTOOL="${DEVTOOL:-$ROOT/target/release/waap-devtool}"
ECHO_BIN="${ECHO_BIN:-$ROOT/target/release/waap-echo}"
POLICY="${SOAK_POLICY:-$ROOT/examples/full/policy.yaml}"
LUA="$ROOT/tests/soak/soak.lua"

die() { echo "soak: $*" >&2; exit 2; }
log() { echo "soak: $*" >&2; }

for f in "$ENVOY" "$WAAPC" "$WAAP_WASM" "$DEVTOOL" "$ECHO_BIN"; do
  [ -e "$f" ] || die "$f not found (make build; ENVOY=... for Envoy)"
done
command -v wrk >/dev/null || die "wrk not found (apt-get install -y wrk)"
command -v curl >/dev/null || die "curl not found"
command -v python3 >/dev/null || die "python3 not found"
[ "$SOAK_SECONDS" -gt "$SOAK_WARMUP" ] || die "SOAK_SECONDS ($SOAK_SECONDS) must exceed SOAK_WARMUP ($SOAK_WARMUP)"
[ $((SOAK_THREADS % 2)) -eq 0 ] || die "SOAK_THREADS must be even (half benign, half attack)"
[ "$SOAK_SECONDS" -le 840 ] || log "warning: SOAK_SECONDS=$SOAK_SECONDS; the whole run takes about SOAK_SECONDS + 30 s"

rm -rf "$SOAK_OUT"
mkdir -p "$SOAK_OUT"
SAMPLES="$SOAK_OUT/samples.jsonl"
: >"$SAMPLES"

read -r LISTEN ADMIN UPSTREAM < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])
')

pids=()
cleanup() {
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    wait "$p" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "compiling $POLICY"
"$WAAPC" compile "$POLICY" -o "$SOAK_OUT/crs.waapb" >"$SOAK_OUT/waapc.log" 2>&1 \
  || { cat "$SOAK_OUT/waapc.log" >&2; die "waapc failed"; }
"$DEVTOOL" ecds --wasm "$WAAP_WASM" --bundle "$SOAK_OUT/crs.waapb" -o "$SOAK_OUT/crs.ecds.yaml"
"$DEVTOOL" render --example crs --listen "$LISTEN" --admin "$ADMIN" --upstream-port "$UPSTREAM" \
  --ecds "$SOAK_OUT/crs.ecds.yaml" -o "$SOAK_OUT/envoy.yaml"

"$ECHO_BIN" --port "$UPSTREAM" >"$SOAK_OUT/echo.log" 2>&1 &
pids+=($!)
# stdout carries the access log (one line per request, about 370 MB in 10 minutes): dropped;
# the checks read wrk's counts, the admin stats and Envoy's own log (--log-path).
"$ENVOY" -c "$SOAK_OUT/envoy.yaml" --disable-hot-restart --concurrency 1 -l info \
  --log-path "$SOAK_OUT/envoy.log" >/dev/null &
ENVOY_PID=$!
pids+=("$ENVOY_PID")

for _ in $(seq 1 300); do
  if curl -fsS "http://127.0.0.1:$ADMIN/ready" >/dev/null 2>&1 \
    && [ "$(curl -fsS "http://127.0.0.1:$ADMIN/stats?filter=^wasmcustom.waap.bundle.loads$" 2>/dev/null | awk '{print $2}')" != "" ]; then
    break
  fi
  kill -0 "$ENVOY_PID" 2>/dev/null || { tail -30 "$SOAK_OUT/envoy.log" >&2; die "Envoy exited"; }
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$ADMIN/ready" >/dev/null || die "Envoy not ready after 30 s"
log "Envoy pid $ENVOY_PID on 127.0.0.1:$LISTEN (admin $ADMIN), upstream waap-echo on $UPSTREAM"

# Pre-flight: one benign and one attack request, so a broken setup fails fast.
pre_b=$(curl -s -o /dev/null -w '%{http_code}' -A 'Mozilla/5.0' -H 'Accept: */*' \
  "http://127.0.0.1:$LISTEN/soak/benign/search?q=running+shoes")
pre_a=$(curl -s -o /dev/null -w '%{http_code}' -A 'Mozilla/5.0' -H 'Accept: */*' \
  "http://127.0.0.1:$LISTEN/soak/attack/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
[ "$pre_b" = 200 ] && [ "$pre_a" = 403 ] || die "pre-flight: benign $pre_b (want 200), attack $pre_a (want 403)"

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$ENVOY_PID/status" 2>/dev/null || echo 0; }
sample() { # $1 = seconds since the load started
  local stats
  stats=$(curl -fsS --max-time 5 "http://127.0.0.1:$ADMIN/stats?filter=wasm" 2>/dev/null || true)
  python3 - "$1" "$(rss_kb)" "$stats" >>"$SAMPLES" <<'EOF'
import json, sys
t, rss, text = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
stats = {}
for line in text.splitlines():
    name, _, value = line.partition(": ")
    try:
        stats[name] = int(value)
    except ValueError:
        pass
print(json.dumps({"t": t, "rss_kb": rss, "wasm_stats": stats}))
EOF
}

log "wrk -t$SOAK_THREADS -c$SOAK_CONNECTIONS -d${SOAK_SECONDS}s (warm-up ${SOAK_WARMUP}s, samples every ${SOAK_SAMPLE}s)"
sample 0
start=$(date +%s)
wrk -t"$SOAK_THREADS" -c"$SOAK_CONNECTIONS" -d"${SOAK_SECONDS}s" --timeout 5s -s "$LUA" \
  "http://127.0.0.1:$LISTEN" >"$SOAK_OUT/wrk.txt" 2>&1 &
WRK_PID=$!
pids+=("$WRK_PID")
next=$SOAK_SAMPLE
deadline=$((start + SOAK_SECONDS + 30))
while kill -0 "$WRK_PID" 2>/dev/null; do
  now=$(date +%s)
  if [ "$now" -ge "$deadline" ]; then
    log "wrk overran by 30 s; killing it"
    kill "$WRK_PID" 2>/dev/null || true
    break
  fi
  if [ $((now - start)) -ge "$next" ] && [ $((now - start)) -le "$SOAK_SECONDS" ]; then
    sample $((now - start))
    kill -0 "$ENVOY_PID" 2>/dev/null || { log "Envoy died during the soak"; break; }
    if [ $((next % 60)) -eq 0 ]; then
      log "t=${next}s rss=$(rss_kb) kB"
    fi
    next=$((next + SOAK_SAMPLE))
  fi
  sleep 0.5
done
wrk_rc=0
wait "$WRK_PID" || wrk_rc=$?
sleep 1
sample $(( $(date +%s) - start ))
envoy_alive=1
kill -0 "$ENVOY_PID" 2>/dev/null || envoy_alive=0

# Stop Envoy before reading its log (the filter logs a match and an audit line per denied
# request: about 1.2 GB an hour at saturation).
cleanup
pids=()
rc=0
python3 - "$SOAK_OUT" "$SOAK_SECONDS" "$SOAK_WARMUP" "$SOAK_MAX_GROWTH" "$wrk_rc" "$envoy_alive" \
  "$SOAK_CONNECTIONS" "$SOAK_THREADS" "${POLICY#"$ROOT"/}" <<'EOF' || rc=$?
import json, re, sys
out, seconds, warmup, max_growth, wrk_rc, alive, conns, threads, policy = sys.argv[1:]
seconds, warmup, max_growth = int(seconds), int(warmup), float(max_growth)
failures = []

samples = [json.loads(l) for l in open(f"{out}/samples.jsonl") if l.strip()]
load = [s for s in samples if 0 < s["t"] <= seconds + 5 and s["rss_kb"] > 0]
after = [s for s in load if s["t"] >= warmup]
if len(after) >= 2:
    base, last = after[0]["rss_kb"], after[-1]["rss_kb"]
    peak = max(s["rss_kb"] for s in after)
    growth = 100.0 * (last - base) / base
    peak_growth = 100.0 * (peak - base) / base
else:
    base = last = peak = None
    growth = peak_growth = None
    failures.append(f"too few RSS samples after the {warmup} s warm-up ({len(after)})")
if growth is not None and growth > max_growth:
    failures.append(f"RSS grew {growth:.2f}% after the warm-up ({base} -> {last} kB; limit {max_growth}%)")

wrk_text = open(f"{out}/wrk.txt", errors="replace").read()
m = re.search(r"^SOAK_COUNTS (\{.*\})$", wrk_text, re.M)
counts = json.loads(m.group(1)) if m else None
if counts is None:
    failures.append(f"wrk produced no SOAK_COUNTS line (exit {wrk_rc}); see {out}/wrk.txt")
    counts = {"benign": {"statuses": {}}, "attack": {"statuses": {}}, "wrk": {"requests": 0, "errors": {}}}
rps = re.search(r"^Requests/sec:\s*([\d.]+)", wrk_text, re.M)
b, a = counts["benign"]["statuses"], counts["attack"]["statuses"]
benign_total, attack_total = sum(b.values()), sum(a.values())
benign_passed, attacks_blocked = b.get("200", 0), a.get("403", 0)
if benign_total == 0 or attack_total == 0:
    failures.append(f"no traffic of one class: benign {benign_total}, attack {attack_total}")
if benign_passed != benign_total:
    failures.append(f"benign requests not answered 200: {benign_total - benign_passed} (statuses {b})")
if attacks_blocked != attack_total:
    failures.append(f"attacks not answered 403: {attack_total - attacks_blocked} (statuses {a})")
errs = counts["wrk"].get("errors", {})
sock = sum(errs.get(k, 0) for k in ("connect", "read", "write", "timeout"))
if sock:
    failures.append(f"wrk socket errors: {errs}")
if wrk_rc != "0":
    failures.append(f"wrk exited {wrk_rc}")
if alive != "1":
    failures.append("Envoy exited during the soak")

bad_patterns = [r"panicked at", r"wasm.*panic", r"Function: \S+ failed", r"\bwasm trap\b",
                r"Failed to .*wasm", r"\[error\].*waap", r"\[critical\]"]
bad_re = re.compile("|".join(f"(?:{p})" for p in bad_patterns), re.I)
log_errors = []
with open(f"{out}/envoy.log", errors="replace") as f:
    for line in f:
        if bad_re.search(line):
            log_errors.append(line.rstrip("\n"))
if log_errors:
    failures.append(f"{len(log_errors)} filter error line(s) in the Envoy log, first: {log_errors[0][:300]}")

final = samples[-1]["wasm_stats"] if samples else {}
def stat(name):
    return final.get(name)
waap = {k: v for k, v in final.items() if k.startswith("wasmcustom.waap.")}
total = benign_total + attack_total
inspected = stat("wasmcustom.waap.requests.inspected") or 0
denied = stat("wasmcustom.waap.requests.denied") or 0
if (stat("wasmcustom.waap.bundle.loads") or 0) < 1:
    failures.append("wasmcustom.waap.bundle.loads is 0")
if stat("wasmcustom.waap.bundle.load_failures"):
    failures.append(f"wasmcustom.waap.bundle.load_failures = {stat('wasmcustom.waap.bundle.load_failures')}")
# Every response wrk counted was inspected (plus the pre-flight and requests in flight when
# wrk stopped, at most one per connection); every 403 wrk saw was a filter deny.
if not (total + 2 <= inspected <= total + 2 + int(conns)):
    failures.append(f"wasmcustom.waap.requests.inspected = {inspected}, wrk counted {total} (+2 pre-flight)")
if not (attacks_blocked + 1 <= denied <= attacks_blocked + 1 + int(conns)):
    failures.append(f"wasmcustom.waap.requests.denied = {denied}, wrk counted {attacks_blocked} 403s (+1 pre-flight)")
if stat("wasmcustom.waap.requests.monitored"):
    failures.append(f"wasmcustom.waap.requests.monitored = {stat('wasmcustom.waap.requests.monitored')} in block mode")
for k, v in final.items():
    if k.startswith("wasm.") and ("fail" in k or "crash" in k or "error" in k) and v:
        failures.append(f"{k} = {v}")

result = {
    "pass": not failures,
    "failures": failures,
    "settings": {"seconds": seconds, "warmup_seconds": warmup, "max_rss_growth_pct": max_growth,
                 "connections": int(conns), "wrk_threads": int(threads), "envoy_concurrency": 1,
                 "policy": policy},
    "rss_kb": {"at_warmup": base, "last": last, "peak_after_warmup": peak,
               "growth_pct": None if growth is None else round(growth, 3),
               "peak_growth_pct": None if peak_growth is None else round(peak_growth, 3),
               "samples": [[s["t"], s["rss_kb"]] for s in samples]},
    "requests": total,
    "requests_per_second": float(rps.group(1)) if rps else None,
    "benign": {"total": benign_total, "passed": benign_passed, "statuses": b,
               "unexpected_samples": counts["benign"].get("unexpected_samples", [])},
    "attack": {"total": attack_total, "blocked": attacks_blocked, "statuses": a,
               "unexpected_samples": counts["attack"].get("unexpected_samples", [])},
    "wrk": counts["wrk"],
    "envoy_log_errors": log_errors[:20],
    "waap_counters": waap,
    "wasm_stats_final": final,
}
json.dump(result, open(f"{out}/result.json", "w"), indent=2)
for f in failures:
    print(f"soak: failure: {f}", file=sys.stderr)
g = "NA" if growth is None else f"{growth:.2f}"
print(f"soak: {'PASS' if not failures else 'FAIL'} rss_growth={g}% requests={total} "
      f"attacks_blocked={attacks_blocked}/{attack_total} benign_passed={benign_passed}/{benign_total}")
sys.exit(0 if not failures else 1)
EOF
gzip -1 -f "$SOAK_OUT/envoy.log"
exit "$rc"
