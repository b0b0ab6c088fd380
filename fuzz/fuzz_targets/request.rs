//! A whole transaction on the engine compiled from examples/basic/policy.yaml.
//!
//! Input, as text so seeds stay readable: line 1 the method, line 2 the request target
//! (path and query), then `name: value` header lines up to an empty line, then the body.
//! The transaction runs every phase the filter runs: request headers, request body (cut at
//! the policy's limit, flagged truncated), response headers and body, log; a denial skips
//! to the log phase as in the filter.
#![no_main]

use libfuzzer_sys::fuzz_target;
use waap_engine::host::NativeHost;
use waap_engine::{Engine, RequestHead};

const POLICY: &str = include_str!("../../examples/basic/policy.yaml");

thread_local! {
    // The engine is not Sync (per-VM lazy caches); libFuzzer runs the target on one thread.
    static ENGINE: Engine = {
        let compiled = match waap_policy_compiler::compile_str("examples/basic/policy.yaml", POLICY) {
            Ok(c) => c,
            Err(e) => panic!("examples/basic/policy.yaml must compile: {e:?}"),
        };
        match Engine::load(compiled.bundle) {
            Ok(e) => e,
            Err(e) => panic!("the compiled bundle must load: {e}"),
        }
    };
}

fn split_line(b: &[u8]) -> (&[u8], &[u8]) {
    match b.iter().position(|&c| c == b'\n') {
        Some(i) => (b[..i].strip_suffix(b"\r").unwrap_or(&b[..i]), &b[i + 1..]),
        None => (b, &[]),
    }
}

fn parse(data: &[u8]) -> (RequestHead, Vec<u8>) {
    let (method, rest) = split_line(data);
    let (uri, mut rest) = split_line(rest);
    let mut headers = Vec::new();
    while !rest.is_empty() {
        let (line, r) = split_line(rest);
        rest = r;
        if line.is_empty() {
            break;
        }
        let (name, value) = match line.iter().position(|&c| c == b':') {
            Some(i) => (&line[..i], line[i + 1..].trim_ascii_start()),
            None => (line, &[][..]),
        };
        headers.push((String::from_utf8_lossy(name).into_owned(), value.to_vec()));
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
    (head, rest.to_vec())
}

fuzz_target!(|data: &[u8]| {
    let (head, mut body) = parse(data);
    ENGINE.with(|engine| {
        let host = NativeHost::default();
        let mut tx = engine.transaction(head);
        let mut denied = tx.on_request_headers(&host).is_stop();
        if !denied {
            // As the filter: phase 2 always runs, with an empty body when none is wanted.
            let truncated = if tx.wants_request_body() {
                let limit = tx.request_body_limit();
                let t = body.len() > limit;
                body.truncate(limit);
                t
            } else {
                body.clear();
                false
            };
            denied = tx.on_request_body(body, truncated, &host).is_stop();
        }
        if !denied {
            let resp_headers = vec![(
                "content-type".to_string(),
                b"text/html; charset=utf-8".to_vec(),
            )];
            denied = tx.on_response_headers(200, resp_headers, &host).is_stop();
        }
        if !denied && tx.wants_response_body() {
            let _ = tx.on_response_body(b"<html><body>ok</body></html>".to_vec(), &host);
        }
        tx.on_log(&host);
        let _ = tx.deny_body(403, &[1001]);
    });
});
