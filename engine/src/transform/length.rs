//! `length`: the value's length in bytes, as decimal text.
//!
//! Example: `hello` -> `5`.

use std::borrow::Cow;

/// Applies `length`.
pub(super) fn length(input: &[u8]) -> Cow<'_, [u8]> {
    Cow::Owned(input.len().to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::length;

    #[test]
    fn lengths() {
        assert_eq!(&*length(b""), b"0");
        assert_eq!(&*length(b"hello\0"), b"6");
    }
}
