//! Small SecLang parsing and lowering cases.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use waap_engine::program::{
    Collection, Ctl, Disruptive, MacroPart, Operator, Rule, Selector, SetVarOp,
};
use waap_engine::transform::Transform;
use waap_policy_compiler::seclang::ast::{DirectiveKind, IdRange, VarSelector};
use waap_policy_compiler::seclang::{lower, parse_str, Level, LowerOptions, Lowered};

fn lowered(text: &str) -> Lowered {
    let d = parse_str(text, "/t/test.conf").unwrap();
    lower(&d, &LowerOptions::default()).unwrap()
}

fn rule(l: &Lowered, id: u32) -> &Rule {
    l.rules.iter().find(|r| r.id == id).unwrap()
}

#[test]
fn continuations_comments_and_lines() {
    let text = "# comment \\\nSecRule ARGS \"@rx a\" \\\n    \"id:1,\\\n    phase:2,\\\n    pass\"\n\n  # another\nSecMarker END\n";
    let d = parse_str(text, "f.conf").unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(d[0].span.line, 2);
    assert_eq!(d[1].span.line, 8);
    let DirectiveKind::Rule(r) = &d[0].kind else {
        panic!()
    };
    let names: Vec<_> = r.actions.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["id", "phase", "pass"]);
}

#[test]
fn escaped_quotes() {
    let text = r#"SecRule ARGS "@rx [\"'] \\d" "id:2,msg:'it\'s a \"test\"',logdata:'a,b',pass""#;
    let d = parse_str(text, "f.conf").unwrap();
    let DirectiveKind::Rule(r) = &d[0].kind else {
        panic!()
    };
    assert_eq!(r.operator.argument, r#"["'] \\d"#);
    assert_eq!(r.actions[1].value.as_deref(), Some(r#"it's a "test""#));
    assert_eq!(r.actions[2].value.as_deref(), Some("a,b"));
}

#[test]
fn operators_negation_and_default_rx() {
    let d = parse_str(
        "SecRule ARGS \"!@rx ^a\" \"id:1\"\nSecRule ARGS \"^b$\" \"id:2\"\nSecRule ARGS \"@PM x  y\" \"id:3\"",
        "f.conf",
    )
    .unwrap();
    let ops: Vec<_> = d
        .iter()
        .map(|d| match &d.kind {
            DirectiveKind::Rule(r) => (
                r.operator.negated,
                r.operator.name.clone(),
                r.operator.argument.clone(),
            ),
            _ => panic!(),
        })
        .collect();
    assert_eq!(ops[0], (true, "rx".into(), "^a".into()));
    assert_eq!(ops[1], (false, "rx".into(), "^b$".into()));
    assert_eq!(ops[2], (false, "PM".into(), "x  y".into()));
    let l = lower(&d, &LowerOptions::default()).unwrap();
    assert!(rule(&l, 1).cond.negated);
    assert_eq!(rule(&l, 3).cond.operator, Operator::Pm(0));
    assert_eq!(
        l.literal_sets[0].literals,
        vec![b"x".to_vec(), b"y".to_vec()]
    );
    assert!(l
        .regexes
        .iter()
        .all(|r| r.dfa.is_none() && r.flags.dot_all && r.flags.multi_line));
}

#[test]
fn variables() {
    let text = r#"SecRule &ARGS|!REQUEST_COOKIES:/__utm/|REQUEST_COOKIES|REQUEST_HEADERS:User-Agent|XML:/*|XML://@*|ARGS:/^(?:a|b)$/|&TX:Foo "@eq 0" "id:1""#;
    let d = parse_str(text, "f.conf").unwrap();
    let DirectiveKind::Rule(r) = &d[0].kind else {
        panic!()
    };
    assert_eq!(r.variables.len(), 8);
    assert!(r.variables[0].count && r.variables[0].selector.is_none());
    assert!(r.variables[1].negated);
    assert_eq!(
        r.variables[1].selector,
        Some(VarSelector::Regex("__utm".into()))
    );
    assert_eq!(r.variables[4].selector, Some(VarSelector::Key("/*".into())));
    assert_eq!(
        r.variables[5].selector,
        Some(VarSelector::Key("//@*".into()))
    );
    assert_eq!(
        r.variables[6].selector,
        Some(VarSelector::Regex("^(?:a|b)$".into()))
    );
    let l = lower(&d, &LowerOptions::default()).unwrap();
    let t = &rule(&l, 1).cond.targets;
    assert_eq!(t.len(), 7);
    assert_eq!((t[0].collection, t[0].count), (Collection::Args, true));
    assert_eq!(t[1].collection, Collection::RequestCookies);
    assert!(matches!(t[1].exclude[..], [Selector::Regex(_)]));
    assert_eq!(t[2].selector, Selector::Key("user-agent".into()));
    assert_eq!(
        (t[3].collection, &t[3].selector),
        (Collection::Xml, &Selector::Key("/*".into()))
    );
    assert_eq!(t[4].selector, Selector::Key("//@*".into()));
    assert_eq!(t[6].selector, Selector::Key("foo".into()));
    let Selector::Regex(i) = t[1].exclude[0] else {
        panic!()
    };
    assert!(l.regexes[i as usize].flags.case_insensitive);
}

#[test]
fn remove_by_id_ranges_in_order() {
    let mut text = String::new();
    for id in 1..=12 {
        text.push_str(&format!("SecAction \"id:{id},phase:1,pass\"\n"));
    }
    text.push_str("SecRuleRemoveById 1 5-7 \"10-11 12\"\nSecAction \"id:13,phase:1,pass\"\nSecRuleRemoveByTag gone\n");
    let d = parse_str(&text, "f.conf").unwrap();
    let DirectiveKind::RemoveById(r) = &d[12].kind else {
        panic!()
    };
    assert_eq!(r[1], IdRange { start: 5, end: 7 });
    assert_eq!(r.len(), 4);
    let l = lower(&d, &LowerOptions::default()).unwrap();
    let ids: Vec<u32> = l.rules.iter().map(|r| r.id).collect();
    assert_eq!(ids, [2, 3, 4, 8, 9, 13]);
    // SecRuleRemoveByTag matching nothing is reported, not silent.
    assert!(l
        .diagnostics
        .iter()
        .any(|d| d.directive == "SecRuleRemoveByTag"));
}

#[test]
fn skip_after_resolution() {
    let text = "SecAction \"id:1,phase:1,pass,skipAfter:END\"\nSecAction \"id:2,phase:1,pass\"\nSecMarker END\nSecAction \"id:3,phase:1,pass,skipAfter:END\"\nSecMarker END\nSecAction \"id:4,phase:1,pass\"\n";
    let l = lowered(text);
    assert_eq!(l.rules.len(), 4);
    assert_eq!(rule(&l, 1).actions.skip_after, Some(2));
    assert_eq!(rule(&l, 3).actions.skip_after, Some(3));
    // A removed rule shifts the index.
    let l = lowered(&format!("{text}SecRuleRemoveById 2\n"));
    assert_eq!(rule(&l, 1).actions.skip_after, Some(1));
    // Unknown marker is an error.
    let d = parse_str("SecAction \"id:1,pass,skipAfter:NOPE\"", "x.conf").unwrap();
    let e = lower(&d, &LowerOptions::default()).unwrap_err();
    assert_eq!(
        e[0].to_string(),
        "x.conf:1: rule 1: skipAfter: marker \"NOPE\" is not defined"
    );
}

#[test]
fn default_action_block_semantics() {
    let text = "SecDefaultAction \"phase:2,log,deny,status:403,t:lowercase\"\n\
        SecRule ARGS \"@rx a\" \"id:1,phase:2,block\"\n\
        SecRule ARGS \"@rx a\" \"id:2,phase:1,block,nolog\"\n\
        SecRule ARGS \"@rx a\" \"id:3,phase:2,deny,status:500\"\n\
        SecRule ARGS \"@rx a\" \"id:4,phase:2,pass,t:none,t:urlDecodeUni\"\n\
        SecRule ARGS \"@rx a\" \"id:5,phase:2,pass,t:trim\"\n";
    let l = lowered(text);
    let r1 = rule(&l, 1);
    assert_eq!(
        (r1.actions.disruptive, r1.actions.status, r1.actions.log),
        (Disruptive::Deny, Some(403), true)
    );
    assert_eq!(r1.cond.transforms, [Transform::Lowercase]);
    let r2 = rule(&l, 2);
    assert_eq!(
        (r2.actions.disruptive, r2.actions.status, r2.actions.log),
        (Disruptive::Pass, None, false)
    );
    assert_eq!(rule(&l, 3).actions.status, Some(500));
    assert_eq!(rule(&l, 3).actions.disruptive, Disruptive::Deny);
    assert_eq!(rule(&l, 4).cond.transforms, [Transform::UrlDecodeUni]);
    assert_eq!(
        rule(&l, 5).cond.transforms,
        [Transform::Lowercase, Transform::Trim]
    );
}

#[test]
fn macros_and_setvar() {
    let text = "SecRule ARGS \"@lt %{tx.Max_Num}\" \"id:7,phase:2,pass,msg:'x %{TX.0} y %{MATCHED_VAR}%{rule.id}!',\
        setvar:'tx.a_%{rule.id}=+%{tx.B}',setvar:!TX.C,setvar:tx.D=5,setvar:tx.e=-1,setvar:tx.f,setvar:ip.x=1\"";
    let l = lowered(text);
    let r = rule(&l, 7);
    let Operator::Lt(m) = &r.cond.operator else {
        panic!()
    };
    assert_eq!(
        m.parts,
        [MacroPart::Var(Collection::Tx, Some("max_num".into()))]
    );
    let msg = r.msg.as_ref().unwrap();
    assert_eq!(
        msg.parts,
        [
            MacroPart::Lit(b"x ".to_vec()),
            MacroPart::Var(Collection::Tx, Some("0".into())),
            MacroPart::Lit(b" y ".to_vec()),
            MacroPart::Var(Collection::MatchedVar, None),
            MacroPart::Lit(b"7!".to_vec()),
        ]
    );
    let sv = &r.actions.setvars;
    assert_eq!(sv.len(), 5);
    assert_eq!(sv[0].name.parts, [MacroPart::Lit(b"a_7".to_vec())]);
    assert_eq!(sv[0].op, SetVarOp::Add);
    assert_eq!(
        sv[0].value.parts,
        [MacroPart::Var(Collection::Tx, Some("b".into()))]
    );
    assert_eq!(
        (sv[1].op, &sv[1].name.parts[..]),
        (SetVarOp::Delete, &[MacroPart::Lit(b"c".to_vec())][..])
    );
    assert_eq!(
        (sv[2].op, &sv[2].value.parts[..]),
        (SetVarOp::Set, &[MacroPart::Lit(b"5".to_vec())][..])
    );
    assert_eq!(sv[3].op, SetVarOp::Sub);
    assert_eq!(sv[4].value.parts, [MacroPart::Lit(b"1".to_vec())]);
    // ip.x is diagnosed, not silently dropped.
    assert!(l
        .diagnostics
        .iter()
        .any(|d| d.rule_id == Some(7) && d.reason.contains("ip.x")));
}

#[test]
fn chains() {
    let text =
        "SecRule ARGS \"@rx a\" \"id:1,phase:2,block,msg:'m',capture,setvar:tx.head=1,chain\"\n\
        SecRule MATCHED_VARS \"@rx b\" \"t:none,t:lowercase,setvar:tx.link=1,chain\"\n\
        SecRule TX:x \"@eq 1\" \"ctl:ruleRemoveById=5-6,ctl:ruleRemoveTargetByTag=t;ARGS:q\"\n\
        SecAction \"id:2,pass\"\n";
    let l = lowered(text);
    let r = rule(&l, 1);
    assert_eq!(r.chain.len(), 2);
    assert!(r.cond.capture);
    assert_eq!(r.actions.setvars.len(), 1);
    assert_eq!(r.chain[0].setvars.len(), 1);
    assert_eq!(r.chain[0].transforms, [Transform::Lowercase]);
    assert_eq!(r.chain[0].targets[0].collection, Collection::MatchedVars);
    assert_eq!(r.actions.ctls[0], Ctl::RuleRemoveById(5, 6));
    assert!(
        matches!(&r.actions.ctls[1], Ctl::RuleRemoveTargetByTag(t, tg) if t == "t" && tg.selector == Selector::Key("q".into()))
    );
    assert_eq!(l.rules.len(), 2);
    assert!(rule(&l, 2).cond.targets.is_empty());
    assert_eq!(rule(&l, 2).cond.operator, Operator::Unconditional);
}

#[test]
fn update_target_by_id() {
    let text = "SecRule ARGS|REQUEST_COOKIES \"@rx a\" \"id:1,pass\"\n\
        SecRuleUpdateTargetById 1 \"!REQUEST_COOKIES:/^_ga/|!ARGS:Foo|REQUEST_HEADERS:Referer\"\n";
    let l = lowered(text);
    let t = &rule(&l, 1).cond.targets;
    assert_eq!(t.len(), 3);
    assert_eq!(t[0].exclude, [Selector::Key("Foo".into())]);
    assert!(matches!(t[1].exclude[..], [Selector::Regex(_)]));
    assert_eq!(t[2].selector, Selector::Key("referer".into()));
}

#[test]
fn operator_arguments() {
    let text = "SecRule REMOTE_ADDR \"@ipMatch 127.0.0.1,10.0.0.0/8,::1,2001:db8::/32\" \"id:1\"\n\
        SecRule ARGS \"@validateByteRange 9,10,32-126\" \"id:2\"\n\
        SecRule ARGS \"@rx [\\x{e2}\\x{80}]\" \"id:3\"\n";
    let l = lowered(text);
    let Operator::IpMatch(n) = &rule(&l, 1).cond.operator else {
        panic!()
    };
    assert_eq!(n[0].prefix, 128);
    assert_eq!(&n[0].addr[10..], &[0xff, 0xff, 127, 0, 0, 1]);
    assert_eq!((n[1].prefix, n[1].addr[12]), (104, 10));
    assert_eq!(n[2].prefix, 128);
    assert_eq!(n[3].prefix, 32);
    let Operator::ValidateByteRange(m) = &rule(&l, 2).cond.operator else {
        panic!()
    };
    assert_eq!(m.len(), 32);
    assert_eq!(m[1], 0b0000_0110); // 9, 10
    assert_eq!(m[4], 0xff); // 32..=39
    assert_eq!(m[15], 0x7f); // 120..=126, not 127
    assert_eq!(l.regexes.last().unwrap().pattern, "[\\xE2\\x80]");
}

#[test]
fn files_include_and_pm_from_file() {
    let dir = std::env::temp_dir().join(format!("seclang-unit-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(
        dir.join("main.conf"),
        "Include rules/*.conf\nIncludeOptional nothing/*.conf\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("rules/a.conf"),
        "SecRule ARGS \"@pmFromFile words.data\" \"id:1\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("rules/b.conf"),
        "\n\nsecrule ARGS \"@rx b\" \"id:2,t:bogus\"\n",
    )
    .unwrap();
    std::fs::write(dir.join("rules/words.data"), "# comment\n\nfoo\n  bar  \n").unwrap();
    let d = waap_policy_compiler::seclang::parse_file(&dir.join("main.conf")).unwrap();
    assert_eq!(d.len(), 2);
    assert!(d[1].span.file.ends_with("rules/b.conf"));
    assert_eq!(d[1].span.line, 3);
    let l = lower(&d, &LowerOptions::default()).unwrap();
    assert_eq!(
        l.literal_sets[0].literals,
        vec![b"foo".to_vec(), b"bar".to_vec()]
    );
    let diag = l
        .diagnostics
        .iter()
        .find(|d| d.level == Level::Error)
        .unwrap();
    assert!(
        diag.to_string()
            .contains("rules/b.conf:3: rule 2: error: SecRule: unknown transformation t:bogus"),
        "{diag}"
    );
    // Strict mode turns it into an error.
    let strict = LowerOptions {
        strict: true,
        ..LowerOptions::default()
    };
    assert!(lower(&d, &strict).is_err());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_input_errors() {
    let e = parse_str("\nSecFoo On\n", "a.conf").unwrap_err();
    assert_eq!(e[0].to_string(), "a.conf:2: unknown directive SecFoo");
    let e = parse_str("SecRule ARGS \"@rx a \"id:5\"", "a.conf").unwrap_err();
    assert!(e[0].to_string().starts_with("a.conf:1: "), "{}", e[0]);
    let e = parse_str("SecRule ARGS \"@rx a\" \"id:5,msg:'oops\"", "a.conf").unwrap_err();
    assert!(
        e[0].to_string().contains("unterminated quoted value"),
        "{}",
        e[0]
    );
    let e = parse_str("SecRule \"AR GS\" \"@rx a\" \"id:9\"", "a.conf").unwrap_err();
    assert!(
        e[0].to_string()
            .starts_with("a.conf:1: rule 9: SecRule: variables"),
        "{}",
        e[0]
    );
    let e = parse_str("SecRuleRemoveById 5-3", "a.conf").unwrap_err();
    assert!(e[0].to_string().contains("bad id range"));
    let d = parse_str("SecRule ARGS \"@rx a\" \"phase:2\"\nSecRule ARGS \"@rx a\" \"id:3,chain\"\nSecRule ARGS \"@rx a\" \"id:3\"", "b.conf").unwrap();
    let e = lower(&d, &LowerOptions::default()).unwrap_err();
    assert_eq!(e[0].to_string(), "b.conf:1: SecRule: missing id");
    assert_eq!(e.len(), 1, "{e:?}"); // the third SecRule is rule 3's chain link
    let d = parse_str("SecRule ARGS \"@rx a\" \"id:3,chain\"", "c.conf").unwrap();
    let e = lower(&d, &LowerOptions::default()).unwrap_err();
    assert_eq!(
        e[0].to_string(),
        "c.conf:1: rule 3: chain without a following SecRule"
    );
    let d = parse_str("SecAction \"id:4\"\nSecAction \"id:4\"", "d.conf").unwrap();
    let e = lower(&d, &LowerOptions::default()).unwrap_err();
    assert_eq!(e[0].to_string(), "d.conf:2: rule 4: duplicate rule id 4");
}

#[test]
fn settings_and_unsupported() {
    let text =
        "SecRuleEngine DetectionOnly\nSecRequestBodyAccess On\nSecRequestBodyLimit 13107200\n\
        SecRequestBodyLimitAction ProcessPartial\nSecResponseBodyMimeType text/plain TEXT/html\n\
        SecAuditEngine RelevantOnly\nSecRule ARGS \"@rbl x\" \"id:1,exec:/bin/x\"\n";
    let l = lowered(text);
    assert!(l.body.inspect);
    assert_eq!(l.body.limit, 13_107_200);
    assert_eq!(l.body.response_mime_types, ["text/plain", "text/html"]);
    assert_eq!(rule(&l, 1).cond.operator, Operator::NoMatch);
    let errs: Vec<_> = l
        .diagnostics
        .iter()
        .filter(|d| d.level == Level::Error)
        .collect();
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(l
        .diagnostics
        .iter()
        .any(|d| d.directive == "SecAuditEngine" && d.level == Level::Info));
    let (p, _) = l.into_program();
    assert_eq!(p.mode, waap_engine::program::Mode::Monitor);
}

#[test]
fn pcre_rewrite() {
    use waap_policy_compiler::seclang::lower::pcre_to_rust;
    let cases = [
        (r"\<a\>", "<a>"),
        (r"[[(]x", r"[\[(]x"),
        (r"[a&&b~]", r"[a\&\&b\~]"),
        (r"[]a]", r"[\]a]"),
        (r"[^]a]", r"[^\]a]"),
        (r"[[:alpha:]]", r"[[:alpha:]]"),
        (r"a{2,3}b{c}", r"a{2,3}b\{c\}"),
        (r"\x{e2}\x{41}", r"\xE2\x{41}"),
        ("´", r"\xC2\xB4"),
    ];
    for (input, want) in cases {
        let (got, notes) = pcre_to_rust(input);
        assert_eq!(got, want, "{input}");
        assert!(notes.is_empty());
    }
    let (got, notes) = pcre_to_rust(r"\s*+a{2}+");
    assert_eq!(got, r"\s*a{2}");
    assert_eq!(notes.len(), 1);
}
