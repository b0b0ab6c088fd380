//! Criterion micro-benchmarks of bot management, natively (acceptance: the challenge costs
//! the filter O(1) work per request, one HMAC):
//!
//! - `bots/token_verify`: verifying a token cookie (one HMAC-SHA-256, constant-time compare);
//! - `bots/token_verify_rotated`: the same token under rotation, signed by the previous key
//!   (two HMACs, the worst case);
//! - `bots/stage/<kind>`: the whole header stage of a transaction (scoring, band, token)
//!   for a browser, curl with a valid token, curl without one (the page is rendered), a
//!   scanner (blocked) and a solution (nonce HMAC + SHA-256 + minting HMAC), and the same
//!   transaction under a policy without `bots:` (`stage/baseline_no_bots`).
//!
//! `cargo bench -p waap-bench --bench bots` (add `-- --measurement-time 1` for a short run).

// Benchmark setup code, not the data plane: a broken setup should stop loudly.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use waap_bench::host::QuietHost;
use waap_engine::bots::config::Secret;
use waap_engine::bots::token::{self, Binding};
use waap_engine::{Engine, RequestHead, Verdict};

/// The quiet host's clock, in seconds.
const NOW_S: u64 = waap_bench::host::QUIET_NOW_NANOS / 1_000_000_000;

const KEY: &str = "bench-key-0123456789abcdef0123456789";
const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";

fn engine() -> Engine {
    let dir = std::env::temp_dir().join(format!("waap-bench-bots-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("k"), KEY).unwrap();
    let p = dir.join("policy.yaml");
    std::fs::write(
        &p,
        "version: 1\nmode: block\nbots:\n  good_bots:\n    - { name: googlebot, user_agent: Googlebot, ranges: [66.249.64.0/19] }\n  routes:\n    - { prefix: /, bands: { log: 30, block: 80 } }\n    - { prefix: /app/, bands: { challenge: 30, block: 80 } }\n  challenge: { difficulty: 8, key_file: k }\n",
    )
    .unwrap();
    let c = waap_policy_compiler::compile_file(&p).unwrap();
    Engine::load(c.bundle).unwrap()
}

fn head(uri: &str, headers: &[(&str, &str)]) -> RequestHead {
    RequestHead {
        method: "GET".into(),
        uri: uri.as_bytes().to_vec(),
        protocol: "HTTP/1.1".into(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
            .collect(),
        remote_addr: "203.0.113.5".into(),
        request_id: "7d3c1f0a-2b4e-4c6d-9e8f-0a1b2c3d4e5f".into(),
        peer_cert_sha256: None,
    }
}

fn stage(e: &Engine, h: &RequestHead, host: &QuietHost) -> bool {
    let mut tx = e.transaction(h.clone());
    !matches!(tx.on_request_headers(host), Verdict::Allow)
}

fn bench(c: &mut Criterion) {
    let keys = vec![Secret(KEY.as_bytes().to_vec())];
    let ip = "203.0.113.5".parse().ok();
    let b = Binding::new(ip, 24, 64, b"curl/8.5.0");
    let tok = token::mint_token(&keys, &b, NOW_S + 3600, 8).unwrap();
    let mut g = c.benchmark_group("bots");
    g.bench_function("token_verify", |bn| {
        bn.iter(|| {
            let b = Binding::new(ip, 24, 64, b"curl/8.5.0");
            token::check_token(black_box(&keys), &b, black_box(&tok), NOW_S, 8)
        })
    });
    let rotated = vec![
        Secret(b"a-newer-key-0123456789abcdef".to_vec()),
        keys[0].clone(),
    ];
    assert!(token::check_token(&rotated, &b, &tok, NOW_S, 8).is_ok());
    g.bench_function("token_verify_rotated", |bn| {
        bn.iter(|| {
            let b = Binding::new(ip, 24, 64, b"curl/8.5.0");
            token::check_token(black_box(&rotated), &b, black_box(&tok), NOW_S, 8)
        })
    });

    let e = engine();
    let host = QuietHost;
    let cookie = format!("waap_bot={tok}");
    let nonce = token::mint_nonce(&keys, &b, NOW_S, 8).unwrap();
    let sol = (0u64..)
        .find(|c| token::work_bits(&nonce, &c.to_string()) >= 8)
        .unwrap();
    let solution = format!("/.waap/challenge?n={nonce}&s={sol}&r=%2Fapp%2F");
    let browser = [
        ("user-agent", BROWSER),
        ("accept", "text/html"),
        ("accept-language", "en"),
        ("accept-encoding", "gzip"),
    ];
    let kinds: Vec<(&str, RequestHead, bool)> = vec![
        ("browser_allowed", head("/app/page", &browser), false),
        (
            "curl_with_token",
            head(
                "/app/page",
                &[("user-agent", "curl/8.5.0"), ("cookie", &cookie)],
            ),
            false,
        ),
        (
            "curl_challenged",
            head("/app/page", &[("user-agent", "curl/8.5.0")]),
            true,
        ),
        (
            "scanner_blocked",
            head("/app/page", &[("user-agent", "sqlmap/1.7")]),
            true,
        ),
        (
            "solution_accepted",
            head(&solution, &[("user-agent", "curl/8.5.0")]),
            true,
        ),
    ];
    for (name, h, stops) in &kinds {
        // Each kind must take the path it names, or the number measures something else.
        assert_eq!(stage(&e, h, &host), *stops, "{name}");
        g.bench_function(format!("stage/{name}"), |bn| {
            bn.iter(|| stage(&e, black_box(h), &host))
        });
    }
    // The same browser request under a policy without `bots:`: the transaction's own cost.
    let plain = Engine::load(
        waap_policy_compiler::compile_str("p.yaml", "version: 1\nmode: block\n")
            .unwrap()
            .bundle,
    )
    .unwrap();
    let h = head("/app/page", &browser);
    g.bench_function("stage/baseline_no_bots", |bn| {
        bn.iter(|| stage(&plain, black_box(&h), &host))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
