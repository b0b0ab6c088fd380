//! Golden bundles (`tests/golden/`, see its README): today's engine still loads every bundle
//! an earlier waapc wrote and gives the same verdicts.

// Test helpers outside #[test] functions may unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use waap_bundle::{Bundle, SectionKind};
use waap_engine::host::NativeHost;
use waap_engine::{Engine, RequestHead, Verdict};

fn golden(name: &str) -> Vec<u8> {
    let p: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/golden")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn get(path: &str) -> RequestHead {
    RequestHead {
        method: "GET".into(),
        uri: path.as_bytes().to_vec(),
        protocol: "HTTP/1.1".into(),
        headers: vec![("host".into(), b"localhost".to_vec())],
        remote_addr: "127.0.0.1".into(),
        request_id: "golden".into(),
        peer_cert_sha256: None,
    }
}

/// Runs the request phases the way the filter does for a request without a body.
fn verdict(engine: &Engine, head: RequestHead) -> Verdict {
    let host = NativeHost::default();
    let mut tx = engine.transaction(head);
    match tx.on_request_headers(&host) {
        Verdict::Allow => tx.on_request_body(Vec::new(), false, &host),
        deny => deny,
    }
}

#[test]
fn golden_basic_v1_bundle_has_the_recorded_header() {
    let bytes = golden("basic-v1.waapb");
    assert_eq!(bytes.len(), 25_368);
    let b = Bundle::parse(&bytes).unwrap();
    assert_eq!(b.minor, 0);
    assert_eq!(b.meta.compiler, "waapc");
    assert_eq!(b.meta.compiler_version, "0.1.0");
    assert_eq!(b.meta.revision, "3ec156470c673ee6");
    let kinds: Vec<SectionKind> = b.sections.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            SectionKind::Meta,
            SectionKind::Program,
            SectionKind::Dfa,
            SectionKind::Dfa
        ]
    );
}

#[test]
fn golden_basic_v1_bundle_loads_and_blocks_xss() {
    let engine = Engine::load(golden("basic-v1.waapb")).unwrap();
    assert_eq!(
        verdict(&engine, get("/search?q=%3Cscript%3Ealert(1)%3C/script%3E")),
        Verdict::Deny {
            status: 403,
            rule_ids: vec![1001]
        }
    );
    assert_eq!(
        verdict(&engine, get("/items?id=1%20UNION%20SELECT%20x")),
        Verdict::Deny {
            status: 403,
            rule_ids: vec![1002]
        }
    );
    assert_eq!(verdict(&engine, get("/search?q=shoes")), Verdict::Allow);
}
