//! `urlDecode`: decodes `%XX` escapes and `+` (to space), as libmodsecurity's
//! `urldecode_nonstrict_inplace`. Invalid or truncated escapes are kept as they are.
//!
//! Example: `a%20b+c%zz%4` -> `a b c%zz%4`.

use std::borrow::Cow;

use super::util::{at, is_hex, x2c};

/// Applies `urlDecode`.
pub(super) fn url_decode(input: &[u8]) -> Cow<'_, [u8]> {
    if !input.iter().any(|&b| b == b'%' || b == b'+') {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        match b {
            b'%' => {
                let (h, l) = (at(input, i + 1), at(input, i + 2));
                if i + 2 < input.len() && is_hex(h) && is_hex(l) {
                    out.push(x2c(h, l));
                    i += 3;
                } else {
                    out.push(b'%');
                    i += 1;
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::url_decode;

    fn t(i: &[u8]) -> Vec<u8> {
        url_decode(i).into_owned()
    }

    #[test]
    fn decodes() {
        assert_eq!(t(b"a%20b+c"), b"a b c");
        assert_eq!(t(b"%3Cscript%3e"), b"<script>");
        assert_eq!(t(b"%00%ff"), b"\x00\xff");
    }

    #[test]
    fn keeps_invalid() {
        assert_eq!(t(b"%"), b"%");
        assert_eq!(t(b"%4"), b"%4");
        assert_eq!(t(b"%zz%4g"), b"%zz%4g");
        assert_eq!(t(b"%%41"), b"%A");
        assert_eq!(t(b"%u0041"), b"%u0041");
    }

    #[test]
    fn borrows_when_unchanged() {
        assert!(matches!(url_decode(b"abc"), std::borrow::Cow::Borrowed(_)));
    }
}
