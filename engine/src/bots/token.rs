//! Stateless challenge nonces and tokens: HMAC-SHA-256 bound to time, the client's address
//! prefix and its user agent, compared in constant time; and the proof-of-work check.
//!
//! - nonce `<ts>.<difficulty>.<mac>`: `mac` = first 16 bytes (hex) of
//!   HMAC(key, `waap-nonce|ts|difficulty|prefix|user-agent`). A solution is a counter such
//!   that SHA-256(`nonce:counter`) starts with `difficulty` zero bits.
//! - token (cookie) `v1.<exp>.<difficulty>.<mac>`: `mac` = HMAC(key,
//!   `waap-token|v1|exp|difficulty|prefix|user-agent`) (hex, 32 bytes). The client prefix
//!   and user agent are claims bound by the MAC, not carried: a token presented from another
//!   network or with another user agent does not verify.
//!
//! Verifying costs one HMAC per configured key at most (two during a rotation), whatever
//! the request.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::config::{ip_bytes, mask, Secret};

type HmacSha256 = Hmac<Sha256>;

/// Who a nonce or token is bound to: the client's address prefix and user agent.
pub struct Binding<'a> {
    /// Address prefix text (`10.1.2.0/24`, or `-` when unknown).
    pub prefix: String,
    /// The user agent bytes.
    pub user_agent: &'a [u8],
}

impl<'a> Binding<'a> {
    /// The binding of a client address (masked to `v4`/`v6` bits) and user agent.
    pub fn new(ip: Option<std::net::IpAddr>, v4: u8, v6: u8, user_agent: &'a [u8]) -> Self {
        let prefix = match ip {
            None => "-".to_string(),
            Some(ip) => {
                let (b, is4) = ip_bytes(ip);
                if is4 {
                    let m = mask(b, v4.min(32));
                    format!("{}.{}.{}.{}/{}", m[0], m[1], m[2], m[3], v4.min(32))
                } else {
                    let m = mask(b, v6.min(128));
                    format!("{}/{}", std::net::Ipv6Addr::from(m), v6.min(128))
                }
            }
        };
        Binding { prefix, user_agent }
    }
}

fn mac(key: &Secret, parts: &[&[u8]]) -> Option<[u8; 32]> {
    let mut m = HmacSha256::new_from_slice(&key.0).ok()?;
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            m.update(b"|");
        }
        m.update(p);
    }
    Some(m.finalize().into_bytes().into())
}

fn hex(bytes: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(H[(b >> 4) as usize] as char);
        s.push(H[(b & 15) as usize] as char);
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let v = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    s.as_bytes()
        .chunks(2)
        .map(|p| Some((v(*p.first()?)? << 4) | v(*p.get(1)?)?))
        .collect()
}

/// True when `given` (hex) equals one of the MACs of `parts` under `keys`, compared in
/// constant time.
fn verify(keys: &[Secret], parts: &[&[u8]], given_hex: &str, len: usize) -> bool {
    let Some(given) = unhex(given_hex) else {
        return false;
    };
    if given.len() != len {
        return false;
    }
    let mut ok = subtle::Choice::from(0u8);
    for k in keys {
        if let Some(m) = mac(k, parts) {
            ok |= m.get(..len).unwrap_or_default().ct_eq(&given);
            if bool::from(ok) {
                break;
            }
        }
    }
    bool::from(ok)
}

/// A new nonce for `b` at `now` (seconds), signed with the first key.
pub fn mint_nonce(keys: &[Secret], b: &Binding, now: u64, difficulty: u8) -> Option<String> {
    let ts = now.to_string();
    let d = difficulty.to_string();
    let m = mac(
        keys.first()?,
        &[
            b"waap-nonce",
            ts.as_bytes(),
            d.as_bytes(),
            b.prefix.as_bytes(),
            b.user_agent,
        ],
    )?;
    Some(format!("{ts}.{d}.{}", hex(m.get(..16)?)))
}

/// Why a nonce or token was refused (for logs; never holds key material).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not in the expected shape.
    Malformed,
    /// The MAC does not verify (forged, or another client, or an unknown key).
    BadMac,
    /// Too old (or from the future).
    Expired,
    /// Signed for a lower difficulty than the policy asks now.
    Difficulty,
    /// The proof of work does not have enough zero bits.
    BadWork,
}

impl Refusal {
    /// Short name for logs.
    pub fn name(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::BadMac => "bad_mac",
            Refusal::Expired => "expired",
            Refusal::Difficulty => "difficulty",
            Refusal::BadWork => "bad_work",
        }
    }
}

/// Checks a nonce for `b`: signed by one of `keys`, issued at most `ttl` seconds before
/// `now`, for at least `min_difficulty`. Returns its issue time and difficulty.
pub fn check_nonce(
    keys: &[Secret],
    b: &Binding,
    nonce: &str,
    now: u64,
    ttl: u32,
    min_difficulty: u8,
) -> Result<(u64, u8), Refusal> {
    let mut it = nonce.splitn(3, '.');
    let (Some(ts), Some(d), Some(m)) = (it.next(), it.next(), it.next()) else {
        return Err(Refusal::Malformed);
    };
    let (Ok(t), Ok(diff)) = (ts.parse::<u64>(), d.parse::<u8>()) else {
        return Err(Refusal::Malformed);
    };
    if !verify(
        keys,
        &[
            b"waap-nonce",
            ts.as_bytes(),
            d.as_bytes(),
            b.prefix.as_bytes(),
            b.user_agent,
        ],
        m,
        16,
    ) {
        return Err(Refusal::BadMac);
    }
    if t > now + 5 || now.saturating_sub(t) > ttl as u64 {
        return Err(Refusal::Expired);
    }
    if diff < min_difficulty {
        return Err(Refusal::Difficulty);
    }
    Ok((t, diff))
}

/// Leading zero bits of SHA-256(`nonce:counter`).
pub fn work_bits(nonce: &str, counter: &str) -> u32 {
    let mut h = Sha256::new();
    h.update(nonce.as_bytes());
    h.update(b":");
    h.update(counter.as_bytes());
    let d = h.finalize();
    let mut bits = 0;
    for byte in d.iter() {
        if *byte == 0 {
            bits += 8;
        } else {
            bits += byte.leading_zeros();
            break;
        }
    }
    bits
}

/// A token for `b`, valid until `exp` (seconds), signed with the first key.
pub fn mint_token(keys: &[Secret], b: &Binding, exp: u64, difficulty: u8) -> Option<String> {
    let e = exp.to_string();
    let d = difficulty.to_string();
    let m = mac(
        keys.first()?,
        &[
            b"waap-token",
            b"v1",
            e.as_bytes(),
            d.as_bytes(),
            b.prefix.as_bytes(),
            b.user_agent,
        ],
    )?;
    Some(format!("v1.{e}.{d}.{}", hex(&m)))
}

/// Checks a token for `b` at `now`: signed by one of `keys`, not expired, for at least
/// `min_difficulty`. One HMAC per key tried, constant-time comparison.
pub fn check_token(
    keys: &[Secret],
    b: &Binding,
    token: &str,
    now: u64,
    min_difficulty: u8,
) -> Result<(), Refusal> {
    let mut it = token.splitn(4, '.');
    let (Some("v1"), Some(e), Some(d), Some(m)) = (it.next(), it.next(), it.next(), it.next())
    else {
        return Err(Refusal::Malformed);
    };
    let (Ok(exp), Ok(diff)) = (e.parse::<u64>(), d.parse::<u8>()) else {
        return Err(Refusal::Malformed);
    };
    if !verify(
        keys,
        &[
            b"waap-token",
            b"v1",
            e.as_bytes(),
            d.as_bytes(),
            b.prefix.as_bytes(),
            b.user_agent,
        ],
        m,
        32,
    ) {
        return Err(Refusal::BadMac);
    }
    if exp <= now {
        return Err(Refusal::Expired);
    }
    if diff < min_difficulty {
        return Err(Refusal::Difficulty);
    }
    Ok(())
}

/// The first 8 hex digits of SHA-256 of `s`: names a value in logs without revealing it.
pub fn fingerprint(s: &[u8]) -> String {
    hex(Sha256::digest(s).get(..4).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<Secret> {
        vec![Secret(b"0123456789abcdef0123456789abcdef".to_vec())]
    }

    fn solve(nonce: &str, d: u32) -> String {
        (0u64..)
            .map(|i| i.to_string())
            .find(|c| work_bits(nonce, c) >= d)
            .unwrap()
    }

    #[test]
    fn token_round_trip_and_refusals() {
        let k = keys();
        let ip = "10.1.2.3".parse().ok();
        let b = Binding::new(ip, 24, 64, b"curl/8");
        let t = mint_token(&k, &b, 2000, 8).unwrap();
        assert_eq!(check_token(&k, &b, &t, 1000, 8), Ok(()));
        // Same /24, same agent: still valid.
        let b2 = Binding::new("10.1.2.99".parse().ok(), 24, 64, b"curl/8");
        assert_eq!(check_token(&k, &b2, &t, 1000, 8), Ok(()));
        // Other network, other agent, expired, forged, raised difficulty.
        let other = Binding::new("10.9.9.9".parse().ok(), 24, 64, b"curl/8");
        assert_eq!(check_token(&k, &other, &t, 1000, 8), Err(Refusal::BadMac));
        let ua = Binding::new(ip, 24, 64, b"curl/9");
        assert_eq!(check_token(&k, &ua, &t, 1000, 8), Err(Refusal::BadMac));
        assert_eq!(check_token(&k, &b, &t, 2000, 8), Err(Refusal::Expired));
        assert_eq!(check_token(&k, &b, &t, 1000, 9), Err(Refusal::Difficulty));
        let forged = t.replacen("v1.2000", "v1.9999", 1);
        assert_eq!(check_token(&k, &b, &forged, 1000, 8), Err(Refusal::BadMac));
        assert_eq!(
            check_token(&k, &b, "v1.x", 1000, 8),
            Err(Refusal::Malformed)
        );
        assert_eq!(check_token(&k, &b, "", 1000, 8), Err(Refusal::Malformed));
    }

    #[test]
    fn rotation_verifies_with_the_previous_key_and_signs_with_the_current() {
        let old = keys();
        let b = Binding::new("::1".parse().ok(), 24, 64, b"ua");
        let t = mint_token(&old, &b, 2000, 4).unwrap();
        let rotated = vec![
            Secret(b"another key, at least 16 bytes..".to_vec()),
            old[0].clone(),
        ];
        assert_eq!(check_token(&rotated, &b, &t, 1000, 4), Ok(()));
        let only_new = vec![rotated[0].clone()];
        assert_eq!(
            check_token(&only_new, &b, &t, 1000, 4),
            Err(Refusal::BadMac)
        );
        let t2 = mint_token(&rotated, &b, 2000, 4).unwrap();
        assert_eq!(check_token(&only_new, &b, &t2, 1000, 4), Ok(()));
    }

    #[test]
    fn nonce_is_bound_to_time_client_and_difficulty() {
        let k = keys();
        let b = Binding::new("192.0.2.7".parse().ok(), 24, 64, b"ua");
        let n = mint_nonce(&k, &b, 1000, 8).unwrap();
        assert_eq!(check_nonce(&k, &b, &n, 1010, 300, 8), Ok((1000, 8)));
        assert_eq!(check_nonce(&k, &b, &n, 1400, 300, 8), Err(Refusal::Expired));
        let other = Binding::new("198.51.100.7".parse().ok(), 24, 64, b"ua");
        assert_eq!(
            check_nonce(&k, &other, &n, 1010, 300, 8),
            Err(Refusal::BadMac)
        );
        assert_eq!(
            check_nonce(&k, &b, &n, 1010, 300, 9),
            Err(Refusal::Difficulty)
        );
        let raised = n.replacen(".8.", ".2.", 1);
        assert_eq!(
            check_nonce(&k, &b, &raised, 1010, 300, 2),
            Err(Refusal::BadMac)
        );
        let c = solve(&n, 8);
        assert!(work_bits(&n, &c) >= 8);
    }
}
