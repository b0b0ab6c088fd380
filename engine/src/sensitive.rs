//! Sensitive-data detectors for response inspection (OWASP API3, excessive data exposure):
//! hand-written linear-time scanners with validation, so invalid look-alikes (a 16-digit
//! order number failing the Luhn check, a 13-digit id failing the resident registration
//! number check digit) are not reported.
//!
//! [`scan`] returns the findings; [`mask`] overwrites each one with `*` byte for byte, so the
//! body length (and `Content-Length`) does not change; [`mask_json`] does the same but keeps a
//! JSON document valid when a finding is a bare JSON number (its digits become `9`s).
//!
//! Every scanner looks at each byte a bounded number of times: a candidate starts at a
//! token boundary, is read up to a fixed maximum length, and the scan resumes after it.

use serde::{Deserialize, Serialize};

/// What to look for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Detector {
    /// Payment card numbers: 13-19 digits (single spaces or dashes allowed between digits),
    /// a plausible issuer prefix (2221-2720, 3, 4, 5, 6) and a valid Luhn check digit.
    Card,
    /// Korean resident registration numbers: `YYMMDD-GNNNNNN` (dash optional), a plausible
    /// month, day and gender/century digit (1-4, 9, 0), and a valid check digit.
    KrRrn,
    /// E-mail addresses: `local@domain.tld`.
    Email,
    /// Phone numbers: Korean mobile `01X-XXX(X)-XXXX` (dashes, spaces or nothing between
    /// groups) and E.164 `+CC...` (8 to 15 digits after `+`).
    Phone,
    /// API keys and secrets with well-known prefixes: AWS (`AKIA`, `ASIA`), GitHub (`ghp_`,
    /// `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`), GitLab (`glpat-`), Stripe
    /// (`sk_live_`, `rk_live_`), Slack (`xoxb-`, `xoxa-`, `xoxp-`, `xoxr-`, `xoxs-`), Google
    /// (`AIza`), npm (`npm_`), and PEM private-key blocks.
    ApiKey,
}

impl Detector {
    /// The name used in policies and logs.
    pub fn name(self) -> &'static str {
        match self {
            Detector::Card => "card",
            Detector::KrRrn => "kr_rrn",
            Detector::Email => "email",
            Detector::Phone => "phone",
            Detector::ApiKey => "api_key",
        }
    }

    /// Every detector.
    pub const ALL: [Detector; 5] = [
        Detector::Card,
        Detector::KrRrn,
        Detector::Email,
        Detector::Phone,
        Detector::ApiKey,
    ];
}

/// One detected value: `len` bytes at `start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Which detector found it.
    pub detector: Detector,
    /// Byte offset in the scanned body.
    pub start: usize,
    /// Length in bytes.
    pub len: usize,
}

/// Runs `detectors` over `body` in one pass. Findings are sorted by start; different
/// detectors may report overlapping ranges (a 13-digit number can be a card and a resident
/// number).
pub fn scan(body: &[u8], detectors: &[Detector]) -> Vec<Finding> {
    let on = |d: Detector| detectors.contains(&d);
    let (card, rrn, email, phone, key) = (
        on(Detector::Card),
        on(Detector::KrRrn),
        on(Detector::Email),
        on(Detector::Phone),
        on(Detector::ApiKey),
    );
    let mut out = Vec::new();
    let push = |out: &mut Vec<Finding>, detector, start: usize, end: usize| {
        out.push(Finding {
            detector,
            start,
            len: end - start,
        })
    };
    // Each detector resumes after its last candidate, so no byte is examined twice by the
    // same detector beyond a bounded look-ahead.
    let (mut card_until, mut rrn_until, mut phone_until, mut key_until) = (0, 0, 0, 0);
    let mut email_end = 0;
    let mut pem = PemState::default();
    for (i, &b) in body.iter().enumerate() {
        let class = CLASS[b as usize];
        if class == 0 {
            continue;
        }
        if class == C_DIGIT {
            if is_word(prev(body, i)) {
                continue;
            }
            if card && i >= card_until {
                let (end, ok) = card_at(body, i);
                if ok {
                    push(&mut out, Detector::Card, i, end);
                }
                card_until = end.max(i + 1);
            }
            if rrn && i >= rrn_until {
                let (end, ok) = rrn_at(body, i);
                if ok {
                    push(&mut out, Detector::KrRrn, i, end);
                }
                rrn_until = end.max(i + 1);
            }
            if phone && b == b'0' && i >= phone_until && prev(body, i) != b'+' {
                if let Some(end) = kr_mobile(body, i) {
                    push(&mut out, Detector::Phone, i, end);
                    phone_until = end;
                }
            }
            continue;
        }
        if class == C_PLUS {
            if phone && i >= phone_until && !is_word(prev(body, i)) {
                if let Some(end) = e164_at(body, i) {
                    push(&mut out, Detector::Phone, i, end);
                    phone_until = end;
                }
            }
            continue;
        }
        if class == C_AT {
            if email && i >= email_end {
                if let Some((start, end)) = email_at(body, i, email_end) {
                    push(&mut out, Detector::Email, start, end);
                    email_end = end;
                }
            }
            continue;
        }
        if key && i >= key_until {
            let end = if b == b'-' {
                pem_at(body, i, &mut pem)
            } else if !is_word(prev(body, i)) {
                key_at(body, i)
            } else {
                None
            };
            if let Some(end) = end {
                push(&mut out, Detector::ApiKey, i, end);
                key_until = end;
            }
        }
    }
    out.sort_by_key(|f| (f.start, f.len));
    out
}

const C_DIGIT: u8 = 1;
const C_PLUS: u8 = 2;
const C_AT: u8 = 3;
const C_KEY: u8 = 4;

/// Byte classes: 0 for bytes no detector starts at (most of a body).
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = b'0';
    while c <= b'9' {
        t[c as usize] = C_DIGIT;
        c += 1;
    }
    t[b'+' as usize] = C_PLUS;
    t[b'@' as usize] = C_AT;
    t[b'-' as usize] = C_KEY;
    let mut k = 0;
    while k < KEY_FIRST_BYTES.len() {
        t[KEY_FIRST_BYTES[k] as usize] = C_KEY;
        k += 1;
    }
    t
};

/// Overwrites every finding with `*`, byte for byte (the length does not change).
pub fn mask(body: &mut [u8], findings: &[Finding]) {
    for f in findings {
        let end = f.start.saturating_add(f.len).min(body.len());
        if let Some(s) = body.get_mut(f.start..end) {
            s.fill(b'*');
        }
    }
}

/// Like [`mask`], for a JSON body: a finding inside a JSON string becomes `*`s; one outside
/// any string (a bare JSON number) has its digits replaced by `9` so the document stays
/// valid JSON.
pub fn mask_json(body: &mut [u8], findings: &[Finding]) {
    if findings.is_empty() {
        return;
    }
    // Which bytes are inside a string: one linear pass.
    let mut in_string = vec![false; body.len()];
    let (mut inside, mut escape) = (false, false);
    for (i, &b) in body.iter().enumerate() {
        if inside {
            in_string[i] = true;
            if escape {
                escape = false;
            } else if b == b'\\' {
                escape = true;
            } else if b == b'"' {
                inside = false;
                in_string[i] = false;
            }
        } else if b == b'"' {
            inside = true;
        }
    }
    for f in findings {
        let end = f.start.saturating_add(f.len).min(body.len());
        for i in f.start..end {
            let quoted = in_string.get(i).copied().unwrap_or(false);
            if let Some(b) = body.get_mut(i) {
                if quoted {
                    *b = b'*';
                } else if b.is_ascii_digit() {
                    *b = b'9';
                }
            }
        }
    }
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn at(body: &[u8], i: usize) -> u8 {
    body.get(i).copied().unwrap_or(0)
}

fn prev(body: &[u8], i: usize) -> u8 {
    if i == 0 {
        0
    } else {
        at(body, i - 1)
    }
}

/// Up to 24 decimal digits on the stack (scanners allocate nothing per candidate).
struct Digits {
    buf: [u8; 24],
    len: usize,
}

impl Digits {
    fn new() -> Self {
        Digits {
            buf: [0; 24],
            len: 0,
        }
    }
    fn push(&mut self, d: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = d;
            self.len += 1;
        }
    }
    fn as_slice(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

/// A run of digits with single separators from `seps` between digits, starting at `i`:
/// returns (end offset, digits), reading at most `max_digits + 1` digits (`max_digits` < 24).
fn digit_run(body: &[u8], i: usize, seps: &[u8], max_digits: usize) -> (usize, Digits) {
    let mut digits = Digits::new();
    let mut j = i;
    let mut end = i;
    while j < body.len() && digits.len <= max_digits {
        let b = at(body, j);
        if b.is_ascii_digit() {
            digits.push(b - b'0');
            j += 1;
            end = j;
        } else if seps.contains(&b) && digits.len > 0 && at(body, j + 1).is_ascii_digit() {
            j += 1;
        } else {
            break;
        }
    }
    (end, digits)
}

/// Luhn checksum over decimal digits.
pub fn luhn_valid(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (k, &d) in digits.iter().rev().enumerate() {
        let mut v = d as u32;
        if k % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

fn plausible_issuer(d: &[u8]) -> bool {
    let prefix4 = d.iter().take(4).fold(0u32, |a, &x| a * 10 + x as u32);
    match d.first() {
        Some(3..=6) => true,
        Some(2) => (2221..=2720).contains(&prefix4),
        _ => false,
    }
}

/// A card number starting at `i` (a digit after a non-word byte): (end, valid).
fn card_at(body: &[u8], i: usize) -> (usize, bool) {
    let (end, digits) = digit_run(body, i, b" -", 19);
    let digits = digits.as_slice();
    let ok = (13..=19).contains(&digits.len())
        && !is_word(at(body, end))
        && plausible_issuer(digits)
        && luhn_valid(digits);
    (end, ok)
}

/// Check digit of a resident registration number from its first 12 digits.
pub fn rrn_check_digit(d: &[u8]) -> Option<u8> {
    const W: [u32; 12] = [2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5];
    if d.len() < 12 {
        return None;
    }
    let sum: u32 = d.iter().zip(W).map(|(&x, w)| x as u32 * w).sum();
    Some(((11 - sum % 11) % 10) as u8)
}

fn rrn_valid(d: &[u8]) -> bool {
    if d.len() != 13 {
        return false;
    }
    let month = d[2] * 10 + d[3];
    let day = d[4] * 10 + d[5];
    let gender = d[6];
    (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && matches!(gender, 1..=4 | 9 | 0)
        && rrn_check_digit(d) == Some(d[12])
}

/// A resident registration number starting at `i`: (end, valid).
fn rrn_at(body: &[u8], i: usize) -> (usize, bool) {
    let mut j = i;
    while j < body.len() && at(body, j).is_ascii_digit() && j - i < 14 {
        j += 1;
    }
    let mut digits = Digits::new();
    body[i..j].iter().for_each(|b| digits.push(b - b'0'));
    let mut end = j;
    if digits.len == 6 && at(body, j) == b'-' {
        let mut k = j + 1;
        while k < body.len() && at(body, k).is_ascii_digit() && k - j <= 8 {
            k += 1;
        }
        body[j + 1..k].iter().for_each(|b| digits.push(b - b'0'));
        end = k;
    }
    (end, !is_word(at(body, end)) && rrn_valid(digits.as_slice()))
}

fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

/// An e-mail address around the `@` at `at_pos`, not starting before `floor`.
fn email_at(body: &[u8], at_pos: usize, floor: usize) -> Option<(usize, usize)> {
    // Local part: at most 64 bytes to the left.
    let mut s = at_pos;
    while s > floor && at_pos - s < 64 && is_local(at(body, s - 1)) {
        s -= 1;
    }
    while s < at_pos && at(body, s) == b'.' {
        s += 1;
    }
    if s == at_pos {
        return None;
    }
    // Domain: at most 253 bytes to the right, ends on a letter TLD of 2+ letters.
    let mut e = at_pos + 1;
    while e < body.len() && e - at_pos <= 253 && is_domain(at(body, e)) {
        e += 1;
    }
    while e > at_pos + 1 && matches!(at(body, e - 1), b'.' | b'-') {
        e -= 1;
    }
    let domain = body.get(at_pos + 1..e)?;
    let dot = domain.iter().rposition(|&b| b == b'.')?;
    let tld = &domain[dot + 1..];
    if dot == 0 || tld.len() < 2 || !tld.iter().all(u8::is_ascii_alphabetic) {
        return None;
    }
    if domain.first().is_some_and(|&b| b == b'-' || b == b'.') {
        return None;
    }
    Some((s, e))
}

/// An E.164 number at the `+` at `i`: 8 to 15 digits, single spaces or dashes between.
fn e164_at(body: &[u8], i: usize) -> Option<usize> {
    if !matches!(at(body, i + 1), b'1'..=b'9') {
        return None;
    }
    let (end, digits) = digit_run(body, i + 1, b" -", 15);
    ((8..=15).contains(&digits.len) && !is_word(at(body, end))).then_some(end)
}

/// `01X` + 3 or 4 digits + 4 digits, groups separated by one `-`, one space or nothing
/// (the same separator twice).
fn kr_mobile(body: &[u8], i: usize) -> Option<usize> {
    let d = |k: usize| at(body, k).is_ascii_digit();
    if at(body, i + 1) != b'1' || !matches!(at(body, i + 2), b'0' | b'1' | b'6'..=b'9') {
        return None;
    }
    let mut j = i + 3;
    let sep = at(body, j);
    let sep = if sep == b'-' || sep == b' ' {
        j += 1;
        Some(sep)
    } else {
        None
    };
    let start_mid = j;
    while j < body.len() && d(j) && j - start_mid < 9 {
        j += 1;
    }
    let run = j - start_mid;
    let end = match sep {
        Some(s) => {
            if !(3..=4).contains(&run) || at(body, j) != s {
                return None;
            }
            let k = j + 1;
            let mut e = k;
            while e < body.len() && d(e) && e - k < 5 {
                e += 1;
            }
            if e - k != 4 {
                return None;
            }
            e
        }
        None => {
            if !(7..=8).contains(&run) {
                return None;
            }
            j
        }
    };
    if is_word(at(body, end)) {
        return None;
    }
    Some(end)
}

/// Prefix, body characters, minimum and maximum body length.
struct KeyShape {
    prefix: &'static [u8],
    chars: fn(u8) -> bool,
    min: usize,
    max: usize,
}

fn upper_alnum(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit()
}
fn alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}
fn word(b: u8) -> bool {
    is_word(b)
}
fn word_dash(b: u8) -> bool {
    is_word(b) || b == b'-'
}

const KEYS: &[KeyShape] = &[
    KeyShape {
        prefix: b"AKIA",
        chars: upper_alnum,
        min: 16,
        max: 16,
    },
    KeyShape {
        prefix: b"ASIA",
        chars: upper_alnum,
        min: 16,
        max: 16,
    },
    KeyShape {
        prefix: b"ghp_",
        chars: alnum,
        min: 36,
        max: 255,
    },
    KeyShape {
        prefix: b"gho_",
        chars: alnum,
        min: 36,
        max: 255,
    },
    KeyShape {
        prefix: b"ghu_",
        chars: alnum,
        min: 36,
        max: 255,
    },
    KeyShape {
        prefix: b"ghs_",
        chars: alnum,
        min: 36,
        max: 255,
    },
    KeyShape {
        prefix: b"ghr_",
        chars: alnum,
        min: 36,
        max: 255,
    },
    KeyShape {
        prefix: b"github_pat_",
        chars: word,
        min: 22,
        max: 255,
    },
    KeyShape {
        prefix: b"glpat-",
        chars: word_dash,
        min: 20,
        max: 255,
    },
    KeyShape {
        prefix: b"sk_live_",
        chars: alnum,
        min: 16,
        max: 255,
    },
    KeyShape {
        prefix: b"rk_live_",
        chars: alnum,
        min: 16,
        max: 255,
    },
    KeyShape {
        prefix: b"xoxb-",
        chars: word_dash,
        min: 10,
        max: 255,
    },
    KeyShape {
        prefix: b"xoxa-",
        chars: word_dash,
        min: 10,
        max: 255,
    },
    KeyShape {
        prefix: b"xoxp-",
        chars: word_dash,
        min: 10,
        max: 255,
    },
    KeyShape {
        prefix: b"xoxr-",
        chars: word_dash,
        min: 10,
        max: 255,
    },
    KeyShape {
        prefix: b"xoxs-",
        chars: word_dash,
        min: 10,
        max: 255,
    },
    KeyShape {
        prefix: b"AIza",
        chars: word_dash,
        min: 35,
        max: 35,
    },
    KeyShape {
        prefix: b"npm_",
        chars: alnum,
        min: 36,
        max: 36,
    },
];

/// First bytes of the prefixes in [`KEYS`]: other positions are skipped at once.
const KEY_FIRST_BYTES: &[u8] = b"Agnrsx";

const PEM_BEGIN: &[u8] = b"-----BEGIN ";
const PEM_KEY_END: &[u8] = b"PRIVATE KEY-----";
/// Longest PEM private-key block masked as one finding.
pub const MAX_PEM_BLOCK: usize = 16 * 1024;

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Where the forward search for `-----END ` got to.
#[derive(Default)]
struct PemState {
    next_end: Option<usize>,
    searched_to: usize,
}

/// A PEM private-key block at `i`:
/// `-----BEGIN [RSA |EC |OPENSSH |ENCRYPTED ]PRIVATE KEY-----` ... `-----END ...-----`
/// (the header alone when no end follows within [`MAX_PEM_BLOCK`]).
fn pem_at(body: &[u8], i: usize, st: &mut PemState) -> Option<usize> {
    if !body[i..].starts_with(PEM_BEGIN) {
        return None;
    }
    let head_end = (i + 64).min(body.len());
    let p = find(&body[i..head_end], PEM_KEY_END)?;
    let after_head = i + p + PEM_KEY_END.len();
    // The next "-----END " at or after the head: searched forward only, so many headers
    // without an end still cost one pass over the body.
    if st.next_end.is_none_or(|e| e < after_head) {
        let from = after_head.max(st.searched_to);
        st.next_end = body
            .get(from..)
            .and_then(|rest| find(rest, b"-----END "))
            .map(|e| from + e);
        st.searched_to = st.next_end.unwrap_or(body.len());
    }
    let end = st
        .next_end
        .filter(|&e| e - i <= MAX_PEM_BLOCK)
        .and_then(|from| {
            let tail_end = (from + 64).min(body.len());
            find(&body[from..tail_end], PEM_KEY_END).map(|t| from + t + PEM_KEY_END.len())
        })
        .unwrap_or(after_head);
    Some(end)
}

/// A key with a well-known prefix at `i` (after a non-word byte): its end.
fn key_at(body: &[u8], i: usize) -> Option<usize> {
    let b = at(body, i);
    for k in KEYS {
        if k.prefix.first() != Some(&b) || !body[i..].starts_with(k.prefix) {
            continue;
        }
        let s = i + k.prefix.len();
        let mut e = s;
        while e < body.len() && (k.chars)(at(body, e)) && e - s <= k.max {
            e += 1;
        }
        let n = e - s;
        if n >= k.min && n <= k.max && !word(at(body, e)) {
            return Some(e);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(body: &str, d: Detector) -> Vec<&str> {
        scan(body.as_bytes(), &[d])
            .iter()
            .map(|f| &body[f.start..f.start + f.len])
            .collect()
    }

    /// A resident registration number for birth date `yymmdd`, gender digit `g` and serial
    /// `serial` (5 digits), with its correct check digit, and the same with a wrong one.
    fn rrn(yymmdd: &str, g: u8, serial: &str) -> (String, String) {
        let first12 = format!("{yymmdd}{g}{serial}");
        let d: Vec<u8> = first12.bytes().map(|b| b - b'0').collect();
        let c = rrn_check_digit(&d).unwrap();
        let wrong = (c + 1) % 10;
        (
            format!("{yymmdd}-{g}{serial}{c}"),
            format!("{yymmdd}-{g}{serial}{wrong}"),
        )
    }

    #[test]
    fn cards_with_a_valid_luhn_digit_are_found_and_look_alikes_are_not() {
        for card in [
            "4111111111111111",
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "5555555555554444",
            "378282246310005",
            "6011111111111117",
            "2223003122003222",
        ] {
            let body = format!(r#"{{"card":"{card}","n":1}}"#);
            assert_eq!(found(&body, Detector::Card), vec![card], "{card}");
        }
        for not_card in [
            "4111111111111112",     // Luhn fails
            "4111 1111 1111 1121",  // Luhn fails
            "1732700000000000",     // issuer prefix 1
            "41111111111111110000", // 20 digits
            "x4111111111111111",    // inside a word
            "411111111111",         // 12 digits
        ] {
            assert!(found(not_card, Detector::Card).is_empty(), "{not_card}");
        }
    }

    #[test]
    fn resident_numbers_need_the_check_digit_and_a_plausible_date() {
        let (good, bad) = rrn("900101", 1, "23456");
        assert_eq!(
            found(&format!("rrn: {good}."), Detector::KrRrn),
            vec![good.as_str()]
        );
        assert!(found(&bad, Detector::KrRrn).is_empty());
        let nodash = good.replace('-', "");
        assert_eq!(found(&nodash, Detector::KrRrn), vec![nodash.as_str()]);
        let (good2, bad2) = rrn("051231", 4, "00017");
        assert_eq!(found(&good2, Detector::KrRrn), vec![good2.as_str()]);
        assert!(found(&bad2, Detector::KrRrn).is_empty());
        // Month 13 with a correct check digit is still not a resident number.
        let (month13, _) = rrn("901301", 1, "23456");
        assert!(found(&month13, Detector::KrRrn).is_empty());
        // Gender digit 7 is not a citizen number.
        let (g7, _) = rrn("900101", 7, "23456");
        assert!(found(&g7, Detector::KrRrn).is_empty());
    }

    #[test]
    fn emails_phones_and_keys_are_found() {
        assert_eq!(
            found(r#"{"e":"jane.doe+x@mail.example.co.kr"}"#, Detector::Email),
            vec!["jane.doe+x@mail.example.co.kr"]
        );
        assert!(found("user@localhost and @x and a@b.c1", Detector::Email).is_empty());
        assert_eq!(
            found(
                "call 010-1234-5678 or 01198765432 or +82 10 1234 5678",
                Detector::Phone
            ),
            vec!["010-1234-5678", "01198765432", "+82 10 1234 5678"]
        );
        assert!(found(
            "order 010-12-5678 and 0101234567890 and +123",
            Detector::Phone
        )
        .is_empty());
        let aws = "AKIAIOSFODNN7EXAMPLE";
        let gh = format!("ghp_{}", "a1B2".repeat(9));
        let stripe = format!("sk_live_{}", "4eC39HqLyjWDarjtT1zdp7dc");
        let google = format!("AIza{}", "SyA-1234567890abcdefghijklmnopqrstu");
        let slack = "xoxb-1234567890-abcdefghij";
        let body =
            format!(r#"{{"a":"{aws}","b":"{gh}","c":"{stripe}","d":"{google}","e":"{slack}"}}"#);
        assert_eq!(
            found(&body, Detector::ApiKey),
            vec![aws, gh.as_str(), stripe.as_str(), google.as_str(), slack]
        );
        assert!(found("AKIAshort ghp_tooshort sk_test_abc", Detector::ApiKey).is_empty());
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----";
        let body = format!("key: {pem}\nrest");
        assert_eq!(found(&body, Detector::ApiKey), vec![pem]);
        let two = format!("{pem}\n{pem}");
        assert_eq!(found(&two, Detector::ApiKey), vec![pem, pem]);
        let head_only = "-----BEGIN PRIVATE KEY-----".repeat(3);
        assert_eq!(
            found(&head_only, Detector::ApiKey),
            vec!["-----BEGIN PRIVATE KEY-----"; 3]
        );
    }

    #[test]
    fn masking_keeps_length_and_json_validity() {
        let (good, bad) = rrn("880214", 2, "13579");
        let body = format!(
            r#"{{"card":"4111 1111 1111 1111","fake":"4111111111111112","rrn":"{good}","bad":"{bad}","num":5555555555554444}}"#
        );
        let findings = scan(body.as_bytes(), &Detector::ALL);
        let mut masked = body.clone().into_bytes();
        mask_json(&mut masked, &findings);
        let masked = String::from_utf8(masked).unwrap();
        assert_eq!(masked.len(), body.len());
        let v: serde_json::Value = serde_json::from_str(&masked).unwrap();
        assert_eq!(v["card"], "*******************");
        assert_eq!(v["fake"], "4111111111111112");
        assert_eq!(v["rrn"], "**************");
        assert_eq!(v["bad"], bad.as_str());
        assert_eq!(v["num"], serde_json::json!(9999999999999999u64));
        let mut plain = body.clone().into_bytes();
        mask(&mut plain, &findings);
        let plain = String::from_utf8(plain).unwrap();
        assert!(plain.contains(r#""num":****************}"#));
    }

    #[test]
    fn key_first_bytes_cover_every_prefix() {
        for k in KEYS {
            assert!(KEY_FIRST_BYTES.contains(&k.prefix[0]), "{:?}", k.prefix);
        }
    }

    #[test]
    fn scanning_is_linear_on_hostile_input() {
        // Many '@' and digit runs: each byte is looked at a bounded number of times; this
        // only checks the scanners terminate with the right answer on such input.
        let body = "a@".repeat(50_000) + &"1 ".repeat(50_000);
        assert!(scan(body.as_bytes(), &Detector::ALL).is_empty());
    }
}
