//! Rule skipping by required literals.
//!
//! `waapc` stores with each regex a set of literals of which every match contains one
//! (`RegexDef::required_literals`, see the compiler's `prefilter` module). At load the
//! engine puts the literals of the regexes that rules in force may skip by into
//! aho-corasick automata, one per set of targets that need the same literals: a target's
//! automaton holds the literals of the rules reading it (CRS's argument and cookie rules
//! share one of about 4,000 literals; a header or the URI needs a few dozen, a small DFA).
//! During a request, the values a rule reads (one collection member set under one
//! transformation chain: a *view*) are scanned once with their target's automaton; the
//! result, one bit per regex, is shared by every rule reading the same view. A rule whose
//! first condition is a plain `@rx` with a literal set, over views that all lack its bit,
//! cannot match and is skipped without gathering, transforming or running its DFA.
//!
//! A regex whose literal list holds the empty literal also matches through any *rare* byte
//! ([`rare_byte`]): its bit is set for every value that holds one, whatever the literals
//! (the compiler's rare-byte split, for patterns that allow quotes or `$` expansions
//! between the letters of every word). An engine that predates the marker ignores such a
//! list (it skips every list with an empty literal), which only costs the skip.
//!
//! The skip is exact as long as the literal sets are (a superset is harmless): targets are
//! taken whole (exclusions and run-time target removals only shrink what a rule reads),
//! negated and counting conditions are never skipped, multi-match views scan every
//! intermediate value, and views are
//! recomputed when the request body or the response arrives.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

use crate::program::{Collection, Operator, Program, Selector, Target};
use crate::transform::Transform;

/// `@pm` sets with more literals than this are not prefiltered. Measured on CRS v4 PL1
/// (benign GET, natively, the automaton holding only the literals of rules that can run):
/// at 200, 2,119 literals, 0.69 MB, 4-8% slower than at 1,000 (4,174 literals, 0.97 MB);
/// at 1,500, 4,691 literals, 1.05 MB (CRS's 1,192-line `lfi-os-files.data`, read by
/// 930120 on every argument and cookie, is then prefiltered too), 1-3% faster than 1,000;
/// with every set, 6,458 literals and 1.9 MB for no further gain (all measured with one
/// automaton for every target).
const MAX_PM_LITERALS: usize = 1500;
/// Targets whose rules need more literals than this share one automaton (the union of
/// their sets): CRS's arguments, argument names, cookies and XML each need about 4,000,
/// nearly the same ones, and one copy of them is about 1 MB. The others get their own.
const SHARED_SCANNER_LITERALS: usize = 1000;
/// At most this many automata (a bit per scanner in `slot_scanners`); further targets
/// share the first.
const MAX_SCANNERS: usize = 32;
/// Largest aho-corasick DFA kept (per automaton); above it the contiguous NFA is used.
const MAX_DFA_BYTES: usize = 1 << 20;
/// Literal sets larger than this go straight to the contiguous NFA.
const MAX_DFA_LITERALS: usize = 256;

/// The bytes the prefilter's rare-byte marker stands for: all but ASCII letters, digits,
/// space and `. - _ /` (the bytes of ordinary words, numbers, identifiers and paths, which
/// parsed arguments and cookies mostly consist of).
pub const fn rare_byte(b: u8) -> bool {
    !(b.is_ascii_alphanumeric() || matches!(b, b' ' | b'.' | b'-' | b'_' | b'/'))
}

const RARE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = rare_byte(i as u8);
        i += 1;
    }
    t
};

/// One view: the members of a collection a selector picks, under a transformation chain.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct View {
    /// The collection and member selector (no exclusions).
    pub target: Target,
    /// The transformation chain.
    pub transforms: Vec<Transform>,
    /// Hash of `transforms` (the transformation cache key).
    pub chain: u64,
    /// `multiMatch`: every intermediate value is scanned, not only the last.
    pub multi: bool,
    /// The least [`crate::transform::plain_class`] of a value whose raw bytes stand for
    /// all its transformed forms under this chain: 1 when every transformation is
    /// [`Transform::plain_identity`] and none removes whitespace, 2 when one does, 0 (trust
    /// no value) when a transformation is not plain-identity.
    pub min_class: u8,
    /// The [`Transform::scan_trigger`]s of the chain: a value whose features miss them
    /// all is scanned as its raw bytes (the chain changes at most its case).
    pub scan_trigger: u32,
    /// Index into [`Prefilter::bases`] of `target`: the plain values of a target are
    /// scanned once for all its plain views.
    pub base: u16,
}

/// Which views a skippable rule reads and which bit its regex has. Plain data, one per
/// rule in one array: deciding a skip reads no pointer (a request visits hundreds of rules
/// and, behind a proxy, finds few of them in the CPU cache).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    /// The regex's bit.
    pub slot: u32,
    /// The rule's views: `len` indices into [`Prefilter::views`] from `start` in
    /// [`Prefilter::plan_views`].
    pub start: u32,
    pub len: u16,
    /// The views' [`View::min_class`] (they share the rule's transformation chain).
    pub min_class: u8,
}

/// What deciding a view needs before (and, when its plain values come from the base,
/// instead of) walking its values: [`View::base`] and [`View::min_class`], packed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ViewHot {
    pub base: u16,
    pub min_class: u8,
}

/// One automaton and the bits its patterns set.
pub(crate) struct Scanner {
    ac: Option<AhoCorasick>,
    /// For each automaton pattern, the bits it sets.
    feeds: Vec<Vec<u32>>,
}

/// The automata and the per-rule plans, built once per VM.
pub struct Prefilter {
    /// The automata: each target (base) is scanned with one of them, holding the literals
    /// of exactly the regexes that rules reading that target may skip by (a header's value
    /// need not go through the thousands of `@pm` words only arguments are checked for).
    pub(crate) scanners: Vec<Scanner>,
    /// Per base (the index of [`Prefilter::bases`]), its scanner.
    pub(crate) base_scanner: Vec<u8>,
    /// Per bit, the scanners holding all its literals (bit `i`: scanner `i`).
    pub(crate) slot_scanners: Vec<u32>,
    /// `u64` words per view bitset.
    pub(crate) words: usize,
    pub(crate) views: Vec<View>,
    /// The distinct targets of the views.
    pub(crate) bases: Vec<Target>,
    /// Per rule (program order), the plan of its first condition.
    pub(crate) plans: Vec<Option<Plan>>,
    /// The views of every plan, each plan's a contiguous run.
    pub(crate) plan_views: Vec<u16>,
    /// Per view, its [`ViewHot`] (the same index as [`Prefilter::views`]).
    pub(crate) hot: Vec<ViewHot>,
    /// The bits of the regexes that also match through any rare byte (empty when none).
    pub(crate) rare_mask: Vec<u64>,
}

/// Whether a first condition may be skipped by its literals: not negated, and reading
/// whole members of stable collections.
fn plannable(cond: &crate::program::Condition) -> bool {
    !cond.negated
        && !cond.targets.is_empty()
        && !cond
            .targets
            .iter()
            .any(|t| t.count || !stable_collection(t.collection))
}

/// Collections whose members do not change within a phase and may be scanned once.
fn stable_collection(c: Collection) -> bool {
    use Collection::*;
    matches!(
        c,
        Args | ArgsGet
            | ArgsPost
            | ArgsNames
            | ArgsGetNames
            | ArgsPostNames
            | RequestCookies
            | RequestCookiesNames
            | RequestHeaders
            | RequestHeadersNames
            | RequestFilename
            | RequestBasename
            | RequestUri
            | RequestUriRaw
            | RequestPathRaw
            | RequestLine
            | RequestMethod
            | RequestProtocol
            | QueryString
            | RequestBody
            | RawBody
            | Xml
            | Files
            | FilesNames
            | MultipartPartHeaders
            | ResponseHeaders
            | ResponseBody
            | RemoteAddr
    )
}

impl Prefilter {
    /// Builds the automata and a plan for every rule that can be skipped, among the rules
    /// `live` marks (by program index) as able to run (the others are never evaluated:
    /// rules the load-time folding left out, e.g. those above the paranoia level). Only the
    /// regexes and `@pm` sets that a live rule's plan reads give literals, so the automata,
    /// their matches and the bitsets stay as small as the policy in force. `chain_hash` is
    /// the evaluator's transformation-chain hash.
    pub(crate) fn build(
        program: &Program,
        chain_hash: fn(&[Transform]) -> u64,
        live: &[bool],
    ) -> Prefilter {
        let live = |ri: usize| live.get(ri).copied().unwrap_or(false);
        // Per bit: its literals (lower case). Bits are given to the regexes and `@pm` sets
        // some live rule may skip by.
        let mut slot_lits: Vec<Vec<Vec<u8>>> = Vec::new();
        let mut slot_of: Vec<Option<u32>> = vec![None; program.regexes.len()];
        let mut set_slot_of: Vec<Option<u32>> = vec![None; program.literal_sets.len()];
        let mut rare_slots: Vec<u32> = Vec::new();
        let mut wanted_rx = vec![false; program.regexes.len()];
        let mut wanted_set = vec![false; program.literal_sets.len()];
        for (ri, rule) in program.rules.iter().enumerate() {
            if !live(ri) || !plannable(&rule.cond) {
                continue;
            }
            let w = match rule.cond.operator {
                Operator::Rx(r) => wanted_rx.get_mut(r as usize),
                Operator::Pm(p) => wanted_set.get_mut(p as usize),
                _ => None,
            };
            if let Some(w) = w {
                *w = true;
            }
        }
        // Regexes: every match contains a required literal. `@pm` sets: a match is one of
        // the literals (empty ones are ignored by the matcher, so a set of only empty
        // literals never matches and needs no bit).
        let sources = program
            .regexes
            .iter()
            .enumerate()
            .filter(|&(i, _)| wanted_rx.get(i).copied().unwrap_or(false))
            .map(|(i, d)| {
                // A regex's empty literal is the rare-byte marker.
                let rare = d.required_literals.iter().any(Vec::is_empty);
                let lits: Vec<&Vec<u8>> = d
                    .required_literals
                    .iter()
                    .filter(|l| !l.is_empty())
                    .collect();
                (false, i, lits, rare)
            })
            .chain(
                program
                    .literal_sets
                    .iter()
                    .enumerate()
                    .filter(|&(i, _)| wanted_set.get(i).copied().unwrap_or(false))
                    .map(|(i, set)| {
                        let lits: Vec<&Vec<u8>> =
                            set.literals.iter().filter(|l| !l.is_empty()).collect();
                        // The biggest `@pm` lists (CRS's run to thousands) would swell the
                        // automata; their rules run unfiltered.
                        if lits.len() > MAX_PM_LITERALS {
                            return (true, i, Vec::new(), false);
                        }
                        (true, i, lits, false)
                    }),
            );
        for (is_set, i, lits, rare) in sources {
            if lits.is_empty() && !rare {
                continue;
            }
            let Ok(slot) = u32::try_from(slot_lits.len()) else {
                break;
            };
            if rare {
                rare_slots.push(slot);
            }
            let table = if is_set {
                &mut set_slot_of
            } else {
                &mut slot_of
            };
            if let Some(s) = table.get_mut(i) {
                *s = Some(slot);
            }
            let mut own: Vec<Vec<u8>> = lits.iter().map(|l| l.to_ascii_lowercase()).collect();
            own.sort_unstable();
            own.dedup();
            slot_lits.push(own);
        }
        let mut views: Vec<View> = Vec::new();
        let mut bases: Vec<Target> = Vec::new();
        let mut plan_views: Vec<u16> = Vec::new();
        let plans: Vec<Option<Plan>> = program
            .rules
            .iter()
            .enumerate()
            .map(|(ri, rule)| {
                let cond = &rule.cond;
                if !live(ri) || !plannable(cond) {
                    return None;
                }
                let slot = match cond.operator {
                    Operator::Rx(r) => (*slot_of.get(r as usize)?)?,
                    Operator::Pm(p) => (*set_slot_of.get(p as usize)?)?,
                    _ => return None,
                };
                let chain = chain_hash(&cond.transforms);
                let min_class = if !cond.transforms.iter().all(Transform::plain_identity) {
                    0
                } else if cond.transforms.contains(&Transform::RemoveWhitespace) {
                    2
                } else {
                    1
                };
                let mut ids = Vec::new();
                for t in &cond.targets {
                    let mut view = View {
                        target: Target {
                            collection: t.collection,
                            // A key regex selects a subset of the members: read them all.
                            selector: match &t.selector {
                                Selector::Regex(_) => Selector::All,
                                s => s.clone(),
                            },
                            count: false,
                            exclude: Vec::new(),
                        },
                        transforms: cond.transforms.clone(),
                        chain,
                        multi: cond.multi_match,
                        min_class,
                        scan_trigger: cond.transforms.iter().fold(0, |a, t| a | t.scan_trigger()),
                        base: 0,
                    };
                    let base = match bases.iter().position(|b| *b == view.target) {
                        Some(b) => b,
                        None => {
                            bases.push(view.target.clone());
                            bases.len() - 1
                        }
                    };
                    view.base = u16::try_from(base).ok()?;
                    let id = match views.iter().position(|v| *v == view) {
                        Some(id) => id,
                        None => {
                            views.push(view);
                            views.len() - 1
                        }
                    };
                    let id = u16::try_from(id).ok()?;
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                let start = u32::try_from(plan_views.len()).ok()?;
                let len = u16::try_from(ids.len()).ok()?;
                plan_views.extend_from_slice(&ids);
                Some(Plan {
                    slot,
                    start,
                    len,
                    min_class,
                })
            })
            .collect();
        // Per base, the bits of the plans reading it: what its values must be scanned for.
        let mut base_slots: Vec<Vec<u32>> = vec![Vec::new(); bases.len()];
        for p in plans.iter().flatten() {
            for &v in plan_run(&plan_views, p) {
                let base = views.get(usize::from(v)).map(|v| usize::from(v.base));
                if let Some(set) = base.and_then(|b| base_slots.get_mut(b)) {
                    set.push(p.slot);
                }
            }
        }
        let literal_count = |set: &[u32]| -> usize {
            set.iter()
                .filter_map(|&s| slot_lits.get(s as usize))
                .map(Vec::len)
                .sum()
        };
        // The scanners: the bases whose sets are big (CRS's arguments and cookies, read by
        // the rules with the long word lists) share one automaton, the union of their sets;
        // every other distinct set gets its own (most are a few dozen literals, small
        // enough for an aho-corasick DFA). Scanner 0 is the shared one.
        let mut sets: Vec<Vec<u32>> = vec![Vec::new()];
        let mut base_scanner: Vec<u8> = Vec::with_capacity(bases.len());
        for set in &mut base_slots {
            set.sort_unstable();
            set.dedup();
        }
        for set in &base_slots {
            let big = literal_count(set) > SHARED_SCANNER_LITERALS;
            let at = if big {
                0
            } else if let Some(at) = sets.iter().skip(1).position(|s| s == set) {
                at + 1
            } else if sets.len() < MAX_SCANNERS {
                sets.push(set.clone());
                sets.len() - 1
            } else {
                0
            };
            if at == 0 {
                if let Some(shared) = sets.first_mut() {
                    shared.extend_from_slice(set);
                    shared.sort_unstable();
                    shared.dedup();
                }
            }
            base_scanner.push(u8::try_from(at).unwrap_or(0));
        }
        let mut slot_scanners = vec![0u32; slot_lits.len()];
        let scanners = sets
            .iter()
            .enumerate()
            .map(|(g, set)| {
                let mut literals: Vec<&[u8]> = Vec::new();
                let mut feeds: Vec<Vec<u32>> = Vec::new();
                let mut index: std::collections::HashMap<&[u8], usize> = Default::default();
                for &slot in set {
                    if let Some(m) = slot_scanners.get_mut(slot as usize) {
                        *m |= 1 << g;
                    }
                    for l in slot_lits
                        .get(slot as usize)
                        .map(Vec::as_slice)
                        .unwrap_or_default()
                    {
                        let at = *index.entry(l.as_slice()).or_insert_with(|| {
                            literals.push(l);
                            feeds.push(Vec::new());
                            feeds.len() - 1
                        });
                        if let Some(f) = feeds.get_mut(at) {
                            if !f.contains(&slot) {
                                f.push(slot);
                            }
                        }
                    }
                }
                Scanner {
                    ac: automaton(&literals),
                    feeds,
                }
            })
            .collect();
        let hot = views
            .iter()
            .map(|v| ViewHot {
                base: v.base,
                min_class: v.min_class,
            })
            .collect();
        let words = slot_lits.len().div_ceil(64);
        let mut rare_mask = Vec::new();
        if !rare_slots.is_empty() {
            rare_mask = vec![0u64; words];
            for s in rare_slots {
                if let Some(w) = rare_mask.get_mut(s as usize / 64) {
                    *w |= 1 << (s % 64);
                }
            }
        }
        Prefilter {
            scanners,
            base_scanner,
            slot_scanners,
            words,
            views,
            bases,
            plans,
            plan_views,
            hot,
            rare_mask,
        }
    }

    /// (automaton kinds, literal count, heap bytes) for reports, summed over the scanners.
    pub fn describe(&self) -> (String, usize, usize) {
        let mut kinds: Vec<String> = Vec::new();
        let (mut lits, mut bytes) = (0, 0);
        for ac in self.scanners.iter().filter_map(|s| s.ac.as_ref()) {
            kinds.push(format!("{:?}:{}", ac.kind(), ac.patterns_len()));
            lits += ac.patterns_len();
            bytes += ac.memory_usage();
        }
        if kinds.is_empty() {
            kinds.push("none".into());
        }
        (kinds.join(","), lits, bytes)
    }

    /// Plan `p`'s views.
    pub(crate) fn views_of(&self, p: &Plan) -> &[u16] {
        plan_run(&self.plan_views, p)
    }

    /// Number of rules that may be skipped.
    pub fn skippable_rules(&self) -> usize {
        self.plans.iter().filter(|p| p.is_some()).count()
    }

    /// Sets in `bits` the bit of every regex of scanner `scanner` whose literal occurs in
    /// `value`, and of every regex with the rare-byte marker when `value` holds a rare byte.
    pub(crate) fn scan(&self, scanner: usize, value: &[u8], bits: &mut [u64]) {
        if !self.rare_mask.is_empty() && value.iter().any(|&b| RARE[usize::from(b)]) {
            for (w, m) in bits.iter_mut().zip(&self.rare_mask) {
                *w |= m;
            }
        }
        let Some(Scanner {
            ac: Some(ac),
            feeds,
        }) = self.scanners.get(scanner)
        else {
            return;
        };
        for m in ac.find_overlapping_iter(value) {
            if let Some(f) = feeds.get(m.pattern().as_usize()) {
                for &s in f {
                    if let Some(w) = bits.get_mut(s as usize / 64) {
                        *w |= 1 << (s % 64);
                    }
                }
            }
        }
    }

    /// The scanner the values of base `b` are scanned with.
    pub(crate) fn scanner_of(&self, b: usize) -> usize {
        self.base_scanner.get(b).map_or(0, |&s| usize::from(s))
    }
}

/// Plan `p`'s run of view indices in `plan_views`.
fn plan_run<'a>(plan_views: &'a [u16], p: &Plan) -> &'a [u16] {
    let start = p.start as usize;
    plan_views
        .get(start..start + usize::from(p.len))
        .unwrap_or_default()
}

/// An automaton over `literals`: a DFA for small sets (the fastest scan), else the
/// contiguous NFA (a DFA over CRS's 2,400 literals takes 7 MB, and wasm memory once grown
/// never shrinks, so the big case must not even be tried). `None` for no literals.
fn automaton(literals: &[&[u8]]) -> Option<AhoCorasick> {
    let build = |kind| {
        AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .kind(kind)
            .build(literals)
            .ok()
    };
    if literals.is_empty() {
        None
    } else if literals.len() <= MAX_DFA_LITERALS {
        match build(Some(AhoCorasickKind::DFA)) {
            Some(d) if d.memory_usage() <= MAX_DFA_BYTES => Some(d),
            _ => build(Some(AhoCorasickKind::ContiguousNFA)).or_else(|| build(None)),
        }
    } else {
        build(Some(AhoCorasickKind::ContiguousNFA)).or_else(|| build(None))
    }
}
