//! The harness itself against a real Envoy without the waap filter: start, route to the echo
//! upstream, request ids, raw bytes, stop by PID.

use std::path::Path;
use waap_e2e::client::{build_request, HttpConnection};
use waap_e2e::echo::EchoServer;
use waap_e2e::envoy::{Envoy, EnvoyOptions};

#[test]
#[ignore = "needs Envoy, the wasm build and waapc: run `make test`"]
fn envoy_without_the_filter_routes_to_the_echo_upstream() {
    let echo = EchoServer::start("127.0.0.1:0").unwrap();
    let envoy = Envoy::start(&EnvoyOptions::new(echo.port(), None)).unwrap();

    let r = envoy
        .send(&build_request(
            "GET",
            "/hello?x=1",
            &[("Connection", "close")],
            b"",
        ))
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json().unwrap();
    assert_eq!(j.get("path").and_then(|v| v.as_str()), Some("/hello?x=1"));
    // Envoy generated a request id, passed it upstream and returned it.
    let upstream_id = j
        .get("headers")
        .and_then(|h| h.get("x-request-id"))
        .and_then(|v| v.as_str())
        .unwrap();
    assert_eq!(r.header("x-request-id"), Some(upstream_id));

    // Keep-alive and a chunked body through Envoy.
    let mut c = HttpConnection::connect(envoy.addr()).unwrap();
    let chunked =
        b"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    let r = c.request(chunked).unwrap();
    assert_eq!(
        r.json().unwrap().get("body").and_then(|v| v.as_str()),
        Some("abc")
    );
    let r = c
        .request(&build_request("GET", "/again", &[], b""))
        .unwrap();
    assert_eq!(r.status, 200);

    // albedo-style reflection through Envoy.
    let spec = br#"{"status": 404, "headers": {"x-from": "reflect"}, "body": "nope"}"#;
    let r = envoy
        .send(&build_request("POST", "/reflect", &[], spec))
        .unwrap();
    assert_eq!(
        (r.status, r.header("x-from"), r.text().as_str()),
        (404, Some("reflect"), "nope")
    );

    assert!(
        envoy
            .stat("http.ingress_http.downstream_rq_completed")
            .unwrap()
            .unwrap_or(0)
            >= 3
    );
    let pid = envoy.pid();
    drop(envoy);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "envoy {pid} still running after drop"
    );
}
