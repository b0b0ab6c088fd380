//! The shared request -> verdict corpus (`tests/cases/*.yaml`), driven natively: each
//! policy is compiled by waapc, loaded by the engine, and every case evaluated.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use waap_engine::host::NativeHost;
use waap_engine::{Engine, RequestHead, Verdict};

#[derive(Deserialize)]
struct CaseFile {
    policy: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    request: Req,
    expect: Expect,
}

#[derive(Deserialize)]
struct Req {
    method: String,
    path: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: Option<String>,
}

#[derive(Deserialize)]
struct Expect {
    status: u16,
    #[serde(default)]
    rule_ids: Option<Vec<u32>>,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs one request through all phases the way the filter does; returns (status, ids).
fn evaluate(engine: &Engine, req: &Req) -> (u16, Vec<u32>) {
    let host = NativeHost::default();
    let mut headers: Vec<(String, Vec<u8>)> = vec![("host".into(), b"localhost".to_vec())];
    headers.extend(req.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.as_bytes().to_vec())));
    let head = RequestHead {
        method: req.method.clone(),
        uri: req.path.as_bytes().to_vec(),
        protocol: "HTTP/1.1".into(),
        headers,
        remote_addr: "127.0.0.1".into(),
        request_id: "native-test".into(),
    };
    let mut tx = engine.transaction(head);
    let verdict = match tx.on_request_headers(&host) {
        Verdict::Allow => {
            let body = req.body.clone().unwrap_or_default().into_bytes();
            let limit = tx.request_body_limit();
            let truncated = body.len() > limit;
            let body = if truncated { body[..limit].to_vec() } else { body };
            tx.on_request_body(if tx.wants_request_body() { body } else { Vec::new() }, truncated, &host)
        }
        v => v,
    };
    match verdict {
        Verdict::Allow => (200, vec![]),
        Verdict::Deny { status, rule_ids } => (status, rule_ids),
    }
}

#[test]
fn case_corpus_passes_natively() {
    let dir = root().join("tests/cases");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/cases exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no case files in {}", dir.display());
    let mut failures = Vec::new();
    let mut total = 0;
    for f in &files {
        let cf: CaseFile = serde_yaml::from_str(&std::fs::read_to_string(f).expect("read case file"))
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let compiled = waap_policy_compiler::compile_file(&root().join(&cf.policy))
            .unwrap_or_else(|e| panic!("{}: {e}", cf.policy));
        let engine = Engine::load(compiled.bundle).expect("bundle loads");
        for c in &cf.cases {
            total += 1;
            let (status, ids) = evaluate(&engine, &c.request);
            let ids_ok = c.expect.rule_ids.as_ref().is_none_or(|want| want.iter().all(|w| ids.contains(w)));
            if status != c.expect.status || !ids_ok {
                failures.push(format!(
                    "{}: {}: got {status} {ids:?}, want {} {:?}",
                    f.display(),
                    c.name,
                    c.expect.status,
                    c.expect.rule_ids
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {total} cases failed:\n{}", failures.len(), failures.join("\n"));
}
