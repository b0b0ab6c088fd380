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

use regex_syntax::hir::{Class, Hir, HirKind};

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
    match required(&hir) {
        Some(set) if useful(&set) => set,
        _ => Vec::new(),
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
/// each literal, times the positions, summed over the set (at most 1).
fn cost(set: &[Vec<u8>]) -> f64 {
    let sum: f64 = set
        .iter()
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
    fn every_branch_must_contribute() {
        assert!(f("<script|\\d+").is_empty());
        assert_eq!(f("(?:<script|javascript:)"), vec!["<script", "javascript:"]);
    }
}
