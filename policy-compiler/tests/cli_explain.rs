//! `waapc explain` and `waapc test` on the basic example, through the real binary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn bundle(dir: &Path) -> PathBuf {
    let out = dir.join("basic.waapb");
    let st = Command::new(env!("CARGO_BIN_EXE_waapc"))
        .args([
            "compile",
            root().join("examples/basic/policy.yaml").to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    out
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("waapc-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn explain_names_the_matching_rule_and_the_transformed_value() {
    let d = tmp("explain");
    let b = bundle(&d);
    let req = d.join("xss.http");
    // Entity-encoded: the value shown is the one after url_decode + html_entity_decode.
    std::fs::write(
        &req,
        "GET /p?x=%26lt%3Bscript%26gt%3B HTTP/1.1\r\nHost: a\r\n\r\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_waapc"))
        .args([
            "explain",
            b.to_str().unwrap(),
            "--request",
            req.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("verdict: deny 403 (rules 1001)"), "{text}");
    assert!(text.contains("value: <script>"), "{text}");
    // A YAML request works too.
    let yreq = d.join("req.yaml");
    std::fs::write(&yreq, "method: GET\npath: /search?q=shoes\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_waapc"))
        .args([
            "explain",
            b.to_str().unwrap(),
            "--request",
            yreq.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("verdict: allow"));
}

#[test]
fn test_runs_the_case_corpus_and_prints_the_summary_line() {
    let d = tmp("test");
    let b = bundle(&d);
    let out = Command::new(env!("CARGO_BIN_EXE_waapc"))
        .args([
            "test",
            b.to_str().unwrap(),
            root().join("tests/cases/basic.yaml").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let last = text.lines().last().unwrap_or_default();
    assert!(last.ends_with("passed, 0 failed, 0 skipped"), "{text}");
}
