//! The counters and the audit record the engine gives the filter at the end of a request
//! (`Transaction::on_log`), natively: policy -> bundle -> engine -> `NativeHost` counters.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use waap_engine::host::NativeHost;
use waap_engine::{Engine, RequestHead};

fn basic(mode: &str) -> Engine {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let src = std::fs::read_to_string(root.join("examples/basic/policy.yaml")).unwrap();
    let src = src.replacen("mode: block", &format!("mode: {mode}"), 1);
    let bundle = waap_policy_compiler::compile_str("basic.yaml", &src)
        .unwrap_or_else(|e| panic!("{e}"))
        .bundle;
    Engine::load(bundle).unwrap()
}

fn get(uri: &str) -> RequestHead {
    RequestHead {
        method: "GET".into(),
        uri: uri.as_bytes().to_vec(),
        protocol: "HTTP/1.1".into(),
        headers: vec![
            ("host".into(), b"localhost".to_vec()),
            ("authorization".into(), b"Bearer top-secret-77".to_vec()),
        ],
        request_id: "rid-1".into(),
        remote_addr: "10.1.2.3".into(),
        ..RequestHead::default()
    }
}

/// Runs the request phases and the log phase; returns the audit record.
fn run(e: &Engine, host: &NativeHost, uri: &str) -> Option<String> {
    let mut tx = e.transaction(get(uri));
    if !tx.on_request_headers(host).is_stop() {
        let _ = tx.on_request_body(Vec::new(), false, host);
    }
    tx.on_log(host)
}

fn counter(host: &NativeHost, name: &str) -> u64 {
    host.counters.borrow().get(name).copied().unwrap_or(0)
}

#[test]
fn a_blocked_xss_counts_waf_denied_and_its_deciding_rule_only() {
    let e = basic("block");
    let host = NativeHost::default();
    let audit = run(&e, &host, "/search?q=%3Cscript%3E").unwrap();
    assert_eq!(counter(&host, "waap.waf.denied"), 1);
    assert_eq!(counter(&host, "waap.rule.1001"), 1);
    assert_eq!(counter(&host, "waap.requests.allowed"), 0);
    assert_eq!(counter(&host, "waap.waf.monitored"), 0);
    let rule_counters: Vec<String> = host
        .counters
        .borrow()
        .keys()
        .filter(|k| k.starts_with("waap.rule."))
        .cloned()
        .collect();
    assert_eq!(rule_counters, ["waap.rule.1001"]);
    assert!(audit.starts_with("{\"waap\":\"audit\""), "{audit}");
    assert!(audit.contains("\"rule_ids\":[1001") && audit.contains("\"action\":\"deny\""));
    assert!(!audit.contains("top-secret-77"), "{audit}");
}

#[test]
fn an_allowed_request_counts_allowed_and_has_no_audit_record() {
    let e = basic("block");
    let host = NativeHost::default();
    assert_eq!(run(&e, &host, "/search?q=shoes"), None);
    assert_eq!(counter(&host, "waap.requests.allowed"), 1);
    assert_eq!(counter(&host, "waap.waf.denied"), 0);
}

#[test]
fn a_monitored_xss_counts_monitored_and_allowed_not_denied() {
    let e = basic("monitor");
    let host = NativeHost::default();
    let audit = run(&e, &host, "/search?q=%3Cscript%3E").unwrap();
    assert!(audit.contains("\"action\":\"would_deny\""), "{audit}");
    assert_eq!(counter(&host, "waap.waf.monitored"), 1);
    assert_eq!(counter(&host, "waap.waf.denied"), 0);
    assert_eq!(counter(&host, "waap.rule.1001"), 1);
    // Monitored requests reach the upstream: they are allowed.
    assert_eq!(counter(&host, "waap.requests.allowed"), 1);
}
