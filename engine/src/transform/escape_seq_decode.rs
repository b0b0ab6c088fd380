//! `escapeSeqDecode`: ANSI C escapes, as libmodsecurity does it: `\a \b \f \n \r \t
//! \v \\ \? \' \"`, `\xHH` / `\XHH`, octal `\O`..`\OOO` (truncated to a byte).
//! Any other `\C` gives `C` (the backslash is dropped; `\x4` gives `x4`); a `\` at
//! the end is kept.
//!
//! Example: `\x41\102\n\q` -> `AB` + newline + `q`.

use std::borrow::Cow;

use super::util::{at, is_hex, is_odigit, x2c};

/// Applies `escapeSeqDecode`.
pub(super) fn escape_seq_decode(input: &[u8]) -> Cow<'_, [u8]> {
    if !input.contains(&b'\\') {
        return Cow::Borrowed(input);
    }
    let len = input.len();
    let mut out = Vec::with_capacity(len);
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        if b != b'\\' || i + 1 >= len {
            out.push(b);
            i += 1;
            continue;
        }
        let c1 = at(input, i + 1);
        let simple = match c1 {
            b'a' => Some(0x07),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'v' => Some(0x0b),
            b'\\' | b'?' | b'\'' | b'"' => Some(c1),
            _ => None,
        };
        if let Some(c) = simple {
            out.push(c);
            i += 2;
        } else if matches!(c1, b'x' | b'X')
            && i + 3 < len
            && is_hex(at(input, i + 2))
            && is_hex(at(input, i + 3))
        {
            out.push(x2c(at(input, i + 2), at(input, i + 3)));
            i += 4;
        } else if is_odigit(c1) {
            let mut n = 1;
            while n < 3 && is_odigit(at(input, i + 1 + n)) {
                n += 1;
            }
            let v = input
                .get(i + 1..i + 1 + n)
                .unwrap_or_default()
                .iter()
                .fold(0u32, |acc, &d| acc * 8 + u32::from(d - b'0'));
            out.push((v & 0xff) as u8);
            i += 1 + n;
        } else {
            // Unrecognised: the character after the backslash, as it is.
            out.push(c1);
            i += 2;
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::escape_seq_decode;

    fn t(i: &[u8]) -> Vec<u8> {
        escape_seq_decode(i).into_owned()
    }

    #[test]
    fn escapes() {
        assert_eq!(
            t(br#"\a\b\f\n\r\t\v\\\?\'\""#),
            b"\x07\x08\x0c\n\r\t\x0b\\?'\""
        );
        assert_eq!(t(br"\x41\X42\101\0\777"), b"ABA\x00\xff");
    }

    #[test]
    fn odd() {
        assert_eq!(t(br"\x4"), b"x4");
        assert_eq!(t(br"\q"), b"q");
        assert_eq!(t(br"a\"), br"a\");
        assert_eq!(t(br"\1234"), b"S4");
    }
}
