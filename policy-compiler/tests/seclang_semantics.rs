//! SecLang semantics that CRS depends on, checked end to end: waapc compiles a small rule
//! set through `waf.crs`, the engine evaluates requests natively.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use waap_engine::host::NativeHost;
use waap_engine::{Engine, RequestHead, Verdict};

fn engine_for(rules: &str) -> Engine {
    engine_with(rules, "")
}

/// Compiles `rules` as the CRS rules of a blocking policy; `crs_extra` adds `waf.crs` keys
/// (lines indented by four spaces).
fn engine_with(rules: &str, crs_extra: &str) -> Engine {
    let dir = std::env::temp_dir().join(format!(
        "waap-seclang-{}-{}",
        std::process::id(),
        waap_policy_compiler::fnv1a64(format!("{rules}{crs_extra}").as_bytes())
    ));
    let rules_dir = dir.join("rules");
    std::fs::create_dir_all(&rules_dir).unwrap();
    std::fs::write(rules_dir.join("rules.conf"), rules).unwrap();
    let policy: PathBuf = dir.join("policy.yaml");
    std::fs::write(
        &policy,
        format!("version: 1\nmode: block\nwaf:\n  crs:\n    rules_dir: rules\n{crs_extra}"),
    )
    .unwrap();
    let c = waap_policy_compiler::compile_file(&policy).unwrap_or_else(|e| panic!("{e}"));
    Engine::load(c.bundle).unwrap()
}

fn get(engine: &Engine, uri: &str, headers: &[(&str, &str)]) -> (Verdict, Vec<u32>) {
    let host = NativeHost::default();
    let head = RequestHead {
        method: "GET".into(),
        uri: uri.as_bytes().to_vec(),
        protocol: "HTTP/1.1".into(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect(),
        remote_addr: "127.0.0.1".into(),
        request_id: "t".into(),
        peer_cert_sha256: None,
    };
    let mut tx = engine.transaction(head);
    let v = tx.run_request(b"", &host);
    (v, tx.matches().iter().map(|m| m.rule_id).collect())
}

#[test]
fn chain_head_setvar_and_captures_are_visible_to_the_next_link() {
    // Like CRS 920420: the head captures and sets a TX variable the chained link reads.
    let e = engine_for(
        r#"
SecRule REQUEST_HEADERS:Content-Type "@rx ^([a-z]+)/([a-z]+)" "id:10,phase:1,deny,status:403,capture,log,setvar:'tx.ct=|%{tx.1}|',chain"
    SecRule TX:ct "!@within |text|application|" "t:none"
"#,
    );
    let (v, ids) = get(&e, "/", &[("content-type", "evil/stuff")]);
    assert_eq!(
        v,
        Verdict::Deny {
            status: 403,
            rule_ids: vec![10]
        },
        "{ids:?}"
    );
    let (v, _) = get(&e, "/", &[("content-type", "text/plain")]);
    assert_eq!(v, Verdict::Allow);
}

#[test]
fn a_tx_prefix_selector_is_multi_line_as_in_modsecurity() {
    // A selector regex is multi-line (ModSecurity v3 compiles them so): `^n_evil` also
    // matches after a line feed inside a TX name. Names without one take the sorted range
    // of names with the prefix; a name with one must still be found.
    let e = engine_for(
        r#"
SecRule ARGS_NAMES "@rx ^.*$" "id:1,phase:1,pass,nolog,capture,t:none,setvar:'tx.n_%{tx.0}=1'"
SecRule TX:/^n_evil/ "@eq 1" "id:2,phase:1,deny,status:403,log"
"#,
    );
    let deny = Verdict::Deny {
        status: 403,
        rule_ids: vec![2],
    };
    assert_eq!(get(&e, "/?evil=1", &[]).0, deny);
    assert_eq!(get(&e, "/?x%0An_evil=1", &[]).0, deny);
    assert_eq!(get(&e, "/?x%0An_good=1&a_evil=1", &[]).0, Verdict::Allow);
    assert_eq!(get(&e, "/?good=1", &[]).0, Verdict::Allow);
}

#[test]
fn skip_after_skips_to_the_marker_and_count_selectors_work() {
    let e = engine_for(
        r#"
SecRule &ARGS:skip "@eq 1" "id:1,phase:1,pass,nolog,skipAfter:END"
SecRule ARGS:q "@contains bad" "id:2,phase:1,deny,log"
SecMarker END
SecRule ARGS "@streq worse" "id:3,phase:1,deny,log"
"#,
    );
    assert!(matches!(get(&e, "/?q=bad", &[]).0, Verdict::Deny { .. }));
    assert_eq!(get(&e, "/?q=bad&skip=1", &[]).0, Verdict::Allow);
    assert!(
        matches!(get(&e, "/?skip=1&x=worse", &[]).0, Verdict::Deny { rule_ids, .. } if rule_ids[0] == 3)
    );
}

#[test]
fn anomaly_scoring_blocks_at_threshold_only() {
    let e = engine_for(
        r#"
SecAction "id:900,phase:1,pass,nolog,setvar:tx.score=0"
SecRule ARGS "@rx attack" "id:100,phase:2,pass,log,setvar:'tx.score=+3'"
SecRule ARGS_NAMES "@rx attack" "id:101,phase:2,pass,log,setvar:'tx.score=+3'"
SecRule TX:score "@ge 5" "id:199,phase:2,deny,status:403,log"
"#,
    );
    assert_eq!(get(&e, "/?a=attack", &[]).0, Verdict::Allow);
    // setvar runs once per matching value (ModSecurity v3): two arguments, +6.
    assert!(matches!(
        get(&e, "/?a=attack&b=attack", &[]).0,
        Verdict::Deny { .. }
    ));
    let (v, ids) = get(&e, "/?attack=attack", &[]);
    assert_eq!(
        v,
        Verdict::Deny {
            status: 403,
            rule_ids: vec![199, 100, 101]
        },
        "{ids:?}"
    );
}

#[test]
fn ctl_remove_target_by_tag_removes_a_scalar_target() {
    // Like CRS 941010: plain paths take REQUEST_FILENAME out of the tagged rules.
    let e = engine_for(
        r#"
SecRule REQUEST_FILENAME "!@validateByteRange 45-47,48-57,65-90,95,97-122" "id:1,phase:1,pass,nolog,ctl:ruleRemoveTargetByTag=perf;REQUEST_FILENAME"
SecRule REQUEST_FILENAME|ARGS "@contains document.cookie" "id:2,phase:2,deny,log,tag:'perf'"
"#,
    );
    assert_eq!(get(&e, "/docs/document.cookie", &[]).0, Verdict::Allow);
    assert!(matches!(
        get(&e, "/docs/document.cookie;x", &[]).0,
        Verdict::Deny { .. }
    ));
    assert!(matches!(
        get(&e, "/docs?q=document.cookie", &[]).0,
        Verdict::Deny { .. }
    ));
}

#[test]
fn trim_steps_count_as_changes_in_a_chain() {
    // `trim` returns a shorter slice of its input: the next step and the operator must see
    // the trimmed bytes (once they were dropped as "unchanged"), with and without
    // multiMatch, on stable request data (the step cache) and on TX (uncached).
    let e = engine_for(
        r#"
SecRule ARGS:a "@streq x" "id:1,phase:1,deny,log,t:none,t:trim"
SecRule ARGS:b "@streq y" "id:2,phase:1,deny,log,t:none,t:trimLeft,t:uppercase,multiMatch"
SecRule ARGS:c "@rx ^z$" "id:3,phase:1,pass,nolog,setvar:'tx.c=%{MATCHED_VAR} '"
SecRule TX:c "@streq z" "id:4,phase:1,deny,log,t:none,t:trimRight"
"#,
    );
    let (v, ids) = get(&e, "/?a=%20x%20", &[]);
    assert!(matches!(v, Verdict::Deny { .. }), "{ids:?}");
    assert_eq!(ids, vec![1]);
    let (v, ids) = get(&e, "/?b=%20%20y", &[]);
    assert!(matches!(v, Verdict::Deny { .. }), "{ids:?}");
    assert_eq!(ids, vec![2]);
    let (v, ids) = get(&e, "/?c=z", &[]);
    assert!(matches!(v, Verdict::Deny { .. }), "{ids:?}");
    assert_eq!(ids, vec![4]);
    let (v, _) = get(&e, "/?a=x%20y", &[]);
    assert_eq!(v, Verdict::Allow);
}

#[test]
fn tx_values_rewritten_in_place_are_transformed_afresh() {
    // `setvar` overwrites a TX variable in place: same address, same length, new bytes.
    // A transformation of the old bytes must not be reused for the new ones (the
    // evaluator caches transformations of request data by address; TX is not cached).
    let e = engine_for(
        r#"
SecRule ARGS:a "@rx ^" "id:1,phase:1,pass,nolog,setvar:'tx.val_a=abc'"
SecRule TX:/^val_/ "@rx ^ABC$" "id:2,phase:1,pass,log,t:none,t:uppercase"
SecRule ARGS:a "@rx ^" "id:3,phase:1,pass,nolog,setvar:'tx.val_a=xyz'"
SecRule TX:/^val_/ "@rx ^XYZ$" "id:4,phase:1,deny,log,t:none,t:uppercase"
"#,
    );
    let (v, ids) = get(&e, "/?a=1", &[]);
    assert!(matches!(v, Verdict::Deny { .. }), "{ids:?}");
    assert_eq!(ids, vec![2, 4]);
}

/// A GET of `uri` through phases 1 and 2: the verdict and the operator runs.
fn run_counting(e: &Engine, uri: &str) -> (Verdict, u32) {
    let head = RequestHead {
        method: "GET".into(),
        uri: uri.as_bytes().to_vec(),
        protocol: "HTTP/1.1".into(),
        headers: vec![],
        remote_addr: "127.0.0.1".into(),
        request_id: "t".into(),
        peer_cert_sha256: None,
    };
    let mut tx = e.transaction(head);
    let v = tx.run_request(b"", &NativeHost::default());
    (v, tx.work().1)
}

#[test]
fn a_rules_regex_runs_only_on_values_holding_its_literal() {
    // The prefilter scans each value once; a rule's regex then runs only on the values
    // (as transformed for it) that hold one of its required literals. A value whose
    // literal appears only after the transformation still matches.
    let e = engine_for(
        r#"
SecRule ARGS "@rx (?i)union\s+select" "id:1,phase:1,deny,log,t:none,t:urlDecodeUni"
"#,
    );
    let mut uri = String::from("/?");
    for i in 0..20 {
        uri.push_str(&format!("p{i}=plain+value+{i}&q{i}=50%25+off&"));
    }
    // Operator runs of an allowed request that tests no value (the policy's own checks).
    let (_, base) = run_counting(&e, &uri);
    let (v, ops) = run_counting(&e, &format!("{uri}x=1%2555nion%20select"));
    assert!(matches!(v, Verdict::Deny { .. }), "{v:?}");
    assert_eq!(
        ops, 1,
        "only the value holding the literal after decoding is tested"
    );
    let (v, ops) = run_counting(&e, &format!("{uri}x=union+all"));
    assert_eq!(v, Verdict::Allow);
    assert_eq!(ops, base, "no value holds `select`: none is tested");
    // A chain that only changes letter case shares the raw value's scan.
    let e = engine_for(
        r#"
SecRule ARGS "@rx union\s+select" "id:1,phase:1,deny,log,t:none,t:lowercase"
"#,
    );
    let (v, ops) = run_counting(&e, &format!("{uri}x=UNION+Select"));
    assert!(matches!(v, Verdict::Deny { .. }), "{v:?}");
    assert_eq!(ops, 1);
}

#[test]
fn a_value_read_through_two_targets_is_scanned_for_the_literals_of_each() {
    // Each target's values are scanned with an automaton of the literals its rules need:
    // here the user agent alone (rule 1: `alpha`) and every header (rule 2: `omega`) get
    // different ones, and the same header bytes are scanned by both. A scan for rule 1
    // must not stand in for rule 2's (it never looked for `omega`), whichever runs first.
    let e = engine_for(
        r#"
SecRule REQUEST_HEADERS:User-Agent "@rx alpha\d" "id:1,phase:1,deny,status:403,log,t:none"
SecRule REQUEST_HEADERS "@rx omega\d" "id:2,phase:1,deny,status:403,log,t:none"
SecRule REQUEST_HEADERS:User-Agent "@rx sigma\d" "id:3,phase:1,deny,status:403,log,t:none"
"#,
    );
    // (`alpha\d` requires one of `alpha0`..`alpha9`.)
    let (kinds, lits, _) = e.prefilter().describe();
    assert_eq!((kinds.as_str(), lits), ("DFA:20,DFA:10", 30));
    for (ua, rule) in [
        ("x omega1", Some(2)),
        ("x alpha1", Some(1)),
        ("x sigma1", Some(3)),
    ] {
        let (v, ids) = get(&e, "/", &[("User-Agent", ua)]);
        match rule {
            Some(id) => assert!(
                matches!(&v, Verdict::Deny { rule_ids, .. } if rule_ids[0] == id),
                "{ua}: {v:?} {ids:?}"
            ),
            None => assert_eq!(v, Verdict::Allow, "{ua}"),
        }
    }
    assert_eq!(get(&e, "/", &[("User-Agent", "x beta1")]).0, Verdict::Allow);
}

#[test]
fn an_evasive_words_regex_runs_only_on_values_with_its_word_or_a_rare_byte() {
    // `c"a"t`-style patterns require no literal; the compiler's rare-byte split gives them
    // the set {"cat", any rare byte}: plain values are skipped, the plain word and every
    // value holding a quote, backslash or other rare byte are tested.
    let e = engine_for(
        r#"
SecRule ARGS "@rx (?i)c[\"'\x5c]*a[\"'\x5c]*t\b" "id:1,phase:1,deny,log,t:none,t:urlDecodeUni"
"#,
    );
    let mut uri = String::from("/?");
    for i in 0..20 {
        uri.push_str(&format!("p{i}=plain+value+{i}&q{i}=sku-{i}.x_y/z&"));
    }
    // Operator runs of an allowed request that tests no value (the policy's own checks).
    let (_, base) = run_counting(&e, &uri);
    for (arg, deny) in [
        ("x=CAT", true),
        ("x=c%22a%27t", true),
        ("x=c%255ca%255ct", true),
        ("x=dog", false),
        ("x=ca%22", false),
    ] {
        let (v, ops) = run_counting(&e, &format!("{uri}{arg}"));
        assert_eq!(matches!(v, Verdict::Deny { .. }), deny, "{arg}: {v:?}");
        let tested = u32::from(arg != "x=dog");
        // A denied request stops at the rule; an allowed one goes on to the base checks.
        let expect = if deny { tested } else { base + tested };
        assert_eq!(ops, expect, "{arg}: only that value is tested");
    }
}

#[test]
fn a_transaction_starts_from_the_initial_tx_and_empty_caches_after_another() {
    // The engine reuses a finished transaction's TX map and caches for the next one: what
    // one request set, changed or cached must not reach the next.
    let e = engine_for(
        r#"
SecRule &TX:leak "@eq 1" "id:2,phase:1,deny,status:403,log"
SecRule TX:crs_setup_version "!@streq 400" "id:3,phase:1,deny,status:403,log"
SecRule ARGS:q "@streq badd" "id:4,phase:1,deny,status:403,log,t:lowercase"
SecRule &TX:crs_setup_version "@eq 0" "id:6,phase:1,deny,status:403,log"
SecRule ARGS:set "@streq 1" "id:1,phase:1,pass,nolog,setvar:tx.leak=1,setvar:tx.crs_setup_version=999"
SecRule ARGS:del "@streq 1" "id:5,phase:1,pass,nolog,setvar:!tx.crs_setup_version"
SecRule ARGS:readd "@streq 1" "id:7,phase:1,pass,nolog,setvar:!tx.crs_setup_version,setvar:tx.crs_setup_version=777"
"#,
    );
    for _ in 0..20 {
        // Deleted and set again: a new entry of an initial name, put back as it was.
        let (v, ids) = get(&e, "/?readd=1&q=GOOD", &[]);
        assert_eq!(v, Verdict::Allow, "{ids:?}");
        // An initial variable deleted by one request is back for the next.
        let (v, ids) = get(&e, "/?del=1&q=GOOD", &[]);
        assert_eq!(v, Verdict::Allow, "{ids:?}");
        // Same lengths: a stale (address, length) cache entry would answer for the next.
        let (v, ids) = get(&e, "/?set=1&q=GOOD", &[]);
        assert_eq!(v, Verdict::Allow, "{ids:?}");
        let (v, ids) = get(&e, "/?set=0&q=BADD", &[]);
        assert_eq!(
            v,
            Verdict::Deny {
                status: 403,
                rule_ids: vec![4]
            },
            "{ids:?}"
        );
        let (v, ids) = get(&e, "/?set=0&q=GOOD", &[]);
        assert_eq!(v, Verdict::Allow, "{ids:?}");
    }
}

fn engine_at(rules: &str, paranoia: u8) -> Engine {
    engine_with(rules, &format!("    paranoia_level: {paranoia}\n"))
}

fn denied_by(engine: &Engine, uri: &str) -> Option<u32> {
    match get(engine, uri, &[]).0 {
        Verdict::Deny { rule_ids, .. } => rule_ids.first().copied(),
        _ => None,
    }
}

/// A CRS-style paranoia section: PL1 checks, a PL2 rule, the end marker, a rule after it.
const PL_SECTION: &str = r#"
SecRule TX:DETECTION_PARANOIA_LEVEL "@lt 1" "id:11,phase:1,pass,nolog,skipAfter:END"
SecRule ARGS "@contains w" "id:12,phase:1,deny,log"
SecRule TX:DETECTION_PARANOIA_LEVEL "@lt 2" "id:1,phase:1,pass,nolog,skipAfter:END"
SecRule ARGS "@contains x" "id:2,phase:1,deny,log"
SecMarker END
SecRule ARGS "@contains y" "id:3,phase:1,deny,log"
"#;

#[test]
fn paranoia_checks_are_folded_at_load_and_verdicts_stay() {
    let e = engine_at(PL_SECTION, 1);
    let f = e.folded();
    // 11 cannot match (it opens phase 1: the prologue takes it); 1 always skips, and 2
    // with it.
    assert_eq!(
        (f.prologue, f.never, f.always, f.skipped),
        (1, 0, 1, 1),
        "{f:?}"
    );
    assert_eq!(denied_by(&e, "/?a=w"), Some(12));
    assert_eq!(denied_by(&e, "/?a=x"), None);
    assert_eq!(denied_by(&e, "/?a=y"), Some(3));
    let e = engine_at(PL_SECTION, 2);
    let f = e.folded();
    assert_eq!((f.prologue, f.never, f.always), (1, 1, 0), "{f:?}");
    assert_eq!(denied_by(&e, "/?a=x"), Some(2));
}

#[test]
fn a_variable_a_rule_may_write_is_not_folded() {
    let rules = format!(
        "SecRule ARGS:pl \"@streq 2\" \"id:5,phase:1,pass,nolog,setvar:tx.detection_paranoia_level=2\"\n{PL_SECTION}"
    );
    let e = engine_at(&rules, 1);
    assert_eq!(e.folded().total(), 0, "{:?}", e.folded());
    assert_eq!(denied_by(&e, "/?a=x"), None);
    assert_eq!(denied_by(&e, "/?pl=2&a=x"), Some(2));
    // A macro name that could expand to the variable counts as a write too.
    let rules = format!(
        "SecRule ARGS:n \"@rx ^(.*)$\" \"id:5,phase:1,pass,nolog,capture,setvar:'tx.detection_%{{tx.1}}=2'\"\n{PL_SECTION}"
    );
    let e = engine_at(&rules, 1);
    assert_eq!(e.folded().total(), 0, "{:?}", e.folded());
    assert_eq!(denied_by(&e, "/?n=paranoia_level&a=x"), Some(2));
}

#[test]
fn a_static_skip_is_refused_when_another_skip_lands_inside_it() {
    // 6 jumps into the middle of what 1 would skip: rule 4 must still run after that jump.
    let e = engine_at(
        r#"
SecRule ARGS:jump "@streq 1" "id:6,phase:1,pass,nolog,skipAfter:MID"
SecRule TX:DETECTION_PARANOIA_LEVEL "@lt 2" "id:1,phase:1,pass,nolog,skipAfter:END"
SecRule ARGS "@contains x" "id:2,phase:1,deny,log"
SecMarker MID
SecRule ARGS "@contains z" "id:4,phase:1,deny,log"
SecMarker END
"#,
        1,
    );
    assert_eq!(e.folded().always, 0, "{:?}", e.folded());
    assert_eq!(denied_by(&e, "/?jump=1&a=z"), Some(4));
    assert_eq!(denied_by(&e, "/?a=z"), None);
}

#[test]
fn a_static_skip_is_refused_when_a_ctl_may_remove_the_skipping_rule_alone() {
    let rules = format!(
        "SecRule ARGS:off \"@streq 1\" \"id:7,phase:1,pass,nolog,ctl:ruleRemoveById=1\"\n{PL_SECTION}"
    );
    let e = engine_at(&rules, 1);
    assert_eq!(e.folded().always, 0, "{:?}", e.folded());
    assert_eq!(denied_by(&e, "/?off=1&a=x"), Some(2));
    assert_eq!(denied_by(&e, "/?a=x"), None);
    // Removing the skipping rule and everything it skips (CRS's
    // ctl:ruleRemoveByTag=OWASP_CRS) keeps the fold: both ways rule 2 does not run.
    let tagged = PL_SECTION.replace(",phase:1,", ",phase:1,tag:'OWASP_CRS',");
    let rules = format!(
        "SecRule ARGS:off \"@streq 1\" \"id:7,phase:1,pass,nolog,ctl:ruleRemoveByTag=OWASP_CRS\"\n{tagged}"
    );
    let e = engine_at(&rules, 1);
    assert_eq!(e.folded().always, 1, "{:?}", e.folded());
    assert_eq!(denied_by(&e, "/?off=1&a=x"), None);
    assert_eq!(denied_by(&e, "/?a=y"), Some(3));
}

/// CRS-style initialisation: a default for an unset setting, a SecAction zeroing a score,
/// a body-processor rule between them, then detection that adds to the score.
const PROLOGUE: &str = r#"
SecRule &TX:limit "@eq 0" "id:20,phase:1,pass,nolog,setvar:tx.limit=7"
SecRule REQUEST_HEADERS:Content-Type "@rx json" "id:22,phase:1,pass,nolog,ctl:requestBodyProcessor=JSON"
SecAction "id:21,phase:1,pass,nolog,setvar:tx.score=0"
SecRule ARGS "@contains x" "id:23,phase:1,pass,nolog,setvar:tx.score=+5"
SecRule TX:score "@ge %{tx.limit}" "id:24,phase:1,deny,log"
"#;

#[test]
fn initialisation_rules_fold_into_the_initial_tx() {
    let e = engine_at(PROLOGUE, 1);
    assert_eq!(e.folded().prologue, 2, "{:?}", e.folded());
    assert_eq!(denied_by(&e, "/?a=x"), None);
    assert_eq!(denied_by(&e, "/?a=x&b=x"), Some(24));
    // A rule before them that reads the request and writes TX ends the prologue: its
    // write must still decide rule 20.
    let rules = format!(
        "SecRule ARGS:set \"@streq 1\" \"id:19,phase:1,pass,nolog,setvar:tx.limit=1\"\n{PROLOGUE}"
    );
    let e = engine_at(&rules, 1);
    assert_eq!(e.folded().prologue, 0, "{:?}", e.folded());
    assert_eq!(denied_by(&e, "/?a=x"), None);
    assert_eq!(denied_by(&e, "/?set=1&a=x"), Some(24));
}

#[test]
fn the_response_head_is_wanted_only_when_something_reads_it() {
    let request_only =
        engine_for(r#"SecRule ARGS "@streq attack" "id:10,phase:2,deny,status:403""#);
    assert!(!request_only.reads_response_head());
    let mut tx = request_only.transaction(RequestHead::default());
    assert!(!tx.wants_response_head());
    // Phase 3 still runs with the empty head the proxy then passes.
    let host = NativeHost::default();
    assert_eq!(tx.on_response_headers(0, Vec::new(), &host), Verdict::Allow);

    for rules in [
        r#"SecRule RESPONSE_STATUS "@streq 500" "id:20,phase:3,deny,status:403""#,
        r#"SecRule RESPONSE_HEADERS:Content-Type "@contains html" "id:21,phase:3,pass,log""#,
        r#"SecRule ARGS "@streq x" "id:22,phase:5,pass,log,msg:'status %{RESPONSE_STATUS}'""#,
        r#"SecRule TX:a "@streq %{RESPONSE_STATUS}" "id:23,phase:3,pass,log""#,
        // A phase-4 rule runs only on a buffered body, buffered by its content type.
        r#"SecRule ARGS "@streq x" "id:24,phase:4,deny,status:403""#,
    ] {
        let e = engine_for(rules);
        assert!(e.reads_response_head(), "{rules}");
        assert!(e.transaction(RequestHead::default()).wants_response_head());
    }
}
