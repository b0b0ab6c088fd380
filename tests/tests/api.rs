//! API protection end to end through Envoy: examples/api (OpenAPI routes, JWT, scopes,
//! object-level authorization, response masking) and certificate-bound tokens on a real
//! mutual-TLS listener with certificates made by `openssl` in the test.

// Test helpers may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use serde_json::{json, Map, Value};
use waap_e2e::client::{build_request, HttpResponse};
use waap_e2e::echo::Mock;
use waap_e2e::envoy::{self, workspace_root, PolicyStack, TempDir, TlsListener};
use waap_policy_compiler::token;

fn key(name: &str) -> Value {
    token::read_key(&workspace_root().join("examples/api/keys").join(name))
        .unwrap_or_else(|e| panic!("{e}"))
}

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
    token::mint(&key(keyfile), c, None).unwrap()
}

fn mock() -> Mock {
    let p = workspace_root().join("examples/api/upstream.json");
    Mock::parse(&std::fs::read(p).unwrap()).unwrap()
}

fn start() -> PolicyStack {
    envoy::start_stack("examples/api/policy.yaml", Some(mock()), |_| {}).unwrap()
}

fn call(
    s: &PolicyStack,
    method: &str,
    target: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> HttpResponse {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if let Some(a) = &auth {
        headers.push(("authorization", a));
    }
    if body.is_some() {
        headers.push(("content-type", "application/json"));
    }
    let req = build_request(
        method,
        target,
        &headers,
        body.unwrap_or_default().as_bytes(),
    );
    waap_e2e::client::send(s.envoy.addr(), &req).unwrap()
}

fn body_json(r: &HttpResponse) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()))
}

#[test]
#[ignore = "needs Envoy; run by make test"]
fn api_example_enforces_routes_tokens_and_authorization() {
    let s = start();
    // Undeclared route: denied with the stable JSON shape.
    let r = call(&s, "GET", "/internal/metrics", None, None);
    assert_eq!(r.status, 404);
    let j = body_json(&r);
    assert_eq!(j["family"], "api");
    assert_eq!(j["rule_ids"], json!([330001]));
    assert!(j["request_id"].as_str().is_some_and(|id| !id.is_empty()));
    let alice = tok(
        "ed25519-private.jwk.json",
        &claims("alice", &["accounts:read"], &[], 300),
    );
    // Own account: 200; someone else's: 403 (BOLA).
    let r = call(&s, "GET", "/accounts/alice", Some(&alice), None);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = call(&s, "GET", "/accounts/bob", Some(&alice), None);
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(body_json(&r)["rule_ids"], json!([330031]));
    // Missing scope on an admin operation: 403.
    let r = call(
        &s,
        "POST",
        "/admin/users",
        Some(&alice),
        Some(r#"{"name":"mallory"}"#),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(body_json(&r)["rule_ids"], json!([330030]));
    // Expired, unknown-key and alg:none tokens: 401 with WWW-Authenticate.
    let expired = tok(
        "ed25519-private.jwk.json",
        &claims("alice", &["accounts:read"], &[], -60),
    );
    let unknown = tok(
        "untrusted-private.jwk.json",
        &claims("alice", &["accounts:read"], &[], 300),
    );
    let none = token::mint(
        &key("ed25519-private.jwk.json"),
        &claims("alice", &["accounts:read"], &[], 300),
        Some("none"),
    )
    .unwrap();
    for (name, t, id) in [
        ("expired", expired, 330025),
        ("unknown key", unknown, 330023),
        ("alg none", none, 330022),
    ] {
        let r = call(&s, "GET", "/accounts/alice", Some(&t), None);
        assert_eq!(r.status, 401, "{name}: {}", r.text());
        assert_eq!(body_json(&r)["rule_ids"], json!([id]), "{name}");
        assert!(
            r.header("www-authenticate")
                .is_some_and(|h| h.starts_with("Bearer")),
            "{name}"
        );
    }
    // A wrong type in a query parameter: 400 naming the parameter.
    let r = call(
        &s,
        "GET",
        "/accounts/alice/transactions?limit=ten",
        Some(&alice),
        None,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let j = body_json(&r);
    assert_eq!(j["rule_ids"], json!([330010]));
    assert!(
        j["detail"]
            .as_str()
            .is_some_and(|d| d.contains("/query/limit")),
        "{j}"
    );
    // Writes with a readOnly or an undeclared property: 400 (mass assignment).
    let writer = tok(
        "ed25519-private.jwk.json",
        &claims("alice", &["transfers:write"], &[], 300),
    );
    for doc in [
        r#"{"from":"alice","to":"bob","amount":5,"currency":"KRW","status":"approved"}"#,
        r#"{"from":"alice","to":"bob","amount":5,"currency":"KRW","fee":0}"#,
    ] {
        let r = call(&s, "POST", "/transfers", Some(&writer), Some(doc));
        assert_eq!(r.status, 400, "{doc}: {}", r.text());
        assert_eq!(body_json(&r)["rule_ids"], json!([330013]), "{doc}");
    }
    let ok = r#"{"from":"alice","to":"bob","amount":5,"currency":"KRW"}"#;
    assert_eq!(
        call(&s, "POST", "/transfers", Some(&writer), Some(ok)).status,
        201
    );
    // The response: card and resident registration numbers masked, look-alikes untouched,
    // the undeclared property removed.
    let r = call(&s, "GET", "/accounts/alice", Some(&alice), None);
    let j = body_json(&r);
    assert_eq!(j["card_number"], "*******************", "{j}");
    assert_eq!(j["resident_number"], "**************", "{j}");
    assert_eq!(
        j["note"],
        "look-alikes stay: card 4111 1111 1111 1112, rrn 900101-1234567"
    );
    assert!(j.get("internal_risk_score").is_none(), "{j}");
    assert!(!r.text().contains("4111 1111 1111 1111"));
    // The decision is logged with family and rule id, without the token.
    let log = s.envoy.log_text();
    assert!(log.contains(r#""family":"api","id":330031"#), "{log}");
    assert!(!log.contains(&alice), "a token leaked into the log");
}

/// Makes a CA, a server certificate for 127.0.0.1 and a client certificate with openssl;
/// returns the client certificate's `x5t#S256`.
fn make_certs(dir: &Path) -> String {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=waap test CA",
    ]);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    for who in ["server", "client"] {
        run(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{who}.key"),
            "-out",
            &format!("{who}.csr"),
            "-subj",
            &format!("/CN={who}"),
        ]);
        let csr = format!("{who}.csr");
        let out = format!("{who}.pem");
        let mut args = vec![
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &out,
            "-days",
            "2",
        ];
        if who == "server" {
            args.extend(["-extfile", "server.ext"]);
        }
        run(&args);
    }
    let der = run(&["x509", "-in", "client.pem", "-outform", "DER"]);
    use base64::Engine as _;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&der))
}

#[test]
#[ignore = "needs Envoy; run by make test"]
fn certificate_bound_tokens_over_mutual_tls() {
    let certs = TempDir::new("waap-e2e-mtls").unwrap();
    let dir = certs.path();
    let thumbprint = make_certs(dir);
    let s = envoy::start_stack("tests/api/mtls-policy.yaml", Some(mock()), |o| {
        o.tls = Some(TlsListener {
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
            client_ca: dir.join("ca.pem"),
        });
    })
    .unwrap();
    let transfer = r#"{"from":"alice","to":"bob","amount":1000,"currency":"KRW"}"#;
    let curl = |token: &str| -> (u16, String) {
        let out = Command::new("curl")
            .args(["-sS", "-o", "-", "-w", "\n%{http_code}", "--cacert"])
            .arg(dir.join("ca.pem"))
            .arg("--cert")
            .arg(dir.join("client.pem"))
            .arg("--key")
            .arg(dir.join("client.key"))
            .args([
                "-H",
                &format!("authorization: Bearer {token}"),
                "-H",
                "content-type: application/json",
                "--data",
                transfer,
            ])
            .arg(format!(
                "https://127.0.0.1:{}/transfers",
                s.envoy.addr().port()
            ))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    };
    let bound = tok(
        "ed25519-private.jwk.json",
        &claims(
            "alice",
            &["transfers:write"],
            &[("cnf.x5t#S256", &thumbprint)],
            300,
        ),
    );
    let other = tok(
        "ed25519-private.jwk.json",
        &claims(
            "alice",
            &["transfers:write"],
            &[(
                "cnf.x5t#S256",
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            )],
            300,
        ),
    );
    let unbound = tok(
        "ed25519-private.jwk.json",
        &claims("alice", &["transfers:write"], &[], 300),
    );
    let (code, body) = curl(&bound);
    assert_eq!(code, 201, "bound token: {body}");
    for (name, t) in [("other certificate", &other), ("no cnf", &unbound)] {
        let (code, body) = curl(t);
        assert_eq!(code, 401, "{name}: {body}");
        assert!(body.contains("330041"), "{name}: {body}");
    }
}
