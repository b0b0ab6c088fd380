//! `@detectSQLi` / `@detectXSS`: libinjection-class detectors (the pure-Rust
//! `libinjectionrs` port; see ENVOY-NOTES for its known misses against C libinjection).

/// Whether `v` looks like SQL injection (libinjection's fingerprinting).
pub fn is_sqli(v: &[u8]) -> bool {
    if one_sql_token(v) || plain_words(v) || dotted_identifier(v) || hex_words(v) {
        return false;
    }
    // `SqliState::detect` is what `detect_sqli` decides by; `detect_sqli` then fingerprints
    // the input once more for its report, which doubles the cost and is not read here.
    libinjectionrs::SqliState::new(v, libinjectionrs::SqliFlags::FLAG_NONE).detect()
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

/// Whether `v` is words (`[A-Za-z_][A-Za-z0-9_]*`) and numbers (`[0-9]+`) joined by
/// single `.` or `-` (`en-US`, `sku-1234.sku-5678`, `json.items.array_6.title`,
/// `GA1.2.123456789.1700000000`, UUIDs made of such parts), where no word that
/// libinjection could look up is in its keyword table. Its tokenizer reads such a value as
/// barewords, numbers, dots and `-` operators only: a word token starts at a word and runs
/// to the next `-`, and is looked up whole and cut before each `.` where the part before
/// is a keyword, so every `.`-joined run of parts starting at a word is checked here
/// (`dbms_lock.sleep` is a keyword); a number before `.` may swallow a following
/// `e`/`d`/`f` word (`1.e5`, `1.dunion`), so such words are refused. No fingerprint made of
/// those tokens is SQL injection; the tests check this against the library exhaustively
/// for short strings and for random sequences of parts.
fn dotted_identifier(v: &[u8]) -> bool {
    // Parts: (start, end, is_word), separators: the byte before each later part.
    let mut parts: [(usize, usize, bool); 16] = [(0, 0, false); 16];
    let mut n = 0;
    let mut start = 0;
    for i in 0..=v.len() {
        let sep = v.get(i).is_none_or(|&b| b == b'.' || b == b'-');
        if !sep {
            continue;
        }
        let part = v.get(start..i).unwrap_or_default();
        if !one_sql_token(part) || n == parts.len() {
            return false;
        }
        let is_word = !part.first().is_some_and(u8::is_ascii_digit);
        // After `<digits>.`: a number token could run on into an exponent or a suffix.
        if is_word
            && n > 0
            && v.get(start - 1) == Some(&b'.')
            && parts.get(n - 1).is_some_and(|p| !p.2)
            && matches!(part.first(), Some(b'e' | b'E' | b'd' | b'D' | b'f' | b'F'))
        {
            return false;
        }
        if let Some(p) = parts.get_mut(n) {
            *p = (start, i, is_word);
        }
        n += 1;
        start = i + 1;
    }
    if n < 2 {
        // One part: `one_sql_token`'s case.
        return false;
    }
    let parts = parts.get(..n).unwrap_or_default();
    for (k, &(s, _, is_word)) in parts.iter().enumerate() {
        if !is_word {
            continue;
        }
        // Every run from this word to a later part, while they are joined by `.`.
        for &(_, e, _) in parts.iter().skip(k) {
            let run = v.get(s..e).unwrap_or_default();
            if run.len() > KEYWORD_MAX {
                // Longer than every keyword, and the runs only grow.
                break;
            }
            if is_sql_keyword(run) {
                return false;
            }
            if v.get(e) != Some(&b'.') {
                break;
            }
        }
    }
    true
}

/// Whether `v` is hex words (`[0-9A-Fa-f]+`) joined by single `-`: session ids, hashes,
/// UUIDs (`3f2a9c1e...`, `7d3c1f0a-2b4e-...`). libinjection splits a word that starts with
/// digits into a number and a bareword (`3f2a` -> `3` `f2a`; `1e5` is a number), so
/// such a value is numbers, barewords and `-` operators, unless a bareword is in its
/// keyword table: refused when any hex-only entry of the table (`DEC`, and fingerprints
/// such as `01C`) occurs anywhere in it. No fingerprint of those tokens is SQL injection;
/// the tests check it against the library exhaustively for short strings and for random
/// ids.
fn hex_words(v: &[u8]) -> bool {
    let mut lower = [0u8; 128];
    let Some(buf) = lower.get_mut(..v.len()) else {
        return false;
    };
    if v.is_empty()
        || v.first() == Some(&b'-')
        || v.last() == Some(&b'-')
        || v.windows(2).any(|w| w == b"--")
    {
        return false;
    }
    for (d, &b) in buf.iter_mut().zip(v) {
        if !(b.is_ascii_hexdigit() || b == b'-') {
            return false;
        }
        *d = b.to_ascii_lowercase();
    }
    // A keyword occurs where its first byte does: each position is checked against the
    // few entries (seven) that start with its byte.
    let keys = hex_keywords();
    !buf.iter().enumerate().any(|(i, &b)| {
        keys.iter()
            .any(|k| k.first() == Some(&b) && buf.get(i..).is_some_and(|rest| rest.starts_with(k)))
    })
}

/// The entries of libinjection's keyword table made only of hex digits, lower case.
fn hex_keywords() -> &'static [Vec<u8>] {
    static HEX: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    HEX.get_or_init(|| {
        libinjectionrs::sqli::sqli_data::SQL_KEYWORDS
            .iter()
            .map(|k| k.word.as_bytes())
            .filter(|w| !w.is_empty() && w.iter().all(u8::is_ascii_hexdigit))
            .map(<[u8]>::to_ascii_lowercase)
            .collect()
    })
}

/// No word in libinjection's keyword table is longer (a test checks).
const KEYWORD_MAX: usize = 32;

/// Whether libinjection's keyword table holds `word` (compared upper case, as it does),
/// without allocating. Words and dotted runs (the shortcuts' lookups) go to a hash set of
/// the table's entries made of `[A-Z0-9_.]`; anything else to a binary search of the
/// whole table (about 14 string compares, each reading an entry and its string).
fn is_sql_keyword(word: &[u8]) -> bool {
    let mut upper = [0u8; KEYWORD_MAX];
    let Some(buf) = upper.get_mut(..word.len()) else {
        // Longer than every keyword.
        return false;
    };
    let mut wordlike = true;
    for (d, s) in buf.iter_mut().zip(word) {
        *d = s.to_ascii_uppercase();
        wordlike &= is_word_key_byte(*d);
    }
    if wordlike {
        return word_keywords().contains(&*buf);
    }
    libinjectionrs::sqli::sqli_data::SQL_KEYWORDS
        .binary_search_by(|k| k.word.as_bytes().cmp(buf))
        .is_ok()
}

/// The bytes of the keyword entries in [`word_keywords`].
fn is_word_key_byte(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'.'
}

/// The entries of libinjection's keyword table made only of `[A-Z0-9_.]` (3,219 of
/// 9,352), built once per VM (at engine load when a rule uses `@detectSQLi`).
fn word_keywords() -> &'static WordSet {
    static WORDS: std::sync::OnceLock<WordSet> = std::sync::OnceLock::new();
    WORDS.get_or_init(|| {
        libinjectionrs::sqli::sqli_data::SQL_KEYWORDS
            .iter()
            .map(|k| k.word.as_bytes())
            .filter(|w| w.iter().all(|&b| is_word_key_byte(b)))
            .collect()
    })
}

type WordSet =
    std::collections::HashSet<&'static [u8], std::hash::BuildHasherDefault<crate::eval::FxHasher>>;

/// Builds the keyword sets the shortcuts use, so the first request does not.
pub fn warm() {
    word_keywords();
    hex_keywords();
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
///
/// A value with neither `<` nor `=` is not: libinjection flags a tag, a doctype or a
/// comment (all opened by `<`) or an attribute value after a dangerous attribute name
/// (given by `=`); in its attribute-value contexts the leading value belongs to no
/// attribute. Most parameter and header values have neither byte, and the call costs
/// 0.5-2 us natively; the tests hold the library to this for every short string over an
/// alphabet of HTML-significant bytes and for random strings built from XSS fragments.
pub fn is_xss(v: &[u8]) -> bool {
    if memchr::memchr2(b'<', b'=', v).is_none() {
        return false;
    }
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

    /// `is_sqli` calls `SqliState::detect` directly (once) rather than `detect_sqli`
    /// (which fingerprints a second time for its report): the same decision on payloads
    /// that take every path of `detect` (as-is, MySQL reparse after `#` or `--x` comments,
    /// single- and double-quote contexts) and on benign header-like values.
    #[test]
    fn direct_detection_agrees_with_the_library_entry_point() {
        let values: &[&[u8]] = &[
            b"1' OR '1'='1",
            b"1\" OR \"1\"=\"1",
            b"admin'--",
            b"1 union select 1,2,3",
            b"1#\nunion select 1",
            b"1--x\nor 1=1",
            b"' or 1=1#",
            b"\" or sleep(5)#",
            b"1;drop table users",
            b"-1' union all select null,version()--",
            b"O'Brien",
            b"say \"hi\"",
            b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)",
            b"http://shop.example.com/shop/",
            b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            b"session_id=3f2a9c1e7b4d4e0f; theme=dark",
            b"",
        ];
        let mut flagged = 0;
        for v in values {
            let direct =
                libinjectionrs::SqliState::new(v, libinjectionrs::SqliFlags::FLAG_NONE).detect();
            assert_eq!(direct, library(v), "{:?}", String::from_utf8_lossy(v));
            flagged += usize::from(direct);
        }
        assert!(flagged >= 8, "only {flagged} payloads flagged");
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

    /// Appends a random number of 1..=`max` digits.
    fn push_number(v: &mut Vec<u8>, next: &mut impl FnMut() -> u64, max: u64) {
        let len = 1 + next() % max;
        v.extend((0..len).map(|_| b'0' + (next() % 10) as u8));
    }

    /// Appends a random word (`[A-Za-z_][a-zXYZ0-9_]*`) of 1..=`max` bytes.
    fn push_word(v: &mut Vec<u8>, next: &mut impl FnMut() -> u64, max: u64) {
        let first = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_";
        let len = 1 + next() % max;
        v.push(first[(next() % 53) as usize]);
        v.extend((1..len).map(|_| WORD_REST[(next() % 39) as usize]));
    }

    const WORD_REST: &[u8] = b"abcdefghijklmnopqrstuvwxyzXYZ0123456789_";

    /// Whether `shortcut` takes `v`; when it does, the library must not call `v` SQL
    /// injection.
    fn taken(shortcut: fn(&[u8]) -> bool, v: &[u8]) -> bool {
        let t = shortcut(v);
        if t {
            assert!(!library(v), "{:?}", String::from_utf8_lossy(v));
        }
        t
    }

    /// `shortcut` takes every value of `takes` and none of `refuses`.
    fn decides(shortcut: fn(&[u8]) -> bool, takes: &[&[u8]], refuses: &[&[u8]]) {
        for v in takes {
            assert!(shortcut(v), "{:?}", String::from_utf8_lossy(v));
        }
        for v in refuses {
            assert!(!shortcut(v), "{:?}", String::from_utf8_lossy(v));
        }
    }

    /// Words and numbers one space apart: every pattern of up to eight bareword/number
    /// tokens, 60 random instances each, is not SQL injection in the library either.
    #[test]
    fn plain_word_sequences_are_never_sqli_in_the_library() {
        let mut next = crate::test_rng(0x9e37_79b9_7f4a_7c15);
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
                            push_number(&mut v, &mut next, 5);
                        } else {
                            push_word(&mut v, &mut next, 8);
                        }
                    }
                    // Not taken when a keyword was drawn: the library decides.
                    checked += usize::from(taken(super::plain_words, &v));
                }
            }
        }
        assert!(checked > 25_000, "{checked}");
    }

    /// Every string of up to 5 bytes over an alphabet of word, digit, separator and
    /// number-suffix bytes (and SQL's `or`) that the dotted-identifier shortcut takes is
    /// not SQL injection in the library.
    #[test]
    fn short_dotted_identifiers_are_never_sqli_in_the_library() {
        let mut checked = 0;
        crate::each_string(b"aeduxOR10._-", 5, |v| {
            checked += usize::from(taken(super::dotted_identifier, &v));
        });
        assert!(checked > 20_000, "{checked}");
    }

    /// Random sequences of 2-10 parts (words, numbers, keywords, words starting with the
    /// bytes a number may swallow) joined by `.` and `-`: whenever the shortcut takes
    /// one, the library agrees.
    #[test]
    fn dotted_identifier_sequences_are_never_sqli_in_the_library() {
        let mut next = crate::test_rng(0x5851_f42d_4c95_7f2d);
        let keywords = libinjectionrs::sqli::sqli_data::SQL_KEYWORDS;
        let (mut checked, mut refused) = (0, 0);
        for _ in 0..60_000 {
            let parts = 2 + next() % 9;
            let mut v = Vec::new();
            for i in 0..parts {
                if i > 0 {
                    v.push(if next().is_multiple_of(2) { b'.' } else { b'-' });
                }
                match next() % 8 {
                    0 | 1 => push_number(&mut v, &mut next, 6),
                    2 => {
                        let k = keywords[(next() % keywords.len() as u64) as usize].word;
                        v.extend(k.bytes().map(|b| b.to_ascii_lowercase()));
                    }
                    3 => {
                        v.push(b"eEdDfFuU"[(next() % 8) as usize]);
                        let len = next() % 6;
                        v.extend((0..len).map(|_| WORD_REST[(next() % 39) as usize]));
                    }
                    _ => push_word(&mut v, &mut next, 8),
                }
            }
            if taken(super::dotted_identifier, &v) {
                checked += 1;
            } else {
                refused += 1;
            }
        }
        assert!(checked > 10_000 && refused > 10_000, "{checked} {refused}");
    }

    /// Hex words joined by `-`: every string of up to 6 bytes over hex bytes that make
    /// numbers, exponents, suffixes, binary and keyword parts, and random ids of every
    /// common shape, are not SQL injection in the library whenever the shortcut takes them.
    #[test]
    fn hex_words_are_never_sqli_in_the_library() {
        let mut checked = 0;
        crate::each_string(b"019abcdefDE-", 6, |v| {
            checked += usize::from(taken(super::hex_words, &v));
        });
        assert!(checked > 1_000_000, "{checked}");
        let mut next = crate::test_rng(0x2f1b_83a4_e6c9_0d57);
        let hex = b"0123456789abcdefABCDEF";
        let mut took = 0;
        for i in 0..50_000 {
            let mut v = Vec::new();
            let parts: &[u64] = match i % 4 {
                0 => &[8, 4, 4, 4, 12],
                1 => &[32],
                2 => &[40],
                _ => &[1 + next() % 6, 1 + next() % 6, 1 + next() % 6],
            };
            for (j, &n) in parts.iter().enumerate() {
                if j > 0 {
                    v.push(b'-');
                }
                v.extend((0..n).map(|_| hex[(next() % hex.len() as u64) as usize]));
            }
            took += usize::from(taken(super::hex_words, &v));
        }
        assert!(took > 40_000, "{took}");
    }

    #[test]
    fn hex_words_take_ids_and_refuse_keywords() {
        assert!(super::hex_keywords().iter().any(|k| k == b"dec"));
        decides(
            super::hex_words,
            &[
                b"3f2a9c1e7b4d4e0fa1c2d3e4f5a6b7c8",
                b"7d3c1f0a-2b4e-4c6d-9e8f-0a1b2c3d4e5f",
                b"1e5",
                b"0b1",
            ],
            &[
                b"1dec",
                b"1-DEC",
                b"01c",
                b"3f-",
                b"-3f",
                b"3f--2a",
                b"3g",
                b"",
                b"0x1f",
                &[b'a'; 129],
            ],
        );
    }

    #[test]
    fn dotted_identifiers_take_common_values_and_refuse_keywords() {
        decides(
            super::dotted_identifier,
            &[
                b"en-US",
                b"sku-1234.sku-5678",
                b"GA1.2.123456789.1700000000",
                b"json.items.array_6.title",
                b"a1b2-c3d4.e5",
                b"10.0.0.1",
                b"inv-20261127-0042",
            ],
            &[
                b"sys.stragg",
                b"x-dbms_lock.sleep",
                b"a.or",
                b"ord-20261127-0042",
                b"1-union",
                b"a--b",
                b"a..b",
                b"-a",
                b"a.",
                b"1.e5",
                b"1.dunion",
                b"3f2a-1",
                // Parts that start with a digit and go on with letters: refused.
                b"7d3c1f0a-2b4e",
                b"a b",
                b"price_asc",
            ],
        );
    }

    fn xss_library(v: &[u8]) -> bool {
        libinjectionrs::detect_xss(v).is_injection()
    }

    /// Without `<` and `=` nothing is XSS to the library: every string of up to 5 bytes
    /// over HTML-significant bytes, and random strings of XSS fragments with those two
    /// bytes left out.
    #[test]
    fn values_without_angle_or_equals_are_never_xss_in_the_library() {
        let mut checked = 0;
        crate::each_string(b"o n\"'`>/:!-&;(x", 5, |v| {
            assert!(!xss_library(&v), "{:?}", String::from_utf8_lossy(&v));
            checked += 1;
        });
        let mut v = Vec::new();
        let fragments: [&[u8]; 24] = [
            b"onerror",
            b"onload",
            b"javascript:",
            b"vbscript:",
            b"data:text/html",
            b"style",
            b"href",
            b"src",
            b"expression(",
            b"alert(1)",
            b" ",
            b"\"",
            b"'",
            b"`",
            b">",
            b"/",
            b"&#x3c;",
            b"&lt;",
            b"script",
            b"svg",
            b"!--",
            b"xmlns",
            b"\t",
            b"url(",
        ];
        let mut next = crate::test_rng(0x1405_7b7e_f767_814f);
        for _ in 0..50_000 {
            v.clear();
            for _ in 0..1 + next() % 10 {
                v.extend_from_slice(fragments[(next() % fragments.len() as u64) as usize]);
            }
            assert!(!xss_library(&v), "{:?}", String::from_utf8_lossy(&v));
            assert!(!super::is_xss(&v));
            checked += 1;
        }
        assert!(checked > 800_000, "{checked}");
        // With either byte, the library decides.
        assert!(super::is_xss(b"<script>alert(1)</script>"));
        assert!(super::is_xss(b"\" onerror=alert(1) x=\""));
    }

    #[test]
    fn keyword_lookup_matches_the_table() {
        let table = libinjectionrs::sqli::sqli_data::SQL_KEYWORDS;
        assert!(
            table.windows(2).all(|w| w[0].word < w[1].word),
            "table not sorted"
        );
        assert!(table.iter().all(|k| k.word.len() <= super::KEYWORD_MAX));
        for k in table {
            assert!(super::is_sql_keyword(k.word.as_bytes()), "{}", k.word);
            assert!(super::is_sql_keyword(
                k.word.to_ascii_lowercase().as_bytes()
            ));
        }
        assert!(!super::is_sql_keyword(b"shoes"));
        assert!(!super::is_sql_keyword(&[b'a'; 100]));
        // The hash set answers as the binary search of the whole table: every entry cut
        // short or grown by a byte, and random strings over the set's bytes and a few
        // others (prefixes of keywords and near misses are where a lookup could err).
        let reference = |w: &[u8]| {
            let upper = w.to_ascii_uppercase();
            table
                .binary_search_by(|k| k.word.as_bytes().cmp(&upper[..]))
                .is_ok()
        };
        let mut probes: Vec<Vec<u8>> = Vec::new();
        for k in table {
            let w = k.word.as_bytes();
            probes.push(w[..w.len() - 1].to_vec());
            for extra in [b"S".as_slice(), b"_", b".", b"1", b"("] {
                probes.push([w, extra].concat());
            }
        }
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-( ";
        let mut next = crate::test_rng(0x6a09_e667_f3bc_c908);
        for _ in 0..200_000 {
            let len = 1 + (next() % 8) as usize;
            probes.push(
                (0..len)
                    .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                    .collect(),
            );
        }
        for p in &probes {
            assert_eq!(
                super::is_sql_keyword(p),
                reference(p),
                "{}",
                String::from_utf8_lossy(p)
            );
        }
    }

    #[test]
    fn plain_words_exclude_keywords_and_odd_spacing() {
        decides(
            super::plain_words,
            &[b"running shoes", b"size 42 x"],
            &[
                // One token: the other shortcut.
                b"price_asc",
                b"union select",
                b"a or b",
                b"1 and 1",
                b" a",
                b"a ",
                b"a  b",
                b"a b;",
                b"1e5 x",
            ],
        );
        assert!(super::is_sqli(b"1 union select password from users"));
    }

    #[test]
    fn shortcut_only_takes_single_tokens() {
        decides(
            one_sql_token,
            &[b"price_asc", b"2"],
            &[
                b"running shoes",
                b"en-US",
                b"1union",
                b"3f2a",
                b"a.b",
                b"a$b",
                b"",
                b"x'",
                b"select`",
            ],
        );
        // Whole statements still reach the library.
        assert!(super::is_sqli(b"1 union select password from users"));
    }
}
