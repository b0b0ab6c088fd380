//! `Cookie` request header parsing with ModSecurity v3 semantics
//! (`Transaction::addRequestHeader`, the `cookie` branch):
//!
//! - the header value is split on `;`;
//! - trailing whitespace after the last cookie-pair is removed;
//! - empty pieces are skipped (`;;a=1`);
//! - each piece is split on its first `=` (`a=b=c` -> `a` = `b=c`); no `=` gives an empty
//!   value;
//! - leading whitespace (C `isspace`) is trimmed from the name only; values keep their
//!   spaces and are **not** URL-decoded;
//! - a piece whose name is empty after trimming (`=bar`) is skipped.

use super::Pair;

/// Limits for [`parse_cookies_limited`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieLimits {
    /// Maximum number of cookies kept; later ones are dropped.
    pub max_cookies: usize,
}

impl Default for CookieLimits {
    fn default() -> Self {
        Self { max_cookies: 4096 }
    }
}

/// Parses one `Cookie` header value into (name, value) pairs, keeping at most
/// [`CookieLimits::default`] cookies. See the module docs for the exact rules.
pub fn parse_cookies(header_value: &[u8]) -> Vec<Pair> {
    parse_cookies_limited(header_value, &CookieLimits::default())
}

/// [`parse_cookies`] with an explicit limit on the number of cookies returned.
pub fn parse_cookies_limited(header_value: &[u8], limits: &CookieLimits) -> Vec<Pair> {
    let mut value = header_value;
    while let [rest @ .., last] = value {
        if is_c_space(*last) {
            value = rest;
        } else {
            break;
        }
    }
    let mut out = Vec::new();
    for piece in value.split(|&b| b == b';') {
        if out.len() >= limits.max_cookies {
            break;
        }
        if piece.is_empty() {
            continue;
        }
        let (name, val) = match piece.iter().position(|&b| b == b'=') {
            Some(i) => (
                piece.get(..i).unwrap_or_default(),
                piece.get(i + 1..).unwrap_or_default(),
            ),
            None => (piece, &[][..]),
        };
        let start = name
            .iter()
            .position(|&b| !is_c_space(b))
            .unwrap_or(name.len());
        let name = name.get(start..).unwrap_or_default();
        if name.is_empty() {
            continue;
        }
        out.push((name.to_vec(), val.to_vec()));
    }
    out
}

/// C `isspace` in the "C" locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(k: &str, v: &str) -> Pair {
        (k.as_bytes().to_vec(), v.as_bytes().to_vec())
    }

    #[test]
    fn basic() {
        assert_eq!(
            parse_cookies(b"a=1; b=2;c=3"),
            vec![p("a", "1"), p("b", "2"), p("c", "3")]
        );
    }

    #[test]
    fn first_equals_splits_and_no_decoding() {
        assert_eq!(
            parse_cookies(b"a=b=c; d=%41+x"),
            vec![p("a", "b=c"), p("d", "%41+x")]
        );
    }

    #[test]
    fn no_equals_gives_empty_value() {
        assert_eq!(
            parse_cookies(b"flag; x=1"),
            vec![p("flag", ""), p("x", "1")]
        );
    }

    #[test]
    fn empties_and_empty_names_skipped() {
        assert_eq!(parse_cookies(b";; =bar; \t=x;a=1;"), vec![p("a", "1")]);
        assert_eq!(parse_cookies(b""), vec![]);
        assert_eq!(parse_cookies(b"   "), vec![]);
    }

    #[test]
    fn whitespace_rules() {
        // Leading space trimmed from names, value spaces kept, trailing space of the whole
        // header dropped.
        assert_eq!(
            parse_cookies(b"  a= v1 ;b =2  "),
            vec![p("a", " v1 "), p("b ", "2")]
        );
    }

    #[test]
    fn limit() {
        let l = CookieLimits { max_cookies: 1 };
        assert_eq!(parse_cookies_limited(b"a=1;b=2", &l), vec![p("a", "1")]);
    }
}
