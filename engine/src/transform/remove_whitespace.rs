//! `removeWhitespace`: removes C-locale whitespace (space, `\t`, `\n`, `\v`, `\f`,
//! `\r`) and, as libmodsecurity does, every 0xA0 and 0xC2 byte (the NBSP, in
//! Latin-1 and in UTF-8).
//!
//! Example: `a b\t\xc2\xa0c` -> `abc`.

use std::borrow::Cow;

use super::util::is_space;

fn removed(b: u8) -> bool {
    is_space(b) || b == 0xa0 || b == 0xc2
}

/// Applies `removeWhitespace`.
pub(super) fn remove_whitespace(input: &[u8]) -> Cow<'_, [u8]> {
    if !input.iter().any(|&b| removed(b)) {
        return Cow::Borrowed(input);
    }
    Cow::Owned(input.iter().copied().filter(|&b| !removed(b)).collect())
}

#[cfg(test)]
mod tests {
    use super::remove_whitespace;

    #[test]
    fn removes() {
        assert_eq!(&*remove_whitespace(b"a b\t\xc2\xa0c\r\n\x0b\x0c"), b"abc");
        assert_eq!(&*remove_whitespace(b"\xc3\xa9"), b"\xc3\xa9");
    }
}
