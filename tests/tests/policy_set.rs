//! Several policies in one bundle, one VM per worker (issue 7, acceptance 2): Envoy with two
//! named routes serves examples/multi, whose policy set blocks on the `admin` route (and
//! for host admin.example.com) and only monitors on the `public` route. A set with one
//! broken member is rejected as a whole and the previous set keeps serving.

// Test helpers outside #[test] functions may unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;
use waap_e2e::client::{build_request, HttpConnection, HttpResponse};
use waap_e2e::envoy::{self, PolicyStack};
use waap_e2e::render;

const XSS: &str = "q=%3Cscript%3Ealert(1)%3C/script%3E";
const STAT: &str = "extension_config_discovery.http_filter.waap";
const WORKERS: u32 = 2;

fn start() -> PolicyStack {
    envoy::start_stack("examples/multi/policy.yaml", None, |o| {
        o.routes = render::example_routes("multi");
        o.concurrency = WORKERS;
    })
    .unwrap()
}

fn get(conn: &mut HttpConnection, target: &str, host: &str) -> HttpResponse {
    conn.request(&build_request("GET", target, &[("Host", host)], b""))
        .unwrap()
}

/// Counts the filter's "bundle loaded" log lines (one per VM that loaded the bundle).
fn loads(stack: &PolicyStack) -> usize {
    stack
        .envoy
        .log_text()
        .lines()
        .filter(|l| l.contains("waap: bundle loaded"))
        .count()
}

#[test]
#[ignore = "needs Envoy, the wasm build and waapc: run `make test`"]
fn two_routes_with_different_policies_behave_differently_in_one_envoy() {
    let stack = start();
    let envoy = &stack.envoy;
    let long = format!("/admin/users?name={}", "a".repeat(80));
    // All on one keep-alive connection: the policy is picked per request.
    let mut conn = HttpConnection::connect(envoy.addr()).unwrap();
    let public = get(&mut conn, &format!("/search?{XSS}"), "localhost");
    assert_eq!(
        public.status,
        200,
        "public route monitors: {}",
        envoy.log_tail(20)
    );
    let admin = get(&mut conn, &format!("/admin/search?{XSS}"), "localhost");
    assert_eq!(admin.status, 403, "admin route blocks");
    assert!(admin.text().contains("1001"), "{}", admin.text());
    let admin_long = get(&mut conn, &long, "localhost");
    assert_eq!(admin_long.status, 403);
    assert!(admin_long.text().contains("2001"), "{}", admin_long.text());
    // The public policy has no rule 2001: the same argument passes on the public route.
    let public_long = get(
        &mut conn,
        &format!("/users?name={}", "a".repeat(80)),
        "localhost",
    );
    assert_eq!(public_long.status, 200);
    // The host selector: the public route, but host admin.example.com picks the admin policy.
    let by_host = get(
        &mut conn,
        &format!("/search?{XSS}"),
        "admin.example.com:10000",
    );
    assert_eq!(by_host.status, 403);
    assert!(by_host.text().contains("1001"));
    assert_eq!(get(&mut conn, "/admin/ok", "localhost").status, 200);

    // The public XSS was logged as a would-deny of rule 1001, not blocked.
    let log = envoy.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("would_deny") && l.contains("1001")),
        "no would_deny line for the public route"
    );
    // One VM per worker: every VM (main thread twice, then each worker) loaded the whole
    // set once; a VM per policy would double these lines.
    let set_loads: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("waap: bundle loaded"))
        .collect();
    assert!(set_loads
        .iter()
        .all(|l| l.contains("policy set") && l.contains("policies=2")));
    assert_eq!(
        set_loads.len(),
        WORKERS as usize + 2,
        "bundle loads: {set_loads:#?}"
    );
}

#[test]
#[ignore = "needs Envoy, the wasm build and waapc: run `make test`"]
fn a_set_with_one_broken_member_is_rejected_and_the_old_set_keeps_serving() {
    use waap_engine::policy_set::{MemberSpec, PolicySetSpec, POLICY_SET_VERSION};
    let mut stack = start();
    let mut conn = HttpConnection::connect(stack.envoy.addr()).unwrap();
    assert_eq!(
        get(&mut conn, &format!("/admin/x?{XSS}"), "localhost").status,
        403
    );
    let before = loads(&stack);
    // A well-formed set whose second member is a truncated bundle.
    let good = waap_policy_compiler::compile_file(
        &envoy::workspace_root().join("examples/multi/admin.yaml"),
    )
    .unwrap()
    .bundle;
    let mut broken = good.clone();
    broken.truncate(broken.len() / 2);
    let spec = PolicySetSpec {
        version: POLICY_SET_VERSION,
        members: vec![
            MemberSpec {
                name: "admin".into(),
                bundle: good,
            },
            MemberSpec {
                name: "public".into(),
                bundle: broken,
            },
        ],
        selectors: vec![],
        default: 1,
    };
    let meta = waap_bundle::Meta {
        compiler: "e2e".into(),
        compiler_version: "0".into(),
        revision: "broken-member".into(),
        extra: vec![],
    };
    let bad = waap_policy_compiler::policy_set::write_set(&spec, &meta).unwrap();
    stack.envoy.swap_bundle(&bad).unwrap();
    stack
        .envoy
        .wait_for_stat(
            &format!("{STAT}.update_rejected"),
            1,
            Duration::from_secs(10),
        )
        .unwrap();
    let log = stack.envoy.log_text();
    assert!(
        log.contains("policy set member public"),
        "{}",
        stack.envoy.log_tail(20)
    );
    // The previous set still serves, on the open connection too.
    assert_eq!(
        get(&mut conn, &format!("/admin/x?{XSS}"), "localhost").status,
        403
    );
    assert_eq!(
        get(&mut conn, &format!("/x?{XSS}"), "localhost").status,
        200
    );
    assert_eq!(loads(&stack), before);
}
