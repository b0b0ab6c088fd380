//! `cssDecode`: CSS 2.x escapes, as libmodsecurity does it. `\` followed by 1-6 hex
//! digits decodes to one byte: the last two digits (one digit: its value); with 4
//! digits, or 5-6 digits with leading zeros down to 4 significant ones, full-width
//! ASCII (`FF01`..`FF5E`) gets 0x20 added. One whitespace after a hex escape is
//! eaten. `\` + newline is removed, `\` + other character gives that character, a
//! `\` at the end is removed.
//!
//! Example: `\3c script\3E \ff1c\"` -> `<script><"`.

use std::borrow::Cow;

use super::util::{at, hex_val, is_hex, is_space, x2c};

/// Applies `cssDecode`.
pub(super) fn css_decode(input: &[u8]) -> Cow<'_, [u8]> {
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
        if i + 1 >= len {
            // `\` at the end: continuation to nothing.
            i += 1;
            continue;
        }
        i += 1; // Past the backslash.
        let mut j = 0;
        while j < 6 && i + j < len && is_hex(at(input, i + j)) {
            j += 1;
        }
        if j > 0 {
            // Last two digits (or the only one).
            let v = if j == 1 {
                hex_val(at(input, i))
            } else {
                x2c(at(input, i + j - 2), at(input, i + j - 1))
            };
            let full_check = match j {
                4 => true,
                5 => at(input, i) == b'0',
                6 => at(input, i) == b'0' && at(input, i + 1) == b'0',
                _ => false,
            };
            let v = if full_check
                && v > 0
                && v < 0x5f
                && matches!(at(input, i + j - 4), b'f' | b'F')
                && matches!(at(input, i + j - 3), b'f' | b'F')
            {
                v + 0x20
            } else {
                v
            };
            out.push(v);
            // One whitespace after a hex escape is part of it.
            if i + j < len && is_space(at(input, i + j)) {
                j += 1;
            }
            i += j;
        } else if at(input, i) == b'\n' {
            i += 1;
        } else {
            out.push(at(input, i));
            i += 1;
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::css_decode;

    fn t(i: &[u8]) -> Vec<u8> {
        css_decode(i).into_owned()
    }

    #[test]
    fn hex() {
        assert_eq!(t(br"\3c script\3E \ff1c\"), b"<script><");
        assert_eq!(t(br"\a"), b"\x0a");
        assert_eq!(t(br"\000041\0041\123456"), b"AAV");
        assert_eq!(t(br"\0ff1c\00ff1c\1ff1c"), b"<<\x1c");
        assert_eq!(t(b"\\41\t\tx"), b"A\tx");
    }

    #[test]
    fn other() {
        assert_eq!(t(b"a\\\nb"), b"ab");
        assert_eq!(t(br"\'\z\\"), br"'z\");
        assert_eq!(t(br"\"), b"");
        assert_eq!(t(br"abc\"), b"abc");
    }
}
