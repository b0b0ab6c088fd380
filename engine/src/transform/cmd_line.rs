//! `cmdLine`: command-line normalisation, as libmodsecurity does it: deletes `\`
//! `"` `'` `^`; turns each run of space, tab, CR, LF, `,` and `;` into one space;
//! deletes a space before `/` or `(`; lowercases (ASCII).
//!
//! Example: `C:\WINDOWS\"sys"tem32 , ^cmd  /c` -> `c:windowssystem32 cmd/c`.

use std::borrow::Cow;

/// Applies `cmdLine`.
pub(super) fn cmd_line(input: &[u8]) -> Cow<'_, [u8]> {
    let mut out = Vec::with_capacity(input.len());
    let mut space = false;
    for &b in input {
        match b {
            b'"' | b'\'' | b'\\' | b'^' => {}
            b' ' | b',' | b';' | b'\t' | b'\r' | b'\n' => {
                if !space {
                    out.push(b' ');
                    space = true;
                }
            }
            b'/' | b'(' => {
                if space {
                    out.pop();
                }
                space = false;
                out.push(b);
            }
            _ => {
                out.push(b.to_ascii_lowercase());
                space = false;
            }
        }
    }
    if out == input {
        Cow::Borrowed(input)
    } else {
        Cow::Owned(out)
    }
}

#[cfg(test)]
mod tests {
    use super::cmd_line;

    fn t(i: &[u8]) -> Vec<u8> {
        cmd_line(i).into_owned()
    }

    #[test]
    fn normalises() {
        assert_eq!(
            t(br#"C:\WINDOWS\"sys"tem32 , ^cmd  /c"#),
            b"c:windowssystem32 cmd/c"
        );
        assert_eq!(t(b"echo ;,\t\r\n hi (x)"), b"echo hi(x)");
        assert_eq!(t(b"  /a"), b"/a");
        assert_eq!(t(b"a  "), b"a ");
    }

    #[test]
    fn borrows_when_unchanged() {
        assert!(matches!(cmd_line(b"ls -la"), std::borrow::Cow::Borrowed(_)));
    }
}
