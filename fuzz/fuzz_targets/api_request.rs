//! API protection on the engine compiled from examples/api/policy.yaml: the OpenAPI route
//! matcher, JWT decoding and verification, parameter and JSON-body schema validation, then
//! the response stage (schema pruning, sensitive-data scan and masking) on the same bytes.
//!
//! Input, as text so seeds stay readable: line 1 the method, line 2 the request target,
//! line 3 a bearer token (may be empty), then the body (also used as the response body).
#![no_main]

use libfuzzer_sys::fuzz_target;
use waap_engine::host::NativeHost;
use waap_engine::{Engine, RequestHead};

thread_local! {
    // The engine is not Sync (per-VM caches); libFuzzer runs the target on one thread.
    static ENGINE: Engine = {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/api/policy.yaml");
        let compiled = match waap_policy_compiler::compile_file(std::path::Path::new(path)) {
            Ok(c) => c,
            Err(e) => panic!("examples/api/policy.yaml must compile: {e:?}"),
        };
        match Engine::load(compiled.bundle) {
            Ok(e) => e,
            Err(e) => panic!("the compiled bundle must load: {e}"),
        }
    };
}

fn split_line(b: &[u8]) -> (&[u8], &[u8]) {
    match b.iter().position(|&c| c == b'\n') {
        Some(i) => (&b[..i], &b[i + 1..]),
        None => (b, &[]),
    }
}

fuzz_target!(|data: &[u8]| {
    let (method, rest) = split_line(data);
    let (uri, rest) = split_line(rest);
    let (token, body) = split_line(rest);
    let mut headers = vec![
        ("host".to_string(), b"bank.example".to_vec()),
        ("content-type".to_string(), b"application/json".to_vec()),
        ("content-length".to_string(), body.len().to_string().into_bytes()),
    ];
    if !token.is_empty() {
        let mut v = b"Bearer ".to_vec();
        v.extend_from_slice(token);
        headers.push(("authorization".to_string(), v));
    }
    let head = RequestHead {
        method: String::from_utf8_lossy(method).into_owned(),
        uri: uri.to_vec(),
        protocol: "HTTP/1.1".into(),
        headers,
        remote_addr: "192.0.2.1".into(),
        request_id: "fuzz".into(),
        peer_cert_sha256: None,
    };
    ENGINE.with(|engine| {
        let host = NativeHost::default();
        let mut tx = engine.transaction(head);
        let stopped = tx.run_request(body, &host).is_stop();
        if !stopped {
            let resp = vec![("content-type".to_string(), b"application/json".to_vec())];
            if !tx.on_response_headers(200, resp, &host).is_stop() && tx.wants_response_body() {
                let _ = tx.on_response_body_with(body.to_vec(), false, &host);
                if let Some(new) = tx.take_response_rewrite() {
                    // Masking keeps the length; pruning only removes.
                    assert!(new.len() <= body.len() + 16, "rewrite grew the body");
                }
            }
        }
        tx.on_log(&host);
    });
});
