//! API protection on the engine, natively: examples/api (OpenAPI routes, JWT, scopes,
//! object-level authorization) with tokens minted by `waapc token`'s code.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use serde_json::{json, Map, Value};
use waap_engine::host::NativeHost;
use waap_engine::{Engine, RequestHead, Verdict};
use waap_policy_compiler::token;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn engine() -> Engine {
    let c = waap_policy_compiler::compile_file(&root().join("examples/api/policy.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    Engine::load(c.bundle).unwrap_or_else(|e| panic!("{e}"))
}

fn key(name: &str) -> Value {
    token::read_key(&root().join("examples/api/keys").join(name)).unwrap_or_else(|e| panic!("{e}"))
}

fn now() -> i64 {
    token::now()
}

/// Claims with the example's issuer and audience.
fn claims(sub: &str, scopes: &[&str], extra: &[(&str, &str)], exp: i64) -> Map<String, Value> {
    token::claims_now(
        sub,
        scopes,
        extra,
        Some(("https://auth.bank.example", "bank-api")),
        exp,
    )
}

fn tok(keyfile: &str, c: &Map<String, Value>) -> String {
    token::mint(&key(keyfile), c, None).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs a request; returns (status, rule ids of enforced decisions or WAF rules, reply).
fn run(
    e: &Engine,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, Vec<u32>, String) {
    let mut headers = vec![("host".to_string(), b"bank.example".to_vec())];
    if let Some(t) = token {
        headers.push(("authorization".into(), format!("Bearer {t}").into_bytes()));
    }
    if let Some(b) = body {
        headers.push(("content-type".into(), b"application/json".to_vec()));
        headers.push(("content-length".into(), b.len().to_string().into_bytes()));
    }
    let head = RequestHead {
        method: method.into(),
        uri: uri.as_bytes().to_vec(),
        protocol: "HTTP/1.1".into(),
        headers,
        remote_addr: "127.0.0.1".into(),
        request_id: "t".into(),
        peer_cert_sha256: None,
    };
    let host = NativeHost::default();
    let mut tx = e.transaction(head);
    let v = tx.run_request(body.unwrap_or_default().as_bytes(), &host);
    let ids: Vec<u32> = tx.decisions().iter().map(|d| d.rule_id).collect();
    match v {
        Verdict::Allow => (200, ids, String::new()),
        Verdict::Deny { status, rule_ids } => (status, rule_ids, String::new()),
        Verdict::Reply(r) => (r.status, ids, String::from_utf8_lossy(&r.body).into_owned()),
    }
}

#[test]
fn undeclared_routes_are_denied() {
    let e = engine();
    assert_eq!(run(&e, "GET", "/internal/debug", None, None).0, 404);
    let (s, ids, body) = run(&e, "DELETE", "/accounts/alice", None, None);
    assert_eq!((s, ids.as_slice()), (405, &[330_002][..]));
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(v["error"], "method_not_allowed");
    assert_eq!(v["family"], "api");
    assert_eq!(v["rule_ids"], json!([330_002]));
    // A public operation (security: []) needs no token.
    assert_eq!(run(&e, "GET", "/health", None, None).0, 200);
}

#[test]
fn tokens_are_validated() {
    let e = engine();
    let good = claims("alice", &["accounts:read"], &[], 300);
    for k in [
        "ed25519-private.jwk.json",
        "es256-private.jwk.json",
        "rs256-private.jwk.json",
    ] {
        let t = tok(k, &good);
        assert_eq!(
            run(&e, "GET", "/accounts/alice", Some(&t), None).0,
            200,
            "{k}"
        );
    }
    let cases: Vec<(&str, String, u32)> = vec![
        ("missing", String::new(), 330_020),
        ("garbage", "not.a.jwt".into(), 330_021),
        (
            "expired",
            tok(
                "ed25519-private.jwk.json",
                &claims("alice", &["accounts:read"], &[], -120),
            ),
            330_025,
        ),
        (
            "unknown key",
            tok("untrusted-private.jwk.json", &good),
            330_023,
        ),
        (
            "alg none",
            token::mint(&key("ed25519-private.jwk.json"), &good, Some("none")).unwrap_or_default(),
            330_022,
        ),
        (
            "wrong audience",
            tok("ed25519-private.jwk.json", &{
                let mut c = good.clone();
                c.insert("aud".into(), json!("other-api"));
                c
            }),
            330_028,
        ),
        (
            "wrong issuer",
            tok("ed25519-private.jwk.json", &{
                let mut c = good.clone();
                c.insert("iss".into(), json!("https://evil.example"));
                c
            }),
            330_027,
        ),
    ];
    for (name, t, id) in cases {
        let (s, ids, body) = run(
            &e,
            "GET",
            "/accounts/alice",
            (!t.is_empty()).then_some(t.as_str()),
            None,
        );
        assert_eq!((s, ids.clone()), (401, vec![id]), "{name}: {body}");
        assert!(
            !body.contains(&t) || t.is_empty(),
            "{name}: the token is echoed"
        );
    }
}

#[test]
fn algorithm_confusion_is_rejected() {
    // The classic attack: an HS256 token whose HMAC key is the RSA public key's bytes.
    let e = engine();
    let jwks: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("examples/api/keys/jwks.json")).unwrap_or_default(),
    )
    .unwrap_or_default();
    let rsa = jwks["keys"]
        .as_array()
        .and_then(|k| k.iter().find(|k| k["kty"] == "RSA"))
        .cloned()
        .unwrap_or_default();
    let fake = json!({"kty": "oct", "alg": "HS256", "kid": rsa["kid"], "k": rsa["n"]});
    let t = token::mint(&fake, &claims("alice", &["accounts:read"], &[], 300), None)
        .unwrap_or_else(|e| panic!("{e}"));
    let (s, ids, _) = run(&e, "GET", "/accounts/alice", Some(&t), None);
    assert_eq!((s, ids), (401, vec![330_023]));
}

#[test]
fn function_and_object_level_authorization() {
    let e = engine();
    let alice = tok(
        "ed25519-private.jwk.json",
        &claims("alice", &["accounts:read"], &[], 300),
    );
    // BOLA: alice reading bob's account.
    let (s, ids, _) = run(&e, "GET", "/accounts/bob", Some(&alice), None);
    assert_eq!((s, ids), (403, vec![330_031]));
    assert_eq!(
        run(&e, "GET", "/accounts/bob/transactions", Some(&alice), None).0,
        403
    );
    // Granted through the `accounts` claim.
    let delegated = tok(
        "ed25519-private.jwk.json",
        &claims(
            "alice",
            &["accounts:read"],
            &[("accounts", r#"["bob","carol"]"#)],
            300,
        ),
    );
    assert_eq!(
        run(&e, "GET", "/accounts/bob", Some(&delegated), None).0,
        200
    );
    // BFLA: admin operations need the admin scope.
    let (s, ids, _) = run(&e, "GET", "/admin/users", Some(&alice), None);
    assert_eq!((s, ids), (403, vec![330_030]));
    let admin = tok(
        "ed25519-private.jwk.json",
        &claims("root", &["admin"], &[], 300),
    );
    assert_eq!(run(&e, "GET", "/admin/users", Some(&admin), None).0, 200);
}

#[test]
fn parameters_and_bodies_follow_the_schema() {
    let e = engine();
    let alice = tok(
        "ed25519-private.jwk.json",
        &claims("alice", &["accounts:read", "transfers:write"], &[], 300),
    );
    // Query parameter types: 400 naming the failing parameter.
    let (s, ids, body) = run(
        &e,
        "GET",
        "/accounts/alice/transactions?limit=ten",
        Some(&alice),
        None,
    );
    assert_eq!((s, ids), (400, vec![330_010]), "{body}");
    assert!(body.contains("/query/limit"), "{body}");
    assert_eq!(
        run(
            &e,
            "GET",
            "/accounts/alice/transactions?limit=10",
            Some(&alice),
            None
        )
        .0,
        200
    );
    assert_eq!(
        run(
            &e,
            "GET",
            "/accounts/alice/transactions?limit=1000",
            Some(&alice),
            None
        )
        .0,
        400
    );
    // Path parameter pattern.
    assert_eq!(
        run(&e, "GET", "/accounts/ALICE%20X", Some(&alice), None).0,
        400
    );
    // Bodies.
    let ok = r#"{"from":"alice","to":"bob","amount":1000,"currency":"KRW"}"#;
    assert_eq!(run(&e, "POST", "/transfers", Some(&alice), Some(ok)).0, 200);
    let cases = [
        (
            r#"{"from":"alice","to":"bob","amount":"1000","currency":"KRW"}"#,
            400,
            330_011,
            "/amount",
        ),
        (
            r#"{"from":"alice","to":"bob","amount":1000,"currency":"XXX"}"#,
            400,
            330_011,
            "/currency",
        ),
        (
            r#"{"from":"alice","to":"bob","amount":0,"currency":"KRW"}"#,
            400,
            330_011,
            "/amount",
        ),
        (
            r#"{"from":"alice","to":"bob","currency":"KRW"}"#,
            400,
            330_011,
            "required",
        ),
        (
            r#"{"from":"alice","to":"bob","amount":1,"currency":"KRW","status":"approved"}"#,
            400,
            330_013,
            "/status",
        ),
        (
            r#"{"from":"alice","to":"bob","amount":1,"currency":"KRW","fee":0}"#,
            400,
            330_013,
            "fee",
        ),
        (r#"{"from":"alice","#, 400, 330_011, "invalid JSON"),
    ];
    for (doc, status, id, needle) in cases {
        let (s, ids, body) = run(&e, "POST", "/transfers", Some(&alice), Some(doc));
        assert_eq!((s, ids.clone()), (status, vec![id]), "{doc}: {body}");
        assert!(body.contains(needle), "{doc}: {needle} not in {body}");
        assert!(!body.contains("approved"), "a value was echoed: {body}");
    }
    // Body limits: nesting depth.
    let deep = format!(
        r#"{{"from":"alice","to":"bob","amount":1,"currency":"KRW","memo":{}"x"{}}}"#,
        "[".repeat(40),
        "]".repeat(40)
    );
    assert_eq!(
        run(&e, "POST", "/transfers", Some(&alice), Some(&deep)).0,
        413
    );
}

#[test]
fn responses_are_pruned_and_masked() {
    let e = engine();
    let alice = tok(
        "ed25519-private.jwk.json",
        &claims("alice", &["accounts:read"], &[], 300),
    );
    let head = RequestHead {
        method: "GET".into(),
        uri: b"/accounts/alice".to_vec(),
        protocol: "HTTP/1.1".into(),
        headers: vec![(
            "authorization".into(),
            format!("Bearer {alice}").into_bytes(),
        )],
        remote_addr: "127.0.0.1".into(),
        request_id: "r".into(),
        peer_cert_sha256: None,
    };
    let host = NativeHost::default();
    let mut tx = e.transaction(head);
    assert_eq!(tx.run_request(b"", &host), Verdict::Allow);
    let body = br#"{"id":"alice","owner":"alice","balance":5,"currency":"KRW","card_number":"4111 1111 1111 1111","resident_number":"900101-1234568","note":"card 4111 1111 1111 1112 rrn 900101-1234567","internal_risk_score":17}"#;
    let v = tx.on_response_headers(
        200,
        vec![("content-type".into(), b"application/json".to_vec())],
        &host,
    );
    assert_eq!(v, Verdict::Allow);
    assert!(tx.wants_response_body());
    assert!(tx.may_rewrite_response());
    assert_eq!(
        tx.on_response_body_with(body.to_vec(), false, &host),
        Verdict::Allow
    );
    let out = tx.take_response_rewrite().expect("a rewritten body");
    let doc: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(doc["card_number"], "*******************");
    assert_eq!(doc["resident_number"], "**************");
    // Look-alikes failing Luhn / the check digit stay.
    assert_eq!(doc["note"], "card 4111 1111 1111 1112 rrn 900101-1234567");
    // Undeclared property removed.
    assert!(doc.get("internal_risk_score").is_none(), "{doc}");
    assert_eq!(doc["balance"], 5);
}

#[test]
fn enumerating_accounts_is_rate_limited() {
    // examples/api: at most 20 distinct account ids per principal per minute.
    let e = engine();
    let mallory = tok(
        "ed25519-private.jwk.json",
        &claims(
            "mallory",
            &["accounts:read"],
            &[("accounts", r#"["*"]"#)],
            300,
        ),
    );
    let host = NativeHost::default();
    let mut statuses = Vec::new();
    for i in 0..25 {
        let head = RequestHead {
            method: "GET".into(),
            uri: format!("/accounts/acct-{i}").into_bytes(),
            protocol: "HTTP/1.1".into(),
            headers: vec![(
                "authorization".into(),
                format!("Bearer {mallory}").into_bytes(),
            )],
            remote_addr: "127.0.0.1".into(),
            request_id: "e".into(),
            peer_cert_sha256: None,
        };
        let mut tx = e.transaction(head);
        let v = tx.run_request(b"", &host);
        statuses.push(match v {
            Verdict::Allow => 200,
            Verdict::Deny { status, .. } => status,
            Verdict::Reply(r) => r.status,
        });
    }
    // The first accounts fail the object-level check (403): each is still a distinct id.
    assert!(statuses[..20].iter().all(|&s| s == 403), "{statuses:?}");
    assert!(statuses[20..].iter().all(|&s| s == 429), "{statuses:?}");
}

#[test]
fn hs256_keys_cookie_tokens_and_nbf() {
    // A policy of its own: an HS256 secret in the JWKS, the token in a cookie.
    let dir = std::env::temp_dir().join(format!("waap-api-hs256-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC0zMmI"; // 38 bytes, base64url
    let jwks = json!({"keys": [{"kty": "oct", "kid": "hs", "alg": "HS256", "k": secret}]});
    std::fs::write(dir.join("jwks.json"), jwks.to_string()).unwrap();
    std::fs::copy(
        root().join("examples/api/openapi.yaml"),
        dir.join("openapi.yaml"),
    )
    .unwrap();
    let policy = "version: 1\nmode: block\napi:\n  mode: block\n  openapi: openapi.yaml\n  jwt:\n    jwks: jwks.json\n    token: { cookie: session }\n";
    std::fs::write(dir.join("policy.yaml"), policy).unwrap();
    let c = waap_policy_compiler::compile_file(&dir.join("policy.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let e = Engine::load(c.bundle).unwrap();
    let key = json!({"kty": "oct", "kid": "hs", "alg": "HS256", "k": secret});
    let get = |token: &str| {
        let head = RequestHead {
            method: "GET".into(),
            uri: b"/admin/users".to_vec(),
            protocol: "HTTP/1.1".into(),
            headers: vec![(
                "cookie".into(),
                format!("theme=dark; session={token}").into_bytes(),
            )],
            remote_addr: "127.0.0.1".into(),
            request_id: "h".into(),
            peer_cert_sha256: None,
        };
        let host = NativeHost::default();
        let mut tx = e.transaction(head);
        match tx.run_request(b"", &host) {
            Verdict::Allow => (200, vec![]),
            Verdict::Reply(r) => (r.status, tx.decisions().iter().map(|d| d.rule_id).collect()),
            Verdict::Deny { status, rule_ids } => (status, rule_ids),
        }
    };
    let good = token::mint(
        &key,
        &token::claims("root", &["admin".into()], &[], now(), 300),
        None,
    )
    .unwrap();
    assert_eq!(get(&good).0, 200);
    // Tampered payload: the HMAC no longer verifies.
    let parts: Vec<&str> = good.split('.').collect();
    let evil_claims = token::claims(
        "root",
        &["admin".into(), "superuser".into()],
        &[],
        now(),
        300,
    );
    let evil = token::mint(&key, &evil_claims, None).unwrap();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        evil.split('.').nth(1).unwrap(),
        parts[2]
    );
    assert_eq!(get(&forged), (401, vec![330_024]));
    // Not valid before a minute from now (beyond the 30 s skew).
    let later = token::claims(
        "root",
        &["admin".into()],
        &[("nbf".into(), (now() + 60).to_string())],
        now(),
        300,
    );
    assert_eq!(
        get(&token::mint(&key, &later, None).unwrap()),
        (401, vec![330_026])
    );
    // The scope is still enforced.
    let weak = token::mint(&key, &token::claims("root", &[], &[], now(), 300), None).unwrap();
    assert_eq!(get(&weak), (403, vec![330_030]));
    let _ = std::fs::remove_dir_all(&dir);
}
