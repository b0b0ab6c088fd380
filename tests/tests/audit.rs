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

/// The value of the Prometheus sample `name` (Envoy 1.40 lists the filter's metrics
/// unprefixed, e.g. `waap_rule_1001{} 1`; a prefix is tolerated), summed over labels;
/// `None` when the metric is not listed.
fn prometheus_value(text: &str, name: &str) -> Option<f64> {
    let mut found = None;
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let metric = l.split([' ', '{']).next().unwrap_or("");
        if metric == name || metric.ends_with(&format!("_{name}")) {
            let v: f64 = l.rsplit(' ').next()?.parse().ok()?;
            found = Some(found.unwrap_or(0.0) + v);
        }
    }
    found
}

#[test]
#[ignore = "needs Envoy, the wasm build and waapc: run `make test`"]
fn access_log_shows_the_audit_record_of_a_blocked_xss_from_filter_state() {
    let stack = start();
    let envoy = &stack.envoy;
    let r = envoy
        .send(&build_request(
            "GET",
            "/search?q=%3Cscript%3Ealert(1)%3C/script%3E",
            &[("Host", "localhost"), ("Authorization", SECRET)],
            b"",
        ))
        .unwrap();
    assert_eq!(r.status, 403, "{}", r.text());
    let id = r.header("x-request-id").unwrap().to_string();
    let ok = envoy
        .send(&build_request(
            "GET",
            "/search?q=shoes",
            &[("Host", "localhost")],
            b"",
        ))
        .unwrap();
    assert_eq!(ok.status, 200);
    let ok_id = ok.header("x-request-id").unwrap().to_string();
    // The access log line (stdout, rendered from envoy/envoy.yaml.tmpl) ends in
    // `waap=%FILTER_STATE(wasm.waap_audit:PLAIN)%`.
    let find = |rid: &str| -> Option<String> {
        envoy
            .log_text()
            .lines()
            .find(|l| l.contains(" waap=") && l.contains(&format!(" {rid} waap=")))
            .map(str::to_string)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let (line, ok_line) = loop {
        if let (Some(a), Some(b)) = (find(&id), find(&ok_id)) {
            break (a, b);
        }
        assert!(
            Instant::now() < deadline,
            "no access log lines for {id} and {ok_id} in:\n{}",
            envoy.log_tail(40)
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(line.contains("\" 403 "), "{line}");
    let audit = line.split(" waap=").nth(1).unwrap();
    let v = json::parse(audit.as_bytes())
        .unwrap_or_else(|e| panic!("filter state is not JSON ({e:?}): {line}"));
    let first = v
        .get("rule_ids")
        .and_then(|a| a.as_array())
        .and_then(|a| a.first())
        .and_then(|x| x.as_u64());
    assert_eq!(first, Some(1001), "{line}");
    assert_eq!(v.get("action").and_then(|a| a.as_str()), Some("deny"));
    assert_eq!(
        v.get("request_id").and_then(|a| a.as_str()),
        Some(id.as_str())
    );
    assert!(!line.contains("very-secret-token-4711"), "{line}");
    // An allowed request has no audit record.
    assert!(ok_line.ends_with(" waap=-"), "{ok_line}");
}

#[test]
#[ignore = "needs Envoy, the wasm build and waapc: run `make test`"]
fn a_blocked_xss_increments_the_waf_and_rule_counters_and_the_revision_gauge_is_set() {
    let stack = start();
    let envoy = &stack.envoy;
    let prom = || envoy.admin_get("/stats/prometheus").unwrap().text();
    let value = |name: &str| prometheus_value(&prom(), name).unwrap_or(0.0);
    let ok = envoy
        .send(&build_request(
            "GET",
            "/search?q=shoes",
            &[("Host", "localhost")],
            b"",
        ))
        .unwrap();
    assert_eq!(ok.status, 200);
    // Counters are flushed to the admin endpoint asynchronously: wait for the allowed one.
    let deadline = Instant::now() + Duration::from_secs(10);
    while value("waap_requests_allowed") < 1.0 {
        assert!(
            Instant::now() < deadline,
            "waap_requests_allowed never appeared:\n{}",
            prom()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let before = |n: &str| value(n);
    let (waf0, rule0, denied0, allowed0) = (
        before("waap_waf_denied"),
        before("waap_rule_1001"),
        before("waap_requests_denied"),
        before("waap_requests_allowed"),
    );
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
    while value("waap_rule_1001") < rule0 + 1.0 || value("waap_waf_denied") < waf0 + 1.0 {
        assert!(
            Instant::now() < deadline,
            "waap_rule_1001 / waap_waf_denied did not grow:\n{}",
            prom()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = prom();
    assert_eq!(prometheus_value(&text, "waap_waf_denied"), Some(waf0 + 1.0));
    assert_eq!(prometheus_value(&text, "waap_rule_1001"), Some(rule0 + 1.0));
    assert_eq!(
        prometheus_value(&text, "waap_requests_denied"),
        Some(denied0 + 1.0)
    );
    assert_eq!(
        prometheus_value(&text, "waap_requests_allowed"),
        Some(allowed0),
        "a denied request is not counted as allowed"
    );
    // Only the deciding rule is counted: 1002 (SQL injection) did not match.
    assert_eq!(prometheus_value(&text, "waap_rule_1002"), None);
    let engine = waap_engine::Engine::load(stack.bundle.clone()).unwrap();
    let gauge = prometheus_value(&text, "waap_bundle_revision");
    assert_eq!(
        gauge,
        Some(engine.revision_id() as f64),
        "revision {}",
        engine.meta().revision
    );
}

#[test]
#[ignore = "needs Envoy, the wasm build and waapc: run `make test`"]
fn a_monitored_xss_passes_with_a_would_deny_record_in_the_access_log_and_counters() {
    // The basic policy in monitor mode, from a scratch copy.
    let dir = waap_e2e::envoy::TempDir::new("waap-audit-monitor").unwrap();
    let src = std::fs::read_to_string(
        waap_e2e::envoy::workspace_root().join("examples/basic/policy.yaml"),
    )
    .unwrap();
    let policy = dir.path().join("monitor.yaml");
    std::fs::write(&policy, src.replacen("mode: block", "mode: monitor", 1)).unwrap();
    let stack = envoy::start_with_policy(policy.to_str().unwrap()).unwrap();
    let envoy = &stack.envoy;
    let r = envoy
        .send(&build_request(
            "GET",
            "/search?q=%3Cscript%3Ealert(1)%3C/script%3E",
            &[("Host", "localhost")],
            b"",
        ))
        .unwrap();
    assert_eq!(r.status, 200, "monitor mode must let it through");
    let id = r.header("x-request-id").unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    let line = loop {
        let found = envoy
            .log_text()
            .lines()
            .find(|l| l.contains(&format!(" {id} waap=")))
            .map(str::to_string);
        if let Some(l) = found {
            break l;
        }
        assert!(Instant::now() < deadline, "{}", envoy.log_tail(30));
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(line.contains("\" 200 "), "{line}");
    let v = json::parse(line.split(" waap=").nth(1).unwrap().as_bytes()).unwrap();
    assert_eq!(
        v.get("action").and_then(|a| a.as_str()),
        Some("would_deny"),
        "{line}"
    );
    let prom = || envoy.admin_get("/stats/prometheus").unwrap().text();
    let deadline = Instant::now() + Duration::from_secs(10);
    while prometheus_value(&prom(), "waap_waf_monitored").unwrap_or(0.0) < 1.0 {
        assert!(Instant::now() < deadline, "{}", prom());
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = prom();
    assert_eq!(
        prometheus_value(&text, "waap_requests_monitored"),
        Some(1.0)
    );
    assert_eq!(prometheus_value(&text, "waap_rule_1001"), Some(1.0));
    assert_eq!(prometheus_value(&text, "waap_waf_denied"), None);
    assert_eq!(prometheus_value(&text, "waap_requests_denied"), None);
}
