//! Load-time folding of the rules that the initial TX variables decide.
//!
//! CRS spends a third of the rules a request visits on its own bookkeeping: every rule
//! file opens with paranoia-level checks (`SecRule TX:DETECTION_PARANOIA_LEVEL "@lt 2"
//! "skipAfter:END-..."`), and the initialisation rules test whether a setting exists
//! (`SecRule &TX:crs_setup_version "@eq 0"`). When no rule can change such a variable,
//! its value is the policy's initial one on every request, and so is the rule's outcome.
//! The engine decides those rules once, when the bundle is loaded:
//!
//! - a rule that cannot match is left out of its phase's rule list;
//! - a rule that always matches and does nothing but `skipAfter` is left out together with
//!   the rules it skips (a static skip);
//! - the rules that open phase 1 and only set TX variables from known values (CRS's
//!   defaults for unset settings, its scores set to 0) are run once on the initial TX, which
//!   then starts every transaction with their effect (the prologue). Rules that neither
//!   read nor write TX nor change control flow (CRS's body-processor rules) commute with
//!   them and stay in place.
//!
//! A TX variable is *stable* when every rule that could write it (by `setvar`, with a
//! literal name or a macro name that could expand to it) is itself decided not to match,
//! given the stable variables: the largest such set is found by iteration (start with every
//! name stable, drop the names of setters that are not decided false, repeat). TX:0-9
//! (captures) are never stable.
//!
//! Not folded, to keep verdicts exact: rules with a chain, transformations, captures, a
//! macro in the operator's argument, or an operator other than the numeric and string
//! comparisons; rules that a `ctl` could strip of their TX target at run time; a static
//! skip by a rule that a `ctl` could remove (it would then not skip) unless that `ctl`
//! removes every skipped rule too (CRS's `ctl:ruleRemoveByTag=OWASP_CRS`); a static skip
//! whose range holds the target of another rule's `skipAfter` (reaching that target past
//! the skipping rule must still run the rules after it); and nothing at all when a rule's
//! first condition reads `MATCHED_VAR*` (a folded rule no longer sets it).

use std::collections::{BTreeMap, BTreeSet};

use crate::operator::atoi;
use crate::program::{
    Collection, Condition, Ctl, Disruptive, MacroPart, MacroString, Operator, Program, Rule,
    Selector, SetVarOp,
};

/// What folding did to a program's phase lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FoldStats {
    /// Rules left out because they cannot match.
    pub never: usize,
    /// Rules left out because they always match and only skip (or do nothing).
    pub always: usize,
    /// Rules left out because an always-matching rule skips them.
    pub skipped: usize,
    /// Rules opening phase 1 whose `setvar`s were applied to the initial TX instead.
    pub prologue: usize,
}

impl FoldStats {
    /// Rules no request visits any more.
    pub fn total(&self) -> usize {
        self.never + self.always + self.skipped + self.prologue
    }
}

/// A `setvar` name as the engine stores it: lower case, without `tx.`; a macro name keeps
/// its literal prefix and suffix.
enum Written {
    Name(String),
    Pattern(String, String),
}

fn written(name: &MacroString) -> Written {
    let lit = |p: &MacroPart| match p {
        MacroPart::Lit(l) => Some(String::from_utf8_lossy(l).to_ascii_lowercase()),
        MacroPart::Var(..) => None,
    };
    let strip = |s: String| s.strip_prefix("tx.").map(str::to_string).unwrap_or(s);
    if name.parts.iter().all(|p| matches!(p, MacroPart::Lit(_))) {
        let s: String = name.parts.iter().filter_map(lit).collect();
        return Written::Name(strip(s));
    }
    let prefix = name.parts.first().and_then(lit).unwrap_or_default();
    let suffix = if name.parts.len() > 1 {
        name.parts.last().and_then(lit).unwrap_or_default()
    } else {
        String::new()
    };
    // `tx.` may also come from the macro's expansion: then no prefix is certain.
    let prefix = if prefix.starts_with("tx.") {
        strip(prefix)
    } else if "tx.".starts_with(prefix.as_str()) {
        String::new()
    } else {
        prefix
    };
    Written::Pattern(prefix, suffix)
}

/// `MATCHED_VAR`, `MATCHED_VAR_NAME`, `MATCHED_VARS` or `MATCHED_VARS_NAMES`: what the
/// last match set.
fn matched(c: Collection) -> bool {
    matches!(
        c,
        Collection::MatchedVar
            | Collection::MatchedVarName
            | Collection::MatchedVars
            | Collection::MatchedVarsNames
    )
}

/// A rule whose match has no effect but its `setvar`s and `skipAfter`: it passes, does
/// not log and uses no `ctl`.
fn quiet(r: &Rule) -> bool {
    r.actions.ctls.is_empty() && r.actions.disruptive == Disruptive::Pass && !r.actions.log
}

/// The literal bytes of a macro-free string.
fn literal(m: &MacroString) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for p in &m.parts {
        match p {
            MacroPart::Lit(l) => out.extend_from_slice(l),
            MacroPart::Var(..) => return None,
        }
    }
    Some(out)
}

struct Folder<'p> {
    program: &'p Program,
    init: &'p [(String, Vec<u8>)],
    /// Names some possibly-matching rule writes.
    unstable: BTreeSet<String>,
    /// (prefix, suffix) of macro names some possibly-matching rule writes.
    patterns: Vec<(String, String)>,
}

impl Folder<'_> {
    fn stable(&self, name: &str) -> bool {
        !name.is_empty()
            && !name.bytes().all(|b| b.is_ascii_digit())
            && !self.unstable.contains(name)
            && !self.patterns.iter().any(|(p, s)| {
                name.len() >= p.len() + s.len()
                    && name.starts_with(p.as_str())
                    && name.ends_with(s.as_str())
            })
    }

    fn init(&self, name: &str) -> Option<&[u8]> {
        self.init
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .and_then(|i| self.init.get(i))
            .map(|(_, v)| v.as_slice())
    }

    /// The rule's outcome on every request, when the stable TX variables decide it.
    fn decide(&self, rule: &Rule, ctl_targets: bool) -> Option<bool> {
        let (k, count) = tx_target(&rule.cond)?;
        if ctl_targets || !self.stable(k) {
            return None;
        }
        match (
            test(&rule.cond, count, self.init(k), literal)?,
            rule.chain.is_empty(),
        ) {
            (false, _) => Some(false),
            (true, true) => Some(true),
            (true, false) => None,
        }
    }
}

/// The TX variable (name, and whether it is counted: `&TX:name`) a condition reads, when
/// it reads exactly that one, by name, untransformed, tested once.
fn tx_target(c: &Condition) -> Option<(&str, bool)> {
    let [t] = c.targets.as_slice() else {
        return None;
    };
    let Selector::Key(k) = &t.selector else {
        return None;
    };
    let plain = t.collection == Collection::Tx
        && t.exclude.is_empty()
        && c.transforms.is_empty()
        && !c.multi_match
        && !c.capture;
    plain.then_some((k.as_str(), t.count))
}

/// The outcome of condition `c` on the TX variable it reads (see [`tx_target`]), whose
/// value is `value` (`None`: not set), the operator's argument expanded by `arg`.
fn test(
    c: &Condition,
    count: bool,
    value: Option<&[u8]>,
    arg: impl Fn(&MacroString) -> Option<Vec<u8>>,
) -> Option<bool> {
    let value: Vec<u8> = match (count, value) {
        (true, v) => usize::from(v.is_some()).to_string().into_bytes(),
        (false, Some(v)) => v.to_vec(),
        // No value to test: the condition (negated or not) has no match.
        (false, None) => return Some(false),
    };
    compare(&c.operator, &value, arg).map(|m| m != c.negated)
}

/// A `setvar` value from literals and TX variables of `state` (a missing one is empty, as
/// at run time); `None` for any other macro.
fn known_value(m: &MacroString, state: &BTreeMap<String, Vec<u8>>) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for p in &m.parts {
        match p {
            MacroPart::Lit(l) => out.extend_from_slice(l),
            MacroPart::Var(Collection::Tx, Some(k)) => {
                out.extend_from_slice(state.get(k.as_str()).map_or(&[][..], Vec::as_slice))
            }
            MacroPart::Var(..) => return None,
        }
    }
    Some(out)
}

/// The outcome of a rule's first condition on a request whose TX is exactly `state`, when
/// only TX (or nothing: `SecAction`) decides it.
fn decide_known(rule: &Rule, state: &BTreeMap<String, Vec<u8>>) -> Option<bool> {
    let c = &rule.cond;
    if c.targets.is_empty() {
        return match c.operator {
            Operator::Unconditional if !c.multi_match && !c.capture => Some(!c.negated),
            _ => None,
        };
    }
    let (k, count) = tx_target(c)?;
    test(c, count, state.get(k).map(Vec::as_slice), |a| {
        known_value(a, state)
    })
}

/// A numeric or string comparison, the argument expanded by `arg` (`None`: unknown);
/// `None` for other operators.
fn compare(
    op: &Operator,
    value: &[u8],
    arg: impl Fn(&MacroString) -> Option<Vec<u8>>,
) -> Option<bool> {
    Some(match op {
        Operator::StrEq(a) => arg(a)? == value,
        Operator::Eq(a) => atoi(value) == atoi(&arg(a)?),
        Operator::Ge(a) => atoi(value) >= atoi(&arg(a)?),
        Operator::Gt(a) => atoi(value) > atoi(&arg(a)?),
        Operator::Lt(a) => atoi(value) < atoi(&arg(a)?),
        Operator::Le(a) => atoi(value) <= atoi(&arg(a)?),
        _ => return None,
    })
}

/// Whether a rule neither reads nor writes TX, skips, stops, logs, captures or removes
/// rules: running it before or after rules that only touch TX gives the same result (CRS's
/// body-processor rules between its initialisation rules).
fn independent(rule: &Rule) -> bool {
    let reads_tx = |m: &MacroString| {
        m.parts
            .iter()
            .any(|p| matches!(p, MacroPart::Var(c, _) if *c == Collection::Tx || matched(*c)))
    };
    let cond_ok = |c: &crate::program::Condition| {
        c.setvars.is_empty()
            && !c.capture
            && !c.operator.argument().is_some_and(reads_tx)
            && c.targets
                .iter()
                .all(|t| t.collection != Collection::Tx && !matched(t.collection))
    };
    cond_ok(&rule.cond)
        && rule.chain.iter().all(cond_ok)
        && rule.actions.setvars.is_empty()
        && rule.actions.skip_after.is_none()
        && rule.actions.disruptive == Disruptive::Pass
        && !rule.actions.log
        && rule.actions.ctls.iter().all(|c| {
            matches!(
                c,
                Ctl::RequestBodyProcessor(_)
                    | Ctl::ForceRequestBodyVariable(_)
                    | Ctl::AuditEngine(_)
            )
        })
}

/// Runs the rules that open phase 1 on the initial TX while their outcome and effects are
/// known (TX-only conditions, `setvar`s of literals and known TX values, static skips):
/// every request starts exactly so, so their `setvar`s go into `init` and they (and what
/// they skip) leave the phase list (CRS's initialisation: defaults for unset settings, the
/// score variables set to 0). [`independent`] rules are stepped over; any other rule ends
/// the prologue. Returns the indices of the rules folded.
fn prologue(
    program: &Program,
    skip_targets: &[u32],
    init: &mut Vec<(String, Vec<u8>)>,
    phase1: &mut Vec<u32>,
) -> Vec<u32> {
    let mut state: BTreeMap<String, Vec<u8>> = init.iter().cloned().collect();
    let mut folded = Vec::new();
    let mut skip_to: Option<u32> = None;
    for &ri in phase1.iter() {
        if let Some(t) = skip_to {
            if ri < t {
                folded.push(ri);
                continue;
            }
            skip_to = None;
        }
        let Some(r) = program.rules.get(ri as usize) else {
            break;
        };
        match decide_known(r, &state) {
            Some(false) => {}
            Some(true)
                if r.chain.is_empty()
                    && quiet(r)
                    && r.actions
                        .skip_after
                        .is_none_or(|t| !skip_targets.iter().any(|&s| ri < s && s < t)) =>
            {
                // As eval_rule runs them for the one matching value: the rule's setvars,
                // then the condition's.
                let mut next = state.clone();
                for sv in r.actions.setvars.iter().chain(&r.cond.setvars) {
                    let Written::Name(name) = written(&sv.name) else {
                        return finish(init, phase1, state, folded);
                    };
                    let Some(v) = known_value(&sv.value, &next) else {
                        return finish(init, phase1, state, folded);
                    };
                    match sv.op {
                        SetVarOp::Set => {
                            next.insert(name, v);
                        }
                        SetVarOp::Add | SetVarOp::Sub => {
                            let old = next.get(&name).map_or(0, |o| atoi(o));
                            let d = atoi(&v);
                            let n = if sv.op == SetVarOp::Add {
                                old.saturating_add(d)
                            } else {
                                old.saturating_sub(d)
                            };
                            next.insert(name, n.to_string().into_bytes());
                        }
                        SetVarOp::Delete => {
                            next.remove(&name);
                        }
                    }
                }
                state = next;
                skip_to = r.actions.skip_after;
            }
            // Kept in place: it commutes with the TX-only rules around it.
            _ if independent(r) => continue,
            _ => break,
        }
        folded.push(ri);
    }
    finish(init, phase1, state, folded)
}

fn finish(
    init: &mut Vec<(String, Vec<u8>)>,
    phase1: &mut Vec<u32>,
    state: BTreeMap<String, Vec<u8>>,
    folded: Vec<u32>,
) -> Vec<u32> {
    *init = state.into_iter().collect();
    phase1.retain(|ri| !folded.contains(ri));
    folded
}

/// Leaves the rules that the initial TX variables decide out of `phase_rules` (see the
/// module docs). `init` is the initial TX, names lower case and sorted.
pub(crate) fn fold(
    program: &Program,
    init: &mut Vec<(String, Vec<u8>)>,
    phase_rules: &mut [Vec<u32>; 6],
) -> FoldStats {
    let mut stats = FoldStats::default();
    let rules = &program.rules;
    if rules
        .iter()
        .any(|r| r.cond.targets.iter().any(|t| matched(t.collection)))
    {
        return stats;
    }
    let skip_targets: Vec<u32> = rules.iter().filter_map(|r| r.actions.skip_after).collect();
    let gone = prologue(program, &skip_targets, init, &mut phase_rules[1]);
    stats.prologue = gone.len();
    let init: &[(String, Vec<u8>)] = init;
    // Rules a ctl could remove, or strip of targets, at run time.
    let ctls: Vec<&Ctl> = rules.iter().flat_map(|r| &r.actions.ctls).collect();
    let removes = |c: &Ctl, r: &Rule| match c {
        Ctl::RuleRemoveById(a, b) => (*a..=*b).contains(&r.id),
        Ctl::RuleRemoveByTag(t) => r.tags.contains(t),
        _ => false,
    };
    let target_ctl = |r: &Rule| {
        ctls.iter().any(|c| match c {
            Ctl::RuleRemoveTargetById(id, _) => *id == r.id,
            Ctl::RuleRemoveTargetByTag(t, _) => r.tags.contains(t),
            _ => false,
        })
    };
    let mut f = Folder {
        program,
        init,
        unstable: BTreeSet::new(),
        patterns: Vec::new(),
    };
    // The largest stable set: a rule not decided false makes what it writes unstable.
    loop {
        let before = (f.unstable.len(), f.patterns.len());
        for (ri, r) in f.program.rules.iter().enumerate() {
            if gone.contains(&(ri as u32)) || f.decide(r, target_ctl(r)) == Some(false) {
                continue;
            }
            let writes = r
                .actions
                .setvars
                .iter()
                .chain(&r.cond.setvars)
                .chain(r.chain.iter().flat_map(|c| &c.setvars));
            for sv in writes {
                match written(&sv.name) {
                    Written::Name(n) => {
                        f.unstable.insert(n);
                    }
                    Written::Pattern(p, s) => {
                        if !f.patterns.contains(&(p.clone(), s.clone())) {
                            f.patterns.push((p, s));
                        }
                    }
                }
            }
        }
        if (f.unstable.len(), f.patterns.len()) == before {
            break;
        }
    }
    for list in phase_rules.iter_mut() {
        let mut kept = Vec::with_capacity(list.len());
        let mut skip_to: Option<u32> = None;
        for (pos, &ri) in list.iter().enumerate() {
            if let Some(t) = skip_to {
                if ri < t {
                    stats.skipped += 1;
                    continue;
                }
                skip_to = None;
            }
            let Some(r) = rules.get(ri as usize) else {
                kept.push(ri);
                continue;
            };
            let decided = f.decide(r, target_ctl(r));
            let only_skips = quiet(r) && r.actions.setvars.is_empty() && r.cond.setvars.is_empty();
            // A static skip must leave out exactly what the rule skips at run time: no
            // other skip may land inside the range, and a ctl that removes the rule (so
            // that it does not skip) must remove every rule in the range too.
            let skip_ok = |t: u32| {
                let range = list.iter().skip(pos + 1).take_while(|&&i| i < t);
                !skip_targets.iter().any(|&s| ri < s && s < t)
                    && ctls.iter().filter(|c| removes(c, r)).all(|c| {
                        range
                            .clone()
                            .all(|&i| rules.get(i as usize).is_some_and(|x| removes(c, x)))
                    })
            };
            match decided {
                Some(false) => stats.never += 1,
                Some(true) if only_skips && r.actions.skip_after.is_none_or(skip_ok) => {
                    stats.always += 1;
                    skip_to = r.actions.skip_after;
                }
                _ => kept.push(ri),
            }
        }
        *list = kept;
    }
    stats
}
