//! `hexEncode` (each byte to two lowercase hex digits) and `hexDecode` (pairs of
//! hex digits to bytes). `hexDecode` works as libmodsecurity does: no validation
//! (a non-hex digit yields a garbage value rather than an error), a trailing odd
//! digit is ignored; a one-byte value decodes to nothing.
//!
//! Example: `hexEncode` of `Az\0` -> `417a00`; `hexDecode` of `417A0` -> `Az`.

use std::borrow::Cow;

use super::util::{hex_digit, x2c};

/// Applies `hexEncode`.
pub(super) fn hex_encode(input: &[u8]) -> Cow<'_, [u8]> {
    let mut out = Vec::with_capacity(input.len() * 2);
    for &b in input {
        out.push(hex_digit(b >> 4));
        out.push(hex_digit(b));
    }
    Cow::Owned(out)
}

/// Applies `hexDecode`.
pub(super) fn hex_decode(input: &[u8]) -> Cow<'_, [u8]> {
    if input.is_empty() {
        return Cow::Borrowed(input);
    }
    Cow::Owned(
        input
            .chunks_exact(2)
            .map(|p| match p {
                [h, l] => x2c(*h, *l),
                _ => 0,
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode() {
        assert_eq!(&*hex_encode(b"Az\0\xff"), b"417a00ff");
        assert_eq!(&*hex_encode(b""), b"");
    }

    #[test]
    fn decode() {
        assert_eq!(&*hex_decode(b"417A0"), b"Az");
        assert_eq!(&*hex_decode(b"54657374"), b"Test");
        assert_eq!(&*hex_decode(b"4"), b"");
        assert_eq!(&*hex_decode(b""), b"");
    }
}
