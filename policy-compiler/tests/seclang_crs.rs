//! Parses and lowers the full OWASP CRS corpora and checks the counts of CRS-NOTES.md.
//!
//! CRS v4: `$CRS_DIR` (a directory with `crs-setup.conf.example` and `rules/`), default
//! `/work/shared/corpus/crs-v4`. Debian's CRS 3.3.4: `$CRS3_LOAD` (a file that includes the
//! setup and rules, like Debian's `owasp-crs.load`), default
//! `/usr/share/modsecurity-crs/owasp-crs.load`. When a variable is set and its path is
//! missing the test fails; when the default is missing it prints why and returns.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use waap_engine::program::{Operator, Rule};
use waap_policy_compiler::seclang::{
    self, ast::DirectiveKind, lower, Directive, Level, LowerOptions, Lowered,
};

mod common;
use common::{corpus, crs_v4, v4_files};

fn parse_ok(files: &[PathBuf]) -> Vec<Directive> {
    match seclang::parse_files(files) {
        Ok(d) => d,
        Err(errs) => {
            for e in &errs {
                eprintln!("{e}");
            }
            panic!("{} parse errors", errs.len());
        }
    }
}

fn lower_ok(dirs: &[Directive]) -> Lowered {
    match lower(dirs, &LowerOptions::default()) {
        Ok(l) => l,
        Err(errs) => {
            for e in &errs {
                eprintln!("{e}");
            }
            panic!("{} lowering errors", errs.len());
        }
    }
}

fn count_kinds(dirs: &[Directive]) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for d in dirs {
        let k = match &d.kind {
            DirectiveKind::Rule(_) => "SecRule",
            DirectiveKind::Action(_) => "SecAction",
            DirectiveKind::Marker(_) => "SecMarker",
            DirectiveKind::DefaultAction(_) => "SecDefaultAction",
            DirectiveKind::UpdateTargetById { .. } => "SecRuleUpdateTargetById",
            DirectiveKind::UpdateTargetByTag { .. } => "SecRuleUpdateTargetByTag",
            DirectiveKind::RemoveById(_) => "SecRuleRemoveById",
            DirectiveKind::RemoveByTag(_) => "SecRuleRemoveByTag",
            DirectiveKind::ComponentSignature(_) => "SecComponentSignature",
            DirectiveKind::Setting { name, .. } => name,
        };
        *m.entry(k).or_insert(0) += 1;
    }
    m
}

fn print_diagnostics(l: &Lowered) {
    for d in &l.diagnostics {
        eprintln!("{d}");
    }
}

fn operator_counts(rules: &[Rule]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in rules {
        for c in std::iter::once(&r.cond).chain(r.chain.iter()) {
            let name = format!("{:?}", c.operator);
            let name = name.split(['(', ' ']).next().unwrap_or("").to_string();
            *m.entry(name).or_insert(0) += 1;
        }
    }
    m
}

#[test]
fn crs_v4_parses_and_lowers() {
    let Some(dir) = crs_v4() else {
        return;
    };
    let dirs = parse_ok(&v4_files(&dir));
    let in_rules: Vec<Directive> = dirs
        .iter()
        .filter(|d| d.span.file.contains("/rules/"))
        .cloned()
        .collect();
    let kinds = count_kinds(&in_rules);
    eprintln!("{kinds:?}");
    // Chain links are SecRule directives too: 622 top-level + 73 chained.
    assert_eq!(kinds.get("SecRule"), Some(&695));
    assert_eq!(kinds.get("SecAction"), Some(&7));
    assert_eq!(kinds.get("SecMarker"), Some(&30));
    assert_eq!(kinds.get("SecRuleUpdateTargetById"), Some(&55));

    let l = lower_ok(&dirs);
    print_diagnostics(&l);
    let ids: BTreeSet<u32> = l.rules.iter().map(|r| r.id).collect();
    // 629 CRS ids + 900990 from crs-setup.conf.example.
    assert_eq!(l.rules.len(), 630);
    assert_eq!(ids.len(), 630);
    assert_eq!(ids.iter().filter(|&&i| i != 900990).count(), 629);
    let links: usize = l.rules.iter().map(|r| r.chain.len()).sum();
    assert_eq!(links, 73);
    assert_eq!(l.rules.iter().filter(|r| !r.chain.is_empty()).count(), 55);
    assert_eq!(l.rules.iter().map(|r| r.chain.len() + 1).max(), Some(5));
    let mut by_phase = BTreeMap::new();
    for r in &l.rules {
        *by_phase.entry(r.phase).or_insert(0) += 1;
    }
    eprintln!("phases {by_phase:?}");
    // CRS-NOTES counts 629 CRS rules: 1 -> 172 (+ 900990 from the setup file).
    assert_eq!(
        by_phase,
        BTreeMap::from([(1, 173), (2, 292), (3, 43), (4, 109), (5, 13)])
    );
    let ops = operator_counts(&l.rules);
    eprintln!("operators {ops:?}");
    assert_eq!(ops.get("Rx"), Some(&318));
    assert_eq!(ops.get("Lt"), Some(&190));
    assert_eq!(ops.get("Pm"), Some(&(12 + 21)));
    assert!(!ops.contains_key("NoMatch"));
    let unconditional = ops.get("Unconditional").copied().unwrap_or(0);
    assert_eq!(
        unconditional,
        7 + 1 + 1,
        "7 SecAction + 900990 + 1 @unconditionalMatch"
    );
    eprintln!(
        "regexes {} (selector {}), literal sets {}",
        l.regexes.len(),
        l.regexes
            .iter()
            .filter(|r| r.flags.case_insensitive)
            .count(),
        l.literal_sets.len()
    );
    // Every skipAfter resolved, every index in range.
    let skips = l
        .rules
        .iter()
        .filter(|r| r.actions.skip_after.is_some())
        .count();
    assert_eq!(skips, 206);
    assert!(l.rules.iter().all(|r| r
        .actions
        .skip_after
        .is_none_or(|i| (i as usize) <= l.rules.len())));
    assert!(l.rules.iter().all(|r| r.family == "crs"));
    // Only initcol (901320, off by default) is diagnosed, as a warning.
    let errors: Vec<_> = l
        .diagnostics
        .iter()
        .filter(|d| d.level == Level::Error)
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    // Everything regex-related must be checked: every Rx index is in the table.
    for r in &l.rules {
        for c in std::iter::once(&r.cond).chain(r.chain.iter()) {
            if let Operator::Rx(i) = c.operator {
                assert!((i as usize) < l.regexes.len());
            }
        }
    }
}

#[test]
fn crs_v3_debian_parses_and_lowers() {
    let Some(load) = corpus("CRS3_LOAD", "/usr/share/modsecurity-crs/owasp-crs.load") else {
        return;
    };
    let dirs = parse_ok(&[load]);
    let kinds = count_kinds(&dirs);
    eprintln!("{kinds:?}");
    assert!(kinds.get("SecRule").copied().unwrap_or(0) > 500);
    let l = lower_ok(&dirs);
    print_diagnostics(&l);
    let ids: BTreeSet<u32> = l.rules.iter().map(|r| r.id).collect();
    eprintln!(
        "rules {} ids {} links {} regexes {} literal sets {} diagnostics {}",
        l.rules.len(),
        ids.len(),
        l.rules.iter().map(|r| r.chain.len()).sum::<usize>(),
        l.regexes.len(),
        l.literal_sets.len(),
        l.diagnostics.len()
    );
    assert_eq!(ids.len(), l.rules.len());
}

/// Which CRS v4 patterns the PCRE -> regex-syntax rewrite changes (printed; the count is
/// pinned so a change in the rewrite is noticed).
#[test]
fn crs_v4_regex_rewrites() {
    use waap_policy_compiler::seclang::lower::pcre_to_rust;
    let Some(dir) = crs_v4() else {
        return;
    };
    let dirs = parse_ok(&v4_files(&dir));
    let mut changed = Vec::new();
    for d in &dirs {
        if let DirectiveKind::Rule(r) = &d.kind {
            if r.operator.name.eq_ignore_ascii_case("rx") {
                let (out, notes) = pcre_to_rust(&r.operator.argument);
                assert!(notes.is_empty(), "{}: {notes:?}", d.span);
                if out != r.operator.argument {
                    let id = waap_policy_compiler::seclang::parser::action_id(&r.actions);
                    let pos = out
                        .bytes()
                        .zip(r.operator.argument.bytes())
                        .position(|(a, b)| a != b)
                        .unwrap_or(0);
                    let ctx: String = r.operator.argument[pos.saturating_sub(10)..]
                        .chars()
                        .take(40)
                        .collect();
                    eprintln!("{} {id:?}: ...{ctx}", d.span);
                    changed.push(id);
                }
            }
        }
    }
    eprintln!("{} patterns rewritten", changed.len());
}
