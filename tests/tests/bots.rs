//! Bot management through a real Envoy: scanners blocked, browsers allowed, an HTTP library
//! challenged on a `challenge` route; a client that solves the proof of work (SHA-256
//! written here, independently of the engine) gets a cookie and passes; forged, expired and
//! other-client tokens are challenged again; Googlebot verified only from its ranges; API
//! routes never answer with HTML; and the example policy behaves as its README says.
//!
//! Several clients from loopback: the policy trusts one `X-Forwarded-For` hop.

// Test helpers outside #[test] functions may panic too.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use sha2::{Digest, Sha256};
use std::time::Duration;
use waap_e2e::client::{build_request, HttpResponse};
use waap_e2e::envoy::{self, PolicyStack, TempDir};

const BROWSER: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";

const POLICY: &str = r#"version: 1
mode: block
client_ip: { xff_trusted_hops: 1 }
bots:
  good_bots:
    - { name: googlebot, user_agent: Googlebot, ranges: [66.249.64.0/19] }
  routes:
    - { prefix: /, bands: { log: 30, block: 80 } }
    - { prefix: /app/, bands: { challenge: 30, block: 80 } }
    - { prefix: /api/, type: api, bands: { challenge: 30, block: 80 } }
  challenge:
    difficulty: 12
    token_ttl: 3
    key_file: e2e-bot.key
"#;

fn start() -> (PolicyStack, TempDir) {
    let dir = TempDir::new("waap-e2e-bots").unwrap();
    std::fs::write(
        dir.path().join("e2e-bot.key"),
        "e2e-bot-key-0123456789abcdef0123",
    )
    .unwrap();
    let p = dir.path().join("policy.yaml");
    std::fs::write(&p, POLICY).unwrap();
    let stack = envoy::start_with_policy(p.to_str().unwrap()).unwrap();
    (stack, dir)
}

fn get(s: &PolicyStack, target: &str, client: &str, headers: &[(&str, &str)]) -> HttpResponse {
    let mut h = vec![("X-Forwarded-For", client), ("Connection", "close")];
    h.extend_from_slice(headers);
    s.envoy
        .send(&build_request("GET", target, &h, b""))
        .unwrap()
}

fn browser() -> Vec<(&'static str, &'static str)> {
    vec![
        ("User-Agent", BROWSER),
        ("Accept", "text/html,application/xhtml+xml"),
        ("Accept-Language", "en-GB,en;q=0.9"),
        ("Accept-Encoding", "gzip, br"),
    ]
}

/// Leading zero bits of SHA-256(`nonce:counter`), the page's algorithm.
fn zero_bits(nonce: &str, counter: u64) -> u32 {
    let d = Sha256::digest(format!("{nonce}:{counter}").as_bytes());
    let mut n = 0;
    for b in d.iter() {
        n += b.leading_zeros();
        if *b != 0 {
            break;
        }
    }
    n
}

/// Reads nonce, difficulty and solution path from the page, solves, returns the URL the
/// page's script would navigate to.
fn solve(page: &str, back: &str) -> String {
    let var = |name: &str| {
        let i = page.find(&format!("{name}=")).unwrap() + name.len() + 1;
        page[i..]
            .split([',', ';'])
            .next()
            .unwrap()
            .trim_matches('"')
            .to_string()
    };
    let (nonce, d, path) = (var("var N"), var("D").parse::<u32>().unwrap(), var("P"));
    let c = (0u64..).find(|c| zero_bits(&nonce, *c) >= d).unwrap();
    format!("{path}?n={nonce}&s={c}&r={back}")
}

fn is_challenge(r: &HttpResponse) -> bool {
    r.status == 403
        && r.header("content-type") == Some("text/html; charset=utf-8")
        && r.text().contains("var N=\"")
}

fn is_json_403(r: &HttpResponse, rule: u32) -> bool {
    r.status == 403
        && r.header("content-type") == Some("application/json")
        && r.text().contains(&rule.to_string())
        && !r.text().contains('<')
}

#[test]
#[ignore = "needs Envoy; run by make test"]
fn bots_through_envoy_block_challenge_and_verify() {
    let (s, _dir) = start();
    let me = "203.0.113.10";
    // Scanners: blocked everywhere.
    for ua in [
        "sqlmap/1.7",
        "Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000003)",
    ] {
        for path in ["/", "/app/x", "/api/items"] {
            let r = get(&s, path, me, &[("User-Agent", ua)]);
            assert!(
                is_json_403(&r, 320001),
                "{ua} {path}: {} {}",
                r.status,
                r.text()
            );
        }
    }
    // A browser with full headers: allowed (the echo upstream answers).
    let r = get(&s, "/app/x", me, &browser());
    assert_eq!(r.status, 200, "{}", r.text());
    // curl on the challenge route: the page.
    let curl = [("User-Agent", "curl/8.5.0"), ("Accept", "*/*")];
    let page = get(&s, "/app/x?q=1", me, &curl);
    assert!(is_challenge(&page), "{} {}", page.status, page.text());
    assert_eq!(page.header("cache-control"), Some("no-store"));
    // Solve it: 303 back with the cookie; the next request passes.
    let url = solve(&page.text(), "%2Fapp%2Fx%3Fq%3D1");
    let r = get(&s, &url, me, &curl);
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.header("location"), Some("/app/x?q=1"));
    let cookie = r
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let with = |client: &str, cookie: &str, ua: &str| {
        get(
            &s,
            "/app/x",
            client,
            &[("User-Agent", ua), ("Cookie", cookie)],
        )
    };
    let r = with(me, &cookie, "curl/8.5.0");
    assert_eq!(r.status, 200, "{}", r.text());
    // The same solution replayed from another network is refused.
    assert!(is_challenge(&get(&s, &url, "198.51.100.10", &curl)));
    // Other client, other user agent, forged: challenged again.
    assert!(is_challenge(&with("198.51.100.10", &cookie, "curl/8.5.0")));
    assert!(is_challenge(&with(me, &cookie, "curl/8.6.0")));
    let mut forged = cookie.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'0' { b'1' } else { b'0' };
    assert!(is_challenge(&with(
        me,
        &String::from_utf8(forged).unwrap(),
        "curl/8.5.0"
    )));
    let (name, value) = cookie.split_once('=').unwrap();
    let parts: Vec<&str> = value.split('.').collect();
    let later = format!(
        "{name}=v1.{}.{}.{}",
        parts[1].parse::<u64>().unwrap() + 3600,
        parts[2],
        parts[3]
    );
    assert!(
        is_challenge(&with(me, &later, "curl/8.5.0")),
        "extended expiry is a forgery"
    );
    // Expired (token_ttl is 3 s).
    std::thread::sleep(Duration::from_secs(4));
    assert!(is_challenge(&with(me, &cookie, "curl/8.5.0")));

    // Googlebot: verified from its ranges, bad from elsewhere.
    let gb = [(
        "User-Agent",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    )];
    let r = get(&s, "/app/x", "66.249.66.1", &gb);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(is_json_403(&get(&s, "/app/x", "203.0.113.99", &gb), 320001));

    // API routes: JSON, never the page.
    let r = get(&s, "/api/items", me, &curl);
    assert!(is_json_403(&r, 320002), "{} {}", r.status, r.text());

    // The key never reaches Envoy's log.
    assert!(!s.envoy.log_text().contains("e2e-bot-key"));

    // Counted per band, in Envoy's stats.
    let stats = s.envoy.admin_get("/stats?filter=waap.bots").unwrap().text();
    for name in [
        "waap.bots.band.block",
        "waap.bots.band.challenge",
        "waap.bots.challenge_passed",
        "waap.bots.verified",
        "waap.bots.token_valid",
    ] {
        assert!(
            stats
                .lines()
                .any(|l| l.contains(name) && !l.ends_with(": 0")),
            "{name} missing in\n{stats}"
        );
    }
}

#[test]
#[ignore = "needs Envoy; run by make test"]
fn bots_example_policy_blocks_scanners_challenges_app_and_keeps_api_json() {
    let s = envoy::start_with_policy("examples/bots/policy.yaml").unwrap();
    let send = |path: &str, headers: &[(&str, &str)]| {
        let mut h = vec![("Connection", "close")];
        h.extend_from_slice(headers);
        s.envoy.send(&build_request("GET", path, &h, b"")).unwrap()
    };
    for path in ["/", "/app/", "/api/v1/x", "/static/a.css"] {
        assert!(
            is_json_403(&send(path, &[("User-Agent", "sqlmap/1.7")]), 320001),
            "{path}"
        );
    }
    assert_eq!(send("/app/", &browser()).status, 200);
    assert!(is_challenge(&send(
        "/app/",
        &[("User-Agent", "curl/8.5.0")]
    )));
    // On /api/ an HTTP library is only logged; a headless browser would be challenged,
    // which on an API route is a JSON 403.
    assert_eq!(
        send("/api/v1/x", &[("User-Agent", "curl/8.5.0")]).status,
        200
    );
    let mut headless = browser();
    headless[0].1 = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0 Safari/537.36";
    let r = send("/api/v1/x", &headless);
    assert!(is_json_403(&r, 320002), "{} {}", r.status, r.text());
    assert_eq!(
        send("/robots.txt", &[("User-Agent", "sqlmap/1.7")]).status,
        200
    );
}

#[test]
#[ignore = "needs Envoy; run by make test"]
fn bots_keys_from_the_plugin_configuration_through_envoy() {
    const STAT: &str = "extension_config_discovery.http_filter.waap";
    let (mut s, dir) = start();
    let me = "203.0.113.10";
    let curl = [("User-Agent", "curl/8.5.0")];
    // A token under the bundle's key, before the swap.
    let page = get(&s, "/app/", me, &curl);
    let r = get(&s, &solve(&page.text(), "%2Fapp%2F"), me, &curl);
    let old = r
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    // A policy without a key in the bundle, keys in the JSON plugin configuration.
    let p = dir.path().join("plugin-keys.yaml");
    std::fs::write(
        &p,
        POLICY.replace("key_file: e2e-bot.key", "keys_from_plugin_config: true"),
    )
    .unwrap();
    let bundle = envoy::compile_policy(&p, &dir.path().join("plugin-keys.waapb")).unwrap();
    let b64 = waap_e2e::base64::encode(&bundle);
    // Without bot_keys the filter refuses it and the previous configuration keeps serving.
    let rejected = format!("{STAT}.update_rejected");
    let before = s.envoy.stat(&rejected).unwrap().unwrap_or(0);
    s.envoy
        .swap_bundle(format!("{{\"bundle\":\"{b64}\"}}").as_bytes())
        .unwrap();
    s.envoy
        .wait_for_stat(&rejected, before + 1, Duration::from_secs(10))
        .unwrap();
    assert!(s
        .envoy
        .log_text()
        .contains("no key came with the bundle or in the plugin configuration"));
    assert_eq!(
        get(
            &s,
            "/app/",
            me,
            &[("User-Agent", "curl/8.5.0"), ("Cookie", &old)]
        )
        .status,
        200
    );
    // With bot_keys it loads; the old token (other key) is refused, a new round trip works.
    let success = format!("{STAT}.update_success");
    let before = s.envoy.stat(&success).unwrap().unwrap_or(0);
    let config =
        format!("{{\"bundle\":\"{b64}\",\"bot_keys\":[\"plugin-config-key-0123456789abcdef\"]}}");
    s.envoy.swap_bundle(config.as_bytes()).unwrap();
    s.envoy
        .wait_for_stat(&success, before + 1, Duration::from_secs(10))
        .unwrap();
    assert!(is_challenge(&get(
        &s,
        "/app/",
        me,
        &[("User-Agent", "curl/8.5.0"), ("Cookie", &old)]
    )));
    let page = get(&s, "/app/", me, &curl);
    let r = get(&s, &solve(&page.text(), "%2Fapp%2F"), me, &curl);
    assert_eq!(r.status, 303, "{}", r.text());
    let new = r
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        get(
            &s,
            "/app/",
            me,
            &[("User-Agent", "curl/8.5.0"), ("Cookie", &new)]
        )
        .status,
        200
    );
    assert!(
        !s.envoy.log_text().contains("plugin-config-key"),
        "a key in Envoy's log"
    );
}
