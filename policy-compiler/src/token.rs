//! `waapc token`: mints test JWTs from a private JWK (EdDSA, ES256, RS256, HS256).
//!
//! For tests and examples only: a production issuer is an identity provider, not this tool.
//! RSA signing uses the `rsa` crate, whose private-key operations are not constant-time
//! (RUSTSEC-2023-0071); acceptable for minting test tokens on a developer machine.

use base64::Engine as _;
use serde_json::{Map, Value};

fn b64u(v: &Value, field: &str) -> Result<Vec<u8>, String> {
    let s = v
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("private key: missing `{field}`"))?;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| format!("private key: `{field}` is not base64url"))
}

fn enc(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs `claims` with the private JWK `key`; the header carries the key's `alg` and `kid`
/// unless `alg_override` replaces the algorithm name (for negative tests such as `none`).
pub fn mint(
    key: &Value,
    claims: &Map<String, Value>,
    alg_override: Option<&str>,
) -> Result<String, String> {
    let kty = key.get("kty").and_then(Value::as_str).unwrap_or_default();
    let alg = match (kty, key.get("alg").and_then(Value::as_str)) {
        (_, Some(a)) => a.to_string(),
        ("OKP", None) => "EdDSA".into(),
        ("EC", None) => "ES256".into(),
        ("RSA", None) => "RS256".into(),
        ("oct", None) => "HS256".into(),
        (k, None) => return Err(format!("private key: key type `{k}` is not supported")),
    };
    let mut header = Map::new();
    header.insert(
        "alg".into(),
        Value::String(alg_override.unwrap_or(&alg).to_string()),
    );
    header.insert("typ".into(), Value::String("JWT".into()));
    if let Some(kid) = key.get("kid").and_then(Value::as_str) {
        header.insert("kid".into(), Value::String(kid.into()));
    }
    let h = serde_json::to_vec(&Value::Object(header)).map_err(|e| e.to_string())?;
    let p = serde_json::to_vec(&Value::Object(claims.clone())).map_err(|e| e.to_string())?;
    let signing_input = format!("{}.{}", enc(&h), enc(&p));
    if alg_override == Some("none") {
        return Ok(format!("{signing_input}."));
    }
    let sig: Vec<u8> = match alg.as_str() {
        "EdDSA" => {
            let d: [u8; 32] = b64u(key, "d")?
                .try_into()
                .map_err(|_| "private key: Ed25519 `d` must be 32 bytes".to_string())?;
            use ed25519_dalek::Signer;
            ed25519_dalek::SigningKey::from_bytes(&d)
                .sign(signing_input.as_bytes())
                .to_bytes()
                .to_vec()
        }
        "ES256" => {
            let d = b64u(key, "d")?;
            let sk = p256::ecdsa::SigningKey::from_slice(&d)
                .map_err(|_| "private key: bad P-256 scalar".to_string())?;
            use p256::ecdsa::signature::Signer;
            let s: p256::ecdsa::Signature = sk.sign(signing_input.as_bytes());
            s.to_bytes().to_vec()
        }
        "RS256" => {
            let big = |f: &str| b64u(key, f).map(|b| rsa::BigUint::from_bytes_be(&b));
            let sk = rsa::RsaPrivateKey::from_components(
                big("n")?,
                big("e")?,
                big("d")?,
                vec![big("p")?, big("q")?],
            )
            .map_err(|e| format!("private key: bad RSA key: {e}"))?;
            use rsa::signature::{SignatureEncoding, Signer};
            rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(sk)
                .sign(signing_input.as_bytes())
                .to_vec()
        }
        "HS256" => {
            use hmac::Mac;
            let k = b64u(key, "k")?;
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&k)
                .map_err(|_| "private key: bad HMAC key".to_string())?;
            mac.update(signing_input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        other => return Err(format!("private key: algorithm `{other}` is not supported")),
    };
    Ok(format!("{signing_input}.{}", enc(&sig)))
}

/// Builds the claims of `waapc token`: `sub`, `iat`, `exp = now + exp_secs`, `scope` (space
/// separated), and `k=v` pairs (a value that parses as JSON is used as JSON: numbers,
/// arrays, objects; `a.b=v` nests).
pub fn claims(
    sub: &str,
    scopes: &[String],
    extra: &[(String, String)],
    now: i64,
    exp_secs: i64,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("sub".into(), Value::String(sub.into()));
    m.insert("iat".into(), Value::from(now));
    m.insert("exp".into(), Value::from(now + exp_secs));
    if !scopes.is_empty() {
        m.insert("scope".into(), Value::String(scopes.join(" ")));
    }
    for (k, v) in extra {
        let val = serde_json::from_str::<Value>(v).unwrap_or_else(|_| Value::String(v.clone()));
        let mut parts: Vec<&str> = k.split('.').collect();
        let last = parts.pop().unwrap_or_default();
        let mut at = &mut m;
        for p in parts {
            let entry = at
                .entry(p.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            match entry {
                Value::Object(o) => at = o,
                _ => return m,
            }
        }
        at.insert(last.to_string(), val);
    }
    m
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Reads a private JWK file.
pub fn read_key(path: &std::path::Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// [`claims`] from string slices, issued now, with `iss` and `aud` when given: what tests
/// and benchmarks mint.
pub fn claims_now(
    sub: &str,
    scopes: &[&str],
    extra: &[(&str, &str)],
    iss_aud: Option<(&str, &str)>,
    exp_secs: i64,
) -> Map<String, Value> {
    let mut pairs: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Some((iss, aud)) = iss_aud {
        pairs.push(("iss".into(), iss.into()));
        pairs.push(("aud".into(), aud.into()));
    }
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    claims(sub, &scopes, &pairs, now(), exp_secs)
}
