//! `utf8toUnicode`: each well-formed multi-byte UTF-8 sequence becomes `%uXXXX`
//! (lowercase hex, at least 4 digits), as libmodsecurity does it, including its
//! quirks:
//! - ASCII and bytes that cannot start a sequence (0x80-0xBF, 0xF8-0xFF) are kept;
//! - a lead byte (0xC0-0xF7) whose sequence is truncated or has a bad continuation
//!   byte is dropped (bytes 0xF5-0xF7 are always copied first);
//! - after an overlong form or a surrogate (U+D800-U+DFFF), the lead byte is
//!   appended after the `%u` escape;
//! - a NUL byte is dropped unless it is the last byte.
//!
//! Example: `a\xc3\xa9\xe4\xb8\xad` (`aé中`) -> `a%u00e9%u4e2d`.

use std::borrow::Cow;

use super::util::{at, hex_digit};

/// Applies `utf8toUnicode`.
pub(super) fn utf8_to_unicode(input: &[u8]) -> Cow<'_, [u8]> {
    if input.iter().all(|&b| b != 0 && b < 0x80) {
        return Cow::Borrowed(input);
    }
    let len = input.len();
    let mut out = Vec::with_capacity(len + len / 2);
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        let cont = |k: usize| at(input, i + k) & 0xc0 == 0x80;
        // (sequence length, code point) of a well-formed sequence at `i`.
        let mut seq: Option<(usize, u32)> = None;
        if c & 0x80 == 0 {
            // ASCII; NUL is dropped unless last.
            if c != 0 || i + 1 >= len {
                out.push(c);
            }
        } else if c & 0xe0 == 0xc0 {
            if len >= 2 && cont(1) {
                let d = (u32::from(c & 0x1f) << 6) | u32::from(at(input, i + 1) & 0x3f);
                seq = Some((2, d));
            }
        } else if c & 0xf0 == 0xe0 {
            if len >= 3 && cont(1) && cont(2) {
                let d = (u32::from(c & 0x0f) << 12)
                    | (u32::from(at(input, i + 1) & 0x3f) << 6)
                    | u32::from(at(input, i + 2) & 0x3f);
                seq = Some((3, d));
            }
        } else if c & 0xf8 == 0xf0 {
            if c >= 0xf5 {
                out.push(c);
            }
            if len >= 4 && cont(1) && cont(2) && cont(3) {
                let d = (u32::from(c & 0x07) << 18)
                    | (u32::from(at(input, i + 1) & 0x3f) << 12)
                    | (u32::from(at(input, i + 2) & 0x3f) << 6)
                    | u32::from(at(input, i + 3) & 0x3f);
                seq = Some((4, d));
            }
        } else {
            // Not a valid first byte: kept.
            out.push(c);
        }
        match seq {
            Some((n, d)) => {
                push_u(&mut out, d);
                if (0xd800..=0xdfff).contains(&d) {
                    out.push(c);
                }
                let overlong = match n {
                    2 => d < 0x80,
                    3 => d < 0x800,
                    _ => d < 0x1_0000,
                };
                if overlong {
                    out.push(c);
                }
                i += n;
            }
            None => i += 1,
        }
    }
    Cow::Owned(out)
}

/// Appends `%u` and `d` in lowercase hex, zero-padded to 4 digits.
fn push_u(out: &mut Vec<u8>, d: u32) {
    out.extend_from_slice(b"%u");
    let mut digits = 4;
    while digits < 8 && (d >> (4 * digits)) != 0 {
        digits += 1;
    }
    for k in (0..digits).rev() {
        out.push(hex_digit(((d >> (4 * k)) & 0xf) as u8));
    }
}

#[cfg(test)]
mod tests {
    use super::utf8_to_unicode;

    fn t(i: &[u8]) -> Vec<u8> {
        utf8_to_unicode(i).into_owned()
    }

    #[test]
    fn encodes() {
        assert_eq!(t("aé中".as_bytes()), b"a%u00e9%u4e2d");
        assert_eq!(t("😀".as_bytes()), b"%u1f600");
        assert_eq!(t(b"\xf4\x8f\xbf\xbf"), b"%u10ffff");
    }

    #[test]
    fn quirks() {
        // Overlong and surrogate: the lead byte follows the escape.
        assert_eq!(t(b"\xc0\xbc"), b"%u003c\xc0");
        assert_eq!(t(b"\xed\xa0\x80"), b"%ud800\xed");
        // Bad or missing continuation: lead dropped.
        assert_eq!(t(b"\xc3(x"), b"(x");
        assert_eq!(t(b"ab\xe4\xb8"), b"ab\xb8");
        // Stray continuation bytes and 0xF8+ are kept.
        assert_eq!(t(b"\x80\xff"), b"\x80\xff");
        assert_eq!(t(b"\xf5\x80\x80\x80"), b"\xf5%u140000");
        // NUL dropped unless last.
        assert_eq!(t(b"a\x00b\x00"), b"ab\x00");
    }

    #[test]
    fn borrows_ascii() {
        assert!(matches!(
            utf8_to_unicode(b"abc"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
