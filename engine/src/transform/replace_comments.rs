//! `replaceComments`: each C-style comment `/* ... */` becomes one space; an
//! unterminated comment runs to the end and also becomes one space. A lone `*/`
//! is kept.
//!
//! Example: `UNION/**/SELECT/* x` -> `UNION SELECT `.

use std::borrow::Cow;

/// Applies `replaceComments`.
pub(super) fn replace_comments(input: &[u8]) -> Cow<'_, [u8]> {
    if !input.windows(2).any(|w| w == b"/*") {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut in_comment = false;
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        let next = input.get(i + 1).copied();
        if !in_comment {
            if b == b'/' && next == Some(b'*') {
                in_comment = true;
                i += 2;
            } else {
                out.push(b);
                i += 1;
            }
        } else if b == b'*' && next == Some(b'/') {
            in_comment = false;
            out.push(b' ');
            i += 2;
        } else {
            i += 1;
        }
    }
    if in_comment {
        out.push(b' ');
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::replace_comments;

    fn t(i: &[u8]) -> Vec<u8> {
        replace_comments(i).into_owned()
    }

    #[test]
    fn replaces() {
        assert_eq!(t(b"UNION/**/SELECT/* x"), b"UNION SELECT ");
        assert_eq!(t(b"a/*b*/c/*/d*/e"), b"a c e");
        assert_eq!(t(b"a*/b/"), b"a*/b/");
        assert_eq!(t(b"/*"), b" ");
    }
}
