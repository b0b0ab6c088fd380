//! `base64Decode`, `base64DecodeExt` and `base64Encode`, with libmodsecurity v3
//! semantics.
//!
//! - `base64Decode` (mbed TLS's strict decoder, on the value up to its first NUL):
//!   any invalid character, a space not at the end of a line, `=` not at the end or
//!   more than two of them make the result empty; `\n`, `\r\n` and spaces before a
//!   line end are ignored; an incomplete final group of characters is dropped.
//!   Example: `VGVzdENhc2U=` -> `TestCase`; `VGVzd!` -> empty.
//! - `base64DecodeExt` (forgiving): every byte that is not a base64 digit is
//!   skipped; the result is empty only if a `=` comes right after the first digit
//!   of a group (and is not followed by another `=`), or the value ends, after such
//!   a digit, on `=` or `9` (a quirk of ModSecurity's decoder).
//!   Example: `VGV zd.ENh c2U` -> `TestCase`.
//! - `base64Encode`: standard alphabet with `=` padding. Example: `abcd` -> `YWJjZA==`.

use std::borrow::Cow;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The 6-bit value of a base64 digit.
fn digit(b: u8) -> Option<u32> {
    let v = match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Applies `base64Encode`.
pub(super) fn base64_encode(input: &[u8]) -> Cow<'_, [u8]> {
    if input.is_empty() {
        return Cow::Borrowed(input);
    }
    let sym = |v: u32| ALPHABET.get((v & 0x3f) as usize).copied().unwrap_or(b'=');
    let mut out = Vec::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = |k: usize| u32::from(chunk.get(k).copied().unwrap_or(0));
        let x = (b(0) << 16) | (b(1) << 8) | b(2);
        out.push(sym(x >> 18));
        out.push(sym(x >> 12));
        out.push(if chunk.len() > 1 { sym(x >> 6) } else { b'=' });
        out.push(if chunk.len() > 2 { sym(x) } else { b'=' });
    }
    Cow::Owned(out)
}

/// Applies `base64Decode`.
pub(super) fn base64_decode(input: &[u8]) -> Cow<'_, [u8]> {
    if input.is_empty() {
        return Cow::Borrowed(input);
    }
    let data = match input.iter().position(|&b| b == 0) {
        Some(nul) => input.get(..nul).unwrap_or_default(),
        None => input,
    };
    Cow::Owned(strict_decode(data).unwrap_or_default())
}

/// mbed TLS's validation pass; `None` if the input is invalid.
fn strict_valid(src: &[u8]) -> Option<()> {
    let mut equals = 0;
    let mut i = 0;
    while i < src.len() {
        let mut spaces = false;
        while src.get(i) == Some(&b' ') {
            i += 1;
            spaces = true;
        }
        let Some(&c) = src.get(i) else {
            break; // Spaces at the end are fine.
        };
        let line_end = c == b'\n' || (c == b'\r' && src.get(i + 1) == Some(&b'\n'));
        if !line_end {
            if spaces {
                return None; // A space inside a line.
            }
            if c == b'=' {
                equals += 1;
                if equals > 2 {
                    return None;
                }
            } else if equals != 0 || digit(c).is_none() {
                return None;
            }
        }
        i += 1;
    }
    Some(())
}

fn strict_decode(src: &[u8]) -> Option<Vec<u8>> {
    strict_valid(src)?;
    let mut out = Vec::with_capacity(src.len() / 4 * 3);
    let (mut x, mut n, mut equals) = (0u32, 0, 0);
    for &c in src {
        if matches!(c, b'\r' | b'\n' | b' ') {
            continue;
        }
        x <<= 6;
        if c == b'=' {
            equals += 1;
        } else {
            x |= digit(c).unwrap_or(0);
        }
        n += 1;
        if n == 4 {
            n = 0;
            out.push((x >> 16) as u8);
            if equals <= 1 {
                out.push((x >> 8) as u8);
            }
            if equals == 0 {
                out.push(x as u8);
            }
        }
    }
    Some(out)
}

/// Applies `base64DecodeExt`.
pub(super) fn base64_decode_ext(input: &[u8]) -> Cow<'_, [u8]> {
    if input.is_empty() {
        return Cow::Borrowed(input);
    }
    Cow::Owned(forgiving_decode(input).unwrap_or_default())
}

fn forgiving_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let mut acc: u32 = 0;
    // Digits taken.
    let mut i: usize = 0;
    // Whether what the C decoder's `ch` holds at the end looks like '=': it does for
    // a pad, and for the digit `9`, whose value is 61, the code of '='.
    let mut last_is_pad = false;
    for (pos, &c) in input.iter().enumerate() {
        if c == b'=' {
            if input.get(pos + 1).copied().unwrap_or(0) != b'=' && i % 4 == 1 {
                return None;
            }
            last_is_pad = true;
            continue;
        }
        let Some(v) = digit(c) else {
            last_is_pad = false;
            continue;
        };
        last_is_pad = v == u32::from(b'=');
        acc = ((acc << 6) | v) & 0x00ff_ffff;
        if i & 3 != 0 {
            // Digits 2, 3, 4 of a group each complete one byte.
            let shift = 2 * (3 - i % 4);
            out.push(((acc >> shift) & 0xff) as u8);
        }
        i += 1;
    }
    if last_is_pad && i % 4 == 1 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(i: &[u8]) -> Vec<u8> {
        base64_decode(i).into_owned()
    }

    fn x(i: &[u8]) -> Vec<u8> {
        base64_decode_ext(i).into_owned()
    }

    #[test]
    fn encode() {
        assert_eq!(&*base64_encode(b"abcd"), b"YWJjZA==");
        assert_eq!(&*base64_encode(b"abcde"), b"YWJjZGU=");
        assert_eq!(&*base64_encode(b"abc"), b"YWJj");
        assert_eq!(&*base64_encode(b"\xff\xfe"), b"//4=");
        assert_eq!(&*base64_encode(b""), b"");
    }

    #[test]
    fn strict() {
        assert_eq!(d(b"VGVzdENhc2U="), b"TestCase");
        assert_eq!(d(b"VGVzdENhc2UxMg=="), b"TestCase12");
        assert_eq!(d(b"VGVzdABDYXNl"), b"Test\0Case");
        assert_eq!(d(b"VGVzdENhc2U=\0VGVzdENhc2U="), b"TestCase");
        assert_eq!(d(b"VGVz\r\ndENh  \nc2U="), b"TestCase");
        // Invalid: empty.
        assert_eq!(d(b"VGVz!"), b"");
        assert_eq!(d(b"VG Vz"), b"");
        assert_eq!(d(b"YQ==YQ=="), b"");
        assert_eq!(d(b"Y==="), b"");
        // Incomplete last group dropped.
        assert_eq!(d(b"YWJjZA"), b"abc");
        assert_eq!(d(b"YWJjZA=="), b"abcd");
    }

    #[test]
    fn forgiving() {
        assert_eq!(x(b"VGV zd.ENh c2U"), b"TestCase");
        assert_eq!(x(b"VGVzdENhc2U="), b"TestCase");
        assert_eq!(x(b"YWJjZA"), b"abcd");
        assert_eq!(x(b"Y=Q"), b"");
        assert_eq!(x(b"QUJDa"), b"ABC");
        assert_eq!(x(b"QUJD9"), b"");
        assert_eq!(x(b"QUJD="), b"ABC");
        assert_eq!(x(b"QUJDa="), b"");
        assert_eq!(x(b"QU==JD"), b"ABC");
        assert_eq!(x(b"Q==UJD"), b"");
    }
}
