//! Linear-time matchers built from the bundle: dense DFAs used in place, lazy DFAs for
//! patterns whose dense DFA was too big to ship, and aho-corasick literal sets.

use core::cell::RefCell;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use regex_automata::{
    dfa::{dense, Automaton},
    hybrid,
    util::syntax,
    Input,
};

use crate::program::{LiteralSet, RegexDef};

/// A regex ready to search.
pub enum Matcher<'b> {
    /// A dense DFA deserialized from the bundle without copying.
    Dense(dense::DFA<&'b [u32]>),
    /// A dense DFA copied out of a misaligned buffer.
    DenseOwned(dense::DFA<Vec<u32>>),
    /// A lazy DFA built at load from the pattern, with its cache.
    Lazy(Box<hybrid::dfa::DFA>, RefCell<hybrid::dfa::Cache>),
    /// A pattern that matches every input at offset 0 through its end (see
    /// [`matches_whole_input`]): no automaton is run.
    All,
}

/// Whether `def` matches every input, the whole of it: `^.*$`, `^.*`, `.*$` or `.*` (each
/// optionally after `(?i)`) with `.` matching line feeds. Leftmost-first, `^` holds at
/// offset 0, the greedy `.*` runs to the end, and `$` holds there (multi-line or not). CRS
/// 920450 captures every header name with `^.*$` (TX:0 is the name), ten times per request.
pub fn matches_whole_input(def: &RegexDef) -> bool {
    let p = def.pattern.strip_prefix("(?i)").unwrap_or(&def.pattern);
    def.flags.dot_all && matches!(p, "^.*$" | "^.*" | ".*$" | ".*")
}

/// Bytes of lazy DFA cache per fallback regex: bounded memory; search stays linear.
pub const LAZY_CACHE_BYTES: usize = 512 * 1024;

/// Why a matcher could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatcherError(pub String);

impl core::fmt::Display for MatcherError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'b> Matcher<'b> {
    /// Builds the matcher for `def`, using `dfas[i]` for a precompiled DFA.
    pub fn build(
        index: usize,
        def: &RegexDef,
        dfas: &[&'b [u8]],
    ) -> Result<Matcher<'b>, MatcherError> {
        if matches_whole_input(def) {
            return Ok(Matcher::All);
        }
        if let Some(d) = def.dfa {
            let bytes = dfas.get(d as usize).ok_or_else(|| {
                MatcherError(format!("regex #{index}: DFA section {d} does not exist"))
            })?;
            if (bytes.as_ptr() as usize).is_multiple_of(4) {
                let (dfa, _) = dense::DFA::from_bytes(bytes).map_err(|e| {
                    MatcherError(format!("regex #{index}: DFA section {d} is invalid: {e}"))
                })?;
                return Ok(Matcher::Dense(dfa));
            }
            // Misaligned buffer: copy into u32 storage, then validate the copy.
            let mut words = vec![0u32; bytes.len().div_ceil(4)];
            for (w, chunk) in words.iter_mut().zip(bytes.chunks(4)) {
                let mut a = [0u8; 4];
                a[..chunk.len()].copy_from_slice(chunk);
                *w = u32::from_ne_bytes(a);
            }
            let view: &[u8] = words_as_bytes(&words, bytes.len());
            let (dfa, _) = dense::DFA::from_bytes(view).map_err(|e| {
                MatcherError(format!("regex #{index}: DFA section {d} is invalid: {e}"))
            })?;
            return Ok(Matcher::DenseOwned(dfa.to_owned()));
        }
        let dfa = hybrid::dfa::DFA::builder()
            .syntax(syntax_config(def))
            .configure(
                hybrid::dfa::Config::new()
                    .cache_capacity(LAZY_CACHE_BYTES)
                    .skip_cache_capacity_check(true),
            )
            .build(&def.pattern)
            .map_err(|e| {
                MatcherError(format!("regex #{index} {:?}: {e}", truncate(&def.pattern)))
            })?;
        let cache = dfa.create_cache();
        Ok(Matcher::Lazy(Box::new(dfa), RefCell::new(cache)))
    }

    /// Whether the regex matches anywhere in `hay`. Errors (which byte-mode DFAs without
    /// quit bytes do not produce) count as no match and are reported by `Err`.
    pub fn is_match(&self, hay: &[u8]) -> Result<bool, MatcherError> {
        let input = Input::new(hay).earliest(true);
        let r = match self {
            Matcher::Dense(d) => d.try_search_fwd(&input).map(|m| m.is_some()),
            Matcher::DenseOwned(d) => d.try_search_fwd(&input).map(|m| m.is_some()),
            Matcher::Lazy(d, cache) => {
                let Ok(mut c) = cache.try_borrow_mut() else {
                    return Err(MatcherError("lazy DFA cache busy".into()));
                };
                d.try_search_fwd(&mut c, &input).map(|m| m.is_some())
            }
            Matcher::All => Ok(true),
        };
        r.map_err(|e| MatcherError(e.to_string()))
    }

    /// Approximate heap bytes held (for memory reports).
    pub fn memory_usage(&self) -> usize {
        match self {
            Matcher::Dense(_) | Matcher::All => 0,
            Matcher::DenseOwned(d) => d.memory_usage(),
            Matcher::Lazy(d, c) => {
                d.memory_usage() + c.try_borrow().map(|c| c.memory_usage()).unwrap_or(0)
            }
        }
    }
}

fn words_as_bytes(words: &[u32], len: usize) -> &[u8] {
    // SAFETY: u32 has no padding or invalid bit patterns; the view covers `len <= 4 *
    // words.len()` bytes of the same allocation and lives as long as `words`.
    let all = unsafe { core::slice::from_raw_parts(words.as_ptr().cast::<u8>(), words.len() * 4) };
    all.get(..len).unwrap_or(all)
}

/// The regex-syntax settings every waap regex uses: byte semantics (no Unicode, invalid
/// UTF-8 allowed) plus the definition's flags. The compiler must use the same.
pub fn syntax_config(def: &RegexDef) -> syntax::Config {
    syntax::Config::new()
        .unicode(false)
        .utf8(false)
        .case_insensitive(def.flags.case_insensitive)
        .dot_matches_new_line(def.flags.dot_all)
        .multi_line(def.flags.multi_line)
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(60) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// An `@pm` literal set: ASCII case-insensitive "contains any of".
pub struct LiteralMatcher {
    ac: Option<AhoCorasick>,
}

impl LiteralMatcher {
    /// Builds the automaton (aho-corasick does not serialize, so this runs at load).
    pub fn build(index: usize, set: &LiteralSet) -> Result<LiteralMatcher, MatcherError> {
        let lits: Vec<&[u8]> = set
            .literals
            .iter()
            .map(Vec::as_slice)
            .filter(|l| !l.is_empty())
            .collect();
        if lits.is_empty() {
            return Ok(LiteralMatcher { ac: None });
        }
        let ac = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&lits)
            .or_else(|_| {
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .build(&lits)
            })
            .map_err(|e| MatcherError(format!("literal set #{index}: {e}")))?;
        Ok(LiteralMatcher { ac: Some(ac) })
    }

    /// Whether any literal occurs in `hay`.
    pub fn is_match(&self, hay: &[u8]) -> bool {
        self.ac.as_ref().is_some_and(|ac| ac.is_match(hay))
    }

    /// Calls `f` with the index of every literal that occurs in `hay` (overlapping matches
    /// included; an index may repeat).
    pub fn for_each_match(&self, hay: &[u8], mut f: impl FnMut(usize)) {
        if let Some(ac) = &self.ac {
            for m in ac.find_overlapping_iter(hay) {
                f(m.pattern().as_usize());
            }
        }
    }

    /// The first literal found, for logs.
    pub fn find<'h>(&self, hay: &'h [u8]) -> Option<&'h [u8]> {
        let m = self.ac.as_ref()?.find(hay)?;
        hay.get(m.start()..m.end())
    }
}

/// Capture groups for `capture` rules: a PikeVM (linear time: O(pattern x input)), built
/// on first use because only matching values of capturing rules ever need it.
pub struct CaptureMatcher {
    vm: regex_automata::nfa::thompson::pikevm::PikeVM,
    cache: RefCell<regex_automata::nfa::thompson::pikevm::Cache>,
    caps: RefCell<regex_automata::util::captures::Captures>,
    /// For a pattern without groups (TX:0 only, as in CRS 920450's `^.*$`): the match
    /// span from forward and reverse lazy DFAs, many times faster than the PikeVM (which
    /// still answers if the lazy DFAs give up).
    span: Option<(hybrid::regex::Regex, RefCell<hybrid::regex::Cache>)>,
    /// The pattern matches every input whole ([`matches_whole_input`]): TX:0 is the input.
    whole: bool,
}

/// Groups SecLang exposes as TX:0..TX:9.
pub const MAX_CAPTURES: usize = 10;

impl CaptureMatcher {
    /// Builds the capture matcher for `def`.
    pub fn build(def: &RegexDef) -> Result<CaptureMatcher, MatcherError> {
        let vm = regex_automata::nfa::thompson::pikevm::PikeVM::builder()
            .syntax(syntax_config(def))
            .build(&def.pattern)
            .map_err(|e| {
                MatcherError(format!("capture regex {:?}: {e}", truncate(&def.pattern)))
            })?;
        let cache = RefCell::new(vm.create_cache());
        let caps = RefCell::new(vm.create_captures());
        let whole = matches_whole_input(def);
        let span = if !whole && vm.get_nfa().group_info().all_group_len() == 1 {
            hybrid::regex::Regex::builder()
                .syntax(syntax_config(def))
                .dfa(
                    hybrid::dfa::Config::new()
                        .cache_capacity(LAZY_CACHE_BYTES / 4)
                        .skip_cache_capacity_check(true),
                )
                .build(&def.pattern)
                .ok()
                .map(|re| {
                    let c = RefCell::new(re.create_cache());
                    (re, c)
                })
        } else {
            None
        };
        Ok(CaptureMatcher {
            vm,
            cache,
            caps,
            span,
            whole,
        })
    }

    /// Calls `group` with each of groups 0..=9 of the leftmost-first match in `hay` (`None`
    /// for groups that did not take part), in order, without copying; nothing when there
    /// is no match.
    pub fn captures_with(&self, hay: &[u8], group: &mut dyn FnMut(usize, Option<&[u8]>)) {
        if self.whole {
            return group(0, Some(hay));
        }
        if let Some((re, cache)) = &self.span {
            if let Ok(mut c) = cache.try_borrow_mut() {
                match re.try_search(&mut c, &Input::new(hay)) {
                    Ok(Some(m)) => return group(0, hay.get(m.range())),
                    Ok(None) => return,
                    // The lazy DFAs gave up: the PikeVM decides.
                    Err(_) => {}
                }
            }
        }
        let (Ok(mut cache), Ok(mut caps)) =
            (self.cache.try_borrow_mut(), self.caps.try_borrow_mut())
        else {
            return;
        };
        self.vm.search(&mut cache, &Input::new(hay), &mut caps);
        if !caps.is_match() {
            return;
        }
        for i in 0..caps.group_len().min(MAX_CAPTURES) {
            group(i, caps.get_group(i).and_then(|s| hay.get(s.start..s.end)));
        }
    }
}

/// A key-selector regex that is only a literal (`^name_`, `name.*`, `NAME_*`): answered by
/// a byte comparison instead of a DFA run (CRS's `TX:/^header_name_920450_/` runs over
/// every TX variable for every header).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyForm {
    /// The literal.
    pub literal: Vec<u8>,
    /// `^literal`: at the start (or, with `multi_line`, after any `\n`); else anywhere.
    pub anchored: bool,
    /// ASCII case-insensitive.
    pub ci: bool,
    /// `^` also matches after a line feed, as in ModSecurity's selector regexes (waapc
    /// compiles every SecLang regex multi-line, as ModSecurity v3 does).
    pub multi_line: bool,
}

impl KeyForm {
    /// The form of `def`, if it is that simple.
    pub fn of(def: &RegexDef) -> Option<KeyForm> {
        let plain = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-';
        let mut p = def.pattern.as_bytes();
        let mut ci = def.flags.case_insensitive;
        if let Some(r) = p.strip_prefix(b"(?i)") {
            p = r;
            ci = true;
        }
        let anchored = match p.strip_prefix(b"^") {
            Some(r) => {
                p = r;
                true
            }
            None => false,
        };
        // A trailing `.*` or `c*` (zero or more of one plain byte) matches the empty string.
        if let [rest @ .., a, b'*'] = p {
            if *a == b'.' || plain(a) {
                p = rest;
            }
        }
        if p.is_empty() || !p.iter().all(plain) {
            return None;
        }
        Some(KeyForm {
            literal: p.to_vec(),
            anchored,
            ci,
            multi_line: def.flags.multi_line,
        })
    }

    /// Whether `key` matches.
    pub fn is_match(&self, key: &[u8]) -> bool {
        let eq = |a: &[u8]| {
            if self.ci {
                a.eq_ignore_ascii_case(&self.literal)
            } else {
                a == self.literal.as_slice()
            }
        };
        if self.anchored {
            let at = |i: usize| key.get(i..i + self.literal.len()).is_some_and(eq);
            at(0)
                || (self.multi_line
                    && key
                        .iter()
                        .enumerate()
                        .any(|(i, &b)| b == b'\n' && at(i + 1)))
        } else {
            key.windows(self.literal.len()).any(eq)
        }
    }
}

/// A cheap necessary condition for a regex: every match contains one of its required
/// literals, so a value that lacks all of their (case-folded) byte pairs cannot match. The
/// value's pairs are hashed into 256 bits; a literal passes when all its pair bits are set.
/// False positives only cost the DFA run the gate would have skipped.
#[derive(Clone, Debug)]
pub struct LiteralGate {
    masks: Vec<[u64; 4]>,
}

/// Values longer than this skip the gate: their pair set is nearly full, and one DFA scan
/// costs about what the signature does.
pub const GATE_MAX_VALUE: usize = 1024;
/// Values shorter than this skip the gate too: a DFA run over a few bytes is cheaper than the
/// signature (measured on CRS: gating short values cost more than it saved).
pub const GATE_MIN_VALUE: usize = 64;

fn pair_bit(a: u8, b: u8) -> usize {
    let h = (a.to_ascii_lowercase() as u32)
        .wrapping_mul(31)
        .wrapping_add(b.to_ascii_lowercase() as u32);
    (h.wrapping_mul(0x9E37_79B1) >> 24) as usize
}

/// The 256-bit byte-pair signature of `v`.
pub fn pair_signature(v: &[u8]) -> [u64; 4] {
    let mut sig = [0u64; 4];
    for w in v.windows(2) {
        if let [a, b] = *w {
            let bit = pair_bit(a, b);
            if let Some(word) = sig.get_mut(bit / 64) {
                *word |= 1 << (bit % 64);
            }
        }
    }
    sig
}

impl LiteralGate {
    /// The gate for these literals (each at least 2 bytes), or `None` if there are none.
    pub fn new(literals: &[Vec<u8>]) -> Option<LiteralGate> {
        if literals.is_empty() || literals.iter().any(|l| l.len() < 2) {
            return None;
        }
        Some(LiteralGate {
            masks: literals.iter().map(|l| pair_signature(l)).collect(),
        })
    }

    /// Whether a value with signature `sig` may contain one of the literals.
    pub fn may_match(&self, sig: &[u64; 4]) -> bool {
        self.masks
            .iter()
            .any(|m| m.iter().zip(sig).all(|(m, s)| m & !s == 0))
    }
}

#[cfg(test)]
mod gate_tests {
    use super::*;

    #[test]
    fn key_forms_answer_like_the_regex() {
        // waapc compiles SecLang selector regexes multi-line (as ModSecurity v3 does): the
        // forms must hold for both, and a test with only the default flags once hid that
        // no CRS selector got a form.
        for multi_line in [false, true] {
            key_forms_answer_like_the_regex_with(multi_line);
        }
    }

    fn key_forms_answer_like_the_regex_with(multi_line: bool) {
        let def = |p: &str, ci: bool| RegexDef {
            pattern: p.into(),
            dfa: None,
            flags: crate::program::RegexFlags {
                case_insensitive: ci,
                multi_line,
                ..Default::default()
            },
            required_literals: vec![],
        };
        let cases: &[(&str, bool, &[u8], bool)] = &[
            (
                "^header_name_920450_",
                false,
                b"header_name_920450_accept",
                true,
            ),
            (
                "^header_name_920450_",
                false,
                b"x_header_name_920450_",
                false,
            ),
            ("paramcounter_.*", false, b"tx_paramcounter_a", true),
            (
                "MULTIPART_HEADERS_CONTENT_TYPES_*",
                false,
                b"multipart_headers_content_types_x",
                false,
            ),
            (
                "MULTIPART_HEADERS_CONTENT_TYPES_*",
                true,
                b"multipart_headers_content_types",
                true,
            ),
            ("(?i)^abc", false, b"ABCd", true),
            // After a line feed `^` matches only in multi-line mode.
            ("^abc", false, b"x\nabcd", multi_line),
            ("^abc", false, b"x\nab", false),
            ("^abc", false, b"xabc\n", false),
            ("^abc", false, b"abc\n", true),
        ];
        for (p, ci, key, want) in cases {
            let d = def(p, *ci);
            let form = KeyForm::of(&d).unwrap();
            assert_eq!(form.is_match(key), *want, "{p} on {key:?}");
            let m = Matcher::build(0, &d, &[]).unwrap();
            assert_eq!(m.is_match(key).unwrap(), *want, "regex {p} on {key:?}");
        }
        assert!(KeyForm::of(&def("^a.b", false)).is_none());
        assert!(KeyForm::of(&def("abc$", false)).is_none());
        assert!(KeyForm::of(&def("^(?:a|b)", false)).is_none());
    }

    #[test]
    fn whole_input_patterns_answer_like_the_regex_engines() {
        // The shortcut must give what the automata give: the match and group 0 of the
        // PikeVM (which does not take the shortcut), for every flag set and for inputs with
        // line feeds where `.` without DOTALL, or `$`, would stop.
        let hays: &[&[u8]] = &[b"", b"user-agent", b"a\nb", b"\n", b"x\n", b"\xff\x00z"];
        for pattern in ["^.*$", "^.*", ".*$", ".*", "(?i)^.*$", "^.+$", "^.*$x"] {
            for bits in 0..8u8 {
                let d = RegexDef {
                    pattern: pattern.into(),
                    dfa: None,
                    flags: crate::program::RegexFlags {
                        case_insensitive: bits & 1 != 0,
                        dot_all: bits & 2 != 0,
                        multi_line: bits & 4 != 0,
                    },
                    required_literals: vec![],
                };
                let shortcut = matches_whole_input(&d);
                assert_eq!(
                    shortcut,
                    d.flags.dot_all && !pattern.contains('+') && !pattern.ends_with('x'),
                    "{pattern} {bits}"
                );
                let m = Matcher::build(0, &d, &[]).unwrap();
                assert_eq!(matches!(m, Matcher::All), shortcut);
                let cm = CaptureMatcher::build(&d).unwrap();
                let vm = regex_automata::nfa::thompson::pikevm::PikeVM::builder()
                    .syntax(syntax_config(&d))
                    .build(&d.pattern)
                    .unwrap();
                let lazy = hybrid::dfa::DFA::builder()
                    .syntax(syntax_config(&d))
                    .build(&d.pattern)
                    .unwrap();
                for hay in hays {
                    let want = vm.find(&mut vm.create_cache(), *hay).map(|m| m.range());
                    let mut got = None;
                    cm.captures_with(hay, &mut |i, g| {
                        if i == 0 {
                            got = g.map(|g| {
                                let start = g.as_ptr() as usize - hay.as_ptr() as usize;
                                start..start + g.len()
                            });
                        }
                    });
                    assert_eq!(got, want, "{pattern} {bits} {hay:?}");
                    let lazy_match = lazy
                        .try_search_fwd(&mut lazy.create_cache(), &Input::new(*hay))
                        .unwrap()
                        .is_some();
                    assert_eq!(
                        m.is_match(hay).unwrap(),
                        lazy_match,
                        "{pattern} {bits} {hay:?}"
                    );
                    if shortcut {
                        assert_eq!(want, Some(0..hay.len()), "{pattern} {bits} {hay:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn gate_passes_values_containing_a_literal_in_any_case_and_rejects_others() {
        let g = LiteralGate::new(&[b"union".to_vec(), b"select".to_vec()]).unwrap();
        assert!(g.may_match(&pair_signature(b"1 UNION ALL")));
        assert!(g.may_match(&pair_signature(b"xxselectyy")));
        assert!(!g.may_match(&pair_signature(b"shoes")));
        assert!(LiteralGate::new(&[]).is_none());
        assert!(LiteralGate::new(&[b"a".to_vec()]).is_none());
    }
}
