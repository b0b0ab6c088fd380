//! `normalizePath` / `normalizePathWin`: path normalisation, as libmodsecurity does
//! it: collapses `//`, removes `./` self-references, resolves `../` against the
//! previous segment (never above the root; leading `../` of a relative path are
//! kept), keeps a trailing `/` only if the input had one. The Windows variant first
//! turns every `\` into `/`.
//!
//! Example: `/a/./b//c/../d/` -> `/a/b/d/`; `normalizePathWin` of `a\..\..\b` -> `../b`.

use std::borrow::Cow;

/// Applies `normalizePath` (`win == false`) or `normalizePathWin` (`win == true`).
pub(super) fn normalize_path(input: &[u8], win: bool) -> Cow<'_, [u8]> {
    let src: Cow<'_, [u8]> = if win && input.contains(&b'\\') {
        Cow::Owned(
            input
                .iter()
                .map(|&b| if b == b'\\' { b'/' } else { b })
                .collect(),
        )
    } else {
        Cow::Borrowed(input)
    };
    let out = normalize(&src);
    if out == input {
        Cow::Borrowed(input)
    } else {
        Cow::Owned(out)
    }
}

/// The byte at `i` (NUL if out of range, which the algorithm never reads).
fn get(buf: &[u8], i: usize) -> u8 {
    buf.get(i).copied().unwrap_or(0)
}

/// Normalises a path that uses `/` only. `dst` is the write cursor into `out`, which
/// can move back; `out` is cut to it at the end.
fn normalize(s: &[u8]) -> Vec<u8> {
    let Some(end) = s.len().checked_sub(1) else {
        return Vec::new();
    };
    let relative = get(s, 0) != b'/';
    let trailing = get(s, end) == b'/';
    let mut out = vec![0u8; s.len()];
    let (mut src, mut dst) = (0usize, 0usize);
    let mut hitroot = false;
    let mut done = false;

    while !done && src <= end && dst <= end {
        let mut skip_copy = false;
        // Normalise only at the end of a segment (or of the input).
        let at_segment_end = if src == end {
            done = true;
            true
        } else {
            get(s, src + 1) == b'/'
        };
        if at_segment_end {
            let c = get(s, src);
            if src != end && c == b'/' {
                // Empty segment: the copy below collapses the slashes.
            } else if c == b'.' {
                if dst > 0 && get(&out, dst - 1) == b'.' {
                    // Back-reference `..`.
                    if relative && (hitroot || dst <= 2) {
                        // Nothing to go back over: keep it.
                        hitroot = true;
                    } else {
                        dst = dst.saturating_sub(3);
                        while dst > 0 && get(&out, dst) != b'/' {
                            dst -= 1;
                        }
                        if dst == 0 {
                            hitroot = true;
                            // Keep the root slash of an absolute path ending in `..`.
                            if !relative && src == end {
                                dst = 1;
                            }
                        }
                        if done {
                            skip_copy = true;
                        } else {
                            src += 1;
                        }
                    }
                } else if dst == 0 {
                    // Relative self-reference at the start.
                    if done {
                        skip_copy = true;
                    } else {
                        src += 1;
                    }
                } else if get(&out, dst - 1) == b'/' {
                    // Self-reference `/./`.
                    if done {
                        skip_copy = true;
                    } else {
                        dst -= 1;
                        src += 1;
                    }
                }
            } else if dst > 0 {
                // A regular segment.
                hitroot = false;
            }
        }
        if skip_copy {
            continue;
        }
        // Copy the byte; for `/`, skip to the last of a run of slashes.
        if get(s, src) == b'/' {
            while src < end && get(s, src + 1) == b'/' {
                src += 1;
            }
            // A relative path never starts with `/`.
            if relative && dst == 0 {
                src += 1;
                continue;
            }
        }
        if let Some(slot) = out.get_mut(dst) {
            *slot = get(s, src);
        }
        dst += 1;
        src += 1;
    }
    if !trailing && dst > 0 && get(&out, dst - 1) == b'/' {
        dst -= 1;
    }
    out.truncate(dst);
    out
}

#[cfg(test)]
mod tests {
    use super::normalize_path;

    fn t(i: &[u8]) -> Vec<u8> {
        normalize_path(i, false).into_owned()
    }

    fn w(i: &[u8]) -> Vec<u8> {
        normalize_path(i, true).into_owned()
    }

    #[test]
    fn absolute() {
        assert_eq!(t(b"/a/./b//c/../d/"), b"/a/b/d/");
        assert_eq!(t(b"/a/b/.."), b"/a");
        assert_eq!(t(b"/../../etc/passwd"), b"/etc/passwd");
        // libmodsecurity drops the root slash again when no trailing slash was given.
        assert_eq!(t(b"/.."), b"");
        assert_eq!(t(b"/../"), b"/");
        assert_eq!(t(b"//"), b"/");
        assert_eq!(t(b"/"), b"/");
    }

    #[test]
    fn relative() {
        assert_eq!(t(b"./a"), b"a");
        assert_eq!(t(b"a/../../b"), b"../b");
        assert_eq!(t(b"../../etc/passwd"), b"../../etc/passwd");
        assert_eq!(t(b"a//b"), b"a/b");
        assert_eq!(t(b"."), b"");
        assert_eq!(t(b""), b"");
    }

    #[test]
    fn windows() {
        assert_eq!(w(br"a\..\..\b"), b"../b");
        assert_eq!(
            w(br"\windows\\system32\.\x\..\cmd.exe"),
            b"/windows/system32/cmd.exe"
        );
    }
}
