//! The engine skips a rule when none of its regex's required literals occurs in the values
//! it reads, so a literal set that misses a match would let an attack through. This test
//! checks every CRS regex's set against the CRS regression corpus: every string the regex
//! matches (the corpus lines, their decoded forms and their transformations) contains one
//! of the literals.
//!
//! Corpora as in `seclang_crs.rs`: `$CRS_DIR` (default `/work/shared/corpus/crs-v4`) and
//! Debian's CRS 3.3.4 (`$CRS3_LOAD`); when a variable is set and its path is missing the
//! test fails; when the default is missing it prints why and returns.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use regex_automata::meta::Regex;
use waap_engine::matcher::syntax_config;
use waap_engine::transform::Transform;
use waap_policy_compiler::prefilter::{admits, required_factors};
use waap_policy_compiler::seclang::{self, lower, LowerOptions};

mod common;
use common::{corpus, crs_v4, v4_files};

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "yaml") {
            out.push(p);
        }
    }
}

fn percent_decode(s: &[u8]) -> Vec<u8> {
    Transform::UrlDecodeUni.apply(s).into_owned()
}

/// Every line of every regression test, its pieces split at `&` and `=`, each URL-decoded,
/// and each through the transformations CRS applies.
fn strings(tests: &Path) -> BTreeSet<Vec<u8>> {
    let mut files = Vec::new();
    yaml_files(tests, &mut files);
    let mut base = BTreeSet::new();
    for f in files {
        let text = std::fs::read(&f).unwrap();
        for line in text.split(|&b| b == b'\n') {
            let line = line.trim_ascii();
            if line.is_empty() || line.len() > 4096 {
                continue;
            }
            // The YAML value after `key: `, unquoted.
            let value = match line.windows(2).position(|w| w == b": ") {
                Some(i) => line[i + 2..].trim_ascii(),
                None => line,
            };
            let value = value
                .strip_prefix(b"\"")
                .and_then(|v| v.strip_suffix(b"\""))
                .or_else(|| value.strip_prefix(b"'").and_then(|v| v.strip_suffix(b"'")))
                .unwrap_or(value);
            base.insert(line.to_vec());
            base.insert(value.to_vec());
            for piece in value.split(|&b| b == b'&' || b == b'=' || b == b'?') {
                base.insert(piece.to_vec());
            }
        }
    }
    let transforms = [
        Transform::Lowercase,
        Transform::HtmlEntityDecode,
        Transform::JsDecode,
        Transform::CssDecode,
        Transform::CmdLine,
        Transform::RemoveWhitespace,
        Transform::CompressWhitespace,
        Transform::RemoveNulls,
        Transform::ReplaceComments,
        Transform::RemoveCommentsChar,
        Transform::NormalizePath,
        Transform::NormalizePathWin,
        Transform::Base64Decode,
        Transform::Utf8ToUnicode,
    ];
    let mut all = BTreeSet::new();
    for s in base {
        let d = percent_decode(&s);
        let dd = percent_decode(&d);
        for v in [s, d, dd] {
            for t in &transforms {
                all.insert(t.apply(&v).into_owned());
            }
            all.insert(v);
        }
    }
    all
}

fn check(label: &str, regexes: &[waap_engine::program::RegexDef], corpus: &BTreeSet<Vec<u8>>) {
    let mut with_set = 0;
    let mut violations = Vec::new();
    for def in regexes {
        let set = required_factors(def);
        if set.is_empty() {
            continue;
        }
        with_set += 1;
        let re = Regex::builder()
            .syntax(syntax_config(def))
            .build(&def.pattern)
            .unwrap();
        for s in corpus {
            if !re.is_match(s.as_slice()) {
                continue;
            }
            if !admits(&set, s) {
                violations.push(format!(
                    "{:.80} matches {:?} but contains none of {:?}",
                    def.pattern,
                    String::from_utf8_lossy(s),
                    set.iter()
                        .map(|l| String::from_utf8_lossy(l).into_owned())
                        .collect::<Vec<_>>()
                ));
            }
        }
    }
    eprintln!(
        "{label}: {with_set} of {} regexes have a literal set; {} corpus strings",
        regexes.len(),
        corpus.len()
    );
    assert!(with_set > 0, "{label}: no regex got a literal set");
    assert!(violations.is_empty(), "{label}: {}", violations.join("\n"));
}

#[test]
fn crs_v4_literal_sets_never_miss_a_match_of_the_regression_corpus() {
    let Some(dir) = crs_v4() else {
        return;
    };
    let dirs = seclang::parse_files(&v4_files(&dir)).unwrap();
    let lowered = lower(&dirs, &LowerOptions::default()).unwrap();
    let strings = strings(&dir.join("tests"));
    check("CRS v4", &lowered.regexes, &strings);
    // The CRS 3.3.4 regexes against the same strings, when Debian's package is installed.
    if let Some(load) = corpus("CRS3_LOAD", "/usr/share/modsecurity-crs/owasp-crs.load") {
        if let Ok(dirs) = seclang::parse_files(&[load]) {
            if let Ok(l) = lower(&dirs, &LowerOptions::default()) {
                check("CRS 3.3.4", &l.regexes, &strings);
            }
        }
    }
}
