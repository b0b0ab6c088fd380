//! The error type shared by the body parsers.

use core::fmt;

/// Why and where a parser stopped (or what it flagged).
///
/// `offset` is a byte offset into the input the parser was given (the body, or the header
/// value for cookies/Content-Type problems). `reason` is a short static description, so the
/// type is `Copy` and allocation-free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset into the parsed input where the problem was detected.
    pub offset: usize,
    /// Human-readable, static description of the problem.
    pub reason: &'static str,
}

impl ParseError {
    /// Builds an error at `offset` with `reason`.
    pub const fn new(offset: usize, reason: &'static str) -> Self {
        Self { offset, reason }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.reason, self.offset)
    }
}

impl std::error::Error for ParseError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_reason_and_offset() {
        let e = ParseError::new(7, "unexpected byte");
        assert_eq!(e.to_string(), "unexpected byte at byte 7");
    }
}
