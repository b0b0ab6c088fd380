//! `compressWhitespace`: each run of C-locale whitespace (space, `\t`, `\n`, `\v`,
//! `\f`, `\r`) becomes one space.
//!
//! Example: `a \t\r\n b` -> `a b`.

use std::borrow::Cow;

use super::util::is_space;

/// Applies `compressWhitespace`.
pub(super) fn compress_whitespace(input: &[u8]) -> Cow<'_, [u8]> {
    // Unchanged unless some whitespace is not a lone space.
    let changes = input.iter().enumerate().any(|(i, &b)| {
        is_space(b) && (b != b' ' || input.get(i + 1).is_some_and(|&n| is_space(n)))
    });
    if !changes {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut in_space = false;
    for &b in input {
        if is_space(b) {
            if !in_space {
                out.push(b' ');
                in_space = true;
            }
        } else {
            out.push(b);
            in_space = false;
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::compress_whitespace;

    fn t(i: &[u8]) -> Vec<u8> {
        compress_whitespace(i).into_owned()
    }

    #[test]
    fn compresses() {
        assert_eq!(t(b"a \t\r\n b"), b"a b");
        assert_eq!(t(b"\x0b\x0ca"), b" a");
        assert_eq!(t(b"a\xa0\xa0b"), b"a\xa0\xa0b");
        assert!(matches!(
            compress_whitespace(b"a b c"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
