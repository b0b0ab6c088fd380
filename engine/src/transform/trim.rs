//! `trim`, `trimLeft`, `trimRight`: strip C-locale whitespace (space, `\t`, `\n`,
//! `\v`, `\f`, `\r`) from both ends, the start, or the end.
//!
//! Example: `trim` of ` \t a b \n` -> `a b`.

use std::borrow::Cow;

use super::util::is_space;

/// Applies `trimLeft`.
pub(super) fn trim_left(input: &[u8]) -> Cow<'_, [u8]> {
    let start = input
        .iter()
        .position(|&b| !is_space(b))
        .unwrap_or(input.len());
    Cow::Borrowed(input.get(start..).unwrap_or_default())
}

/// Applies `trimRight`.
pub(super) fn trim_right(input: &[u8]) -> Cow<'_, [u8]> {
    let end = input
        .iter()
        .rposition(|&b| !is_space(b))
        .map_or(0, |p| p + 1);
    Cow::Borrowed(input.get(..end).unwrap_or_default())
}

/// Applies `trim`.
pub(super) fn trim(input: &[u8]) -> Cow<'_, [u8]> {
    match trim_right(input) {
        Cow::Borrowed(r) => trim_left(r),
        Cow::Owned(r) => Cow::Owned(trim_left(&r).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims() {
        assert_eq!(&*trim(b" \t a b \n\x0b\x0c\r"), b"a b");
        assert_eq!(&*trim_left(b" \t a b \n"), b"a b \n");
        assert_eq!(&*trim_right(b" \t a b \n"), b" \t a b");
        assert_eq!(&*trim(b"   "), b"");
        assert_eq!(&*trim(b"\xa0a\xa0"), b"\xa0a\xa0");
    }
}
