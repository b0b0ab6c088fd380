//! Bot management end to end in the engine (natively): policy -> bundle -> engine ->
//! verdicts, the challenge round trip, token refusals, verified bots, and that the key
//! never shows in `waapc inspect`, logs or debug output.

// Test helpers outside #[test] functions may panic too.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use waap_engine::bots::token::work_bits;
use waap_engine::host::NativeHost;
use waap_engine::{Engine, RequestHead, Verdict};

const KEY: &str = "k3y-material-that-must-never-leak-0123456789";

fn policy(extra: &str) -> String {
    format!(
        r#"version: 1
mode: block
client_ip: {{ xff_trusted_hops: 1 }}
bots:
  signatures:
    extra:
      - {{ name: evil-crawler, category: scanner, regex: '^evil[-_ ]?crawler/[0-9]' }}
  good_bots:
    - {{ name: googlebot, user_agent: Googlebot, ranges: [66.249.64.0/19] }}
  tls: {{ header: x-waap-ja4, deny: [t13d_bad], allow: [t13d_good], deny_score: 50, allow_credit: 40 }}
  routes:
    - {{ prefix: /, bands: {{ log: 30, block: 80 }} }}
    - {{ prefix: /app/, bands: {{ challenge: 30, block: 80 }} }}
    - {{ prefix: /api/, type: api, bands: {{ challenge: 30, block: 80 }} }}
  challenge:
    difficulty: 8
    key_file: bots-test.key
{extra}"#
    )
}

fn compile(src: &str) -> Vec<u8> {
    // One directory per call: tests run in parallel.
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("waap-bots-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("bots-test.key"), KEY).unwrap();
    std::fs::write(dir.join("prev.key"), "previous-key-material-0123456789").unwrap();
    let p = dir.join("policy.yaml");
    std::fs::write(&p, src).unwrap();
    waap_policy_compiler::compile_file(&p)
        .unwrap_or_else(|e| panic!("{e}"))
        .bundle
}

fn engine(src: &str) -> Engine {
    Engine::load(compile(src)).unwrap_or_else(|e| panic!("{e}"))
}

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";

fn req(uri: &str, client: &str, headers: &[(&str, &str)]) -> RequestHead {
    let mut h = vec![("x-forwarded-for".to_string(), client.as_bytes().to_vec())];
    h.extend(
        headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec())),
    );
    RequestHead {
        method: "GET".into(),
        uri: uri.as_bytes().to_vec(),
        protocol: "HTTP/1.1".into(),
        headers: h,
        remote_addr: "127.0.0.1".into(),
        request_id: "r1".into(),
        peer_cert_sha256: None,
    }
}

fn browser_headers() -> Vec<(&'static str, &'static str)> {
    vec![
        ("user-agent", BROWSER),
        ("accept", "text/html"),
        ("accept-language", "en"),
        ("accept-encoding", "gzip"),
    ]
}

fn run(e: &Engine, host: &NativeHost, head: RequestHead) -> Verdict {
    let mut tx = e.transaction(head);
    let v = tx.on_request_headers(host);
    tx.on_log(host);
    v
}

fn reply(v: &Verdict) -> (u16, String, Vec<(String, String)>) {
    match v {
        Verdict::Reply(r) => (
            r.status,
            String::from_utf8_lossy(&r.body).into_owned(),
            r.headers.clone(),
        ),
        other => panic!("expected a reply, got {other:?}"),
    }
}

fn hdr<'a>(hs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    hs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// The nonce in a challenge page.
fn nonce_of(html: &str) -> String {
    let i = html.find("var N=\"").unwrap() + 7;
    html[i..].split('"').next().unwrap().to_string()
}

fn solve(nonce: &str, d: u32) -> String {
    (0u64..)
        .map(|i| i.to_string())
        .find(|c| work_bits(nonce, c) >= d)
        .unwrap()
}

#[test]
fn scanners_blocked_browsers_allowed_libraries_challenged_on_app() {
    let e = engine(&policy(""));
    let host = NativeHost::default();
    for ua in [
        "sqlmap/1.7#stable (https://sqlmap.org)",
        "Mozilla/5.00 (Nikto/2.1.6)",
        "evil-crawler/2",
    ] {
        let v = run(&e, &host, req("/", "203.0.113.5", &[("user-agent", ua)]));
        let (status, body, _) = reply(&v);
        assert_eq!(status, 403, "{ua}");
        assert!(
            body.contains("\"family\":\"bots\"") && body.contains("320001"),
            "{body}"
        );
    }
    assert_eq!(
        run(&e, &host, req("/app/x", "203.0.113.5", &browser_headers())),
        Verdict::Allow
    );
    let (status, html, hs) = reply(&run(
        &e,
        &host,
        req(
            "/app/x",
            "203.0.113.5",
            &[("user-agent", "curl/8.5.0"), ("accept", "*/*")],
        ),
    ));
    assert_eq!(status, 403);
    assert_eq!(hdr(&hs, "content-type"), Some("text/html; charset=utf-8"));
    assert!(html.contains("var N=\""));
    // curl on / is only logged (score 40 is in the log band).
    assert_eq!(
        run(
            &e,
            &host,
            req("/", "203.0.113.5", &[("user-agent", "curl/8.5.0")])
        ),
        Verdict::Allow
    );
    // Allow paths are never scored.
    assert_eq!(
        run(
            &e,
            &host,
            req(
                "/robots.txt",
                "203.0.113.5",
                &[("user-agent", "sqlmap/1.7")]
            )
        ),
        Verdict::Allow
    );
    let c = host.counters.borrow();
    assert_eq!(c.get("waap.bots.band.block"), Some(&3));
    assert_eq!(c.get("waap.bots.band.challenge"), Some(&1));
    assert_eq!(c.get("waap.bots.band.log"), Some(&1));
    assert_eq!(c.get("waap.bots.denied"), Some(&3));
    assert_eq!(c.get("waap.bots.challenged"), Some(&1));
    let logs = host.logs.borrow();
    assert!(logs.iter().any(|(_, l)| l.contains("\"family\":\"bots\"")
        && l.contains("score=100")
        && l.contains("sig:scanner:sqlmap")));
    assert!(logs
        .iter()
        .any(|(_, l)| l.contains("\"band\":\"log\"") && l.contains("sig:http_library:curl")));
}

#[test]
fn api_routes_never_get_html() {
    let e = engine(&policy(""));
    let host = NativeHost::default();
    for ua in ["curl/8", "sqlmap/1.7"] {
        let (status, body, hs) = reply(&run(
            &e,
            &host,
            req("/api/items", "203.0.113.5", &[("user-agent", ua)]),
        ));
        assert_eq!(status, 403);
        assert_eq!(hdr(&hs, "content-type"), Some("application/json"));
        assert!(body.starts_with('{') && !body.contains('<'), "{body}");
    }
}

#[test]
fn challenge_round_trip_then_token_passes_and_bad_tokens_are_rechallenged() {
    let e = engine(&policy(""));
    let host = NativeHost::default();
    host.fixed_now.set(Some(1_800_000_000 * 1_000_000_000));
    let curl = [("user-agent", "curl/8.5.0")];
    let (_, html, _) = reply(&run(&e, &host, req("/app/page?q=1", "203.0.113.5", &curl)));
    let nonce = nonce_of(&html);
    let sol = solve(&nonce, 8);
    // A wrong solution is refused with a fresh challenge.
    let bad = run(
        &e,
        &host,
        req(
            &format!("/.waap/challenge?n={nonce}&s=x&r=%2Fapp%2Fpage%3Fq%3D1"),
            "203.0.113.5",
            &curl,
        ),
    );
    assert!(reply(&bad).1.contains("var N="));
    // The same solution from another network is refused (nonce bound to the client).
    let other = run(
        &e,
        &host,
        req(
            &format!("/.waap/challenge?n={nonce}&s={sol}&r=%2F"),
            "198.51.100.5",
            &curl,
        ),
    );
    assert_eq!(reply(&other).0, 403);
    // The right one: 303 back to the page with the token cookie.
    let (status, _, hs) = reply(&run(
        &e,
        &host,
        req(
            &format!("/.waap/challenge?n={nonce}&s={sol}&r=%2Fapp%2Fpage%3Fq%3D1"),
            "203.0.113.5",
            &curl,
        ),
    ));
    assert_eq!(status, 303);
    assert_eq!(hdr(&hs, "location"), Some("/app/page?q=1"));
    let set = hdr(&hs, "set-cookie").unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("Max-Age=3600"),
        "{set}"
    );
    let token = set
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("waap_bot=")
        .to_string();
    let with = |tok: &str, ip: &str, ua: &str| {
        let cookie = format!("a=b; waap_bot={tok}");
        run(
            &e,
            &host,
            req("/app/page", ip, &[("user-agent", ua), ("cookie", &cookie)]),
        )
    };
    assert_eq!(
        with(&token, "203.0.113.77", "curl/8.5.0"),
        Verdict::Allow,
        "same /24 passes"
    );
    // Forged (expiry changed), other client, other user agent, expired: challenged again.
    let parts: Vec<&str> = token.split('.').collect();
    let forged = format!(
        "v1.{}.{}.{}",
        parts[1].parse::<u64>().unwrap() + 10_000,
        parts[2],
        parts[3]
    );
    assert!(reply(&with(&forged, "203.0.113.5", "curl/8.5.0"))
        .1
        .contains("var N="));
    assert!(reply(&with(&token, "198.51.100.5", "curl/8.5.0"))
        .1
        .contains("var N="));
    assert!(reply(&with(&token, "203.0.113.5", "curl/8.6.0"))
        .1
        .contains("var N="));
    host.fixed_now
        .set(Some((1_800_000_000 + 3601) * 1_000_000_000));
    assert!(reply(&with(&token, "203.0.113.5", "curl/8.5.0"))
        .1
        .contains("var N="));
    let c = host.counters.borrow();
    assert_eq!(c.get("waap.bots.challenge_passed"), Some(&1));
    assert_eq!(c.get("waap.bots.token_valid"), Some(&1));
    assert_eq!(c.get("waap.bots.token_refused.bad_mac"), Some(&3));
    assert_eq!(c.get("waap.bots.token_refused.expired"), Some(&1));
}

#[test]
fn open_redirects_are_refused() {
    let e = engine(&policy(""));
    let host = NativeHost::default();
    let curl = [("user-agent", "curl/8")];
    for r in [
        "https%3A%2F%2Fevil.example",
        "%2F%2Fevil.example",
        "%2F%5Cevil",
        "%2Fa%0D%0Aset-cookie%3A",
    ] {
        let (_, html, _) = reply(&run(&e, &host, req("/app/", "203.0.113.5", &curl)));
        let nonce = nonce_of(&html);
        let sol = solve(&nonce, 8);
        let (status, _, hs) = reply(&run(
            &e,
            &host,
            req(
                &format!("/.waap/challenge?n={nonce}&s={sol}&r={r}"),
                "203.0.113.5",
                &curl,
            ),
        ));
        assert_eq!((status, hdr(&hs, "location")), (303, Some("/")), "{r}");
    }
}

#[test]
fn good_bots_are_verified_only_from_their_ranges() {
    let e = engine(&policy(""));
    let host = NativeHost::default();
    let gb = [(
        "user-agent",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    )];
    assert_eq!(
        run(&e, &host, req("/app/", "66.249.66.1", &gb)),
        Verdict::Allow
    );
    let (status, body, _) = reply(&run(&e, &host, req("/app/", "203.0.113.5", &gb)));
    assert_eq!(status, 403);
    assert!(body.contains("320001"), "{body}");
    assert_eq!(host.counters.borrow().get("waap.bots.verified"), Some(&1));
    assert!(host
        .logs
        .borrow()
        .iter()
        .any(|(_, l)| l.contains("fake_good_bot:googlebot")));
}

#[test]
fn heuristics_and_tls_fingerprints_add_up() {
    let e = engine(&policy(""));
    let head = |extra: &[(&str, &str)], drop: &[&str]| {
        let mut h: Vec<(&str, &str)> = browser_headers()
            .into_iter()
            .filter(|(n, _)| !drop.contains(n))
            .collect();
        h.extend_from_slice(extra);
        req("/", "203.0.113.5", &h)
    };
    let cfg = e.families().bots.as_ref().unwrap();
    let score = |h: RequestHead| waap_engine::bots::assess(&e, cfg, &h, "203.0.113.5".parse().ok());
    assert_eq!(score(head(&[], &[])).score, 0);
    let a = score(head(&[], &["accept", "accept-language", "accept-encoding"]));
    assert_eq!(a.score, 50, "{a:?}");
    assert_eq!(score(head(&[("x-waap-ja4", "t13d_bad")], &[])).score, 50);
    let credited = score(head(
        &[("x-waap-ja4", "t13d_good")],
        &["accept", "accept-language"],
    ));
    assert_eq!(credited.score, 0, "{credited:?}");
    let mut h10 = head(&[], &[]);
    h10.protocol = "HTTP/1.0".into();
    assert_eq!(score(h10).score, 30);
    let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    let ff = req(
        "/",
        "203.0.113.5",
        &[
            ("user-agent", firefox),
            ("accept", "*/*"),
            ("accept-language", "en"),
            ("accept-encoding", "br"),
            ("sec-ch-ua", "\"Chromium\";v=\"126\""),
        ],
    );
    assert_eq!(score(ff).reasons, vec!["sec_ch_ua_mismatch".to_string()]);
    assert_eq!(score(req("/", "203.0.113.5", &[])).score, 40);
    let headless = req(
        "/",
        "203.0.113.5",
        &[("user-agent", "Mozilla/5.0 HeadlessChrome/120.0")],
    );
    assert!(score(headless)
        .reasons
        .contains(&"sig:headless:headlesschrome".to_string()));
}

#[test]
fn monitor_mode_logs_and_lets_through() {
    // `bots.mode: monitor` under a policy in block mode.
    let e = engine(&policy("  mode: monitor\n"));
    let host = NativeHost::default();
    assert!(e.families().bots.as_ref().unwrap().monitor);
    assert_eq!(
        run(
            &e,
            &host,
            req("/", "203.0.113.5", &[("user-agent", "sqlmap/1.7")])
        ),
        Verdict::Allow
    );
    assert_eq!(
        run(
            &e,
            &host,
            req("/app/", "203.0.113.5", &[("user-agent", "curl/8")])
        ),
        Verdict::Allow
    );
    assert_eq!(host.counters.borrow().get("waap.bots.monitored"), Some(&2));
    assert!(host
        .logs
        .borrow()
        .iter()
        .any(|(_, l)| l.contains("would_denied")));
}

#[test]
fn key_rotation_accepts_tokens_of_the_previous_key() {
    let e1 = engine(&policy(""));
    let host = NativeHost::default();
    let curl = [("user-agent", "curl/8")];
    let (_, html, _) = reply(&run(&e1, &host, req("/app/", "203.0.113.5", &curl)));
    let nonce = nonce_of(&html);
    let (_, _, hs) = reply(&run(
        &e1,
        &host,
        req(
            &format!(
                "/.waap/challenge?n={nonce}&s={}&r=%2Fapp%2F",
                solve(&nonce, 8)
            ),
            "203.0.113.5",
            &curl,
        ),
    ));
    let token = hdr(&hs, "set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    // Rotate: a new current key, the old one as previous.
    std::fs::write(
        std::env::temp_dir().join("waap-bots-newkey"),
        "a-brand-new-key-0123456789abcdef",
    )
    .unwrap();
    let rotated = policy("").replace(
        "key_file: bots-test.key",
        &format!(
            "key_file: {}\n    previous_key_file: bots-test.key",
            std::env::temp_dir().join("waap-bots-newkey").display()
        ),
    );
    let e2 = engine(&rotated);
    assert_eq!(e2.families().bots.as_ref().unwrap().challenge.keys.len(), 2);
    let r = req(
        "/app/",
        "203.0.113.5",
        &[("user-agent", "curl/8"), ("cookie", &token)],
    );
    assert_eq!(run(&e2, &host, r.clone()), Verdict::Allow);
    // Without the previous key the old token is refused.
    let e3 = engine(&policy("").replace(
        "key_file: bots-test.key",
        &format!(
            "key_file: {}",
            std::env::temp_dir().join("waap-bots-newkey").display()
        ),
    ));
    assert_eq!(reply(&run(&e3, &host, r)).0, 403);
}

#[test]
fn the_key_never_shows_in_inspect_logs_or_debug() {
    let bundle = compile(&policy(""));
    let report = waap_policy_compiler::inspect::report(&bundle).unwrap();
    assert!(
        report.contains("bots ") && report.contains("keys=1"),
        "{report}"
    );
    let e = Engine::load(bundle).unwrap();
    let host = NativeHost::default();
    let curl = [("user-agent", "curl/8")];
    let (_, html, _) = reply(&run(&e, &host, req("/app/", "203.0.113.5", &curl)));
    let nonce = nonce_of(&html);
    let _ = run(
        &e,
        &host,
        req(
            &format!("/.waap/challenge?n={nonce}&s={}&r=%2F", solve(&nonce, 8)),
            "203.0.113.5",
            &curl,
        ),
    );
    let _ = run(
        &e,
        &host,
        req(
            "/app/",
            "203.0.113.5",
            &[("user-agent", "curl/8"), ("cookie", "waap_bot=v1.1.1.00")],
        ),
    );
    let hexkey: String = KEY.bytes().map(|b| format!("{b:02x}")).collect();
    let debug = format!("{:?}", e.families());
    let logs: String = host
        .logs
        .borrow()
        .iter()
        .map(|(_, l)| l.clone() + "\n")
        .collect();
    for (what, text) in [
        ("inspect", &report),
        ("debug", &debug),
        ("logs", &logs),
        ("page", &html),
    ] {
        assert!(
            !text.contains(KEY) && !text.contains(&hexkey) && !text.contains("k3y-material"),
            "key in {what}"
        );
    }
    // A policy error about the key names the variable, not a value.
    std::env::set_var("WAAP_TEST_SHORT_KEY", "short-secret");
    let err = waap_policy_compiler::compile_str(
        "p.yaml",
        &policy("").replace("key_file: bots-test.key", "key_env: WAAP_TEST_SHORT_KEY"),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("at least 16") && !err.contains("short-secret"),
        "{err}"
    );
}

#[test]
fn policy_errors_name_file_line_and_entry() {
    let cases = [
        (
            policy("").replace("66.249.64.0/19", "66.249.64.0/40"),
            "googlebot",
            "66.249.64.0/40",
        ),
        (
            policy("").replace("challenge: 30, block", "chalenge: 30, block"),
            "/app/",
            "chalenge",
        ),
        (
            policy("").replace("difficulty: 8", "difficulty: 40"),
            "difficulty",
            "difficulty: 40",
        ),
        (
            policy("").replace("regex: '^evil[-_ ]?crawler/[0-9]'", "regex: '(unclosed'"),
            "evil-crawler",
            "(unclosed",
        ),
        (
            policy("").replace("    key_file: bots-test.key\n", ""),
            "no key",
            "challenge:",
        ),
    ];
    for (src, needle, line_text) in cases {
        let err = waap_policy_compiler::compile_str("p.yaml", &src)
            .err()
            .unwrap_or_else(|| panic!("accepted: {needle}"))
            .0
            .remove(0);
        assert!(err.to_string().contains(needle), "{err}");
        let line = err.line.unwrap_or_else(|| panic!("no line: {err}"));
        let text = src.lines().nth(line - 1).unwrap();
        assert!(
            text.contains(line_text) || line_text == "challenge:",
            "{err}: line {line} is {text:?}"
        );
        assert!(err.to_string().starts_with("p.yaml"), "{err}");
    }
}

#[test]
fn keys_can_come_from_the_plugin_configuration_instead_of_the_bundle() {
    let src = policy("").replace("key_file: bots-test.key", "keys_from_plugin_config: true");
    let bundle = waap_policy_compiler::compile_str("p.yaml", &src)
        .unwrap_or_else(|e| panic!("{e}"))
        .bundle;
    // Without keys in the configuration the filter refuses the policy.
    let err = Engine::load(bundle.clone())
        .unwrap()
        .with_bot_keys(None)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("bot_keys"), "{err}");
    let config = br#"{"bundle":"unused here","bot_keys":["plugin-config-key-0123456789"]}"#;
    let keys = waap_engine::bots::keys_from_plugin_config(config).unwrap();
    let e = Engine::load(bundle).unwrap().with_bot_keys(keys).unwrap();
    let host = NativeHost::default();
    let curl = [("user-agent", "curl/8")];
    let (_, html, _) = reply(&run(&e, &host, req("/app/", "203.0.113.5", &curl)));
    let nonce = nonce_of(&html);
    let (status, _, hs) = reply(&run(
        &e,
        &host,
        req(
            &format!(
                "/.waap/challenge?n={nonce}&s={}&r=%2Fapp%2F",
                solve(&nonce, 8)
            ),
            "203.0.113.5",
            &curl,
        ),
    ));
    assert_eq!(status, 303);
    let cookie = hdr(&hs, "set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        run(
            &e,
            &host,
            req(
                "/app/",
                "203.0.113.5",
                &[("user-agent", "curl/8"), ("cookie", &cookie)]
            )
        ),
        Verdict::Allow
    );
    // A bundle key alone still works, and policies without challenge bands need no key.
    assert!(Engine::load(compile(&policy("")))
        .unwrap()
        .with_bot_keys(None)
        .is_ok());
}

#[test]
fn nojs_fallback_waits_and_checks_the_cookie() {
    let src = policy("").replace(
        "difficulty: 8",
        "difficulty: 8\n    nojs_fallback: true\n    nojs_delay: 2",
    );
    let e = engine(&src);
    let host = NativeHost::default();
    let t0 = 1_800_000_000u64;
    host.fixed_now.set(Some(t0 * 1_000_000_000));
    let curl = [("user-agent", "curl/8")];
    let (_, html, hs) = reply(&run(&e, &host, req("/app/", "203.0.113.5", &curl)));
    assert!(
        html.contains("http-equiv=\"refresh\" content=\"2;url="),
        "{html}"
    );
    let check = hdr(&hs, "set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert!(check.starts_with("waap_bot_check="));
    let nonce = nonce_of(&html);
    let url = format!("/.waap/challenge?n={nonce}&nojs=1&r=%2Fapp%2F");
    // Too early, or without the check cookie: refused.
    let early = run(
        &e,
        &host,
        req(
            &url,
            "203.0.113.5",
            &[("user-agent", "curl/8"), ("cookie", &check)],
        ),
    );
    assert_eq!(reply(&early).0, 403);
    host.fixed_now.set(Some((t0 + 3) * 1_000_000_000));
    assert_eq!(
        reply(&run(&e, &host, req(&url, "203.0.113.5", &curl))).0,
        403
    );
    let ok = run(
        &e,
        &host,
        req(
            &url,
            "203.0.113.5",
            &[("user-agent", "curl/8"), ("cookie", &check)],
        ),
    );
    assert_eq!(reply(&ok).0, 303);
    // Not allowed above the fallback's difficulty ceiling.
    let err = waap_policy_compiler::compile_str(
        "p.yaml",
        &src.replace("difficulty: 8", "difficulty: 16"),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("nojs_fallback"), "{err}");
}

/// The page's own script, run in node (when on the PATH) with a stub `location`, solves
/// the challenge and navigates to a URL the filter accepts: the browser path end to end.
#[test]
fn the_page_script_solves_its_own_challenge_when_node_is_available() {
    let e = engine(&policy(""));
    let host = NativeHost::default();
    let curl = [("user-agent", "curl/8")];
    let (_, html, _) = reply(&run(&e, &host, req("/app/a?b=1", "203.0.113.5", &curl)));
    let script = html
        .split("<script>")
        .nth(1)
        .unwrap()
        .split("</script>")
        .next()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("waap-bots-page-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("page.js"), script).unwrap();
    let prog = format!(
        "const vm=require('vm');const q=[];const ctx={{location:{{replace:u=>console.log(u)}},document:{{getElementById:()=>({{}})}},setTimeout:f=>q.push(f),Math}};vm.runInNewContext(require('fs').readFileSync({:?},'utf8'),ctx);for(let i=0;i<1000&&q.length;i++)q.shift()();",
        dir.join("page.js").display().to_string()
    );
    let Ok(out) = std::process::Command::new("node")
        .arg("-e")
        .arg(&prog)
        .output()
    else {
        eprintln!("node not found: the page script was not run");
        return;
    };
    let url = String::from_utf8(out.stdout).unwrap();
    let url = url.trim();
    assert!(
        url.starts_with("/.waap/challenge?n="),
        "{url:?} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, _, hs) = reply(&run(&e, &host, req(url, "203.0.113.5", &curl)));
    assert_eq!((status, hdr(&hs, "location")), (303, Some("/app/a?b=1")));
}

/// Malformed cookies, solutions, user agents and paths never panic and never pass.
#[test]
fn malformed_input_is_challenged_not_crashed() {
    let e = engine(&policy(""));
    let host = NativeHost::default();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let alphabet: &[u8] = b"v1.0123456789abcdef%&=;/?:\\\"<>\x00\xff \t-_";
    for _ in 0..2000 {
        let mut junk = |n: usize| -> String {
            let bytes: Vec<u8> = (0..n)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            String::from_utf8_lossy(&bytes).into_owned()
        };
        let cookie = format!("waap_bot={}", junk(40));
        let ua = format!("curl/{}", junk(8));
        let q = junk(60);
        let r = run(
            &e,
            &host,
            req(
                "/app/x",
                "203.0.113.5",
                &[("user-agent", &ua), ("cookie", &cookie)],
            ),
        );
        assert_eq!(reply(&r).0, 403);
        let mut head = req("/", "203.0.113.5", &[("user-agent", &ua)]);
        head.uri = format!("/.waap/challenge?{q}").into_bytes();
        let r = run(&e, &host, head);
        assert_eq!(reply(&r).0, 403, "{q:?}");
    }
}

#[test]
fn exempt_claims_reach_the_engine() {
    let e = engine(&policy(
        "  exempt_claims:\n    - { claim: scope, value: partner }\n",
    ));
    let cfg = e.families().bots.as_ref().unwrap();
    assert_eq!(
        cfg.exempt_claims,
        vec![("scope".to_string(), "partner".to_string())]
    );
}
