//! The FAMILIES section: written only when configured, read back by the engine.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use waap_engine::host::NativeHost;
use waap_engine::{Engine, RequestHead};

fn engine(src: &str) -> Engine {
    let c = waap_policy_compiler::compile_str("p.yaml", src).unwrap_or_else(|e| panic!("{e}"));
    Engine::load(c.bundle).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn client_ip_config_reaches_the_engine() {
    let e = engine("version: 1\nmode: block\nclient_ip:\n  xff_trusted_hops: 1\n");
    assert_eq!(e.families().client.xff_trusted_hops, 1);
    let head = RequestHead {
        method: "GET".into(),
        uri: b"/".to_vec(),
        remote_addr: "127.0.0.1".into(),
        headers: vec![("x-forwarded-for".into(), b"203.0.113.9".to_vec())],
        ..RequestHead::default()
    };
    let tx = e.transaction(head);
    assert_eq!(tx.client_ip(), "203.0.113.9".parse().ok());
    let _ = NativeHost::default();
}

#[test]
fn no_families_section_without_configuration() {
    let c = waap_policy_compiler::compile_str("p.yaml", "version: 1\nmode: block\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let b = waap_bundle::Bundle::parse(&c.bundle).unwrap_or_else(|e| panic!("{e}"));
    assert!(b.families().is_none());
}

#[test]
fn custom_rules_cannot_use_reserved_family_ids() {
    let src = "version: 1\nmode: block\nrules:\n  - id: 310001\n    msg: m\n    targets: [query_args]\n    match:\n      regex: x\n";
    let err = waap_policy_compiler::compile_str("p.yaml", src)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("reserved for the ratelimit family"), "{err}");
}
