//! Live policy swaps through the ECDS file: a good bundle replaces the old one on the next
//! request; a bundle the filter rejects (its `on_configure` returns false) leaves the old one
//! serving.

use std::time::Duration;
use waap_e2e::client::{build_request, HttpConnection};
use waap_e2e::echo::EchoServer;
use waap_e2e::envoy::{
    self, compile_policy, workspace_root, Envoy, EnvoyOptions, TempDir, WasmFilter,
};

const XSS: &str = "/search?q=%3Cscript%3Ealert(1)%3C/script%3E";
const STAT: &str = "extension_config_discovery.http_filter.waap";

#[test]
#[ignore = "needs Envoy, the wasm build and waapc: run `make test`"]
fn bundle_swaps_apply_on_the_next_request_and_bad_bundles_are_rejected() {
    let scratch = TempDir::new("waap-reload").unwrap();
    let policy = workspace_root().join("examples/basic/policy.yaml");
    let bundle = compile_policy(&policy, &scratch.path().join("basic.waapb")).unwrap();
    let echo = EchoServer::start("127.0.0.1:0").unwrap();
    let filter = WasmFilter {
        wasm: envoy::wasm_path().unwrap(),
        bundle: bundle.clone(),
    };
    let mut envoy = Envoy::start(&EnvoyOptions::new(echo.port(), Some(filter))).unwrap();
    let xss = build_request("GET", XSS, &[("Host", "localhost")], b"");
    let benign = build_request("GET", "/search?q=shoes", &[("Host", "localhost")], b"");

    let mut conn = HttpConnection::connect(envoy.addr()).unwrap();
    assert_eq!(
        conn.request(&xss).unwrap().status,
        403,
        "{}",
        envoy.log_tail(20)
    );
    assert_eq!(conn.request(&benign).unwrap().status, 200);

    // Garbage is rejected by the filter; the old bundle keeps serving, on the open connection too.
    envoy.swap_bundle(b"this is not a waap bundle").unwrap();
    envoy
        .wait_for_stat(
            &format!("{STAT}.update_rejected"),
            1,
            Duration::from_secs(10),
        )
        .unwrap();
    assert_eq!(conn.request(&xss).unwrap().status, 403);
    assert_eq!(conn.request(&benign).unwrap().status, 200);

    // A valid bundle is accepted.
    let before = envoy
        .stat(&format!("{STAT}.update_success"))
        .unwrap()
        .unwrap_or(0);
    envoy.swap_bundle(&bundle).unwrap();
    envoy
        .wait_for_stat(
            &format!("{STAT}.update_success"),
            before + 1,
            Duration::from_secs(10),
        )
        .unwrap();
    assert_eq!(conn.request(&xss).unwrap().status, 403);
    assert_eq!(envoy.send(&benign).unwrap().status, 200);
}
