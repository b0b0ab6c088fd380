//! JWT validation (RFC 7519, JWS compact form): RS256, ES256, EdDSA and HS256 with keys
//! from a JWKS compiled into the bundle, selected by `kid`.
//!
//! Algorithm confusion is impossible by construction: every key carries the one algorithm
//! it may verify, and a token is only checked with keys of the algorithm its header names
//! (`none` and anything else is rejected before any key is touched). HMAC tags are compared
//! in constant time.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::families::Claims;

/// A signature algorithm this filter verifies.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// Ed25519.
    EdDsa,
    /// HMAC with SHA-256.
    Hs256,
}

impl Alg {
    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
            Alg::EdDsa => "EdDSA",
            Alg::Hs256 => "HS256",
        }
    }

    /// The algorithm for a JOSE name, if supported.
    pub fn from_name(s: &str) -> Option<Alg> {
        match s {
            "RS256" => Some(Alg::Rs256),
            "ES256" => Some(Alg::Es256),
            "EdDSA" => Some(Alg::EdDsa),
            "HS256" => Some(Alg::Hs256),
            _ => None,
        }
    }
}

/// Public key material (or the shared secret of an HS256 key).
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq)]
pub enum KeyMaterial {
    /// RSA modulus and exponent, big-endian.
    Rsa {
        /// Modulus.
        n: Vec<u8>,
        /// Public exponent.
        e: Vec<u8>,
    },
    /// P-256 affine coordinates, 32 bytes each.
    Ec {
        /// X coordinate.
        x: Vec<u8>,
        /// Y coordinate.
        y: Vec<u8>,
    },
    /// Ed25519 public key, 32 bytes.
    Ed {
        /// The key.
        x: Vec<u8>,
    },
    /// HS256 shared secret. Never printed.
    Oct {
        /// The secret.
        k: Vec<u8>,
    },
}

impl core::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            KeyMaterial::Rsa { n, .. } => write!(f, "Rsa({} bits)", n.len() * 8),
            KeyMaterial::Ec { .. } => write!(f, "Ec(P-256)"),
            KeyMaterial::Ed { .. } => write!(f, "Ed25519"),
            KeyMaterial::Oct { .. } => write!(f, "Oct(<secret>)"),
        }
    }
}

/// One key of the JWKS.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Jwk {
    /// Key id; tokens name it in their header.
    pub kid: Option<String>,
    /// The one algorithm this key verifies.
    pub alg: Alg,
    /// The key.
    pub key: KeyMaterial,
}

/// Where the token is read from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// A request header; `bearer` strips a case-insensitive `Bearer ` prefix (required).
    Header {
        /// Lower-case header name.
        name: String,
        /// The value is `Bearer <token>`.
        bearer: bool,
    },
    /// A cookie.
    Cookie {
        /// Cookie name.
        name: String,
    },
}

impl Default for TokenSource {
    fn default() -> Self {
        TokenSource::Header {
            name: "authorization".into(),
            bearer: true,
        }
    }
}

/// JWT validation settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct JwtConfig {
    /// The JWKS.
    pub keys: Vec<Jwk>,
    /// Accepted `iss` values (empty: any).
    pub issuers: Vec<String>,
    /// Accepted `aud` values; the token must name one (empty: any).
    pub audiences: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`, seconds.
    pub clock_skew_secs: u32,
    /// Where the token is.
    pub source: TokenSource,
}

/// Why a token was refused. The variants map to rule ids and log reasons; none carries
/// token contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwtError {
    /// No token in the request.
    Missing,
    /// Not a well-formed JWS compact token.
    Malformed(&'static str),
    /// The header names an algorithm that is not accepted (`none` included).
    AlgRejected,
    /// No key with that `kid` and algorithm.
    UnknownKey,
    /// The signature does not verify.
    BadSignature,
    /// `exp` is in the past (beyond the skew), or missing.
    Expired,
    /// `nbf` is in the future (beyond the skew).
    NotYetValid,
    /// `iss` is not accepted.
    Issuer,
    /// `aud` is not accepted.
    Audience,
}

impl JwtError {
    /// A short reason for logs and the denial `detail`.
    pub fn reason(&self) -> &'static str {
        match self {
            JwtError::Missing => "token missing",
            JwtError::Malformed(w) => w,
            JwtError::AlgRejected => "token algorithm not accepted",
            JwtError::UnknownKey => "token signed with an unknown key",
            JwtError::BadSignature => "token signature invalid",
            JwtError::Expired => "token expired",
            JwtError::NotYetValid => "token not yet valid",
            JwtError::Issuer => "token issuer not accepted",
            JwtError::Audience => "token audience not accepted",
        }
    }

    /// The rule id of this failure (API family range).
    pub fn rule_id(&self) -> u32 {
        match self {
            JwtError::Missing => 330_020,
            JwtError::Malformed(_) => 330_021,
            JwtError::AlgRejected => 330_022,
            JwtError::UnknownKey => 330_023,
            JwtError::BadSignature => 330_024,
            JwtError::Expired => 330_025,
            JwtError::NotYetValid => 330_026,
            JwtError::Issuer => 330_027,
            JwtError::Audience => 330_028,
        }
    }
}

enum Verifier {
    Rsa(Box<rsa::pkcs1v15::VerifyingKey<Sha256>>),
    Ec(p256::ecdsa::VerifyingKey),
    Ed(ed25519_dalek::VerifyingKey),
    Hs(Vec<u8>),
}

/// The JWKS turned into ready verifiers, once per VM.
pub struct Verifiers {
    keys: Vec<(Option<String>, Alg, Verifier)>,
}

fn b64(s: &[u8]) -> Result<Vec<u8>, JwtError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| JwtError::Malformed("token is not base64url"))
}

impl Verifiers {
    /// Builds verifiers; an unusable key is an error naming its `kid`.
    pub fn build(keys: &[Jwk]) -> Result<Verifiers, String> {
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            let name = k.kid.as_deref().unwrap_or("(no kid)");
            let v = match (&k.key, k.alg) {
                (KeyMaterial::Rsa { n, e }, Alg::Rs256) => {
                    let pk = rsa::RsaPublicKey::new(
                        rsa::BigUint::from_bytes_be(n),
                        rsa::BigUint::from_bytes_be(e),
                    )
                    .map_err(|e| format!("key {name}: bad RSA key: {e}"))?;
                    Verifier::Rsa(Box::new(rsa::pkcs1v15::VerifyingKey::<Sha256>::new(pk)))
                }
                (KeyMaterial::Ec { x, y }, Alg::Es256) => {
                    let (Ok(xa), Ok(ya)) = (
                        <[u8; 32]>::try_from(x.as_slice()),
                        <[u8; 32]>::try_from(y.as_slice()),
                    ) else {
                        return Err(format!("key {name}: P-256 coordinates must be 32 bytes"));
                    };
                    let point = p256::EncodedPoint::from_affine_coordinates(
                        &p256::FieldBytes::from(xa),
                        &p256::FieldBytes::from(ya),
                        false,
                    );
                    Verifier::Ec(
                        p256::ecdsa::VerifyingKey::from_encoded_point(&point)
                            .map_err(|_| format!("key {name}: not a P-256 point"))?,
                    )
                }
                (KeyMaterial::Ed { x }, Alg::EdDsa) => {
                    let bytes: [u8; 32] = x
                        .as_slice()
                        .try_into()
                        .map_err(|_| format!("key {name}: Ed25519 keys are 32 bytes"))?;
                    Verifier::Ed(
                        ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                            .map_err(|_| format!("key {name}: not an Ed25519 point"))?,
                    )
                }
                (KeyMaterial::Oct { k }, Alg::Hs256) => {
                    if k.len() < 32 {
                        return Err(format!(
                            "key {name}: HS256 secrets must be at least 32 bytes"
                        ));
                    }
                    Verifier::Hs(k.clone())
                }
                (m, a) => {
                    return Err(format!(
                        "key {name}: algorithm {} does not fit a {m:?} key",
                        a.name()
                    ))
                }
            };
            out.push((k.kid.clone(), k.alg, v));
        }
        Ok(Verifiers { keys: out })
    }

    /// Validates `token` at `now` (Unix seconds) and returns its claims, flattened.
    pub fn verify(&self, cfg: &JwtConfig, token: &[u8], now: i64) -> Result<Claims, JwtError> {
        let mut parts = token.split(|&b| b == b'.');
        let (Some(h64), Some(p64), Some(s64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed(
                "token is not three dot-separated parts",
            ));
        };
        let header: serde_json::Value = serde_json::from_slice(&b64(h64)?)
            .map_err(|_| JwtError::Malformed("token header is not JSON"))?;
        let alg = header
            .get("alg")
            .and_then(|a| a.as_str())
            .and_then(Alg::from_name)
            .ok_or(JwtError::AlgRejected)?;
        let kid = header.get("kid").and_then(|k| k.as_str());
        let sig = b64(s64)?;
        let signed_len = h64.len() + 1 + p64.len();
        let signed = token.get(..signed_len).unwrap_or_default();
        let mut candidates = self
            .keys
            .iter()
            .filter(|(k, a, _)| *a == alg && (kid.is_none() || k.as_deref() == kid))
            .peekable();
        if candidates.peek().is_none() {
            return Err(JwtError::UnknownKey);
        }
        if !candidates.any(|(_, _, v)| check(v, signed, &sig)) {
            return Err(JwtError::BadSignature);
        }
        let payload: serde_json::Value = serde_json::from_slice(&b64(p64)?)
            .map_err(|_| JwtError::Malformed("token payload is not JSON"))?;
        let skew = i64::from(cfg.clock_skew_secs);
        match payload.get("exp").and_then(serde_json::Value::as_f64) {
            Some(exp) if (exp as i64).saturating_add(skew) > now => {}
            _ => return Err(JwtError::Expired),
        }
        if let Some(nbf) = payload.get("nbf").and_then(serde_json::Value::as_f64) {
            if (nbf as i64).saturating_sub(skew) > now {
                return Err(JwtError::NotYetValid);
            }
        }
        if !cfg.issuers.is_empty() {
            let iss = payload.get("iss").and_then(|v| v.as_str()).unwrap_or("");
            if !cfg.issuers.iter().any(|i| i == iss) {
                return Err(JwtError::Issuer);
            }
        }
        if !cfg.audiences.is_empty() {
            let ok = match payload.get("aud") {
                Some(serde_json::Value::String(a)) => cfg.audiences.contains(a),
                Some(serde_json::Value::Array(v)) => v
                    .iter()
                    .filter_map(|a| a.as_str())
                    .any(|a| cfg.audiences.iter().any(|c| c == a)),
                _ => false,
            };
            if !ok {
                return Err(JwtError::Audience);
            }
        }
        Ok(flatten_claims(&payload))
    }
}

fn check(v: &Verifier, signed: &[u8], sig: &[u8]) -> bool {
    use hmac::Mac;
    use p256::ecdsa::signature::Verifier as _;
    match v {
        Verifier::Rsa(k) => rsa::pkcs1v15::Signature::try_from(sig)
            .map(|s| k.verify(signed, &s).is_ok())
            .unwrap_or(false),
        Verifier::Ec(k) => p256::ecdsa::Signature::from_slice(sig)
            .map(|s| k.verify(signed, &s).is_ok())
            .unwrap_or(false),
        Verifier::Ed(k) => <[u8; 64]>::try_from(sig)
            .map(|b| {
                k.verify_strict(signed, &ed25519_dalek::Signature::from_bytes(&b))
                    .is_ok()
            })
            .unwrap_or(false),
        Verifier::Hs(secret) => match hmac::Hmac::<Sha256>::new_from_slice(secret) {
            Ok(mut mac) => {
                mac.update(signed);
                // Constant-time comparison.
                mac.verify_slice(sig).is_ok()
            }
            Err(_) => false,
        },
    }
}

/// Flattens a claims object: nested objects join names with `.` (`cnf.x5t#S256`), arrays
/// give one value per element, numbers and booleans their JSON text, and the OAuth `scope`
/// string one value per space-separated scope.
pub fn flatten_claims(payload: &serde_json::Value) -> Claims {
    let mut out: Claims = Vec::new();
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut Claims, depth: u32) {
        if depth > 8 {
            return;
        }
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    let name = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&name, v, out, depth + 1);
                }
            }
            serde_json::Value::Array(a) => {
                let vals: Vec<String> = a.iter().filter_map(scalar).collect();
                out.push((prefix.to_string(), vals));
            }
            other => {
                if let Some(s) = scalar(other) {
                    let vals = if prefix == "scope" {
                        s.split(' ')
                            .filter(|x| !x.is_empty())
                            .map(String::from)
                            .collect()
                    } else {
                        vec![s]
                    };
                    out.push((prefix.to_string(), vals));
                }
            }
        }
    }
    fn scalar(v: &serde_json::Value) -> Option<String> {
        match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    walk("", payload, &mut out, 0);
    out
}

/// The values of claim `name`, if the token has it.
pub fn claim<'a>(claims: &'a Claims, name: &str) -> Option<&'a [String]> {
    claims
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_slice())
}

/// Takes the token out of the request headers as `source` says.
pub fn token_from<'a>(headers: &'a [(String, Vec<u8>)], source: &TokenSource) -> Option<&'a [u8]> {
    match source {
        TokenSource::Header { name, bearer } => {
            let v = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_slice())?;
            if !*bearer {
                return Some(v.trim_ascii());
            }
            let v = v.trim_ascii();
            let (scheme, rest) = v.split_at(v.iter().position(|&b| b == b' ')?);
            scheme
                .eq_ignore_ascii_case(b"bearer")
                .then(|| rest.trim_ascii())
        }
        TokenSource::Cookie { name } => headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
            .flat_map(|(_, v)| v.split(|&b| b == b';'))
            .find_map(|c| {
                let c = c.trim_ascii();
                let eq = c.iter().position(|&b| b == b'=')?;
                (c.get(..eq)? == name.as_bytes()).then(|| c.get(eq + 1..).unwrap_or_default())
            }),
    }
}

/// Verified tokens of one VM, so a client repeating its token pays one SHA-256 instead of a
/// signature verification (RS256 and ES256 cost ~2 ms each in wasm). Keyed by the token's
/// SHA-256 (a full-strength digest: a forged token cannot collide with a cached one); an
/// entry is only used while `now` is within the token's `nbf`/`exp` (with the skew); the
/// cache lives in the engine, so a new bundle (new keys) starts empty. Bounded: the oldest
/// entry is replaced when full.
pub struct TokenCache {
    entries: core::cell::RefCell<Vec<CachedToken>>,
    next: core::cell::Cell<usize>,
    cap: usize,
}

struct CachedToken {
    digest: [u8; 32],
    not_before: i64,
    expires: i64,
    claims: Claims,
}

impl TokenCache {
    /// A cache holding at most `cap` tokens.
    pub fn new(cap: usize) -> TokenCache {
        TokenCache {
            entries: core::cell::RefCell::new(Vec::new()),
            next: core::cell::Cell::new(0),
            cap,
        }
    }

    fn digest(token: &[u8]) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(token).into()
    }

    /// The claims of a token verified before, if still within its validity at `now`.
    pub fn get(&self, token: &[u8], now: i64) -> Option<Claims> {
        let d = Self::digest(token);
        let entries = self.entries.try_borrow().ok()?;
        entries
            .iter()
            .find(|e| e.digest == d)
            .filter(|e| now >= e.not_before && now < e.expires)
            .map(|e| e.claims.clone())
    }

    /// Remembers a verified token: valid from `not_before` until `expires` (both with the
    /// skew already applied).
    pub fn put(&self, token: &[u8], not_before: i64, expires: i64, claims: &Claims) {
        if self.cap == 0 {
            return;
        }
        let Ok(mut entries) = self.entries.try_borrow_mut() else {
            return;
        };
        let entry = CachedToken {
            digest: Self::digest(token),
            not_before,
            expires,
            claims: claims.clone(),
        };
        if entries.len() < self.cap {
            entries.push(entry);
        } else {
            let i = self.next.get() % self.cap;
            if let Some(slot) = entries.get_mut(i) {
                *slot = entry;
            }
            self.next.set(i + 1);
        }
    }
}

/// `exp` and `nbf` of verified claims, widened by `skew`: (valid from, valid until).
pub fn validity(claims: &Claims, skew: i64) -> (i64, i64) {
    let num = |n: &str| {
        claim(claims, n)
            .and_then(|v| v.first())
            .and_then(|s| s.parse::<f64>().ok())
            .map(|f| f as i64)
    };
    let nbf = num("nbf").map_or(i64::MIN, |n| n.saturating_sub(skew));
    let exp = num("exp").map_or(i64::MIN, |e| e.saturating_add(skew));
    (nbf, exp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_respects_validity_and_capacity() {
        let c = TokenCache::new(2);
        let claims: Claims = vec![("sub".into(), vec!["alice".into()])];
        c.put(b"t1", 100, 200, &claims);
        assert_eq!(c.get(b"t1", 150), Some(claims.clone()));
        assert_eq!(c.get(b"t1", 99), None, "before nbf");
        assert_eq!(c.get(b"t1", 200), None, "expired");
        assert_eq!(c.get(b"t2", 150), None, "never verified");
        c.put(b"t2", 0, 1000, &claims);
        c.put(b"t3", 0, 1000, &claims);
        // Full: t3 replaced the oldest entry.
        assert_eq!(c.get(b"t1", 150), None);
        assert!(c.get(b"t3", 150).is_some());
    }

    #[test]
    fn validity_widens_by_skew() {
        let claims: Claims = vec![
            ("exp".into(), vec!["1000".into()]),
            ("nbf".into(), vec!["500".into()]),
        ];
        assert_eq!(validity(&claims, 30), (470, 1030));
        assert_eq!(validity(&Vec::new(), 30).1, i64::MIN);
    }
}
