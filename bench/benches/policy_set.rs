//! Criterion micro-benchmarks of policy sets (several policies in one bundle), natively on
//! examples/multi:
//!
//! - `policy_set/select/<case>`: picking the policy for a request by route name (the
//!   filter's host call is outside the engine: here the name is a ready `String`), by host,
//!   by the default fallthrough, and by host and path prefix (percent-decoding and
//!   normalizing the path), against a set without selectors (`select/single`);
//! - `policy_set/load/<what>`: loading the set bundle (both members) against loading the
//!   two member bundles alone with `Engine::load`.
//!
//! `cargo bench -p waap-bench --bench policy_set` (add `-- --measurement-time 1` for a
//! short run).

// Benchmark setup code, not the data plane: a broken setup should stop loudly.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use waap_engine::{Engine, PolicySet};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn compile(path: &str) -> Vec<u8> {
    waap_policy_compiler::compile_file(&root().join(path))
        .unwrap()
        .bundle
}

fn bench(c: &mut Criterion) {
    let multi = compile("examples/multi/policy.yaml");
    let admin = compile("examples/multi/admin.yaml");
    let public = compile("examples/multi/public.yaml");
    let set = PolicySet::load(multi.clone()).unwrap();
    let single = PolicySet::load(admin.clone()).unwrap();
    // A set selecting by host and path prefix only (no route name).
    let dir = std::env::temp_dir().join(format!("waap-bench-set-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["admin.yaml", "public.yaml"] {
        std::fs::copy(root().join("examples/multi").join(f), dir.join(f)).unwrap();
    }
    let src = "version: 1\npolicies:\n  - name: admin\n    policy: admin.yaml\n    match:\n      - { host: '*.example.com', path_prefix: /admin/ }\n  - name: public\n    policy: public.yaml\ndefault: public\n";
    let set_file = dir.join("set.yaml");
    std::fs::write(&set_file, src).unwrap();
    let host_path = PolicySet::load(
        waap_policy_compiler::compile_file(&set_file)
            .unwrap()
            .bundle,
    )
    .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();

    let mut g = c.benchmark_group("policy_set");
    let uri: &[u8] = b"/admin/users/42?expand=true";
    g.bench_function("select/route", |b| {
        b.iter(|| {
            let (name, _) = set
                .select(
                    || Some(black_box("admin").to_string()),
                    black_box(b"localhost"),
                    black_box(uri),
                )
                .unwrap();
            assert_eq!(name, "admin");
        })
    });
    g.bench_function("select/host", |b| {
        b.iter(|| {
            let (name, _) = set
                .select(|| None, black_box(b"admin.example.com:443"), black_box(uri))
                .unwrap();
            assert_eq!(name, "admin");
        })
    });
    g.bench_function("select/default", |b| {
        b.iter(|| {
            let (name, _) = set
                .select(|| None, black_box(b"localhost"), black_box(uri))
                .unwrap();
            assert_eq!(name, "public");
        })
    });
    g.bench_function("select/host_path", |b| {
        b.iter(|| {
            let (name, _) = host_path
                .select(
                    || panic!("no route selector"),
                    black_box(b"www.example.com"),
                    black_box(b"/static/../admin/users/42?expand=true"),
                )
                .unwrap();
            assert_eq!(name, "admin");
        })
    });
    g.bench_function("select/single", |b| {
        b.iter(|| {
            single
                .select(
                    || panic!("no route selector"),
                    black_box(b"h"),
                    black_box(uri),
                )
                .unwrap()
        })
    });
    g.bench_function("load/set", |b| {
        b.iter(|| PolicySet::load(black_box(multi.clone())).unwrap())
    });
    g.bench_function("load/members_alone", |b| {
        b.iter(|| {
            (
                Engine::load(black_box(admin.clone())).unwrap(),
                Engine::load(black_box(public.clone())).unwrap(),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
