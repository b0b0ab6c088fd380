//! Byte helpers shared by the transformations (C-locale `ctype` semantics).

/// `isxdigit` in the C locale.
pub(super) fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

/// `isspace` in the C locale: space, `\t`, `\n`, `\v`, `\f`, `\r`.
pub(super) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// An octal digit `0`-`7`.
pub(super) fn is_odigit(b: u8) -> bool {
    (b'0'..=b'7').contains(&b)
}

/// The value of one hex digit, computed like ModSecurity's `xsingle2c`: no
/// validation, wrapping arithmetic, so a non-hex byte yields a garbage value
/// (only `hexDecode` feeds it non-hex bytes).
pub(super) fn hex_val(b: u8) -> u8 {
    if b >= b'A' {
        (b & 0xdf).wrapping_sub(b'A').wrapping_add(10)
    } else {
        b.wrapping_sub(b'0')
    }
}

/// Two hex digits to a byte (ModSecurity's `x2c`).
pub(super) fn x2c(hi: u8, lo: u8) -> u8 {
    hex_val(hi).wrapping_mul(16).wrapping_add(hex_val(lo))
}

/// The byte at `i`, or NUL past the end, as C code reading a NUL-terminated
/// buffer sees it.
pub(super) fn at(input: &[u8], i: usize) -> u8 {
    input.get(i).copied().unwrap_or(0)
}

/// Lowercase hex digit for a nibble.
pub(super) fn hex_digit(n: u8) -> u8 {
    b"0123456789abcdef"
        .get(usize::from(n & 0x0f))
        .copied()
        .unwrap_or(b'0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x2c_decodes_both_cases() {
        assert_eq!(x2c(b'4', b'1'), 0x41);
        assert_eq!(x2c(b'f', b'F'), 0xff);
        assert_eq!(x2c(b'a', b'0'), 0xa0);
    }

    #[test]
    fn spaces_are_c_locale() {
        assert!(is_space(0x0b) && is_space(b'\r'));
        assert!(!is_space(0xa0) && !is_space(0x85));
    }
}
