//! `@detectSQLi` / `@detectXSS`: libinjection-class detectors (the pure-Rust
//! `libinjectionrs` port; see ENVOY-NOTES for its known misses against C libinjection).

/// Whether `v` looks like SQL injection (libinjection's fingerprinting).
pub fn is_sqli(v: &[u8]) -> bool {
    if one_sql_token(v) || plain_words(v) {
        return false;
    }
    libinjectionrs::detect_sqli(v).is_injection()
}

/// Whether `v` is two or more words (`[A-Za-z_][A-Za-z0-9_]*`, none a word of
/// libinjection's keyword table in any case) or numbers (`[0-9]+`), one space apart
/// (`running shoes`, `size 42`): libinjection reads bareword and number tokens only, and no
/// fingerprint made of those is SQL injection (the tests check every pattern of up to eight
/// such tokens against the library with random words).
fn plain_words(v: &[u8]) -> bool {
    if !v.contains(&b' ') {
        return false;
    }
    v.split(|&b| b == b' ').all(|part| {
        one_sql_token(part)
            && (part.first().is_some_and(u8::is_ascii_digit) || !is_sql_keyword(part))
    })
}

/// Whether libinjection's keyword table holds `word` (compared upper case, as it does): a
/// binary search of the library's sorted table, without allocating.
fn is_sql_keyword(word: &[u8]) -> bool {
    let mut upper = [0u8; 64];
    let Some(buf) = upper.get_mut(..word.len()) else {
        // Longer than any keyword (the longest has about 30 bytes).
        return false;
    };
    for (d, s) in buf.iter_mut().zip(word) {
        *d = s.to_ascii_uppercase();
    }
    libinjectionrs::sqli::sqli_data::SQL_KEYWORDS
        .binary_search_by(|k| k.word.as_bytes().cmp(buf))
        .is_ok()
}

/// Whether libinjection reads `v` as exactly one token: a word (`[A-Za-z_][A-Za-z0-9_]*`,
/// which its tokenizer takes whole: none of these bytes ends a word, splits it or starts
/// a comment or string) or a number (`[0-9]+`). A one-token fingerprint is on none of
/// libinjection's lists, so such a value is never SQL injection; the tests check that
/// against the library for every keyword it knows and for random words, and this path
/// saves a call that costs ~0.3-0.7 us natively per value (most ordinary parameter names
/// and values are one word or one number).
fn one_sql_token(v: &[u8]) -> bool {
    match v.first() {
        Some(b) if b.is_ascii_alphabetic() || *b == b'_' => {
            v.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
        }
        Some(b) if b.is_ascii_digit() => v.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

/// Whether `v` looks like an XSS payload (libinjection's HTML5 tokenizer).
pub fn is_xss(v: &[u8]) -> bool {
    libinjectionrs::detect_xss(v).is_injection()
}

#[cfg(test)]
mod tests {
    use super::one_sql_token;

    #[test]
    fn detectors_flag_classic_payloads_and_pass_plain_text() {
        assert!(super::is_sqli(b"1' OR '1'='1"));
        assert!(!super::is_sqli(b"O'Brien"));
        assert!(super::is_xss(b"<script>alert(1)</script>"));
        assert!(!super::is_xss(b"hello world"));
    }

    fn library(v: &[u8]) -> bool {
        libinjectionrs::detect_sqli(v).is_injection()
    }

    /// The shortcut agrees with the library on every word of libinjection's keyword
    /// table (as written, lower-cased, and glued to `_`/digits) and on random words and
    /// numbers.
    #[test]
    fn one_token_values_are_never_sqli_in_the_library() {
        let mut checked = 0;
        for k in libinjectionrs::sqli::sqli_data::SQL_KEYWORDS {
            let w = k.word.as_bytes();
            for v in [
                w.to_vec(),
                w.to_ascii_lowercase(),
                [w, b"_1"].concat(),
                [b"_", w].concat(),
                [b"1", w].concat(),
            ] {
                if one_sql_token(&v) {
                    assert!(!library(&v), "{:?}", String::from_utf8_lossy(&v));
                    checked += 1;
                }
            }
        }
        let mut next = crate::test_rng(0x2545_f491_4f6c_dd1d);
        let word = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_";
        for i in 0..20_000 {
            let len = (next() % 16) as usize + 1;
            let v: Vec<u8> = if i % 4 == 0 {
                (0..len).map(|_| b'0' + (next() % 10) as u8).collect()
            } else {
                let first = match (next() % 53) as usize {
                    52 => b'_',
                    i => word[i],
                };
                core::iter::once(first)
                    .chain((1..len).map(|_| word[(next() % 63) as usize]))
                    .collect()
            };
            assert!(one_sql_token(&v));
            assert!(!library(&v), "{:?}", String::from_utf8_lossy(&v));
            checked += 1;
        }
        assert!(checked > 25_000, "{checked}");
    }

    /// Words and numbers one space apart: every pattern of up to eight bareword/number
    /// tokens, 60 random instances each, is not SQL injection in the library either.
    #[test]
    fn plain_word_sequences_are_never_sqli_in_the_library() {
        let mut next = crate::test_rng(0x9e37_79b9_7f4a_7c15);
        let first = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_";
        let rest = b"abcdefghijklmnopqrstuvwxyzXYZ0123456789_";
        let mut checked = 0;
        for k in 2..=8u32 {
            for pattern in 0..(1u32 << k) {
                for _ in 0..60 {
                    let mut v = Vec::new();
                    for i in 0..k {
                        if i > 0 {
                            v.push(b' ');
                        }
                        if pattern >> i & 1 == 1 {
                            let len = 1 + next() % 5;
                            v.extend((0..len).map(|_| b'0' + (next() % 10) as u8));
                        } else {
                            let len = 1 + next() % 8;
                            v.push(first[(next() % 53) as usize]);
                            v.extend((1..len).map(|_| rest[(next() % 39) as usize]));
                        }
                    }
                    if !super::plain_words(&v) {
                        // A keyword was drawn: the library decides.
                        continue;
                    }
                    assert!(!library(&v), "{:?}", String::from_utf8_lossy(&v));
                    checked += 1;
                }
            }
        }
        assert!(checked > 25_000, "{checked}");
    }

    #[test]
    fn keyword_lookup_matches_the_table() {
        let table = libinjectionrs::sqli::sqli_data::SQL_KEYWORDS;
        assert!(
            table.windows(2).all(|w| w[0].word < w[1].word),
            "table not sorted"
        );
        assert!(table.iter().all(|k| k.word.len() <= 64));
        for k in table {
            assert!(super::is_sql_keyword(k.word.as_bytes()), "{}", k.word);
            assert!(super::is_sql_keyword(
                k.word.to_ascii_lowercase().as_bytes()
            ));
        }
        assert!(!super::is_sql_keyword(b"shoes"));
        assert!(!super::is_sql_keyword(&[b'a'; 100]));
    }

    #[test]
    fn plain_words_exclude_keywords_and_odd_spacing() {
        assert!(super::plain_words(b"running shoes"));
        assert!(super::plain_words(b"size 42 x"));
        assert!(
            !super::plain_words(b"price_asc"),
            "one token: the other shortcut"
        );
        for v in [
            &b"union select"[..],
            b"a or b",
            b"1 and 1",
            b" a",
            b"a ",
            b"a  b",
            b"a b;",
            b"1e5 x",
        ] {
            assert!(!super::plain_words(v), "{:?}", String::from_utf8_lossy(v));
        }
        assert!(super::is_sqli(b"1 union select password from users"));
    }

    #[test]
    fn shortcut_only_takes_single_tokens() {
        for v in [
            &b"running shoes"[..],
            b"en-US",
            b"1union",
            b"3f2a",
            b"a.b",
            b"a$b",
            b"",
            b"x'",
            b"select`",
        ] {
            assert!(!one_sql_token(v), "{:?}", String::from_utf8_lossy(v));
        }
        assert!(one_sql_token(b"price_asc"));
        assert!(one_sql_token(b"2"));
        // Whole statements still reach the library.
        assert!(super::is_sqli(b"1 union select password from users"));
    }
}
