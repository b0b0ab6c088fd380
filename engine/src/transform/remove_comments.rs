//! `removeComments`, as libmodsecurity does it: `/* ... */` and `<!-- ... -->`
//! are removed, and so is the byte right after the closing `*/` or `-->` (a quirk
//! of libmodsecurity: it is copied without being examined, and at the very end a
//! NUL is appended in its place); `--` or `#` outside a comment cuts the value
//! there; an unterminated comment becomes one space.
//!
//! Example: `SELECT/*x*/ 1 -- rest` -> `SELECT 1 `.

use std::borrow::Cow;

/// Applies `removeComments`.
pub(super) fn remove_comments(input: &[u8]) -> Cow<'_, [u8]> {
    let len = input.len();
    let mut out = Vec::with_capacity(len);
    let mut in_comment = false;
    let mut i = 0;
    let starts = |i: usize, pat: &[u8]| input.get(i..).is_some_and(|r| r.starts_with(pat));
    // The byte after a comment's end is copied unexamined (NUL past the end).
    let copy_next = |out: &mut Vec<u8>, i: usize| {
        if i <= len {
            out.push(input.get(i).copied().unwrap_or(0));
        }
    };
    while let Some(&b) = input.get(i) {
        if !in_comment {
            if starts(i, b"/*") {
                in_comment = true;
                i += 2;
            } else if starts(i, b"<!--") {
                in_comment = true;
                i += 4;
            } else if starts(i, b"--") || b == b'#' {
                break;
            } else {
                out.push(b);
                i += 1;
            }
        } else if starts(i, b"*/") {
            in_comment = false;
            i += 2;
            copy_next(&mut out, i);
            i += 1;
        } else if starts(i, b"-->") {
            in_comment = false;
            i += 3;
            copy_next(&mut out, i);
            i += 1;
        } else {
            i += 1;
        }
    }
    if in_comment {
        out.push(b' ');
    }
    if out == input {
        Cow::Borrowed(input)
    } else {
        Cow::Owned(out)
    }
}

#[cfg(test)]
mod tests {
    use super::remove_comments;

    fn t(i: &[u8]) -> Vec<u8> {
        remove_comments(i).into_owned()
    }

    #[test]
    fn removes() {
        assert_eq!(t(b"SELECT/*x*/ 1 -- rest"), b"SELECT 1 ");
        assert_eq!(t(b"a<!--b-->cd"), b"acd");
        assert_eq!(t(b"a#b"), b"a");
        assert_eq!(t(b"a/*b"), b"a ");
        assert_eq!(t(b"a/*b*/"), b"a\x00");
        assert_eq!(t(b"plain"), b"plain");
    }
}
