use super::*;
use crate::host::NativeHost;

const SEC: u64 = 1_000_000_000;

fn lim(count: u32, period_ms: u64) -> Limit {
    Limit {
        count,
        period_ms,
        burst: count,
    }
}

#[test]
fn gcra_admits_exactly_the_burst_then_refills_one_interval_at_a_time() {
    let host = NativeHost::default();
    let l = lim(5, 60_000);
    let t0 = 1_000 * SEC;
    let h = hash64(&[b"10.0.0.1"]);
    let mut passed = 0;
    let mut last = None;
    for i in 0..50 {
        match gcra(&host, 310_000, 128, &l, h, t0 + i * 1_000_000) {
            Check::Pass { .. } => passed += 1,
            c => last = Some(c),
        }
    }
    assert_eq!(passed, 5);
    // One request every 12 s: the next is 12 s after the first.
    assert_eq!(
        last,
        Some(Check::Limited {
            retry_after_secs: 12
        })
    );
    assert!(matches!(
        gcra(&host, 310_000, 128, &l, h, t0 + 12 * SEC),
        Check::Pass { remaining: 0 }
    ));
    // A full period later the whole burst is back.
    let later = t0 + 12 * SEC + 60 * SEC;
    assert_eq!(
        gcra(&host, 310_000, 128, &l, h, later),
        Check::Pass { remaining: 4 }
    );
    // Another key is unaffected.
    let other = hash64(&[b"10.0.0.2"]);
    assert_eq!(
        gcra(&host, 310_000, 128, &l, other, t0),
        Check::Pass { remaining: 4 }
    );
}

#[test]
fn gcra_admits_the_configured_rate_over_time() {
    // 1,000/minute from a fresh state for 30 s of saturating load (one attempt per ms):
    // burst 1,000 plus 500 refilled.
    let host = NativeHost::default();
    let l = lim(1000, 60_000);
    let h = hash64(&[b"k"]);
    let t0 = 5_000 * SEC;
    let passed = (0..30_000u64)
        .filter(|i| {
            matches!(
                gcra(&host, 310_000, 16, &l, h, t0 + i * 1_000_000),
                Check::Pass { .. }
            )
        })
        .count();
    assert!((1499..=1501).contains(&passed), "{passed}");
}

#[test]
fn table_stays_bounded_and_counts_evictions() {
    let host = NativeHost::default();
    let l = lim(10, 60_000);
    let now = 100 * SEC;
    for i in 0..5_000u32 {
        let h = hash64(&[&i.to_le_bytes()]);
        assert!(matches!(
            gcra(&host, 310_001, 256, &l, h, now),
            Check::Pass { .. }
        ));
    }
    let (entries, bytes) = host.shared_usage();
    assert!(entries <= 256, "{entries}");
    assert!(bytes <= 256 * (16 + "waap.rl.310001.255".len()), "{bytes}");
    let ev = host
        .counters
        .borrow()
        .get("waap.ratelimit.evictions")
        .copied()
        .unwrap_or(0);
    assert!(ev >= 5_000 - 256, "{ev}");
}

#[test]
fn expired_state_is_reused_without_counting_an_eviction() {
    let host = NativeHost::default();
    let l = lim(1, 1_000);
    for i in 0..100u32 {
        let h = hash64(&[&i.to_le_bytes()]);
        // Each key 2 s after the previous: every stored state has expired.
        assert!(matches!(
            gcra(&host, 310_000, 1, &l, h, (10 + 2 * u64::from(i)) * SEC),
            Check::Pass { .. }
        ));
    }
    assert_eq!(host.counters.borrow().get("waap.ratelimit.evictions"), None);
    assert_eq!(host.shared_usage().0, 1);
}

#[test]
fn distinct_allows_max_values_per_window_and_repeats_of_seen_ones() {
    let host = NativeHost::default();
    let d = Distinct {
        part: KeyPart::Query("account_id".into()),
        max: 3,
        period_ms: 60_000,
    };
    let h = hash64(&[b"1.2.3.4"]);
    let t = 600 * SEC;
    for v in 0..3u32 {
        assert!(matches!(
            distinct(&host, 310_002, 64, &d, h, v, t),
            Check::Pass { .. }
        ));
    }
    assert!(matches!(
        distinct(&host, 310_002, 64, &d, h, 1, t + SEC),
        Check::Pass { .. }
    ));
    assert_eq!(
        distinct(&host, 310_002, 64, &d, h, 7, t + 20 * SEC),
        Check::Limited {
            retry_after_secs: 40
        }
    );
    // Next window: a fresh set.
    assert!(matches!(
        distinct(&host, 310_002, 64, &d, h, 7, t + 60 * SEC),
        Check::Pass { .. }
    ));
}

/// A host whose CAS writes always fail: the limiter gives up after bounded retries.
struct Contended(NativeHost);

impl Host for Contended {
    fn now_nanos(&self) -> u64 {
        self.0.now_nanos()
    }
    fn log(&self, level: LogLevel, msg: &str) {
        self.0.log(level, msg)
    }
    fn shared_get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.0.shared_get(key)
    }
    fn shared_set(&self, _key: &str, _value: &[u8], _cas: Option<u32>) -> bool {
        false
    }
    fn counter_add(&self, name: &str, delta: u64) {
        self.0.counter_add(name, delta)
    }
}

#[test]
fn persistent_cas_failure_is_reported_after_bounded_retries() {
    let host = Contended(NativeHost::default());
    assert_eq!(
        gcra(&host, 310_000, 8, &lim(5, 1000), 42, SEC),
        Check::Failed
    );
    assert_eq!(
        host.0
            .counters
            .borrow()
            .get("waap.ratelimit.cas_retries")
            .copied(),
        Some(u64::from(CAS_ATTEMPTS))
    );
}

#[test]
fn denial_reply_carries_retry_after_and_ratelimit_headers() {
    let e = RateLimit {
        name: "login".into(),
        rule_id: 310_000,
        limit: Some(lim(5, 60_000)),
        status: 429,
        ..RateLimit::default()
    };
    let r = reply(&e, "req-1", 12, 0);
    assert_eq!(r.status, 429);
    let h = |n: &str| {
        r.headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(h("retry-after"), Some("12"));
    assert_eq!(h("ratelimit-policy"), Some("\"login\";q=5;w=60"));
    assert_eq!(h("ratelimit"), Some("\"login\";r=0;t=12"));
    assert_eq!(h("content-type"), Some("application/json"));
    let body = String::from_utf8_lossy(&r.body);
    assert!(
        body.contains("\"rule_ids\":[310000]") && body.contains("\"family\":\"ratelimit\""),
        "{body}"
    );
}

#[test]
fn host_ports_are_stripped() {
    assert_eq!(strip_port("example.com:8080"), "example.com");
    assert_eq!(strip_port("[::1]:80"), "::1");
    assert_eq!(strip_port("example.com"), "example.com");
}

#[test]
fn grpc_call_frames_the_message_and_answers_unframe() {
    let call = grpc_call("rls", b"abc", 40);
    assert_eq!(call.body, [0, 0, 0, 0, 3, b'a', b'b', b'c']);
    assert!(call.headers.contains(&(
        ":path".into(),
        "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit".into()
    )));
    let ok = HttpAnswer {
        status: Some(200),
        grpc_status: Some(0),
        grpc_message: String::new(),
        body: &call.body,
    };
    assert_eq!(grpc_unary_message(&ok), Ok(&b"abc"[..]));
    let timeout = HttpAnswer::default();
    assert!(matches!(
        grpc_unary_message(&timeout),
        Err(GlobalError::Status(4, _))
    ));
    let unavailable = HttpAnswer {
        grpc_status: Some(14),
        grpc_message: "redis down".into(),
        ..ok.clone()
    };
    assert_eq!(
        grpc_unary_message(&unavailable),
        Err(GlobalError::Status(14, "redis down".into()))
    );
    let http503 = HttpAnswer {
        status: Some(503),
        ..ok.clone()
    };
    assert!(matches!(
        grpc_unary_message(&http503),
        Err(GlobalError::Status(14, _))
    ));
    for body in [&[0u8, 0, 0][..], &[0, 0, 0, 0, 9, 1], &[1, 0, 0, 0, 0]] {
        let a = HttpAnswer { body, ..ok.clone() };
        assert!(
            matches!(grpc_unary_message(&a), Err(GlobalError::Malformed(_))),
            "{body:?}"
        );
    }
}

#[test]
fn a_million_distinct_keys_keep_shared_data_bounded() {
    // Every key new: the table holds at most max_keys slots of fixed size, whatever the
    // number of keys seen; the rest are evictions, counted.
    let host = NativeHost::default();
    let l = lim(100, 60_000);
    let max_keys = 16_384u32;
    let now = 7_000 * SEC;
    for i in 0..1_000_000u32 {
        let h = hash64(&[&i.to_le_bytes()]);
        assert!(matches!(
            gcra(&host, 310_000, max_keys, &l, h, now + u64::from(i)),
            Check::Pass { .. }
        ));
    }
    let (entries, bytes) = host.shared_usage();
    assert!(entries <= max_keys as usize, "{entries}");
    let per_slot = 16 + "waap.rl.310000.16383".len();
    assert!(bytes <= max_keys as usize * per_slot, "{bytes}");
    let ev = host
        .counters
        .borrow()
        .get("waap.ratelimit.evictions")
        .copied()
        .unwrap_or(0);
    assert!(ev >= 1_000_000 - u64::from(max_keys), "{ev}");
}

/// An engine whose bundle holds only `rate_limits` (no WAF rules).
fn engine_with(rl: RateLimits) -> crate::Engine {
    use waap_bundle::{BundleWriter, Meta, SectionKind};
    let program = crate::program::Program {
        version: crate::program::PROGRAM_VERSION,
        ..Default::default()
    };
    let families = crate::families::Families {
        version: crate::families::FAMILIES_VERSION,
        rate_limits: Some(rl),
        ..Default::default()
    };
    let mut w = BundleWriter::new();
    w.section(
        SectionKind::Program,
        true,
        postcard::to_allocvec(&program).unwrap_or_default(),
    );
    w.section(
        SectionKind::Families,
        true,
        postcard::to_allocvec(&families).unwrap_or_default(),
    );
    let meta = Meta {
        compiler: "test".into(),
        compiler_version: "0".into(),
        revision: "r".into(),
        extra: vec![],
    };
    crate::Engine::load(w.finish(&meta)).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn claim_keys_use_the_validated_tokens_claims_and_skip_requests_without_them() {
    let e = engine_with(RateLimits {
        entries: vec![RateLimit {
            name: "per-user".into(),
            rule_id: RULE_BASE,
            key: vec![KeyPart::Claim("sub".into())],
            limit: Some(lim(2, 60_000)),
            status: 429,
            ..RateLimit::default()
        }],
        max_keys: 64,
        ..RateLimits::default()
    });
    let host = NativeHost::default();
    host.fixed_now.set(Some(9_000 * SEC));
    let run = |sub: Option<&str>| {
        let mut tx = e.transaction(crate::RequestHead {
            method: "GET".into(),
            uri: b"/".to_vec(),
            remote_addr: "127.0.0.1".into(),
            ..Default::default()
        });
        tx.ctx.claims = sub.map(|s| vec![("sub".to_string(), vec![s.to_string()])]);
        tx.on_request_headers(&host).is_stop()
    };
    assert!(!run(Some("alice")));
    assert!(!run(Some("alice")));
    assert!(
        run(Some("alice")),
        "third request of alice is over 2/minute"
    );
    assert!(!run(Some("bob")));
    // No token, no claims: the entry does not apply.
    for _ in 0..5 {
        assert!(!run(None));
    }
}
