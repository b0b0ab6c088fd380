//! Operators: the test a condition runs on each transformed value.

use std::net::IpAddr;

use crate::eval::Transaction;
use crate::program::{IpNet, Operator};

/// Runs `op` on `value`. `Err` means the matcher failed (counted, treated as no match).
pub(crate) fn run<E: core::ops::Deref<Target = crate::Engine> + Clone>(
    tx: &Transaction<E>,
    op: &Operator,
    value: &[u8],
) -> Result<bool, ()> {
    let engine = tx.engine();
    Ok(match op {
        Operator::Rx(i) => {
            if let Some(Some(gate)) = engine.gates.get(*i as usize) {
                if (crate::matcher::GATE_MIN_VALUE..=crate::matcher::GATE_MAX_VALUE)
                    .contains(&value.len())
                    && !gate.may_match(&crate::matcher::pair_signature(value))
                {
                    return Ok(false);
                }
            }
            match engine.matchers.get(*i as usize) {
                Some(m) => m.is_match(value).map_err(|_| ())?,
                None => return Err(()),
            }
        }
        Operator::Pm(i) => match engine.literals.get(*i as usize) {
            Some(m) => m.is_match(value),
            None => return Err(()),
        },
        Operator::StrEq(a) => *tx.expand(a, None) == *value,
        Operator::Contains(a) => contains(value, &tx.expand(a, None)),
        Operator::BeginsWith(a) => value.starts_with(&tx.expand(a, None)),
        Operator::EndsWith(a) => value.ends_with(&tx.expand(a, None)),
        Operator::Within(a) => contains(&tx.expand(a, None), value),
        Operator::Eq(a) => atoi(value) == atoi(&tx.expand(a, None)),
        Operator::Ge(a) => atoi(value) >= atoi(&tx.expand(a, None)),
        Operator::Gt(a) => atoi(value) > atoi(&tx.expand(a, None)),
        Operator::Lt(a) => atoi(value) < atoi(&tx.expand(a, None)),
        Operator::Le(a) => atoi(value) <= atoi(&tx.expand(a, None)),
        Operator::ValidateByteRange(map) => value.iter().any(|&b| {
            let allowed = map
                .get((b / 8) as usize)
                .is_some_and(|m| m & (1 << (b % 8)) != 0);
            !allowed
        }),
        Operator::ValidateUrlEncoding => invalid_url_encoding(value),
        Operator::ValidateUtf8Encoding => core::str::from_utf8(value).is_err(),
        Operator::IpMatch(nets) => ip_match(value, nets),
        Operator::DetectSqli => crate::detect::is_sqli(value),
        Operator::DetectXss => crate::detect::is_xss(value),
        Operator::Unconditional => true,
        Operator::NoMatch => false,
        Operator::LengthGt(n) => value.len() as u64 > *n,
    })
}

/// `needle` occurs in `hay` (the empty needle always does). memchr's substring search:
/// linear time, vectorised where the target has it.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(hay, needle).is_some()
}

/// C `atoi`-like integer parse: optional spaces and sign, then digits; anything else is 0.
pub fn atoi(v: &[u8]) -> i64 {
    let s = v.trim_ascii_start();
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for &d in digits.iter().take_while(|d| d.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add((d - b'0') as i64);
    }
    if neg {
        -n
    } else {
        n
    }
}

/// True when a `%` is not followed by two hex digits.
fn invalid_url_encoding(v: &[u8]) -> bool {
    let mut i = 0;
    while let Some(&b) = v.get(i) {
        if b == b'%' {
            let ok = v.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && v.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                return true;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    false
}

fn ip_match(value: &[u8], nets: &[IpNet]) -> bool {
    let Ok(s) = core::str::from_utf8(value) else {
        return false;
    };
    let Ok(ip) = s.trim().parse::<IpAddr>() else {
        return false;
    };
    let addr = match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    };
    nets.iter().any(|n| prefix_eq(&addr, &n.addr, n.prefix))
}

fn prefix_eq(a: &[u8; 16], b: &[u8; 16], prefix: u8) -> bool {
    let full = (prefix / 8) as usize;
    let rem = prefix % 8;
    if a.get(..full.min(16)) != b.get(..full.min(16)) {
        return false;
    }
    if rem == 0 || full >= 16 {
        return true;
    }
    let mask = 0xffu8 << (8 - rem);
    a.get(full)
        .zip(b.get(full))
        .is_some_and(|(x, y)| x & mask == y & mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoi_parses_like_c() {
        assert_eq!(atoi(b"42"), 42);
        assert_eq!(atoi(b" -7x"), -7);
        assert_eq!(atoi(b"abc"), 0);
        assert_eq!(atoi(b""), 0);
        assert_eq!(atoi(b"99999999999999999999999"), i64::MAX);
    }

    #[test]
    fn url_encoding_validation_flags_bad_escapes() {
        assert!(!invalid_url_encoding(b"a%20b"));
        assert!(invalid_url_encoding(b"a%2"));
        assert!(invalid_url_encoding(b"%zz"));
    }

    #[test]
    fn ip_prefixes_match() {
        let mut addr = [0u8; 16];
        addr[10] = 0xff;
        addr[11] = 0xff;
        addr[12] = 10;
        let net = IpNet {
            addr,
            prefix: 96 + 8,
        };
        assert!(ip_match(b"10.1.2.3", &[net]));
        assert!(!ip_match(b"11.1.2.3", &[net]));
        assert!(!ip_match(b"nonsense", &[net]));
    }
}
