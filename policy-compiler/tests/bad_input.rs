//! The real `waapc` binary on bad input: every policy error exits 1 and names `file:line`,
//! the reason and the rule; usage errors exit 2; `inspect` shows what a bundle holds.

// Test helpers outside #[test] functions may unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

const WAAPC: &str = env!("CARGO_BIN_EXE_waapc");

/// A scratch directory under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "waapc-bad-input-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn waapc(args: &[&str]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(WAAPC).args(args).output().unwrap();
    Run {
        code: status.code().unwrap(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Writes `policy` as `name`, runs `waapc compile` on it and returns the run and the path.
fn compile(name: &str, policy: &str) -> (Run, PathBuf, Scratch) {
    let dir = Scratch::new();
    let path = dir.write(name, policy);
    let out = dir.0.join("out.waapb");
    let run = waapc(&[
        "compile",
        path.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    (run, path, dir)
}

/// Asserts exit 1, no bundle written, and stderr holds `file:line` and every `needles`.
#[track_caller]
fn assert_policy_error(policy: &str, line: usize, needles: &[&str]) {
    let (run, path, dir) = compile("policy.yaml", policy);
    assert_eq!(run.code, 1, "exit code; stderr: {}", run.stderr);
    let at = format!("{}:{line}: ", path.display());
    assert!(
        run.stderr.contains(&at),
        "wanted {at:?} in stderr: {}",
        run.stderr
    );
    for n in needles {
        assert!(
            run.stderr.contains(n),
            "wanted {n:?} in stderr: {}",
            run.stderr
        );
    }
    assert!(
        !dir.0.join("out.waapb").exists(),
        "a bundle was written for a bad policy"
    );
    // `check` says the same with the same exit code.
    let check = waapc(&["check", path.to_str().unwrap()]);
    assert_eq!(
        (check.code, check.stderr.as_str()),
        (1, run.stderr.as_str())
    );
}

#[test]
fn unknown_key_in_a_rule_names_its_line_and_the_allowed_keys() {
    assert_policy_error(
        "version: 1
mode: block
rules:
  - id: 7
    msg: x
    targets: [query_args]
    match: { regex: 'a' }
    colour: red
",
        8,
        // serde reports the rule by index, not id: see the report on yaml.rs.
        &["rules[0]", "unknown field `colour`", "expected one of `id`"],
    );
}

#[test]
fn unknown_top_level_key_names_its_line() {
    assert_policy_error(
        "version: 1\nmode: block\nmodee: x\n",
        3,
        &["unknown field `modee`"],
    );
}

#[test]
fn unknown_key_in_match_names_its_line() {
    assert_policy_error(
        "version: 1
mode: block
rules:
  - id: 9
    msg: m
    targets: [query_args]
    match:
      regex: a
      icase: true
",
        9,
        &["rules[0].match", "unknown field `icase`"],
    );
}

#[test]
fn broken_regex_names_the_rule_line_the_id_and_the_reason() {
    assert_policy_error(
        "version: 1
mode: block
rules:
  - id: 1
    msg: fine
    targets: [query_args]
    match: { contains: x }
  - id: 42
    msg: broken
    targets: [query_args]
    match:
      regex: 'a(b'
",
        8,
        &["rule 42: invalid regex", "unclosed group"],
    );
}

#[test]
fn backtracking_only_regex_features_are_refused() {
    for (re, why) in [(r"(a)\1", "backreferences"), ("a(?=b)", "look-around")] {
        let policy = format!(
            "version: 1\nmode: block\nrules:\n  - id: 3\n    msg: m\n    targets: [query_args]\n    match: {{ regex: '{re}' }}\n"
        );
        assert_policy_error(&policy, 4, &["rule 3: invalid regex", why]);
    }
}

#[test]
fn duplicate_id_names_the_second_line_and_the_first() {
    assert_policy_error(
        "version: 1
mode: block
rules:
  - id: 5
    msg: one
    targets: [query_args]
    match: { contains: x }
  - id: 5
    msg: two
    targets: [query_args]
    match: { contains: y }
",
        8,
        &["rule 5: duplicate rule id 5 (first defined at line 4)"],
    );
}

#[test]
fn missing_mode_is_a_policy_error() {
    assert_policy_error("version: 1\nrules: []\n", 1, &["missing field `mode`"]);
}

#[test]
fn semantic_errors_name_the_rule() {
    let rule = |extra: &str, m: &str| {
        format!("version: 1\nmode: block\nrules:\n  - id: 11\n    msg: m\n    targets: [query_args]\n{extra}    match: {m}\n")
    };
    assert_policy_error(
        &rule("", "{ regex: a, contains: b }"),
        4,
        &["rule 11: `match` needs exactly one of", "(2 given)"],
    );
    assert_policy_error(
        &rule("", "{}"),
        4,
        &["rule 11: `match` needs exactly one of", "(0 given)"],
    );
    assert_policy_error(
        &rule("    transforms: [urlDecode]\n", "{ contains: x }"),
        4,
        &["rule 11: transform `urlDecode`: names are snake_case"],
    );
    assert_policy_error(
        &rule("    transforms: [rot13]\n", "{ contains: x }"),
        4,
        &["rule 11: unknown transform `rot13`"],
    );
    assert_policy_error(
        &rule("    status: 200\n", "{ contains: x }"),
        4,
        &["rule 11: status 200 is not a 4xx/5xx code"],
    );
    assert_policy_error(
        &rule("    severity: fatal\n", "{ contains: x }"),
        4,
        &["rule 11: unknown severity `fatal`"],
    );
    assert_policy_error(
        &rule("", "{ literals: [] }"),
        4,
        &["rule 11: `literals` is empty"],
    );
    assert_policy_error(
        &rule("", "{ contains: x }").replace("[query_args]", "[query_argz]"),
        4,
        &["rule 11: unknown target `query_argz`", "query_args"],
    );
    assert_policy_error(
        &rule("", "{ contains: x }").replace("[query_args]", "[\"path:x\"]"),
        4,
        &["rule 11: target `path` takes no `:key`"],
    );
    assert_policy_error(
        &rule("", "{ contains: x }").replace("[query_args]", "[]"),
        4,
        &["rule 11: `targets` is empty"],
    );
}

#[test]
fn wrong_version_and_bad_enum_values_name_their_line() {
    assert_policy_error(
        "version: 2\nmode: block\n",
        1,
        &["policy version 2 is not supported"],
    );
    assert_policy_error(
        "version: 1\nmode: blocking\n",
        2,
        &["unknown variant `blocking`", "`block` or `monitor`"],
    );
    assert_policy_error(
        "version: 1\nmode: block\non_error: maybe\n",
        3,
        &["unknown variant `maybe`"],
    );
}

#[test]
fn every_error_is_reported_not_only_the_first() {
    let (run, path, _dir) = compile(
        "two.yaml",
        "version: 1
mode: block
rules:
  - id: 1
    msg: a
    targets: [nope]
    match: { contains: x }
  - id: 2
    msg: b
    targets: [path]
    match: { regex: '(' }
",
    );
    assert_eq!(run.code, 1);
    let p = path.display();
    assert!(
        run.stderr
            .contains(&format!("{p}:4: rule 1: unknown target")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("{p}:8: rule 2: invalid regex")),
        "{}",
        run.stderr
    );
}

#[test]
fn usage_errors_exit_2_with_the_usage() {
    let dir = Scratch::new();
    let policy = dir.write("p.yaml", "version: 1\nmode: block\n");
    let p = policy.to_str().unwrap();
    for args in [
        vec![],
        vec!["frobnicate"],
        vec!["compile"],
        vec!["compile", p],
        vec!["compile", p, "-o"],
        vec!["compile", p, "--optimise", "-o", "x"],
        vec!["compile", p, p, "-o", "x"],
        vec!["check"],
        vec!["check", p, p],
        vec!["inspect"],
    ] {
        let run = waapc(&args);
        assert_eq!(run.code, 2, "waapc {args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("usage:"),
            "waapc {args:?}: {}",
            run.stderr
        );
    }
    let v = waapc(&["--version"]);
    assert_eq!(v.code, 0);
    assert!(v.stdout.starts_with("waapc "), "{}", v.stdout);
}

#[test]
fn missing_files_fail_with_the_file_named() {
    let dir = Scratch::new();
    let missing = dir.0.join("missing.yaml");
    let m = missing.to_str().unwrap();
    let out = dir.0.join("out.waapb");
    // main.rs documents 2 for I/O errors, but `compile` and `check` exit 1 for an unreadable
    // policy (compile_file reports it as a policy error) while `inspect` exits 2 for an
    // unreadable bundle; accept both until that is settled.
    for args in [
        vec!["compile", m, "-o", out.to_str().unwrap()],
        vec!["check", m],
    ] {
        let run = waapc(&args);
        assert!(
            matches!(run.code, 1 | 2),
            "waapc {args:?}: exit {}",
            run.code
        );
        assert!(
            run.stderr.contains(m) && run.stderr.contains("cannot read"),
            "{}",
            run.stderr
        );
    }
    let run = waapc(&["inspect", dir.0.join("missing.waapb").to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("missing.waapb") && run.stderr.contains("cannot read"),
        "{}",
        run.stderr
    );
    // An unwritable output is an I/O error.
    let policy = dir.write("p.yaml", "version: 1\nmode: block\n");
    let run = waapc(&[
        "compile",
        policy.to_str().unwrap(),
        "-o",
        dir.0.join("no/such/dir/x.waapb").to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("cannot write"), "{}", run.stderr);
}

fn example_policy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/basic/policy.yaml")
}

/// The value of an `inspect` line `key   value`.
fn field<'a>(report: &'a str, key: &str) -> Option<&'a str> {
    report.lines().find_map(|l| {
        l.strip_prefix(key)
            .filter(|r| r.starts_with(' '))
            .map(str::trim)
    })
}

#[test]
fn inspect_shows_format_revision_sections_rules_and_bytes_of_the_example() {
    let dir = Scratch::new();
    let out = dir.0.join("basic.waapb");
    let compiled = waapc(&[
        "compile",
        example_policy().to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(compiled.code, 0, "{}", compiled.stderr);
    let bytes = std::fs::read(&out).unwrap();
    let run = waapc(&["inspect", out.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = &run.stdout;
    assert_eq!(field(r, "format"), Some("1.0"), "{r}");
    let revision = field(r, "revision").unwrap();
    assert!(
        !revision.is_empty() && compiled.stdout.contains(&format!("revision {revision}")),
        "{r}\n{}",
        compiled.stdout
    );
    assert_eq!(
        field(r, "compiler").map(|c| c.starts_with("waapc ")),
        Some(true),
        "{r}"
    );
    assert_eq!(
        field(r, "bytes"),
        Some(bytes.len().to_string().as_str()),
        "{r}"
    );
    // Five rules in the policy plus 200002 (body.on_parse_error: block, the default).
    assert_eq!(field(r, "rules"), Some("6"), "{r}");
    assert_eq!(field(r, "mode"), Some("Block"), "{r}");
    assert_eq!(field(r, "sections"), Some("4"), "{r}");
    for kind in ["META", "PROGRAM", "DFA"] {
        assert!(
            r.lines()
                .any(|l| l.trim_start().starts_with('#') && l.contains(kind)),
            "no {kind} section line: {r}"
        );
    }
}

#[test]
fn inspect_refuses_a_bad_bundle_with_exit_1_and_the_reason() {
    let dir = Scratch::new();
    let good = dir.0.join("good.waapb");
    assert_eq!(
        waapc(&[
            "compile",
            example_policy().to_str().unwrap(),
            "-o",
            good.to_str().unwrap()
        ])
        .code,
        0
    );
    let bytes = std::fs::read(&good).unwrap();
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x10;
    let mut v2 = bytes.clone();
    v2[12..14].copy_from_slice(&2u16.to_le_bytes());
    for (name, data, reason) in [
        (
            "truncated.waapb",
            bytes[..bytes.len() / 2].to_vec(),
            "truncated",
        ),
        ("flipped.waapb", flipped, "checksum mismatch"),
        ("v2.waapb", v2, "format 2.0 is not supported"),
        (
            "text.waapb",
            b"version: 1\nmode: block\n# a policy, not a bundle\n".to_vec(),
            "bad magic",
        ),
    ] {
        let p = dir.0.join(name);
        std::fs::write(&p, data).unwrap();
        let run = waapc(&["inspect", p.to_str().unwrap()]);
        assert_eq!(run.code, 1, "{name}: {}", run.stderr);
        assert!(
            run.stderr.contains(name) && run.stderr.contains(reason),
            "{name}: {}",
            run.stderr
        );
    }
}
