//! Operations, end to end through Envoy: the audit record of a denied request and the
//! filter's counters on Envoy's Prometheus endpoint.

// Test helpers may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use waap_e2e::client::build_request;
use waap_e2e::envoy::{self, Envoy, PolicyStack};
use waap_e2e::json;

const SECRET: &str = "Bearer very-secret-token-4711";

fn start() -> PolicyStack {
    envoy::start_with_policy("examples/basic/policy.yaml").unwrap()
}

/// The filter's JSON line of kind `kind` for `request_id`, waiting for the log to flush.
fn log_line(envoy: &Envoy, kind: &str, request_id: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = envoy.log_text();
        let found = log.lines().find_map(|l| {
            let start = l.find("{\"waap\":")?;
            let json = &l[start..];
            (json.contains(&format!("\"waap\":\"{kind}\"")) && json.contains(request_id))
                .then(|| json.to_string())
        });
        if let Some(j) = found {
            return j;
        }
        assert!(
            Instant::now() < deadline,
            "no {kind} line for {request_id} in:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
#[ignore = "needs Envoy, the wasm build and waapc: run `make test`"]
fn audit_record_of_a_blocked_xss_is_json_with_every_field_and_no_secret() {
    let stack = start();
    let envoy = &stack.envoy;
    let req = build_request(
        "GET",
        "/search?q=%3Cscript%3Ealert(1)%3C/script%3E",
        &[
            ("Host", "localhost"),
            ("Authorization", SECRET),
            ("Cookie", "session=very-secret-cookie"),
        ],
        b"",
    );
    let r = envoy.send(&req).unwrap();
    assert_eq!(r.status, 403, "{}", r.text());
    let id = r.header("x-request-id").unwrap().to_string();
    let line = log_line(envoy, "audit", &id);
    let v = json::parse(line.as_bytes())
        .unwrap_or_else(|e| panic!("audit line is not JSON ({e:?}): {line}"));
    for field in [
        "timestamp",
        "request_id",
        "client",
        "method",
        "path",
        "rule_ids",
        "family",
        "score",
        "action",
    ] {
        assert!(v.get(field).is_some(), "audit line lacks {field}: {line}");
    }
    assert_eq!(
        v.get("action").and_then(|a| a.as_str()),
        Some("deny"),
        "{line}"
    );
    assert_eq!(
        v.get("request_id").and_then(|a| a.as_str()),
        Some(id.as_str())
    );
    let ids: Vec<u64> = v
        .get("rule_ids")
        .and_then(|a| a.as_array())
        .unwrap()
        .iter()
        .filter_map(|x| x.as_u64())
        .collect();
    assert_eq!(ids.first(), Some(&1001), "{line}");
    assert_eq!(v.get("family").and_then(|a| a.as_str()), Some("waf"));
    let log = envoy.log_text();
    assert!(
        !log.contains("very-secret-token-4711"),
        "the Authorization value reached the log"
    );
    assert!(
        !log.contains("very-secret-cookie"),
        "the cookie value reached the log"
    );
}

#[test]
#[ignore = "needs Envoy, the wasm build and waapc: run `make test`"]
fn prometheus_endpoint_shows_the_filter_counters_and_a_deny_increments_them() {
    let stack = start();
    let envoy = &stack.envoy;
    let read = |name: &str| -> u64 {
        let text = envoy.admin_get("/stats/prometheus").unwrap().text();
        text.lines()
            .filter(|l| !l.starts_with('#') && l.contains(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    let ok = envoy
        .send(&build_request(
            "GET",
            "/search?q=shoes",
            &[("Host", "localhost")],
            b"",
        ))
        .unwrap();
    assert_eq!(ok.status, 200);
    let denied_before = read("waap_requests_denied");
    let inspected_before = read("waap_requests_inspected");
    let r = envoy
        .send(&build_request(
            "GET",
            "/search?q=%3Cscript%3E",
            &[("Host", "localhost")],
            b"",
        ))
        .unwrap();
    assert_eq!(r.status, 403);
    let deadline = Instant::now() + Duration::from_secs(10);
    while read("waap_requests_denied") <= denied_before {
        assert!(
            Instant::now() < deadline,
            "waap_requests_denied did not grow"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(read("waap_requests_inspected") > inspected_before);
    assert!(read("waap_bundle_loads") >= 1);
}
