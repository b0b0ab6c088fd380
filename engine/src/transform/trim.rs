//! `trim`, `trimLeft`, `trimRight`: strip C-locale whitespace (space, `\t`, `\n`,
//! `\v`, `\f`, `\r`) from both ends, the start, or the end.
//!
//! Example: `trim` of ` \t a b \n` -> `a b`.

use std::borrow::Cow;

use super::util::is_space;

/// The part of `input` from `start` to `end`: borrowed when that is all of it, copied
/// otherwise, so that `Cow::Borrowed` keeps meaning "unchanged" as for every other
/// transformation (the evaluator's chains and caches rely on it).
fn part(input: &[u8], start: usize, end: usize) -> Cow<'_, [u8]> {
    match input.get(start..end) {
        Some(p) if p.len() == input.len() => Cow::Borrowed(input),
        Some(p) => Cow::Owned(p.to_vec()),
        None => Cow::Owned(Vec::new()),
    }
}

fn start(input: &[u8]) -> usize {
    input
        .iter()
        .position(|&b| !is_space(b))
        .unwrap_or(input.len())
}

fn end(input: &[u8]) -> usize {
    input
        .iter()
        .rposition(|&b| !is_space(b))
        .map_or(0, |p| p + 1)
}

/// Applies `trimLeft`.
pub(super) fn trim_left(input: &[u8]) -> Cow<'_, [u8]> {
    part(input, start(input), input.len())
}

/// Applies `trimRight`.
pub(super) fn trim_right(input: &[u8]) -> Cow<'_, [u8]> {
    part(input, 0, end(input))
}

/// Applies `trim`.
pub(super) fn trim(input: &[u8]) -> Cow<'_, [u8]> {
    let e = end(input);
    // All whitespace: `end` is 0 and the start must not pass it.
    part(input, start(input).min(e), e)
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
        assert!(matches!(trim(b"a b"), Cow::Borrowed(_)));
        assert!(matches!(trim(b" a"), Cow::Owned(_)));
        assert!(matches!(trim_left(b"a "), Cow::Borrowed(_)));
        assert!(matches!(trim_right(b"a "), Cow::Owned(_)));
    }
}
