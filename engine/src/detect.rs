//! `@detectSQLi` / `@detectXSS`: libinjection-class detectors (the pure-Rust
//! `libinjectionrs` port; see ENVOY-NOTES for its known misses against C libinjection).

/// Whether `v` looks like SQL injection (libinjection's fingerprinting).
pub fn is_sqli(v: &[u8]) -> bool {
    libinjectionrs::detect_sqli(v).is_injection()
}

/// Whether `v` looks like an XSS payload (libinjection's HTML5 tokenizer).
pub fn is_xss(v: &[u8]) -> bool {
    libinjectionrs::detect_xss(v).is_injection()
}

#[cfg(test)]
mod tests {
    #[test]
    fn detectors_flag_classic_payloads_and_pass_plain_text() {
        assert!(super::is_sqli(b"1' OR '1'='1"));
        assert!(!super::is_sqli(b"O'Brien"));
        assert!(super::is_xss(b"<script>alert(1)</script>"));
        assert!(!super::is_xss(b"hello world"));
    }
}
