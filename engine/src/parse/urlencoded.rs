//! `application/x-www-form-urlencoded` bodies and query strings, with ModSecurity v3
//! semantics (`Transaction::extractArguments` + `urldecode_nonstrict_inplace`):
//!
//! - the input is split on `&` the way `std::getline` splits: an empty piece between two
//!   separators (`a=1&&b=2`, or a leading `&`) yields an argument with an empty name and
//!   value, a single trailing `&` yields nothing;
//! - each piece is split on its first `=`; no `=` means an empty value;
//! - name and value are decoded: `+` -> space, `%XX` -> byte, invalid or truncated escapes
//!   are kept as written and raise the `URLENCODED_ERROR` flag ([`Args::invalid_encoding`]).
//!
//! [`split_uri`] separates a request-target into path and query string as v3's
//! `processURI` does (the fragment is dropped first).

use super::{Pair, ParseError};

/// Limits for [`parse_args`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgsLimits {
    /// Maximum number of arguments kept (`SecArgumentsLimit`); later ones are dropped and
    /// [`Args::error`] is set.
    pub max_args: usize,
}

impl Default for ArgsLimits {
    fn default() -> Self {
        Self { max_args: 4096 }
    }
}

/// The result of [`parse_args`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    /// Decoded name/value pairs in input order.
    pub pairs: Vec<Pair>,
    /// Some `%` was not followed by two hex digits (ModSecurity's `URLENCODED_ERROR`).
    pub invalid_encoding: bool,
    /// Set when `max_args` was reached (offset of the first dropped piece).
    pub error: Option<ParseError>,
}

/// Splits an `a=1&b=2` string into URL-decoded pairs (`+` is a space). A name with no `=`
/// gets an empty value. Uses [`ArgsLimits::default`]; see [`parse_args`] for the flags.
pub fn parse_urlencoded(input: &[u8]) -> Vec<Pair> {
    parse_args(input, &ArgsLimits::default()).pairs
}

/// Parses a query string or urlencoded body with ModSecurity v3 semantics (see the module
/// docs), keeping at most `limits.max_args` pairs.
pub fn parse_args(input: &[u8], limits: &ArgsLimits) -> Args {
    let mut out = Args::default();
    let mut pieces: Vec<&[u8]> = input.split(|&b| b == b'&').collect();
    // getline() does not produce a final empty token after a trailing separator (and
    // produces nothing at all for an empty input).
    if pieces.last().is_some_and(|p| p.is_empty()) {
        pieces.pop();
    }
    let mut offset = 0usize;
    for piece in pieces {
        if out.pairs.len() >= limits.max_args {
            out.error = Some(ParseError::new(offset, "too many arguments"));
            break;
        }
        let (k, v) = match piece.iter().position(|&b| b == b'=') {
            Some(i) => (
                piece.get(..i).unwrap_or_default(),
                piece.get(i + 1..).unwrap_or_default(),
            ),
            None => (piece, &[][..]),
        };
        let (k, bad_k) = decode_counting(k);
        let (v, bad_v) = decode_counting(v);
        out.invalid_encoding |= bad_k | bad_v;
        out.pairs.push((k, v));
        offset = offset.saturating_add(piece.len()).saturating_add(1);
    }
    out
}

/// `%XX` and `+` decoding as for form fields; invalid escapes are kept as written.
pub fn url_decode_form(input: &[u8]) -> Vec<u8> {
    decode_counting(input).0
}

/// Decodes like [`url_decode_form`] and says whether an invalid escape was seen.
fn decode_counting(input: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::with_capacity(input.len());
    let mut invalid = false;
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        if b == b'+' {
            out.push(b' ');
        } else if b == b'%' {
            let h = input.get(i + 1).copied().and_then(hex);
            let l = input.get(i + 2).copied().and_then(hex);
            if let (Some(h), Some(l)) = (h, l) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
            invalid = true;
            out.push(b);
        } else {
            out.push(b);
        }
        i += 1;
    }
    (out, invalid)
}

/// The value of one ASCII hex digit.
pub(crate) fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Splits a raw request-target into its path and its query string, as ModSecurity v3's
/// `processURI`: everything from the first `#` is dropped, then the target is split at the
/// first `?`. `Some(b"")` means a `?` with nothing after it. Nothing is decoded.
pub fn split_uri(raw: &[u8]) -> (&[u8], Option<&[u8]>) {
    let no_frag = match raw.iter().position(|&b| b == b'#') {
        Some(i) => raw.get(..i).unwrap_or_default(),
        None => raw,
    };
    match no_frag.iter().position(|&b| b == b'?') {
        Some(i) => (
            no_frag.get(..i).unwrap_or_default(),
            Some(no_frag.get(i + 1..).unwrap_or_default()),
        ),
        None => (no_frag, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(k: &str, v: &str) -> Pair {
        (k.as_bytes().to_vec(), v.as_bytes().to_vec())
    }

    #[test]
    fn basic_pairs_and_decoding() {
        assert_eq!(
            parse_urlencoded(b"a=1&b=x+y&c=%41%42&d"),
            vec![p("a", "1"), p("b", "x y"), p("c", "AB"), p("d", "")]
        );
    }

    #[test]
    fn value_keeps_later_equals() {
        assert_eq!(parse_urlencoded(b"a=b=c"), vec![p("a", "b=c")]);
    }

    #[test]
    fn empty_pieces_like_getline() {
        assert_eq!(parse_urlencoded(b""), vec![]);
        assert_eq!(parse_urlencoded(b"a=1&"), vec![p("a", "1")]);
        assert_eq!(
            parse_urlencoded(b"a=1&&b=2"),
            vec![p("a", "1"), p("", ""), p("b", "2")]
        );
        assert_eq!(parse_urlencoded(b"&a"), vec![p("", ""), p("a", "")]);
        assert_eq!(parse_urlencoded(b"=v"), vec![p("", "v")]);
    }

    #[test]
    fn invalid_escapes_kept_and_flagged() {
        let a = parse_args(b"a=%zz&b=%4&c=%", &ArgsLimits::default());
        assert_eq!(a.pairs, vec![p("a", "%zz"), p("b", "%4"), p("c", "%")]);
        assert!(a.invalid_encoding);
        let ok = parse_args(b"a=%41", &ArgsLimits::default());
        assert!(!ok.invalid_encoding);
        assert_eq!(url_decode_form(b"%41%"), b"A%");
    }

    #[test]
    fn decodes_to_raw_bytes() {
        assert_eq!(url_decode_form(b"%00%ff%C3%A9"), vec![0, 0xff, 0xc3, 0xa9]);
    }

    #[test]
    fn limit_drops_and_flags() {
        let a = parse_args(b"a=1&b=2&c=3", &ArgsLimits { max_args: 2 });
        assert_eq!(a.pairs, vec![p("a", "1"), p("b", "2")]);
        assert_eq!(a.error, Some(ParseError::new(8, "too many arguments")));
    }

    #[test]
    fn split_uri_cases() {
        assert_eq!(
            split_uri(b"/a/b?x=1&y"),
            (&b"/a/b"[..], Some(&b"x=1&y"[..]))
        );
        assert_eq!(split_uri(b"/a"), (&b"/a"[..], None));
        assert_eq!(split_uri(b"/a?"), (&b"/a"[..], Some(&b""[..])));
        assert_eq!(split_uri(b"/a?q=1#frag?x"), (&b"/a"[..], Some(&b"q=1"[..])));
        assert_eq!(split_uri(b"/a#f?x"), (&b"/a"[..], None));
        assert_eq!(split_uri(b"/a%3Fb?c"), (&b"/a%3Fb"[..], Some(&b"c"[..])));
        assert_eq!(split_uri(b""), (&b""[..], None));
    }
}
