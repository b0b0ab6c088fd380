//! `jsDecode`: JavaScript escapes, as libmodsecurity does it:
//! `\uHHHH` (low byte only, plus 0x20 for full-width ASCII `\uFF01`..`\uFF5E`),
//! `\xHH`, octal `\OOO` (at most one byte: `\400` is `\40` then `0`), `\a \b \f \n
//! \r \t \v`, and `\C` to `C` for any other character. A `\` at the end is kept.
//!
//! Example: `\x3cscript\u003e\'\101` -> `<script>'A`.

use std::borrow::Cow;

use super::util::{at, is_hex, is_odigit, x2c};

/// Applies `jsDecode`.
pub(super) fn js_decode(input: &[u8]) -> Cow<'_, [u8]> {
    if !input.contains(&b'\\') {
        return Cow::Borrowed(input);
    }
    let len = input.len();
    let mut out = Vec::with_capacity(len);
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let c1 = at(input, i + 1);
        let h = [
            at(input, i + 2),
            at(input, i + 3),
            at(input, i + 4),
            at(input, i + 5),
        ];
        if i + 5 < len && c1 == b'u' && h.iter().all(|&d| is_hex(d)) {
            let mut v = x2c(h[2], h[3]);
            let full_width = matches!(h[0], b'f' | b'F') && matches!(h[1], b'f' | b'F');
            if v > 0 && v < 0x5f && full_width {
                v += 0x20;
            }
            out.push(v);
            i += 6;
        } else if i + 3 < len && c1 == b'x' && is_hex(h[0]) && is_hex(h[1]) {
            out.push(x2c(h[0], h[1]));
            i += 4;
        } else if i + 1 < len && is_odigit(c1) {
            let mut n = 1;
            while n < 3 && is_odigit(at(input, i + 1 + n)) {
                n += 1;
            }
            // Three digits only if they fit a byte (first digit 0-3).
            if n == 3 && c1 > b'3' {
                n = 2;
            }
            let v = input
                .get(i + 1..i + 1 + n)
                .unwrap_or_default()
                .iter()
                .fold(0u32, |acc, &d| acc * 8 + u32::from(d - b'0'));
            out.push((v & 0xff) as u8);
            i += 1 + n;
        } else if i + 1 < len {
            out.push(match c1 {
                b'a' => 0x07,
                b'b' => 0x08,
                b'f' => 0x0c,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'v' => 0x0b,
                other => other,
            });
            i += 2;
        } else {
            // A lone `\` at the end is kept.
            out.push(b);
            i += 1;
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::js_decode;

    fn t(i: &[u8]) -> Vec<u8> {
        js_decode(i).into_owned()
    }

    #[test]
    fn escapes() {
        assert_eq!(t(br"\x3cscript\u003e"), b"<script>");
        assert_eq!(t(br"\uff1c\uFF1E\u4e2d"), b"<>\x2d");
        assert_eq!(
            t(br#"\a\b\f\n\r\t\v\\\'\"\?\z"#),
            b"\x07\x08\x0c\n\r\t\x0b\\'\"?z"
        );
    }

    #[test]
    fn octal() {
        assert_eq!(t(br"\101\60\7"), b"A0\x07");
        assert_eq!(t(br"\377\400\1234"), b"\xff\x200S4");
        assert_eq!(t(br"\08"), b"\x008");
    }

    #[test]
    fn incomplete() {
        assert_eq!(t(br"\"), br"\");
        assert_eq!(t(br"a\u00"), b"au00");
        assert_eq!(t(br"\x4"), b"x4");
        assert_eq!(t(br"\U0041"), b"U0041");
    }
}
