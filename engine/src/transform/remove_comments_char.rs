//! `removeCommentsChar`: removes the comment markers `/*`, `*/`, `<!--`, `-->`,
//! `--` and `#` (only the markers, not the text between them).
//!
//! Example: `a/*b*/c--d#e<!--f-->` -> `abcdef`.

use std::borrow::Cow;

/// Applies `removeCommentsChar`.
pub(super) fn remove_comments_char(input: &[u8]) -> Cow<'_, [u8]> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    let starts = |i: usize, pat: &[u8]| input.get(i..).is_some_and(|r| r.starts_with(pat));
    while let Some(&b) = input.get(i) {
        if starts(i, b"/*") || starts(i, b"*/") {
            i += 2;
        } else if starts(i, b"<!--") {
            i += 4;
        } else if starts(i, b"-->") {
            i += 3;
        } else if starts(i, b"--") {
            i += 2;
        } else if b == b'#' {
            i += 1;
        } else {
            out.push(b);
            i += 1;
        }
    }
    if out.len() == input.len() {
        Cow::Borrowed(input)
    } else {
        Cow::Owned(out)
    }
}

#[cfg(test)]
mod tests {
    use super::remove_comments_char;

    fn t(i: &[u8]) -> Vec<u8> {
        remove_comments_char(i).into_owned()
    }

    #[test]
    fn removes_markers() {
        assert_eq!(t(b"a/*b*/c--d#e<!--f-->"), b"abcdef");
        assert_eq!(t(b"---->"), b"");
        assert_eq!(t(b"a-b/c*d"), b"a-b/c*d");
    }
}
