//! A valid bundle (compiled once from a tiny policy) with bytes mutated by the fuzz input.
//! Most random flips only break the CRC, so by default the target repairs the total length
//! and the checksum after mutating: that gets the mutations past the container checks into
//! the section table, META, the postcard PROGRAM and the serialized DFAs. `Engine::load`
//! must never panic; when it accepts the bundle, a small transaction must not panic either.
//!
//! Input layout: byte 0 = flags (bit 0: leave length/CRC alone, bit 1: truncate or extend
//! to the length in bytes 1-2), then 3-byte edits `offset u16 LE, xor byte`; offsets wrap.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use waap_engine::host::NativeHost;
use waap_engine::RequestHead;

const POLICY: &str = r#"version: 1
mode: block
rules:
  - id: 1
    msg: "script"
    targets: [query_args, body_args, "headers:user-agent"]
    transforms: [url_decode, lowercase]
    match:
      regex: '<script|on(error|load)='
  - id: 2
    msg: "traversal"
    targets: [path]
    match:
      literals: ["../", "/etc/passwd"]
"#;

fn base() -> &'static [u8] {
    static BASE: OnceLock<Vec<u8>> = OnceLock::new();
    BASE.get_or_init(
        || match waap_policy_compiler::compile_str("fuzz.yaml", POLICY) {
            Ok(c) => c.bundle,
            Err(e) => panic!("the seed policy must compile: {e:?}"),
        },
    )
}

fn fix_header(b: &mut [u8]) {
    if b.len() < 40 {
        return;
    }
    let len = (b.len() as u64).to_le_bytes();
    b[24..32].copy_from_slice(&len);
    let mut h = crc32fast::Hasher::new();
    h.update(&b[..32]);
    h.update(&[0; 4]);
    h.update(&b[36..]);
    let crc = h.finalize().to_le_bytes();
    b[32..36].copy_from_slice(&crc);
}

fuzz_target!(|data: &[u8]| {
    let mut b = base().to_vec();
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    if flags & 2 != 0 && rest.len() >= 2 {
        let n = u16::from_le_bytes([rest[0], rest[1]]) as usize;
        b.resize(n.min(b.len() + 256), 0);
        rest = &rest[2..];
    }
    if !b.is_empty() {
        for e in rest.chunks_exact(3) {
            let at = u16::from_le_bytes([e[0], e[1]]) as usize % b.len();
            b[at] ^= e[2];
        }
    }
    if flags & 1 == 0 {
        fix_header(&mut b);
    }
    let _ = waap_bundle::Bundle::parse(&b);
    if let Ok(engine) = waap_engine::Engine::load(b) {
        let host = NativeHost::default();
        let head = RequestHead {
            method: "POST".into(),
            uri: b"/a/../b?q=%3Cscript%3E&x=1".to_vec(),
            protocol: "HTTP/1.1".into(),
            headers: vec![
                ("user-agent".into(), b"fuzz".to_vec()),
                (
                    "content-type".into(),
                    b"application/x-www-form-urlencoded".to_vec(),
                ),
            ],
            remote_addr: "127.0.0.1".into(),
            request_id: "fuzz".into(),
            peer_cert_sha256: None,
        };
        let mut tx = engine.transaction(head);
        let _ = tx.on_request_headers(&host);
        let _ = tx.on_request_body(b"a=onload=1&b=2".to_vec(), false, &host);
        let _ = tx.on_response_headers(
            200,
            vec![("content-type".into(), b"text/html".to_vec())],
            &host,
        );
        let _ = tx.on_response_body(b"<html></html>".to_vec(), &host);
        tx.on_log(&host);
    }
});
