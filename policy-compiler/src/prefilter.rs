//! Required factors: for a regex, a small set of literals of which every match must
//! contain one (compared ASCII case-insensitively). The engine scans each value once for
//! the literals of every regex (one aho-corasick automaton per VM) and skips the rules
//! whose regex cannot match any value they read, so the set must never miss a match: it may
//! only be too wide.
//!
//! The set is found by walking the regex's syntax tree: a literal requires itself; a
//! concatenation requires whatever its most selective part requires (runs of literal-like
//! parts are joined into longer strings); an alternation requires the union of its
//! branches' sets; a repetition requires its body's set when it repeats at least once;
//! anything that can match the empty string requires nothing. Of the candidate sets, the
//! one least likely to occur in ordinary text wins (an estimate by byte class); a set with a
//! one-byte member that nearly every value holds (a letter, a digit, a space...) is useless.
//!
//! Regexes built for evasion (CRS's command and `javascript:` patterns) allow quotes,
//! backslashes, `$` expansions or entities between the letters of every word, so no
//! literal is required of them. For those a second set is tried: a match either holds a
//! *rare* byte (quotes, brackets, shell metacharacters, control and non-ASCII bytes; see
//! `waap_engine::prefilter::rare_byte`), or it consists of common bytes only and is then a
//! match of the regex with every rare byte removed from its literals and classes, whose own
//! required set completes the union. In the set the empty literal stands for "a rare
//! byte" (the engine's marker). The cheaper of the two sets is kept.

use regex_syntax::hir::{Class, ClassBytes, ClassBytesRange, Hir, HirKind, Repetition};

use waap_engine::program::RegexDef;

/// Most literals a set may hold.
const MAX_SET: usize = 256;
/// Most strings an exact language or a joined run may hold.
const MAX_EXACT: usize = 64;
/// Longest literal kept (longer ones are cut: a prefix of a required literal is required).
const MAX_LITERAL: usize = 16;
/// Largest class taken as a set of one-byte literals (after ASCII case folding). 24 spells
/// out CRS 941120/941160's separator class before `on` (`on` alone is in ordinary words).
const MAX_CLASS: usize = 24;

/// The lowercased literals of which every match of `def` contains one, or an empty list
/// when no useful set exists.
pub fn required_factors(def: &RegexDef) -> Vec<Vec<u8>> {
    let Ok(hir) = regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .case_insensitive(def.flags.case_insensitive)
        .dot_matches_new_line(def.flags.dot_all)
        .multi_line(def.flags.multi_line)
        .build()
        .parse(&def.pattern)
    else {
        return Vec::new();
    };
    let direct = required(&hir).filter(|s| useful(s));
    match direct {
        // A set of words is kept; one with a member of one or two common bytes (CRS's
        // two-letter commands) is weak, and the rare-byte split may do better.
        Some(d) if !weak(&d) => d,
        d => match (d, rare_split(&hir)) {
            (Some(d), Some(r)) if cost(&r) + RARE_COST >= cost(&d) => d,
            (_, Some(r)) => r,
            (d, None) => d.unwrap_or_default(),
        },
    }
}

/// A set with a member of at most two common bytes: nearly every value holds one.
fn weak(set: &[Vec<u8>]) -> bool {
    set.iter()
        .any(|l| l.len() <= 2 && !l.is_empty() && l.iter().all(|&b| !rare(b)))
}

/// Bytes that ordinary request values seldom hold (the engine's definition, which its
/// rare-byte marker stands for).
fn rare(b: u8) -> bool {
    waap_engine::prefilter::rare_byte(b)
}

/// Estimated chance that a benign value holds a rare byte (for [`cost`] comparisons):
/// parsed arguments and cookies seldom do, header values such as the User-Agent often.
const RARE_COST: f64 = 0.2;

/// The set "a rare byte, or what `hir` requires of inputs without rare bytes": the latter's
/// literals followed by the empty literal, the engine's rare-byte marker. `None` when `hir`
/// consumes no rare byte (the direct set says everything) or the common-byte part
/// requires no useful set.
fn rare_split(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    let mut seen = [false; 256];
    consumed(hir, &mut seen);
    if !(0..=255u8).any(|b| seen[usize::from(b)] && rare(b)) {
        return None;
    }
    let mut set = match common_only(hir) {
        // Every match holds a rare byte.
        None => Vec::new(),
        Some(h) => required(&h).filter(|s| useful(s) && !weak(s))?,
    };
    set.push(Vec::new());
    Some(set)
}

/// Whether a value may match a regex with this required set: it holds one of the
/// literals (ASCII case-insensitively), or the set has the rare-byte marker and the value a
/// rare byte. The engine's prefilter answers the same.
pub fn admits(set: &[Vec<u8>], value: &[u8]) -> bool {
    let lower = value.to_ascii_lowercase();
    set.iter().any(|l| {
        if l.is_empty() {
            value.iter().any(|&b| rare(b))
        } else {
            lower.windows(l.len()).any(|w| w == l.as_slice())
        }
    })
}

/// The bytes a class can consume (a class beyond ASCII: every non-ASCII byte, which its
/// UTF-8 forms use).
fn class_members(c: &Class) -> [bool; 256] {
    let mut m = [false; 256];
    match c {
        Class::Bytes(c) => {
            for r in c.ranges() {
                for b in r.start()..=r.end() {
                    m[usize::from(b)] = true;
                }
            }
        }
        Class::Unicode(c) => {
            for r in c.ranges() {
                let (lo, hi) = (u32::from(r.start()), u32::from(r.end()));
                for b in lo..=hi.min(0x7f) {
                    m[b as usize] = true;
                }
                if hi > 0x7f {
                    m[0x80..].fill(true);
                }
            }
        }
    }
    m
}

/// Marks every byte some literal or class of `hir` can consume.
fn consumed(hir: &Hir, seen: &mut [bool; 256]) {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => {}
        HirKind::Literal(l) => {
            for &b in l.0.iter() {
                seen[usize::from(b)] = true;
            }
        }
        HirKind::Class(c) => {
            for (s, m) in seen.iter_mut().zip(class_members(c)) {
                *s |= m;
            }
        }
        HirKind::Capture(c) => consumed(&c.sub, seen),
        HirKind::Repetition(r) => consumed(&r.sub, seen),
        HirKind::Concat(v) | HirKind::Alternation(v) => {
            for h in v {
                consumed(h, seen);
            }
        }
    }
}

/// `hir` restricted to inputs without rare bytes (its literals and classes lose them), or
/// `None` when it then cannot match at all.
fn common_only(hir: &Hir) -> Option<Hir> {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Some(hir.clone()),
        HirKind::Literal(l) => (!l.0.iter().any(|&b| rare(b))).then(|| hir.clone()),
        HirKind::Class(c) => {
            let members = class_members(c);
            let ranges: Vec<ClassBytesRange> = (0..=255u8)
                .filter(|&b| members[usize::from(b)] && !rare(b))
                .map(|b| ClassBytesRange::new(b, b))
                .collect();
            (!ranges.is_empty()).then(|| Hir::class(Class::Bytes(ClassBytes::new(ranges))))
        }
        HirKind::Capture(c) => common_only(&c.sub),
        HirKind::Repetition(r) => match common_only(&r.sub) {
            Some(sub) => Some(Hir::repetition(Repetition {
                min: r.min,
                max: r.max,
                greedy: r.greedy,
                sub: Box::new(sub),
            })),
            None if r.min == 0 => Some(Hir::empty()),
            None => None,
        },
        HirKind::Concat(parts) => parts
            .iter()
            .map(common_only)
            .collect::<Option<Vec<Hir>>>()
            .map(Hir::concat),
        HirKind::Alternation(alts) => {
            let kept: Vec<Hir> = alts.iter().filter_map(common_only).collect();
            (!kept.is_empty()).then(|| Hir::alternation(kept))
        }
    }
}

/// A set helps unless one of its members is a single byte nearly every value holds (a
/// letter, a digit, a space, `.`, `-`, `_`, `/`). Separators such as `;`, `&`, `|` or quotes
/// stay useful: parsed arguments and cookies rarely contain them, and where values do
/// (header values), the rule just runs as it would without a prefilter.
fn useful(set: &[Vec<u8>]) -> bool {
    !set.iter()
        .any(|l| matches!(l.as_slice(), [b] if b.is_ascii_alphanumeric() || b" \t.-_/".contains(b)))
}

/// The exact language of `hir` when it is a small finite set of strings (lowercased),
/// the empty string included when `hir` can match it.
fn exact(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Some(vec![Vec::new()]),
        HirKind::Literal(l) => Some(vec![l.0.to_ascii_lowercase()]),
        HirKind::Class(c) => class_bytes(c).map(|bs| bs.into_iter().map(|b| vec![b]).collect()),
        HirKind::Capture(c) => exact(&c.sub),
        HirKind::Repetition(r) => match (r.min, r.max) {
            (1, Some(1)) => exact(&r.sub),
            (0, Some(1)) => {
                let mut s = exact(&r.sub)?;
                s.push(Vec::new());
                normalize(s)
            }
            _ => None,
        },
        HirKind::Concat(parts) => {
            let mut acc: Vec<Vec<u8>> = vec![Vec::new()];
            for p in parts {
                acc = product(&acc, &exact(p)?)?;
            }
            normalize(acc)
        }
        HirKind::Alternation(alts) => {
            let mut all = Vec::new();
            for a in alts {
                all.extend(exact(a)?);
            }
            normalize(all)
        }
    }
}

/// Every string of `a` followed by every string of `b`, or `None` when too many.
fn product(a: &[Vec<u8>], b: &[Vec<u8>]) -> Option<Vec<Vec<u8>>> {
    if a.len().saturating_mul(b.len()) > MAX_EXACT {
        return None;
    }
    let mut out = Vec::with_capacity(a.len() * b.len());
    for x in a {
        for y in b {
            let mut s = x.clone();
            s.extend_from_slice(y);
            out.push(s);
        }
    }
    Some(out)
}

fn normalize(mut s: Vec<Vec<u8>>) -> Option<Vec<Vec<u8>>> {
    s.sort();
    s.dedup();
    (s.len() <= MAX_EXACT).then_some(s)
}

/// The bytes of a small class, ASCII case folded.
fn class_bytes(c: &Class) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    match c {
        Class::Bytes(b) => {
            for r in b.ranges() {
                if usize::from(r.end() - r.start()) >= 4 * MAX_CLASS {
                    return None;
                }
                out.extend((r.start()..=r.end()).map(|b| b.to_ascii_lowercase()));
                if out.len() > 4 * MAX_CLASS {
                    return None;
                }
            }
        }
        Class::Unicode(u) => {
            for r in u.ranges() {
                let (s, e) = (u32::from(r.start()), u32::from(r.end()));
                if e > 0x7f || e - s >= 4 * MAX_CLASS as u32 {
                    return None;
                }
                out.extend((s..=e).map(|b| (b as u8).to_ascii_lowercase()));
                if out.len() > 4 * MAX_CLASS {
                    return None;
                }
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    (!out.is_empty() && out.len() <= MAX_CLASS).then_some(out)
}

/// A set every match of `hir` contains one member of, or `None` when there is none (the
/// node can match the empty string, or no small set is known).
fn required(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    if let Some(e) = exact(hir) {
        return usable(e);
    }
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) | HirKind::Literal(_) | HirKind::Class(_) => None,
        HirKind::Capture(c) => required(&c.sub),
        HirKind::Repetition(r) if r.min >= 1 => {
            // `x{n,}` contains n adjacent copies of x.
            let copies = exact(&r.sub).and_then(|e| {
                let mut acc = vec![Vec::new()];
                for _ in 0..r.min.min(MAX_LITERAL as u32) {
                    acc = product(&acc, &e)?;
                }
                usable(acc)
            });
            match (copies, required(&r.sub)) {
                (Some(a), Some(b)) => Some(if cost(&a) <= cost(&b) { a } else { b }),
                (a, b) => a.or(b),
            }
        }
        HirKind::Repetition(_) => None,
        HirKind::Alternation(alts) => {
            let mut all = Vec::new();
            for a in alts {
                all.extend(required(a)?);
            }
            usable(all)
        }
        HirKind::Concat(parts) => {
            let mut best: Option<Vec<Vec<u8>>> = None;
            let mut consider = |cand: Option<Vec<Vec<u8>>>| {
                if let Some(c) = cand {
                    if best.as_ref().is_none_or(|b| cost(&c) < cost(b)) {
                        best = Some(c);
                    }
                }
            };
            // Runs of parts with small exact languages, joined; then each other part alone.
            let mut run: Vec<Vec<u8>> = vec![Vec::new()];
            for p in parts {
                // `x{n,m}` (m > n) inside a run: the run goes on with n copies of x, then
                // ends (the optional copies break adjacency with what follows).
                if let HirKind::Repetition(r) = p.kind() {
                    if r.max != Some(r.min) && r.min <= MAX_LITERAL as u32 {
                        if let Some(e) = exact(&r.sub) {
                            let mut joined = Some(run.clone());
                            for _ in 0..r.min {
                                joined = joined.and_then(|j| product(&j, &e));
                            }
                            match joined {
                                Some(j) => consider(usable(j)),
                                None => consider(usable(run.clone())),
                            }
                            run = vec![Vec::new()];
                            consider(required(p));
                            continue;
                        }
                    }
                }
                match exact(p) {
                    Some(e) => match product(&run, &e) {
                        // A literal at the length cap ends the run: appending to a cut
                        // literal would require bytes that need not be adjacent.
                        Some(joined) if joined.iter().any(|s| s.len() >= MAX_LITERAL) => {
                            consider(usable(joined));
                            run = vec![Vec::new()];
                        }
                        Some(joined) => run = joined,
                        None => {
                            consider(usable(run.clone()));
                            run = e;
                        }
                    },
                    None => {
                        consider(usable(run.clone()));
                        run = vec![Vec::new()];
                        consider(required(p));
                    }
                }
            }
            consider(usable(run));
            best
        }
    }
}

/// Cuts literals to [`MAX_LITERAL`] bytes (a prefix of a required literal is required).
fn cap(set: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    set.into_iter()
        .map(|mut s| {
            s.truncate(MAX_LITERAL);
            s
        })
        .collect()
}

/// The set as a requirement: none when it holds the empty string (nothing required),
/// deduplicated and no larger than [`MAX_SET`].
fn usable(set: Vec<Vec<u8>>) -> Option<Vec<Vec<u8>>> {
    let mut set = cap(set);
    set.sort();
    set.dedup();
    // Too many: cut every literal shorter until they fit (prefixes are required too).
    let mut len = MAX_LITERAL;
    while set.len() > MAX_SET && len > 2 {
        len -= 1;
        for s in &mut set {
            s.truncate(len);
        }
        set.sort();
        set.dedup();
    }
    if set.len() > MAX_SET {
        return None;
    }
    if set.is_empty() || set.iter().any(Vec::is_empty) {
        return None;
    }
    // Drop literals that contain another member: the shorter one occurs whenever they do.
    let keep: Vec<Vec<u8>> = set
        .iter()
        .filter(|s| {
            !set.iter()
                .any(|o| o.len() < s.len() && s.windows(o.len()).any(|w| w == o.as_slice()))
        })
        .cloned()
        .collect();
    Some(keep)
}

/// Estimated chance that a benign value of about 20 bytes contains one of the literals: a
/// crude per-position byte frequency (letters, digits and the punctuation of URLs and
/// headers are common; quotes, brackets and shell metacharacters rare) multiplied along
/// each literal, times the positions, summed over the set (at most 1). The rare-byte marker
/// is left out (see [`RARE_COST`]).
fn cost(set: &[Vec<u8>]) -> f64 {
    let sum: f64 = set
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| (20.0 * l.iter().map(|&b| byte_freq(b)).product::<f64>()).min(1.0))
        .sum();
    sum.min(1.0)
}

fn byte_freq(b: u8) -> f64 {
    match b {
        b'a'..=b'z' => 0.06,
        b'0'..=b'9' => 0.05,
        b' ' | b'.' | b'-' | b'_' | b'/' | b'=' | b'&' | b';' | b',' | b':' | b'+' | b'%' => 0.05,
        b'*' | b'(' | b')' | b'@' | b'#' | b'?' | b'!' | b'~' => 0.01,
        0x80..=0xff => 0.002,
        _ => 0.003,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use waap_engine::program::RegexFlags;

    fn f(p: &str) -> Vec<String> {
        let def = RegexDef {
            pattern: p.into(),
            dfa: None,
            flags: RegexFlags {
                case_insensitive: true,
                ..Default::default()
            },
            required_literals: vec![],
        };
        required_factors(&def)
            .into_iter()
            .map(|l| String::from_utf8_lossy(&l).into_owned())
            .collect()
    }

    #[test]
    fn literals_alternations_and_inner_factors() {
        assert_eq!(f("union\\s+select"), vec!["select"]);
        assert_eq!(f("(?:foo|bar)baz"), vec!["barbaz", "foobaz"]);
        assert_eq!(f("a+<script"), vec!["<script"]);
        assert_eq!(f("[<>]"), vec!["<", ">"]);
        assert_eq!(f("\\bonload\\s*="), vec!["onload"]);
        assert_eq!(f("(?:^|[/;\\x5c])\\.{2,3}[/;\\x5c]"), vec![".."]);
        assert_eq!(f("x(?:ab){2,}"), vec!["xabab"]);
        // Nothing required: empty matches, big classes, optional parts.
        assert!(f("a*").is_empty());
        assert!(f("\\w+").is_empty());
        assert!(f("(?:select)?").is_empty());
        // Too common to help.
        assert!(f("[a-z]").is_empty());
        assert!(f("e").is_empty());
        assert!(f("[/;]").is_empty());
        // Separators do help.
        assert_eq!(f("[;|&]\\s*\\w+"), vec!["&", ";", "|"]);
        // A class of up to 24 bytes before a literal is spelled out (CRS 941120's event
        // handlers: `on` alone is in half of all English words).
        let on = f("[\\s\"'`;/0-9=,(]on[a-z]{3,50}\\s*=");
        assert_eq!(on.len(), 24, "{on:?}");
        assert!(
            on.iter().all(|l| l.len() == 3 && l.ends_with("on")),
            "{on:?}"
        );
    }

    #[test]
    fn evasive_words_require_the_word_or_a_rare_byte() {
        // Quotes or backslashes may split the word: no literal is required, but a match
        // without them is the plain word.
        assert_eq!(f(r#"c["'\x5c]*a["'\x5c]*t"#), vec!["cat", ""]);
        assert_eq!(
            f(r#"(?:c["'\x5c]*a["'\x5c]*t|l["'\x5c]*s)\b"#),
            Vec::<String>::new(),
            "`ls` spelled plainly is two letters: too common, no set"
        );
        // Every match needs a rare byte, but no particular one: the marker alone.
        assert_eq!(f(r"[a-z]+[^a-z0-9 ./_-]"), vec![""]);
        // A pattern that consumes no rare byte keeps its direct set.
        assert_eq!(f("select"), vec!["select"]);
    }

    #[test]
    fn admits_literals_case_insensitively_and_rare_bytes_by_marker() {
        let set = vec![b"cat".to_vec(), Vec::new()];
        assert!(admits(&set, b"CAT"));
        assert!(admits(&set, b"c'a't"));
        assert!(admits(&set, b"price:12"));
        assert!(!admits(&set, b"plain value-1_2.3/4"));
        assert!(!admits(&[b"cat".to_vec()], b"c'a't"));
    }

    #[test]
    fn every_branch_must_contribute() {
        assert!(f("<script|\\d+").is_empty());
        assert_eq!(f("(?:<script|javascript:)"), vec!["<script", "javascript:"]);
    }
}
