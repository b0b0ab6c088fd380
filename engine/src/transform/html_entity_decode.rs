//! `htmlEntityDecode`, as libmodsecurity v3 does it:
//! - `&#D;` decimal and `&#xH;` hex, the `;` optional; all the digits are consumed
//!   and the value (saturated like C's `strtol`) is truncated to a byte, so
//!   `&#00000060;` is `<` and `&#x13c;` is `<` too (0x13C truncated);
//! - the named entities `quot`, `amp`, `lt`, `gt`, `nbsp` (to 0xA0), matched
//!   case-insensitively as a prefix of the alphanumeric run after `&` (the whole run
//!   and an optional `;` are consumed: `&ltx;` -> `<`);
//! - anything else is kept as it is.
//!
//! Example: `&lt;a&#x20;b&#39c&QUOT;&foo;` -> `<a b'c"&foo;`.

use std::borrow::Cow;

use super::util::is_hex;

/// Applies `htmlEntityDecode`.
pub(super) fn html_entity_decode(input: &[u8]) -> Cow<'_, [u8]> {
    if !input.contains(&b'&') {
        return Cow::Borrowed(input);
    }
    let len = input.len();
    let mut out = Vec::with_capacity(len);
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        if b == b'&' && i + 1 < len {
            match entity(input, i + 1) {
                Entity::Decoded(byte, next) => {
                    out.push(byte);
                    i = next;
                    continue;
                }
                Entity::Copy(n) => {
                    let end = (i + n).min(len);
                    out.extend_from_slice(input.get(i..end).unwrap_or_default());
                    i = end;
                    continue;
                }
            }
        }
        out.push(b);
        i += 1;
    }
    if out == input {
        Cow::Borrowed(input)
    } else {
        Cow::Owned(out)
    }
}

enum Entity {
    /// The decoded byte and where decoding goes on.
    Decoded(u8, usize),
    /// Not decoded: copy this many bytes (from the `&`) as they are.
    Copy(usize),
}

/// Reads an entity whose body starts at `j` (just after `&`).
fn entity(input: &[u8], j: usize) -> Entity {
    let len = input.len();
    let digits_end = |start: usize, pred: fn(u8) -> bool| {
        let mut e = start;
        while input.get(e).is_some_and(|&c| pred(c)) {
            e += 1;
        }
        e
    };
    let after_semicolon = |e: usize| {
        if input.get(e) == Some(&b';') {
            e + 1
        } else {
            e
        }
    };

    if input.get(j) == Some(&b'#') {
        let j = j + 1;
        if j >= len {
            return Entity::Copy(2);
        }
        if matches!(input.get(j), Some(b'x' | b'X')) {
            let k = j + 1;
            if k >= len {
                return Entity::Copy(3);
            }
            let e = digits_end(k, is_hex);
            match parse(input.get(k..e).unwrap_or_default(), 16) {
                Some(v) => Entity::Decoded(v, after_semicolon(e)),
                None => Entity::Copy(3),
            }
        } else {
            let e = digits_end(j, |c| c.is_ascii_digit());
            match parse(input.get(j..e).unwrap_or_default(), 10) {
                Some(v) => Entity::Decoded(v, after_semicolon(e)),
                None => Entity::Copy(2),
            }
        }
    } else {
        let mut e = j;
        while input.get(e).is_some_and(u8::is_ascii_alphanumeric) {
            e += 1;
        }
        let name = input.get(j..e).unwrap_or_default();
        if name.is_empty() {
            return Entity::Copy(1);
        }
        const NAMED: [(&[u8], u8); 5] = [
            (b"quot", b'"'),
            (b"amp", b'&'),
            (b"lt", b'<'),
            (b"gt", b'>'),
            (b"nbsp", 0xa0),
        ];
        for (n, v) in NAMED {
            if name
                .get(..n.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(n))
            {
                return Entity::Decoded(v, after_semicolon(e));
            }
        }
        Entity::Copy(name.len() + 1)
    }
}

/// Parses digits in `radix` like C's `strtol` (saturating at `i64::MAX`), then
/// truncates to a byte; `None` if there are no digits.
fn parse(digits: &[u8], radix: u32) -> Option<u8> {
    if digits.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        let dv = i64::from(char::from(d).to_digit(radix)?);
        v = v.saturating_mul(i64::from(radix)).saturating_add(dv);
    }
    Some((v & 0xff) as u8)
}

#[cfg(test)]
mod tests {
    use super::html_entity_decode;

    fn t(i: &[u8]) -> Vec<u8> {
        html_entity_decode(i).into_owned()
    }

    #[test]
    fn named() {
        assert_eq!(t(b"&lt;script&gt;"), b"<script>");
        assert_eq!(t(b"&QUOT;&amp;&nbsp;"), b"\"&\xa0");
        assert_eq!(t(b"&lt"), b"<");
        // Prefix match, whole alphanumeric run consumed (libmodsecurity 3.0.13+).
        assert_eq!(t(b"&ltfoo;x"), b"<x");
        assert_eq!(t(b"&foo;&l;"), b"&foo;&l;");
    }

    #[test]
    fn numeric() {
        assert_eq!(t(b"&#60;&#x3c;&#X3C&#60"), b"<<<<");
        assert_eq!(t(b"&#0000060;&#x0003c"), b"<<");
        assert_eq!(
            t(b"&#x24;&#000000000000000000000000000000123;jndi"),
            b"${jndi"
        );
        assert_eq!(t(b"&#256;&#x13c;"), b"\x00<");
        assert_eq!(t(b"&#99999999999999999999999;"), b"\xff");
    }

    #[test]
    fn incomplete() {
        assert_eq!(t(b"&"), b"&");
        assert_eq!(t(b"&#"), b"&#");
        assert_eq!(t(b"&#x"), b"&#x");
        assert_eq!(t(b"&#x;"), b"&#x;");
        assert_eq!(t(b"&#;"), b"&#;");
        assert_eq!(t(b"& &;"), b"& &;");
    }
}
