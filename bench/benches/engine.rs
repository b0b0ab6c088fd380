//! Criterion micro-benchmarks of the engine, natively (no Envoy, no wasm):
//!
//! - `request/<policy>/<kind>`: one whole transaction (headers, body, response headers, log)
//!   for the request kinds waap-bench sends through Envoy, under each `examples/*/policy.yaml`
//!   that compiles (compiled in the setup with `waap_policy_compiler`).
//! - `transform/<name>`: one transformation over a 1 KiB input that exercises it.
//! - `load/<policy>`: `Engine::load` of the compiled bundle (validate + build matchers).
//!
//! `cargo bench -p waap-bench --bench engine` (add `-- --measurement-time 1` for a short run).
//! Native numbers are a lower bound: in the filter the same code runs in V8 (wasm), several
//! times slower, plus the proxy-wasm boundary.

// Benchmark setup code, not the data plane: a broken setup should stop loudly.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use waap_bench::host::QuietHost;
use waap_bench::requests::{self, RequestKind};
use waap_engine::transform::Transform;
use waap_engine::Engine;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// (example name, bundle bytes) for every example policy that compiles.
fn bundles() -> Vec<(String, Vec<u8>)> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("examples"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().join("policy.yaml").is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let path = root().join("examples").join(&name).join("policy.yaml");
        match waap_policy_compiler::compile_file(&path) {
            // Its members are small WAF policies like examples/basic; the engine benches
            // take one policy.
            Ok(c) if waap_engine::PolicySet::load(c.bundle.clone()).is_ok_and(|s| s.is_set()) => {
                eprintln!("skipping examples/{name}: a policy set, not one policy")
            }
            Ok(c) => out.push((name, c.bundle)),
            Err(e) => eprintln!("skipping examples/{name}: does not compile: {e:?}"),
        }
    }
    assert!(!out.is_empty(), "no example policy compiled");
    out
}

/// One request as the filter drives it; returns whether it was denied.
fn transaction(engine: &Engine, kind: &RequestKind, host: &QuietHost) -> bool {
    requests::run_transaction(engine, kind, host)
}

fn bench_requests(c: &mut Criterion) {
    let host = QuietHost;
    for (policy, bundle) in bundles() {
        let engine = Engine::load(bundle).expect("bundle loads");
        let mut g = c.benchmark_group(format!("request/{policy}"));
        // A large policy on a 64 KiB body takes milliseconds per iteration.
        g.sample_size(10);
        for kind in requests::kinds() {
            // The deny path must deny and the benign requests must pass, or the numbers
            // measure something else.
            let denied = transaction(&engine, &kind, &host);
            if denied != kind.attack {
                eprintln!(
                    "note: {policy}/{}: denied={denied}, expected {}",
                    kind.name, kind.attack
                );
            }
            g.throughput(Throughput::Bytes(
                (kind.path.len() + kind.body.len()) as u64,
            ));
            g.bench_function(BenchmarkId::from_parameter(kind.name), |b| {
                b.iter(|| transaction(&engine, black_box(&kind), &host))
            });
        }
        g.finish();
    }
}

/// `seed` repeated (and cut) to exactly 1 KiB.
fn kib(seed: &str) -> Vec<u8> {
    seed.bytes().cycle().take(1024).collect()
}

fn bench_transforms(c: &mut Criterion) {
    let cases = [
        ("urlDecodeUni", kib("q=%3Cscript%3Ealert(%u0031)%3C/script%3E&name=J%C3%B6rg+M%FCller&x=%uFF1C%2e%2e%2f&")),
        ("htmlEntityDecode", kib("&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &#60;&#x3C;&amp;&nbsp;caf&eacute; plain text ")),
        ("lowercase", kib("SELECT Name, Email FROM Users WHERE Id = 42 AND Role = 'Admin' -- Mixed Case Text ")),
        ("cmdLine", kib("C:\\> c^md.exe /c \"dir  C:\\Windows\" , ( ping  127.0.0.1 ) ; /bin/Ca\\t  /etc/passwd ")),
        ("normalizePath", kib("/static/./css/../js//app/./../../lib/../index.html/./a/b/../c/")),
        ("jsDecode", kib("\\x3cscript\\x3e\\u0061lert(\\'x\\')\\n\\t\\101\\u00e9 plain js text ")),
    ];
    let mut g = c.benchmark_group("transform");
    g.throughput(Throughput::Bytes(1024));
    for (name, input) in cases {
        let t = Transform::from_name(name).expect("known transform");
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| t.apply(black_box(&input)).len())
        });
    }
    g.finish();
}

fn bench_load(c: &mut Criterion) {
    let mut g = c.benchmark_group("load");
    for (policy, bundle) in bundles() {
        g.throughput(Throughput::Bytes(bundle.len() as u64));
        g.bench_function(BenchmarkId::from_parameter(&policy), |b| {
            b.iter(|| {
                Engine::load(black_box(bundle.clone()))
                    .map(|e| e.summary().len())
                    .unwrap_or(0)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_requests, bench_transforms, bench_load);
criterion_main!(benches);
