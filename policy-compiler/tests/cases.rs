//! The shared request -> verdict corpus (`tests/cases/*.yaml`), driven natively: each
//! policy is compiled by waapc, loaded by the engine, and every case evaluated.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use waap_engine::Engine;
use waap_policy_compiler::cases::{case_files, run_native, CaseFile};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn case_corpus_passes_natively() {
    let files = case_files(&root().join("tests/cases")).expect("tests/cases is readable");
    assert!(!files.is_empty(), "no case files in tests/cases");
    let mut failures = Vec::new();
    let (mut total, mut skipped) = (0, 0);
    for f in &files {
        let cf = CaseFile::read(f).unwrap_or_else(|e| panic!("{e}"));
        let compiled = waap_policy_compiler::compile_file(&root().join(&cf.policy))
            .unwrap_or_else(|e| panic!("{}: {e}", cf.policy));
        let engine = Engine::load(compiled.bundle).expect("bundle loads");
        for c in &cf.cases {
            total += 1;
            if let Some(why) = c.skip_reason(engine.meta()) {
                skipped += 1;
                eprintln!("skipped {}: {}: {why}", f.display(), c.name);
                continue;
            }
            if let Err(e) = run_native(&engine, c) {
                failures.push(format!("{}: {}: {e}", f.display(), c.name));
            }
        }
    }
    eprintln!(
        "{total} cases, {skipped} skipped, {} failed",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
