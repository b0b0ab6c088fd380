//! Transformations (SecLang `t:`), one file per transformation.
//!
//! Each is a pure function from bytes to bytes; [`Transform::apply`] returns
//! `Cow::Borrowed` when the value is unchanged so the common case allocates nothing.

use std::borrow::Cow;

mod base64;
mod case;
mod cmd_line;
mod compress_whitespace;
mod css_decode;
mod escape_seq_decode;
mod hex;
mod html_entity_decode;
mod js_decode;
mod length;
mod normalize_path;
mod nulls;
mod remove_comments;
mod remove_comments_char;
mod remove_whitespace;
mod replace_comments;
mod sha1;
mod trim;
mod unicode_map;
mod url_decode;
mod url_decode_uni;
mod utf8_to_unicode;
mod util;

use serde::{Deserialize, Serialize};

/// A transformation, in the closed set the engine knows.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub enum Transform {
    /// `urlDecode`: `%XX` and `+` decoded; invalid escapes kept.
    UrlDecode,
    /// `urlDecodeUni`: like `urlDecode`, plus `%uXXXX` (IIS) decoding.
    UrlDecodeUni,
    /// `lowercase`: ASCII lowercase.
    Lowercase,
    /// `uppercase`: ASCII uppercase.
    Uppercase,
    /// `htmlEntityDecode`: `&lt;`, `&#60;`, `&#x3c;` ...
    HtmlEntityDecode,
    /// `jsDecode`: JavaScript escapes `\uXXXX`, `\xHH`, `\n`, octal.
    JsDecode,
    /// `cssDecode`: CSS 2 escapes.
    CssDecode,
    /// `utf8toUnicode`: multi-byte UTF-8 to `%uXXXX`.
    Utf8ToUnicode,
    /// `removeNulls`: drop NUL bytes.
    RemoveNulls,
    /// `replaceNulls`: NUL to space.
    ReplaceNulls,
    /// `cmdLine`: Windows/Unix command-line normalisation.
    CmdLine,
    /// `removeWhitespace`.
    RemoveWhitespace,
    /// `compressWhitespace`: runs of whitespace to one space.
    CompressWhitespace,
    /// `replaceComments`: C comments to one space.
    ReplaceComments,
    /// `removeComments`.
    RemoveComments,
    /// `removeCommentsChar`: drop `/*`, `*/`, `--`, `#`.
    RemoveCommentsChar,
    /// `normalizePath`: collapse `//`, `/./`, `/../`.
    NormalizePath,
    /// `normalizePathWin`: `\` to `/`, then `normalizePath`.
    NormalizePathWin,
    /// `escapeSeqDecode`: ANSI C escapes.
    EscapeSeqDecode,
    /// `length`: the value's length as decimal.
    Length,
    /// `base64Decode`.
    Base64Decode,
    /// `base64DecodeExt`: forgiving base64.
    Base64DecodeExt,
    /// `base64Encode`.
    Base64Encode,
    /// `sha1`: raw 20-byte digest.
    Sha1,
    /// `hexEncode`: lowercase hex of each byte.
    HexEncode,
    /// `hexDecode`.
    HexDecode,
    /// `trim`, `trimLeft`, `trimRight`.
    Trim,
    /// `trimLeft`.
    TrimLeft,
    /// `trimRight`.
    TrimRight,
}

/// Byte features of a value, one bit per kind of byte (or byte pair) some transformation
/// acts on; see [`features`] and [`Transform::trigger`].
pub mod feature {
    /// `%`.
    pub const PERCENT: u32 = 1 << 0;
    /// `+`.
    pub const PLUS: u32 = 1 << 1;
    /// `&`.
    pub const AMP: u32 = 1 << 2;
    /// `\`.
    pub const BACKSLASH: u32 = 1 << 3;
    /// NUL.
    pub const NUL: u32 = 1 << 4;
    /// A byte >= 0x80.
    pub const HIGH: u32 = 1 << 5;
    /// `A`-`Z`.
    pub const UPPER: u32 = 1 << 6;
    /// `a`-`z`.
    pub const LOWER: u32 = 1 << 7;
    /// A space.
    pub const SPACE: u32 = 1 << 8;
    /// Whitespace other than a space (`\t \n \r \x0b \x0c`).
    pub const OTHER_SPACE: u32 = 1 << 9;
    /// Two whitespace bytes in a row.
    pub const SPACE_RUN: u32 = 1 << 10;
    /// `/`.
    pub const SLASH: u32 = 1 << 11;
    /// `.`.
    pub const DOT: u32 = 1 << 12;
    /// `*`.
    pub const STAR: u32 = 1 << 13;
    /// `--`.
    pub const DASH_DASH: u32 = 1 << 14;
    /// `#`.
    pub const HASH: u32 = 1 << 15;
    /// `"` or `'`.
    pub const QUOTE: u32 = 1 << 16;
    /// `^`.
    pub const CARET: u32 = 1 << 17;
    /// `,` or `;`.
    pub const COMMA: u32 = 1 << 18;
    /// Whitespace as the first or last byte.
    pub const EDGE_SPACE: u32 = 1 << 19;
    /// `//`.
    pub const SLASH_SLASH: u32 = 1 << 20;
    /// A byte outside `[A-Za-z0-9_.- ]`. No transformation's trigger: with the bits above
    /// it decides the [`super::plain_class`] in the same pass (see [`super::facts`]).
    pub const NOT_PLAIN: u32 = 1 << 21;
    /// Set for every value: the trigger of transformations that change (almost) anything.
    pub const ALWAYS: u32 = 1 << 31;
}

/// The single-byte features of each byte.
const BYTE_FEATURES: [u32; 256] = {
    use feature::*;
    let mut t = [0u32; 256];
    let mut b = 0usize;
    while b < 256 {
        let c = b as u8;
        t[b] = match c {
            b'%' => PERCENT,
            b'+' => PLUS,
            b'&' => AMP,
            b'\\' => BACKSLASH,
            0 => NUL,
            0x80..=0xff => HIGH,
            b'A'..=b'Z' => UPPER,
            b'a'..=b'z' => LOWER,
            b' ' => SPACE,
            b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => OTHER_SPACE,
            b'/' => SLASH,
            b'.' => DOT,
            b'*' => STAR,
            b'#' => HASH,
            b'"' | b'\'' => QUOTE,
            b'^' => CARET,
            b',' | b';' => COMMA,
            _ => 0,
        };
        if !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b' ')) {
            t[b] |= NOT_PLAIN;
        }
        b += 1;
    }
    t
};

/// The [`feature`] bits of `v` (always including [`feature::ALWAYS`]): one pass over
/// the bytes. A transformation `t` with `features(v) & t.trigger() == 0` returns `v`
/// unchanged, so a chain can skip it without running or caching it.
pub fn features(v: &[u8]) -> u32 {
    use feature::*;
    const SPACES: u32 = SPACE | OTHER_SPACE;
    let mut f = ALWAYS;
    let mut prev = 0u32;
    let mut prev_byte = 0u8;
    for &b in v {
        let cur = BYTE_FEATURES[b as usize];
        f |= cur;
        if prev & SPACES != 0 && cur & SPACES != 0 {
            f |= SPACE_RUN;
        }
        if b == prev_byte {
            if b == b'-' {
                f |= DASH_DASH;
            } else if b == b'/' {
                f |= SLASH_SLASH;
            }
        }
        prev = cur;
        prev_byte = b;
    }
    let edge = |b: Option<&u8>| b.is_some_and(|&b| BYTE_FEATURES[b as usize] & SPACES != 0);
    if edge(v.first()) || edge(v.last()) {
        f |= EDGE_SPACE;
    }
    f
}

/// Where [`facts`] keeps the [`plain_class`] (above every [`feature`] bit but `ALWAYS`).
const CLASS_SHIFT: u32 = 24;
const CLASS_MASK: u32 = 3 << CLASS_SHIFT;

/// A value's [`features`] and [`plain_class`] in one word, computed once per request
/// value (never 0: `ALWAYS` is set). Read back with [`facts_features`] and
/// [`facts_class`].
pub fn facts(v: &[u8]) -> u32 {
    use feature::*;
    let f = features(v);
    // `plain_class` from the same pass: a byte outside the plain set, `--`, two spaces,
    // or a space or `.` at an end make 0 (a space after `/` needs a `/`, outside the
    // set); otherwise a space makes 1.
    let class: u32 =
        if f & (NOT_PLAIN | DASH_DASH | SPACE_RUN | EDGE_SPACE) != 0 || v.last() == Some(&b'.') {
            0
        } else if f & SPACE != 0 {
            1
        } else {
            2
        };
    f | (class << CLASS_SHIFT)
}

/// The [`features`] part of [`facts`].
pub fn facts_features(facts: u32) -> u32 {
    facts & !CLASS_MASK
}

/// The [`plain_class`] part of [`facts`].
pub fn facts_class(facts: u32) -> u8 {
    ((facts & CLASS_MASK) >> CLASS_SHIFT) as u8
}

/// How far the prefilter may trust a value's raw bytes for every transformed form:
/// 2 for [`is_plain`] values, 1 for values that are plain apart from single inner spaces
/// (every [`Transform::plain_identity`] transformation but `removeWhitespace`, which joins
/// words, leaves them unchanged up to case), 0 for the rest. The definition: the
/// evaluator reads the class from [`facts`], which derives it from its features pass
/// (`facts_class_is_plain_class` holds the two equal).
pub fn plain_class(v: &[u8]) -> u8 {
    let mut prev = b'/';
    let mut spaced = false;
    for &b in v {
        let ok = match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' => true,
            b'-' => prev != b'-',
            b' ' => {
                spaced = true;
                prev != b' ' && prev != b'/'
            }
            _ => false,
        };
        if !ok {
            return 0;
        }
        prev = b;
    }
    match v.last() {
        Some(b'.') | Some(b' ') => 0,
        _ if spaced => 1,
        _ => 2,
    }
}

/// A value of ASCII letters, digits, `_`, `.` and single `-` only (no `--`, which
/// `removeCommentsChar` drops; no trailing `.`, which `normalizePath` resolves): every
/// [`Transform::plain_identity`] transformation leaves it unchanged up to ASCII case.
pub fn is_plain(v: &[u8]) -> bool {
    plain_class(v) == 2
}

#[cfg(test)]
fn is_plain_reference(v: &[u8]) -> bool {
    let mut prev = b'/';
    for &b in v {
        let ok = match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => true,
            b'-' => prev != b'-',
            b'.' => true,
            _ => false,
        };
        if !ok {
            return false;
        }
        prev = b;
    }
    // `normalizePath` resolves `.`/`..` at the end of the (only) segment.
    v.last() != Some(&b'.')
}

impl Transform {
    /// Every transformation, in declaration order.
    pub const ALL: [Transform; 29] = [
        Transform::UrlDecode,
        Transform::UrlDecodeUni,
        Transform::Lowercase,
        Transform::Uppercase,
        Transform::HtmlEntityDecode,
        Transform::JsDecode,
        Transform::CssDecode,
        Transform::Utf8ToUnicode,
        Transform::RemoveNulls,
        Transform::ReplaceNulls,
        Transform::CmdLine,
        Transform::RemoveWhitespace,
        Transform::CompressWhitespace,
        Transform::ReplaceComments,
        Transform::RemoveComments,
        Transform::RemoveCommentsChar,
        Transform::NormalizePath,
        Transform::NormalizePathWin,
        Transform::EscapeSeqDecode,
        Transform::Length,
        Transform::Base64Decode,
        Transform::Base64DecodeExt,
        Transform::Base64Encode,
        Transform::Sha1,
        Transform::HexEncode,
        Transform::HexDecode,
        Transform::Trim,
        Transform::TrimLeft,
        Transform::TrimRight,
    ];

    /// The transformation for a SecLang name (case-insensitive), e.g. `urlDecodeUni`.
    /// `none` is not a transformation (it resets the chain) and returns `None`.
    pub fn from_name(name: &str) -> Option<Transform> {
        use Transform::*;
        let t = match name.to_ascii_lowercase().as_str() {
            "urldecode" => UrlDecode,
            "urldecodeuni" => UrlDecodeUni,
            "lowercase" => Lowercase,
            "uppercase" => Uppercase,
            "htmlentitydecode" => HtmlEntityDecode,
            "jsdecode" => JsDecode,
            "cssdecode" => CssDecode,
            "utf8tounicode" => Utf8ToUnicode,
            "removenulls" => RemoveNulls,
            "replacenulls" => ReplaceNulls,
            "cmdline" => CmdLine,
            "removewhitespace" => RemoveWhitespace,
            "compresswhitespace" => CompressWhitespace,
            "replacecomments" => ReplaceComments,
            "removecomments" => RemoveComments,
            "removecommentschar" => RemoveCommentsChar,
            "normalizepath" | "normalisepath" => NormalizePath,
            "normalizepathwin" | "normalisepathwin" => NormalizePathWin,
            "escapeseqdecode" => EscapeSeqDecode,
            "length" => Length,
            "base64decode" => Base64Decode,
            "base64decodeext" => Base64DecodeExt,
            "base64encode" => Base64Encode,
            "sha1" => Sha1,
            "hexencode" => HexEncode,
            "hexdecode" => HexDecode,
            "trim" => Trim,
            "trimleft" => TrimLeft,
            "trimright" => TrimRight,
            _ => return None,
        };
        Some(t)
    }

    /// Whether the transformation leaves every [`is_plain`] value unchanged up to ASCII
    /// case (decoders need `%`, `&`, `\\`, `+`, whitespace, `/` or non-ASCII bytes to do
    /// anything; base64/hex decoding, hashing, encoding and `length` do not qualify).
    pub fn plain_identity(&self) -> bool {
        use Transform::*;
        !matches!(
            self,
            Length | Base64Decode | Base64DecodeExt | Base64Encode | Sha1 | HexEncode | HexDecode
        )
    }

    /// The [`feature`] bits on which the transformation acts: it returns every value `v`
    /// with `features(v) & trigger == 0` unchanged (tested exhaustively on short strings
    /// and on random longer ones). [`feature::ALWAYS`] for those that change anything.
    pub fn trigger(&self) -> u32 {
        use feature::*;
        use Transform::*;
        match self {
            UrlDecode | UrlDecodeUni => PERCENT | PLUS,
            Lowercase => UPPER,
            Uppercase => LOWER,
            HtmlEntityDecode => AMP,
            JsDecode | CssDecode | EscapeSeqDecode => BACKSLASH,
            // `utf8toUnicode` also drops inner NUL bytes.
            Utf8ToUnicode => HIGH | NUL,
            RemoveNulls | ReplaceNulls => NUL,
            CmdLine => QUOTE | BACKSLASH | CARET | SPACE | OTHER_SPACE | COMMA | UPPER,
            // `removeWhitespace` also drops 0xa0 and 0xc2 (a UTF-8 no-break space).
            RemoveWhitespace => SPACE | OTHER_SPACE | HIGH,
            CompressWhitespace => OTHER_SPACE | SPACE_RUN,
            ReplaceComments => STAR,
            // `<!--` and `-->` contain `--`.
            RemoveComments | RemoveCommentsChar => STAR | DASH_DASH | HASH,
            NormalizePath => DOT | SLASH_SLASH,
            NormalizePathWin => DOT | SLASH_SLASH | BACKSLASH,
            Trim | TrimLeft | TrimRight => EDGE_SPACE,
            Length | Base64Decode | Base64DecodeExt | Base64Encode | Sha1 | HexEncode
            | HexDecode => ALWAYS,
        }
    }

    /// [`Transform::trigger`] without the bits on which the transformation only changes
    /// letter case: a value whose features miss the `scan_trigger` of every step of a chain
    /// comes out of it unchanged up to ASCII case (`lowercase` and `uppercase` change
    /// only case; `cmdLine` on a value without its other triggers only lowercases).
    pub fn scan_trigger(&self) -> u32 {
        use feature::*;
        match self {
            Transform::Lowercase | Transform::Uppercase => 0,
            Transform::CmdLine => self.trigger() & !UPPER,
            _ => self.trigger(),
        }
    }

    /// Applies the transformation. Never panics, whatever the input.
    pub fn apply<'a>(&self, input: &'a [u8]) -> Cow<'a, [u8]> {
        use Transform::*;
        match self {
            UrlDecode => url_decode::url_decode(input),
            UrlDecodeUni => url_decode_uni::url_decode_uni(input),
            Lowercase => case::lowercase(input),
            Uppercase => case::uppercase(input),
            HtmlEntityDecode => html_entity_decode::html_entity_decode(input),
            JsDecode => js_decode::js_decode(input),
            CssDecode => css_decode::css_decode(input),
            Utf8ToUnicode => utf8_to_unicode::utf8_to_unicode(input),
            RemoveNulls => nulls::remove_nulls(input),
            ReplaceNulls => nulls::replace_nulls(input),
            CmdLine => cmd_line::cmd_line(input),
            RemoveWhitespace => remove_whitespace::remove_whitespace(input),
            CompressWhitespace => compress_whitespace::compress_whitespace(input),
            ReplaceComments => replace_comments::replace_comments(input),
            RemoveComments => remove_comments::remove_comments(input),
            RemoveCommentsChar => remove_comments_char::remove_comments_char(input),
            NormalizePath => normalize_path::normalize_path(input, false),
            NormalizePathWin => normalize_path::normalize_path(input, true),
            EscapeSeqDecode => escape_seq_decode::escape_seq_decode(input),
            Length => length::length(input),
            Base64Decode => base64::base64_decode(input),
            Base64DecodeExt => base64::base64_decode_ext(input),
            Base64Encode => base64::base64_encode(input),
            Sha1 => sha1::sha1(input),
            HexEncode => hex::hex_encode(input),
            HexDecode => hex::hex_decode(input),
            Trim => trim::trim(input),
            TrimLeft => trim::trim_left(input),
            TrimRight => trim::trim_right(input),
        }
    }
}

#[cfg(test)]
mod modsec_vectors;

#[cfg(test)]
mod tests {
    use super::Transform::{self, *};

    /// Every value whose features miss a transformation's trigger comes out unchanged:
    /// every string up to length 3 over an alphabet with a byte of every feature (and the
    /// bytes around them: `<`, `!`, `>`, `x`, digits, 0xa0/0xc2), then random longer ones.
    #[test]
    fn untriggered_transforms_leave_values_unchanged() {
        let alphabet: &[u8] = b"%+&\\\0\xa0\xc2\xe9Aaz \t\n/.*-#<!>\"'^,;(x5=u";
        let check = |v: &[u8], checked: &mut usize| {
            let f = super::features(v);
            for t in Transform::ALL {
                if f & t.trigger() == 0 {
                    let out = t.apply(v);
                    assert_eq!(
                        out.as_ref(),
                        v,
                        "{t:?} changed {:?} although untriggered",
                        String::from_utf8_lossy(v)
                    );
                    *checked += 1;
                }
            }
        };
        let mut checked = 0;
        crate::each_string(alphabet, 3, |v| check(&v, &mut checked));
        // Longer strings: a xorshift generator, mostly letters with some specials, so
        // values avoid most triggers and the untriggered cases get exercised.
        let mut next = crate::test_rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..30_000 {
            let len = (next() % 24) as usize + 4;
            let v: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if r & 3 == 0 {
                        alphabet[(r >> 8) as usize % alphabet.len()]
                    } else {
                        b"abcXYZ019-_ ./"[(r >> 8) as usize % 14]
                    }
                })
                .collect();
            check(&v, &mut checked);
        }
        assert!(checked > 100_000, "only {checked} untriggered cases");
    }

    /// The evaluator's shortcut for prefilter scans: a value whose features miss the
    /// `scan_trigger` of every step comes out of the chain (steps skipped by `trigger`, as
    /// `walk_chain` does) equal up to ASCII case, for every pair of transformations.
    #[test]
    fn values_missing_every_scan_trigger_change_only_case() {
        let alphabet: &[u8] = b"%+&\\\0\xa0\xe9Aaz \t/.*-#\"'^,;(x=";
        let mut checked = 0;
        let mut check = |v: &[u8]| {
            let f = super::features(v);
            assert_eq!(super::facts_features(super::facts(v)), f);
            assert_eq!(super::facts_class(super::facts(v)), super::plain_class(v));
            for a in Transform::ALL {
                for b in Transform::ALL {
                    if f & (a.scan_trigger() | b.scan_trigger()) != 0 {
                        continue;
                    }
                    let mut cur = v.to_vec();
                    for t in [a, b] {
                        if super::features(&cur) & t.trigger() != 0 {
                            cur = t.apply(&cur).into_owned();
                        }
                    }
                    assert!(
                        cur.eq_ignore_ascii_case(v),
                        "{a:?},{b:?} changed {:?} beyond case",
                        String::from_utf8_lossy(v)
                    );
                    checked += 1;
                }
            }
        };
        crate::each_string(alphabet, 2, |v| check(&v));
        for v in [
            &b"Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"[..],
            b"GA1.2.ABC",
            b"en-US",
        ] {
            check(v);
        }
        assert!(checked > 50_000, "only {checked} cases");
    }

    /// `facts` decides the plain class from its one pass as `plain_class` does: every
    /// string up to length 5 over the bytes that class looks at.
    #[test]
    fn facts_class_is_plain_class() {
        let mut n = 0;
        crate::each_string(b"aZ0_.- /%\t", 5, |v| {
            assert_eq!(
                super::facts_class(super::facts(&v)),
                super::plain_class(&v),
                "{v:?}"
            );
            n += 1;
        });
        assert!(n > 100_000, "{n}");
    }

    /// `apply` returns `Cow::Borrowed` only for an unchanged value (the evaluator's
    /// transformation chains and caches take a borrowed result as "no change"): every
    /// string up to length 3 over the feature alphabet, every transformation.
    #[test]
    fn borrowed_results_are_unchanged_values() {
        let alphabet: &[u8] = b"%+&\\\0\xa0\xc2\xe9Aaz \t\n/.*-#<!>\"'^,;(x5=u";
        let mut borrowed = 0;
        crate::each_string(alphabet, 3, |v| {
            for t in Transform::ALL {
                if let std::borrow::Cow::Borrowed(b) = t.apply(&v) {
                    assert_eq!(b, v.as_slice(), "{t:?} borrowed a changed result");
                    borrowed += 1;
                }
            }
        });
        assert!(borrowed > 100_000, "{borrowed}");
    }

    #[test]
    fn features_see_pairs_and_edges() {
        use super::feature::*;
        let f = super::features;
        assert_eq!(f(b""), ALWAYS);
        assert_ne!(f(b"a  b") & SPACE_RUN, 0);
        assert_ne!(f(b"a \tb") & SPACE_RUN, 0);
        assert_eq!(f(b"a b c") & SPACE_RUN, 0);
        assert_ne!(f(b"a--b") & DASH_DASH, 0);
        assert_eq!(f(b"a-b-c") & DASH_DASH, 0);
        assert_ne!(f(b"a//b") & SLASH_SLASH, 0);
        assert_ne!(f(b" a") & EDGE_SPACE, 0);
        assert_ne!(f(b"a\n") & EDGE_SPACE, 0);
        assert_eq!(f(b"a b") & EDGE_SPACE, 0);
    }

    /// Every string over a small alphabet up to length 6 that `is_plain` accepts comes
    /// out of every `plain_identity` transformation equal up to ASCII case.
    #[test]
    fn plain_values_survive_plain_identity_transforms_up_to_case() {
        let alphabet = b"aZ0_.-";
        let mut checked = 0;
        crate::each_string(alphabet, 6, |v| {
            if !super::is_plain(&v) {
                return;
            }
            for t in Transform::ALL.iter().filter(|t| t.plain_identity()) {
                let out = t.apply(&v);
                assert!(
                    out.eq_ignore_ascii_case(&v),
                    "{t:?} changed plain {:?} into {:?}",
                    String::from_utf8_lossy(&v),
                    String::from_utf8_lossy(&out)
                );
                checked += 1;
            }
        });
        // Longer random plain strings.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = 7 + (seed >> 58) as usize;
            let v: Vec<u8> = (0..len)
                .map(|i| alphabet[((seed >> (i % 50)) as usize + i) % alphabet.len()])
                .collect();
            if !super::is_plain(&v) {
                continue;
            }
            for t in Transform::ALL.iter().filter(|t| t.plain_identity()) {
                assert!(t.apply(&v).eq_ignore_ascii_case(&v), "{t:?} changed {v:?}");
                checked += 1;
            }
        }
        assert!(checked > 100_000);
        // Single inner spaces: every plain-identity transformation but removeWhitespace.
        let spaced_alphabet = b"aZ0_.- ";
        let mut spaced = 0;
        crate::each_string(spaced_alphabet, 6, |v| {
            assert_eq!(super::is_plain(&v), super::is_plain_reference(&v), "{v:?}");
            if super::plain_class(&v) == 0 {
                return;
            }
            for t in Transform::ALL
                .iter()
                .filter(|t| t.plain_identity() && **t != RemoveWhitespace)
            {
                let out = t.apply(&v);
                assert!(
                    out.eq_ignore_ascii_case(&v),
                    "{t:?} changed spaced {:?} into {:?}",
                    String::from_utf8_lossy(&v),
                    String::from_utf8_lossy(&out)
                );
                spaced += 1;
            }
        });
        assert!(spaced > 100_000);
        assert!(!super::is_plain(b"a--b") && !super::is_plain(b"..") && !super::is_plain(b"a b"));
    }

    const ALL: [Transform; 29] = Transform::ALL;

    /// An output bound: no transformation grows its input by more than this.
    fn bound(t: Transform, len: usize) -> usize {
        match t {
            Length => 20,
            Sha1 => 20,
            HexEncode => 2 * len,
            Base64Encode => len.div_ceil(3) * 4,
            // `%uXXXXXX` (8 bytes) plus up to two copies of the lead byte for 4 input bytes.
            Utf8ToUnicode => 4 * len,
            // `removeComments` may append one NUL; unterminated comments add one space.
            _ => len + 1,
        }
    }

    fn check(input: &[u8]) {
        for t in ALL {
            let out = t.apply(input);
            assert!(
                out.len() <= bound(t, input.len()),
                "{t:?} grew {input:?} to {} bytes",
                out.len()
            );
        }
    }

    /// xorshift64*, deterministic.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(Transform::from_name("urlDecodeUni"), Some(UrlDecodeUni));
        assert_eq!(
            Transform::from_name("NORMALISEPATHWIN"),
            Some(NormalizePathWin)
        );
        assert_eq!(Transform::from_name("none"), None);
        assert_eq!(Transform::from_name("md5"), None);
    }

    #[test]
    fn adversarial_inputs_do_not_panic() {
        let cases: &[&[u8]] = &[
            b"",
            b"%",
            b"%%",
            b"%u",
            b"%U",
            b"%u1",
            b"%u12",
            b"%u123",
            b"%uffff",
            b"%4",
            b"%zz",
            b"&",
            b"&#",
            b"&#x",
            b"&#X",
            b"&#;",
            b"&#x;",
            b"&lt",
            b"&n",
            br"\\",
            br"\",
            br"a\",
            br"\u",
            br"\u12",
            br"\x",
            br"\x1",
            br"\0",
            br"\7777",
            br"\ffffff",
            b"\\\\\n",
            b"/*",
            b"*/",
            b"<!--",
            b"-->",
            b"--",
            b"#",
            b"/",
            b"//",
            b".",
            b"..",
            b"/..",
            b"../..",
            b"./",
            b"/./",
            br"\..\",
            b"=",
            b"==",
            b"===",
            b"A=",
            b"9",
            b"A9",
            b"\xff\xfe",
            b"\xc3",
            b"\xe4\xb8",
            b"\xf0\x9f\x98",
            b"\xf7\xbf\xbf\xbf",
            b"\xed\xa0\x80",
            b"\x00",
            b"\x00\x00",
            b"\xc0\x80",
            b"\x80\x80\x80",
            b" \t\r\n\x0b\x0c",
        ];
        for c in cases {
            check(c);
        }
        // Every byte value alone and after each special character.
        for b in 0..=255u8 {
            check(&[b]);
            for p in [b'%', b'&', b'\\', b'/', b'.', b'#', b'*', b'-', b'<', b'='] {
                check(&[p, b]);
                check(&[p, b, b]);
            }
        }
    }

    #[test]
    fn random_inputs_do_not_panic() {
        // Byte alphabet biased towards the characters the decoders care about.
        const SPECIAL: &[u8] = b"%u&#x;\\/.*-<!>=+ \t\n\r\0'\"^,(0123456789abcdefABCDEFuxXlgtampq";
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..4000 {
            let len = (rng.next() % 40) as usize;
            let input: Vec<u8> = (0..len)
                .map(|_| {
                    let r = rng.next();
                    if r & 3 != 0 {
                        SPECIAL
                            .get((r >> 8) as usize % SPECIAL.len())
                            .copied()
                            .unwrap_or(b'%')
                    } else {
                        (r >> 8) as u8
                    }
                })
                .collect();
            check(&input);
        }
        // A few long ones.
        for _ in 0..20 {
            let input: Vec<u8> = (0..5000).map(|_| rng.next() as u8).collect();
            check(&input);
        }
    }

    #[test]
    fn unchanged_values_are_borrowed() {
        use std::borrow::Cow;
        let plain = b"hello world 123";
        for t in [
            UrlDecode,
            UrlDecodeUni,
            Lowercase,
            HtmlEntityDecode,
            JsDecode,
            CssDecode,
            Utf8ToUnicode,
            RemoveNulls,
            ReplaceNulls,
            CmdLine,
            CompressWhitespace,
            ReplaceComments,
            RemoveComments,
            RemoveCommentsChar,
            NormalizePath,
            NormalizePathWin,
            EscapeSeqDecode,
            Trim,
        ] {
            assert!(matches!(t.apply(plain), Cow::Borrowed(_)), "{t:?}");
        }
    }
}
