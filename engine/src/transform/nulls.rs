//! `removeNulls` (drops NUL bytes) and `replaceNulls` (NUL bytes to spaces).
//!
//! Example: `a\0b` -> `ab` / `a b`.

use std::borrow::Cow;

/// Applies `removeNulls`.
pub(super) fn remove_nulls(input: &[u8]) -> Cow<'_, [u8]> {
    if input.contains(&0) {
        Cow::Owned(input.iter().copied().filter(|&b| b != 0).collect())
    } else {
        Cow::Borrowed(input)
    }
}

/// Applies `replaceNulls`.
pub(super) fn replace_nulls(input: &[u8]) -> Cow<'_, [u8]> {
    if input.contains(&0) {
        Cow::Owned(
            input
                .iter()
                .map(|&b| if b == 0 { b' ' } else { b })
                .collect(),
        )
    } else {
        Cow::Borrowed(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nulls() {
        assert_eq!(&*remove_nulls(b"\0a\0\0b\0"), b"ab");
        assert_eq!(&*replace_nulls(b"\0a\0b"), b" a b");
        assert!(matches!(remove_nulls(b"ab"), Cow::Borrowed(_)));
        assert!(matches!(replace_nulls(b"ab"), Cow::Borrowed(_)));
    }
}
