//! `policy.schema.json` (the JSON Schema editors use for policy files) agrees with the YAML
//! frontend: the examples validate, unknown keys do not, and its target and transform names
//! are exactly the ones waapc accepts.

// Test helpers outside #[test] functions may unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use waap_policy_compiler::{compile_str, yaml::TARGETS};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn schema() -> Value {
    let text = std::fs::read_to_string(root().join("policy-compiler/policy.schema.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn validator() -> jsonschema::Validator {
    jsonschema::draft202012::new(&schema()).unwrap()
}

/// YAML text -> JSON value, the way an editor's YAML language server sees it.
fn yaml_to_json(src: &str) -> Value {
    let v: serde_yaml::Value = serde_yaml::from_str(src).unwrap();
    serde_json::to_value(v).unwrap()
}

/// Schema errors as text (empty when valid).
fn schema_errors(src: &str) -> Vec<String> {
    let v = validator();
    let instance = yaml_to_json(src);
    v.iter_errors(&instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

const MINIMAL: &str = "version: 1\nmode: block\n";

fn one_rule(extra: &str, matcher: &str) -> String {
    format!(
        "version: 1\nmode: block\nrules:\n  - id: 1\n    msg: m\n    targets: [query_args]\n{extra}    match: {matcher}\n"
    )
}

#[test]
fn schema_is_a_valid_draft_2020_12_schema() {
    let s = schema();
    assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
    jsonschema::meta::validate(&s).unwrap();
}

/// Schema errors of a policy-set file against `policy-set.schema.json`.
fn set_schema_errors(src: &str) -> Vec<String> {
    let text =
        std::fs::read_to_string(root().join("policy-compiler/policy-set.schema.json")).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    let v = jsonschema::draft202012::new(&schema).unwrap();
    let instance = yaml_to_json(src);
    v.iter_errors(&instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn example_policies_validate_against_the_schema() {
    let mut checked = 0;
    for entry in std::fs::read_dir(root().join("examples")).unwrap() {
        let policy = entry.unwrap().path().join("policy.yaml");
        if policy.is_file() {
            let src = std::fs::read_to_string(&policy).unwrap();
            // A policy set: the set file against its schema, each member against this one.
            if waap_policy_compiler::policy_set::is_policy_set(&src) {
                let errors = set_schema_errors(&src);
                assert!(errors.is_empty(), "{}: {errors:#?}", policy.display());
                let set = yaml_to_json(&src);
                for m in set["policies"].as_array().unwrap() {
                    let member = policy.with_file_name(m["policy"].as_str().unwrap());
                    let errors = schema_errors(&std::fs::read_to_string(&member).unwrap());
                    assert!(errors.is_empty(), "{}: {errors:#?}", member.display());
                    checked += 1;
                }
                assert!(!set_schema_errors("version: 1\npolicies: []\ndefault: a\n").is_empty());
                continue;
            }
            let errors = schema_errors(&src);
            assert!(errors.is_empty(), "{}: {errors:#?}", policy.display());
            checked += 1;
        }
    }
    assert!(checked >= 1, "no examples/*/policy.yaml found");
    assert!(schema_errors(MINIMAL).is_empty());
}

#[test]
fn schema_rejects_what_waapc_rejects() {
    let cases: Vec<(&str, String)> = vec![
        ("unknown top-level key", format!("{MINIMAL}colour: red\n")),
        ("unknown rule key", one_rule("    colour: red\n", "{ contains: x }")),
        ("unknown match key", one_rule("", "{ contains: x, icase: true }")),
        ("unknown body key", format!("{MINIMAL}body: {{ over: 1 }}\n")),
        ("unknown regex key", format!("{MINIMAL}regex: {{ size: 1 }}\n")),
        ("unknown waf key", format!("{MINIMAL}waf: {{ modsecurity: {{}} }}\n")),
        ("unknown crs key", format!("{MINIMAL}waf: {{ crs: {{ rules_dir: r, level: 1 }} }}\n")),
        ("crs without rules_dir", format!("{MINIMAL}waf: {{ crs: {{ paranoia_level: 1 }} }}\n")),
        ("crs paranoia level 5", format!("{MINIMAL}waf: {{ crs: {{ rules_dir: /nonexistent, paranoia_level: 5 }} }}\n")),
        ("missing mode", "version: 1\n".into()),
        ("missing version", "mode: block\n".into()),
        ("version 2", "version: 2\nmode: block\n".into()),
        ("bad mode", "version: 1\nmode: blocking\n".into()),
        ("bad on_error", format!("{MINIMAL}on_error: fail_maybe\n")),
        ("bad over_limit", format!("{MINIMAL}body: {{ over_limit: drop }}\n")),
        ("bad fallback", format!("{MINIMAL}regex: {{ fallback: backtrack }}\n")),
        ("two operators", one_rule("", "{ regex: a, contains: b }")),
        ("no operator", one_rule("", "{}")),
        ("unknown target", one_rule("", "{ contains: x }").replace("[query_args]", "[query_argz]")),
        ("key on an unkeyed target", one_rule("", "{ contains: x }").replace("[query_args]", "[\"path:x\"]")),
        ("empty key", one_rule("", "{ contains: x }").replace("[query_args]", "[\"headers:\"]")),
        ("empty targets", one_rule("", "{ contains: x }").replace("[query_args]", "[]")),
        ("camelCase transform", one_rule("    transforms: [urlDecode]\n", "{ contains: x }")),
        ("unknown transform", one_rule("    transforms: [rot13]\n", "{ contains: x }")),
        ("unknown severity", one_rule("    severity: fatal\n", "{ contains: x }")),
        ("unknown action", one_rule("    action: drop\n", "{ contains: x }")),
        ("status 200", one_rule("    status: 200\n", "{ contains: x }")),
        ("empty literals", one_rule("", "{ literals: [] }")),
        ("empty literal", one_rule("", "{ literals: [\"\"] }")),
        ("missing msg", "version: 1\nmode: block\nrules:\n  - id: 1\n    targets: [path]\n    match: { contains: x }\n".into()),
        ("negative id", one_rule("", "{ contains: x }").replace("id: 1", "id: -1")),
    ];
    for (what, src) in &cases {
        assert!(
            !schema_errors(src).is_empty(),
            "schema accepts {what}:\n{src}"
        );
        assert!(
            compile_str("t.yaml", src).is_err(),
            "waapc accepts {what}:\n{src}"
        );
    }
}

#[test]
fn schema_accepts_what_waapc_accepts() {
    let cases: Vec<String> = vec![
        MINIMAL.into(),
        format!(
            "{MINIMAL}revision: r1\non_error: fail_closed\nbody: {{ limit: 10, over_limit: inspect_prefix }}\nregex: {{ dfa_size_limit: 1000, fallback: error }}\nrules: []\n"
        ),
        "version: 1\nmode: monitor\n".into(),
        one_rule("    severity: notice\n    negate: true\n    action: log\n    status: 429\n", "{ regex: 'a+b' }"),
        one_rule("", "{ literals: [a, b] }"),
        one_rule("", "{ equals: x }"),
        one_rule("", "{ begins_with: x }"),
        one_rule("", "{ ends_with: x }"),
        one_rule("", "{ length_gt: 10 }"),
        one_rule("", "{ contains: x }").replace("[query_args]", "[\"headers:user-agent\", \"cookies:a:b\", body]"),
    ];
    for src in &cases {
        let errors = schema_errors(src);
        assert!(errors.is_empty(), "schema rejects:\n{src}\n{errors:#?}");
        if let Err(e) = compile_str("t.yaml", src) {
            panic!("waapc rejects:\n{src}\n{e}");
        }
    }
}

fn string_list(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn schema_target_names_are_the_frontends() {
    let s = schema();
    let mut in_schema = string_list(&s["$defs"]["target"]["anyOf"][0]["enum"]);
    let mut in_code: Vec<String> = TARGETS.iter().map(|(n, _)| n.to_string()).collect();
    in_schema.sort();
    in_code.sort();
    assert_eq!(
        in_schema, in_code,
        "update policy.schema.json $defs.target with yaml::TARGETS"
    );
}

#[test]
fn every_schema_transform_name_compiles() {
    let s = schema();
    let names = string_list(&s["$defs"]["transform"]["enum"]);
    assert!(names.len() >= 20);
    for name in names {
        let src = one_rule(&format!("    transforms: [{name}]\n"), "{ contains: x }");
        if let Err(e) = compile_str("t.yaml", &src) {
            panic!("transform {name} is in the schema but waapc rejects it: {e}");
        }
    }
}
