//! `lowercase` / `uppercase`: ASCII case conversion (C locale; other bytes kept).
//!
//! Example: `SeLeCt\xc9` -> `select\xc9` / `SELECT\xc9`.

use std::borrow::Cow;

/// Applies `lowercase`.
pub(super) fn lowercase(input: &[u8]) -> Cow<'_, [u8]> {
    if input.iter().any(u8::is_ascii_uppercase) {
        Cow::Owned(input.to_ascii_lowercase())
    } else {
        Cow::Borrowed(input)
    }
}

/// Applies `uppercase`.
pub(super) fn uppercase(input: &[u8]) -> Cow<'_, [u8]> {
    if input.iter().any(u8::is_ascii_lowercase) {
        Cow::Owned(input.to_ascii_uppercase())
    } else {
        Cow::Borrowed(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases() {
        assert_eq!(&*lowercase(b"SeLeCt\xc9"), b"select\xc9");
        assert_eq!(&*uppercase(b"SeLeCt\xe9"), b"SELECT\xe9");
        assert!(matches!(lowercase(b"abc1"), Cow::Borrowed(_)));
        assert!(matches!(uppercase(b"ABC1"), Cow::Borrowed(_)));
    }
}
