//! `urlDecodeUni`: like `urlDecode` (`%XX`, `+` to space), plus the IIS `%uXXXX`
//! form. As libmodsecurity does with the recommended `SecUnicodeMapFile
//! unicode.mapping 20127`, a `%uXXXX` code point found in the code page 20127 map
//! becomes its mapped byte; any other becomes its low byte, plus 0x20 for full-width
//! ASCII (`%uFF01`..`%uFF5E`). Invalid or truncated escapes are kept as they are.
//!
//! Example: `%u0041%uff1c%u00e9%u4e2d` -> `A<e-` (U+00E9 maps to `e`; U+4E2D is
//! unmapped and keeps its low byte 0x2D).

use std::borrow::Cow;

use super::unicode_map;
use super::util::{at, is_hex, x2c};

/// Applies `urlDecodeUni`, with the code page 20127 map.
pub(super) fn url_decode_uni(input: &[u8]) -> Cow<'_, [u8]> {
    decode(input, true)
}

/// `urlDecodeUni` as libmodsecurity does it with no `SecUnicodeMapFile` (low byte
/// and the full-width rule only).
#[cfg(test)]
pub(super) fn url_decode_uni_unmapped(input: &[u8]) -> Cow<'_, [u8]> {
    decode(input, false)
}

fn decode(input: &[u8], mapped: bool) -> Cow<'_, [u8]> {
    if !input.iter().any(|&b| b == b'%' || b == b'+') {
        return Cow::Borrowed(input);
    }
    let len = input.len();
    let mut out = Vec::with_capacity(len);
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        if b == b'%' {
            let next = at(input, i + 1);
            if i + 1 < len && (next == b'u' || next == b'U') {
                let d = [
                    at(input, i + 2),
                    at(input, i + 3),
                    at(input, i + 4),
                    at(input, i + 5),
                ];
                if i + 5 < len && d.iter().all(|&h| is_hex(h)) {
                    out.push(decode_u(d, mapped));
                    i += 6;
                } else {
                    // Invalid or truncated: keep `%u` and go on after it.
                    out.push(b);
                    out.push(next);
                    i += 2;
                }
            } else {
                let (h, l) = (at(input, i + 1), at(input, i + 2));
                if i + 2 < len && is_hex(h) && is_hex(l) {
                    out.push(x2c(h, l));
                    i += 3;
                } else {
                    out.push(b'%');
                    i += 1;
                }
            }
        } else {
            out.push(if b == b'+' { b' ' } else { b });
            i += 1;
        }
    }
    Cow::Owned(out)
}

/// One `%uXXXX` escape (four valid hex digits) to a byte.
fn decode_u(d: [u8; 4], mapped: bool) -> u8 {
    let code = u16::from_be_bytes([x2c(d[0], d[1]), x2c(d[2], d[3])]);
    if let Some(byte) = unicode_map::lookup(code).filter(|_| mapped) {
        return byte;
    }
    let low = x2c(d[2], d[3]);
    let full_width = matches!(d[0], b'f' | b'F') && matches!(d[1], b'f' | b'F');
    if low > 0 && low < 0x5f && full_width {
        low + 0x20
    } else {
        low
    }
}

#[cfg(test)]
mod tests {
    use super::url_decode_uni;

    fn t(i: &[u8]) -> Vec<u8> {
        url_decode_uni(i).into_owned()
    }

    #[test]
    fn decodes_percent_and_plus() {
        assert_eq!(t(b"a%20b+c%3c"), b"a b c<");
    }

    #[test]
    fn decodes_percent_u() {
        assert_eq!(t(b"%u0041%U0042"), b"AB");
        // Full-width ASCII.
        assert_eq!(t(b"%uff1cscript%uFF1E"), b"<script>");
        // Mapped by code page 20127.
        assert_eq!(t(b"%u00e9%u2018%u3002"), b"e'.");
        // Unmapped: low byte.
        assert_eq!(t(b"%u4e2d"), b"\x2d");
        assert_eq!(t(b"%u0100"), b"A");
        assert_eq!(t(b"%u1200"), b"\x00");
    }

    #[test]
    fn keeps_invalid() {
        assert_eq!(t(b"%"), b"%");
        assert_eq!(t(b"%u"), b"%u");
        assert_eq!(t(b"%u004"), b"%u004");
        assert_eq!(t(b"%u00zz"), b"%u00zz");
        assert_eq!(t(b"%u%41"), b"%uA");
        assert_eq!(t(b"%4"), b"%4");
    }
}
