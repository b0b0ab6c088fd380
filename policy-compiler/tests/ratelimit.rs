//! Rate limits from policy to verdict, natively: matching, keys, local GCRA state shared
//! through the host, monitor mode, the pending global call and the failure modes.

// Test helpers outside #[test] functions may panic too: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use waap_engine::host::NativeHost;
use waap_engine::ratelimit::{proto, GlobalError};
use waap_engine::{Engine, RequestHead, Verdict};

fn engine(src: &str) -> Engine {
    let c = waap_policy_compiler::compile_str("p.yaml", src).unwrap_or_else(|e| panic!("{e}"));
    Engine::load(c.bundle).unwrap_or_else(|e| panic!("{e}"))
}

fn compile_error(src: &str) -> String {
    waap_policy_compiler::compile_str("p.yaml", src)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

fn req(method: &str, uri: &str, headers: &[(&str, &str)]) -> RequestHead {
    RequestHead {
        method: method.into(),
        uri: uri.as_bytes().to_vec(),
        protocol: "HTTP/1.1".into(),
        remote_addr: "127.0.0.1".into(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
            .collect(),
        ..RequestHead::default()
    }
}

const POLICY: &str = r#"version: 1
mode: block
client_ip:
  xff_trusted_hops: 1
rate_limits:
  failure_mode: fail_open
  limits:
    - name: login
      match:
        methods: [POST]
        path_prefix: /api/login
      key: client_ip
      limit: 5/minute
    - name: api
      match:
        methods: [GET]
        path_regex: "^/api/"
      key: {header: x-api-key}
      limit: 3/minute
      action: monitor
    - name: enum
      match: {path_prefix: /api/account}
      key: client_ip
      distinct: {of: {query: account_id}, max: 2, per: minute}
"#;

fn status(v: &Verdict) -> u16 {
    match v {
        Verdict::Allow => 200,
        Verdict::Deny { status, .. } => *status,
        Verdict::Reply(r) => r.status,
    }
}

#[test]
fn login_limit_admits_five_per_client_and_answers_429_with_headers() {
    let e = engine(POLICY);
    let host = NativeHost::default();
    host.fixed_now.set(Some(1_000_000_000_000));
    let mut passed = 0;
    let mut last = None;
    for _ in 0..50 {
        let mut tx = e.transaction(req(
            "POST",
            "/api/login",
            &[("x-forwarded-for", "198.51.100.7")],
        ));
        match tx.run_request(b"", &host) {
            Verdict::Allow => passed += 1,
            v => last = Some(v),
        }
    }
    assert_eq!(passed, 5);
    let Some(Verdict::Reply(r)) = last else {
        panic!("no 429: {last:?}")
    };
    assert_eq!(r.status, 429);
    let h = |n: &str| {
        r.headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(h("retry-after").as_deref(), Some("12"));
    assert_eq!(h("ratelimit-policy").as_deref(), Some("\"login\";q=5;w=60"));
    assert!(String::from_utf8_lossy(&r.body).contains("310000"));
    // Another client, another method and another path are not limited.
    for (m, p, ip) in [
        ("POST", "/api/login", "198.51.100.8"),
        ("GET", "/api/login", "198.51.100.7"),
        ("POST", "/other", "198.51.100.7"),
    ] {
        let mut tx = e.transaction(req(m, p, &[("x-forwarded-for", ip)]));
        assert_eq!(tx.run_request(b"", &host), Verdict::Allow, "{m} {p} {ip}");
    }
    assert_eq!(
        host.counters.borrow().get("waap.ratelimit.rate_limited"),
        Some(&45)
    );
    assert_eq!(host.counters.borrow().get("waap.rule.310000"), Some(&45));
}

#[test]
fn monitor_entries_count_would_limit_and_let_traffic_through() {
    let e = engine(POLICY);
    let host = NativeHost::default();
    host.fixed_now.set(Some(2_000_000_000_000));
    for _ in 0..10 {
        let mut tx = e.transaction(req("GET", "/api/items", &[("x-api-key", "k1")]));
        assert_eq!(tx.run_request(b"", &host), Verdict::Allow);
    }
    assert_eq!(
        host.counters.borrow().get("waap.ratelimit.monitored"),
        Some(&7)
    );
    assert!(host
        .logs
        .borrow()
        .iter()
        .any(|(_, l)| l.contains("\"action\":\"would_rate_limited\"")
            && l.contains("api: over the limit")));
    // No API key: the entry does not apply (and counts nothing).
    let mut tx = e.transaction(req("GET", "/api/items", &[]));
    assert_eq!(tx.run_request(b"", &host), Verdict::Allow);
    assert_eq!(
        host.counters.borrow().get("waap.ratelimit.monitored"),
        Some(&7)
    );
}

#[test]
fn distinct_limit_counts_distinct_values_per_key() {
    let e = engine(POLICY);
    let host = NativeHost::default();
    host.fixed_now.set(Some(3_000_000_000_000));
    let run = |acct: &str, ip: &str| {
        let mut tx = e.transaction(req(
            "GET",
            &format!("/api/account?account_id={acct}"),
            &[("x-forwarded-for", ip)],
        ));
        status(&tx.run_request(b"", &host))
    };
    assert_eq!(run("a", "192.0.2.1"), 200);
    assert_eq!(run("b", "192.0.2.1"), 200);
    assert_eq!(run("a", "192.0.2.1"), 200);
    assert_eq!(run("c", "192.0.2.1"), 429);
    assert_eq!(run("c", "192.0.2.2"), 200);
}

const GLOBAL: &str = r#"version: 1
mode: block
rate_limits:
  failure_mode: FAILMODE
  service: {cluster: rls, domain: shop, timeout_ms: 40}
  limits:
    - name: login
      match: {path_prefix: /login}
      key: client_ip
      limit: 100/minute
      scope: global
"#;

#[test]
fn global_entries_make_one_call_and_follow_the_services_answer() {
    let e = engine(&GLOBAL.replace("FAILMODE", "fail_open"));
    let host = NativeHost::default();
    let mut tx = e.transaction(req("GET", "/login", &[]));
    assert_eq!(tx.run_request(b"", &host), Verdict::Allow);
    let call = tx.take_global_call().unwrap_or_else(|| panic!("no call"));
    assert!(tx.take_global_call().is_none());
    assert_eq!(call.cluster, "rls");
    assert_eq!(call.timeout_ms, 40);
    // The body is one gRPC frame holding the request for domain "shop".
    let msg = &call.body[5..];
    assert_eq!(&call.body[1..5], (msg.len() as u32).to_be_bytes());
    assert!(msg.windows(4).any(|w| w == b"shop") && msg.windows(10).any(|w| w == b"waap_limit"));
    let over = proto::Response {
        overall: proto::Code::OverLimit,
        statuses: vec![proto::Status {
            code: proto::Code::OverLimit,
            remaining: 0,
            reset_secs: 17,
        }],
    }
    .encode();
    let v = tx.on_global_response(&host, Ok(&over));
    let Verdict::Reply(r) = v else {
        panic!("{v:?}")
    };
    assert_eq!(r.status, 429);
    assert!(r.headers.contains(&("retry-after".into(), "17".into())));
    // Not matched: no call.
    let mut tx = e.transaction(req("GET", "/other", &[]));
    assert_eq!(tx.run_request(b"", &host), Verdict::Allow);
    assert!(tx.take_global_call().is_none());
}

#[test]
fn service_failures_follow_the_failure_mode() {
    for (mode, want) in [("fail_open", 200), ("fail_closed", 429)] {
        let e = engine(&GLOBAL.replace("FAILMODE", mode));
        let host = NativeHost::default();
        let mut tx = e.transaction(req("GET", "/login", &[]));
        assert_eq!(tx.run_request(b"", &host), Verdict::Allow);
        assert!(tx.take_global_call().is_some());
        let v = tx.on_global_response(&host, Err(GlobalError::Status(14, "unavailable".into())));
        assert_eq!(status(&v), want, "{mode}");
        let c = host.counters.borrow();
        assert_eq!(c.get("waap.ratelimit.global.errors"), Some(&1));
        let counted = if want == 200 {
            "waap.ratelimit.failed_open"
        } else {
            "waap.ratelimit.failed_closed"
        };
        assert_eq!(c.get(counted), Some(&1), "{mode}");
    }
}

#[test]
fn a_policy_in_monitor_mode_monitors_its_rate_limits() {
    let e = engine(&POLICY.replace("mode: block", "mode: monitor"));
    let host = NativeHost::default();
    for _ in 0..8 {
        let mut tx = e.transaction(req("POST", "/api/login", &[]));
        assert_eq!(tx.run_request(b"", &host), Verdict::Allow);
    }
    assert_eq!(
        host.counters.borrow().get("waap.ratelimit.monitored"),
        Some(&3)
    );
}

#[test]
fn bad_entries_are_reported_with_file_line_and_name() {
    let base = "version: 1\nmode: block\nrate_limits:\n  failure_mode: fail_open\n  limits:\n    - name: ok\n      key: client_ip\n      limit: 1/minute\n    - name: bad\n      key: client_ip\n      limit: ";
    let err = compile_error(&format!("{base}5/fortnight\n"));
    assert!(
        err.contains("p.yaml")
            && err.contains(":9")
            && err.contains("rate limit `bad`")
            && err.contains("5/fortnight"),
        "{err}"
    );
    let err = compile_error(&format!("{base}5/2s\n      scope: global\n"));
    assert!(
        err.contains("rate limit `bad`") && err.contains("rate_limits.service"),
        "{err}"
    );
    assert!(err.contains("second, minute, hour or day"), "{err}");
    let err = compile_error(&format!(
        "{base}5/minute\n      key: {{header: a, cookie: b}}\n"
    ));
    assert!(!err.is_empty(), "duplicate key accepted");
    let err = compile_error("version: 1\nmode: block\nrate_limits:\n  limits: []\n");
    assert!(err.contains("failure_mode"), "{err}");
    let err = compile_error("version: 1\nmode: block\nrate_limits:\n  failure_mode: fail_open\n  limits:\n    - name: x\n      key: {header: a, cookie: b}\n      limit: 1/s\n");
    assert!(
        err.contains("rate limit `x`") && err.contains("exactly one of header"),
        "{err}"
    );
    let err = compile_error("version: 1\nmode: block\nrate_limits:\n  failure_mode: fail_open\n  limits:\n    - name: x\n      key: client_ip\n");
    assert!(err.contains("needs a limit"), "{err}");
}

#[test]
fn inspect_lists_the_rate_limits() {
    let c = waap_policy_compiler::compile_str("p.yaml", POLICY).unwrap_or_else(|e| panic!("{e}"));
    let report = waap_policy_compiler::inspect::report(&c.bundle).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        report.contains("rate limits   3 (failure_mode=Open, max_keys=16384)"),
        "{report}"
    );
    assert!(
        report.contains("310000 login Local block status 429 key [ClientIp] 5/60000ms burst 5"),
        "{report}"
    );
    assert!(report.contains("310001 api Local monitor"), "{report}");
}
