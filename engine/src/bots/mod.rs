//! Bot management: a bot score (0-100) from user-agent signatures, header heuristics,
//! verified good bots (user agent AND source ranges) and a TLS fingerprint header; per-route
//! score bands (allow, log, challenge, block); a SHA-256 proof-of-work challenge whose
//! solution is exchanged for a signed, stateless token cookie.
//!
//! Rule ids: 320001 block by score, 320002 challenge served (or JSON 403 on API routes),
//! 320003 challenge solution refused.
//!
//! Cost per request: signature matching is one aho-corasick pass plus one DFA pass per regex
//! signature over the user agent; a challenged route with a token costs one HMAC (two while
//! rotating keys); a solution costs one HMAC, one SHA-256 and one HMAC to mint.

pub mod config;
pub mod page;
pub mod token;

pub use config::BotsConfig;

use config::{BandAction, SigKind, NOJS_MAX_DIFFICULTY};
use token::Binding;

use crate::families::{Action, Decision, Family, Reply};

/// Rule id: denied by score.
pub const RULE_BLOCK: u32 = 320_001;
/// Rule id: challenged (HTML page, or JSON 403 on an API route).
pub const RULE_CHALLENGE: u32 = 320_002;
/// Rule id: a challenge solution was refused.
pub const RULE_BAD_SOLUTION: u32 = 320_003;

/// What scoring found for a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assessment {
    /// 0-100.
    pub score: u8,
    /// Why, for logs: `sig:<category>:<name>`, `verified_bot:<name>`, `fake_good_bot:<name>`,
    /// `no_user_agent`, `missing_accept`, ..., `tls_deny`, `tls_allow`.
    pub reasons: Vec<String>,
    /// A verified good bot: always allowed.
    pub verified: bool,
}

fn header<'h>(head: &'h crate::RequestHead, name: &str) -> Option<&'h [u8]> {
    head.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}

fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'h>(head: &'h crate::RequestHead, name: &str) -> Option<&'h [u8]> {
    head.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
        .flat_map(|(_, v)| v.split(|&b| b == b';'))
        .find_map(|kv| {
            let kv = kv.trim_ascii();
            let eq = kv.iter().position(|&b| b == b'=')?;
            (kv.get(..eq)? == name.as_bytes()).then(|| kv.get(eq + 1..).unwrap_or_default())
        })
}

fn query_param<'q>(query: &'q [u8], name: &[u8]) -> Option<&'q [u8]> {
    query.split(|&b| b == b'&').find_map(|kv| {
        let eq = kv.iter().position(|&b| b == b'=');
        let (k, v) = match eq {
            Some(i) => (kv.get(..i)?, kv.get(i + 1..)?),
            None => (kv, &b""[..]),
        };
        (k == name).then_some(v)
    })
}

/// Scores a request. `engine` provides the signature matchers.
pub fn assess(
    engine: &crate::Engine,
    cfg: &BotsConfig,
    head: &crate::RequestHead,
    ip: Option<std::net::IpAddr>,
) -> Assessment {
    let mut a = Assessment::default();
    let ua = header(head, "user-agent").unwrap_or_default();
    // Verified good bots first: the claim is checked against the source ranges.
    for gb in &cfg.good_bots {
        if contains_ci(ua, gb.user_agent.as_bytes()) {
            if ip.is_some_and(|ip| gb.ranges.iter().any(|r| r.contains(ip))) {
                a.verified = true;
                a.reasons.push(format!("verified_bot:{}", gb.name));
                return a;
            }
            a.score = 100;
            a.reasons.push(format!("fake_good_bot:{}", gb.name));
            return a;
        }
    }
    // Signatures: the highest matching score counts.
    let mut sig: u8 = 0;
    let note = |s: &config::Signature, sig: &mut u8, reasons: &mut Vec<String>| {
        if reasons.len() < 8 {
            reasons.push(format!("sig:{}:{}", s.category, s.name));
        }
        *sig = (*sig).max(s.score);
    };
    if let Some(lm) = cfg
        .literal_set
        .and_then(|i| engine.literals.get(i as usize))
    {
        let mut ids: Vec<usize> = Vec::new();
        lm.for_each_match(ua, |id| {
            if !ids.contains(&id) {
                ids.push(id);
            }
        });
        for s in &cfg.signatures {
            if let SigKind::Literal(i) = s.kind {
                if ids.contains(&(i as usize)) {
                    note(s, &mut sig, &mut a.reasons);
                }
            }
        }
    }
    for s in &cfg.signatures {
        if let SigKind::Regex(i) = s.kind {
            // A regex engine error (a lazy DFA giving up) counts as no match.
            if engine
                .matchers
                .get(i as usize)
                .is_some_and(|m| m.is_match(ua).unwrap_or(false))
            {
                note(s, &mut sig, &mut a.reasons);
            }
        }
    }
    // Heuristics.
    let h = &cfg.heuristics;
    let mut heur: u32 = 0;
    let mut add = |w: u8, why: &str, reasons: &mut Vec<String>| {
        if w > 0 {
            heur += w as u32;
            reasons.push(why.to_string());
        }
    };
    if ua.trim_ascii().is_empty() {
        add(h.no_user_agent, "no_user_agent", &mut a.reasons);
    }
    let browser = contains_ci(ua, b"mozilla/")
        && [&b"chrome/"[..], b"firefox/", b"safari/", b"gecko/", b"edg/"]
            .iter()
            .any(|e| contains_ci(ua, e));
    if browser {
        let chromium = contains_ci(ua, b"chrome/") || contains_ci(ua, b"chromium/");
        if header(head, "accept").is_none() {
            add(h.missing_accept, "missing_accept", &mut a.reasons);
        }
        if header(head, "accept-language").is_none() {
            add(
                h.missing_accept_language,
                "missing_accept_language",
                &mut a.reasons,
            );
        }
        if header(head, "accept-encoding").is_none() {
            add(
                h.missing_accept_encoding,
                "missing_accept_encoding",
                &mut a.reasons,
            );
        }
        if header(head, "sec-ch-ua").is_some() && !chromium {
            add(h.sec_ch_ua_mismatch, "sec_ch_ua_mismatch", &mut a.reasons);
        }
        if head.protocol.eq_ignore_ascii_case("HTTP/1.0") && contains_ci(ua, b"mozilla/5.0") {
            add(h.http10_browser, "http10_browser", &mut a.reasons);
        }
    }
    // TLS fingerprint (the header Envoy fills; see the README for the Envoy side).
    let mut tls_extra: u32 = 0;
    if !cfg.tls.header.is_empty() {
        if let Some(fp) = header(head, &cfg.tls.header) {
            let fp = fp.trim_ascii();
            if cfg.tls.deny.iter().any(|d| d.as_bytes() == fp) {
                tls_extra = cfg.tls.deny_score as u32;
                a.reasons.push("tls_deny".into());
            } else if cfg.tls.allow.iter().any(|d| d.as_bytes() == fp) {
                heur = heur.saturating_sub(cfg.tls.allow_credit as u32);
                a.reasons.push("tls_allow".into());
            }
        }
    }
    a.score = (sig as u32 + heur + tls_extra).min(100) as u8;
    a
}

/// Whether validated token claims hold one of the exempting (name, value) pairs.
fn exempt_by_claims(exempt: &[(String, String)], claims: Option<&crate::families::Claims>) -> bool {
    let Some(claims) = claims else {
        return false;
    };
    exempt.iter().any(|(name, value)| {
        claims
            .iter()
            .any(|(n, vs)| n == name && vs.iter().any(|v| v == value))
    })
}

impl<E: core::ops::Deref<Target = crate::Engine> + Clone> crate::Transaction<E> {
    /// The bot stage (third in [`crate::Transaction::families_request_headers`]): answers
    /// challenge solutions, scores the request on its route and applies the route's band.
    pub(crate) fn bots_request_headers(
        &mut self,
        host: &dyn crate::Host,
    ) -> Option<crate::Verdict> {
        let engine = self.engine.clone();
        let cfg = engine.families.bots.as_ref()?;
        let uri = self.head.uri.clone();
        let (path, query) = match uri.iter().position(|&b| b == b'?') {
            Some(i) => (
                uri.get(..i).unwrap_or_default(),
                uri.get(i + 1..).unwrap_or_default(),
            ),
            None => (&uri[..], &b""[..]),
        };
        let ch = &cfg.challenge;
        if !ch.keys.is_empty() && path == ch.path.as_bytes() {
            return self.bots_solution(host, cfg, query);
        }
        if cfg
            .allow_paths
            .iter()
            .any(|p| path.starts_with(p.as_bytes()))
        {
            return None;
        }
        if exempt_by_claims(&cfg.exempt_claims, self.ctx.claims.as_ref()) {
            host.counter_add("waap.bots.exempt", 1);
            return None;
        }
        let route = cfg
            .routes
            .iter()
            .filter(|r| path.starts_with(r.prefix.as_bytes()))
            .max_by_key(|r| r.prefix.len())?;
        let a = assess(&engine, cfg, &self.head, self.ctx.client_ip);
        let band = if a.verified {
            BandAction::Allow
        } else {
            route.action(a.score)
        };
        host.counter_add(&format!("waap.bots.band.{}", band.name()), 1);
        let reason = format!(
            "score={} band={} route={} reasons={}",
            a.score,
            band.name(),
            route.prefix,
            a.reasons.join(",")
        );
        let decision = |action, rule_id, status| Decision {
            family: Family::Bots,
            rule_id,
            action,
            status,
            reason: reason.clone(),
            monitored: cfg.monitor,
        };
        match band {
            BandAction::Allow => {
                if a.verified {
                    host.counter_add("waap.bots.verified", 1);
                }
                None
            }
            BandAction::Log => {
                host.log(
                    crate::LogLevel::Info,
                    &format!(
                        "{{\"waap\":\"bot\",\"request_id\":\"{}\",\"band\":\"log\",\"reason\":\"{}\"}}",
                        crate::log::json_escape(&self.head.request_id),
                        crate::log::json_escape(&reason)
                    ),
                );
                None
            }
            BandAction::Block => {
                let reply = crate::families::reply_json(
                    403,
                    Family::Bots,
                    RULE_BLOCK,
                    &self.head.request_id,
                    Some("automated client"),
                );
                self.decide(host, decision(Action::Deny, RULE_BLOCK, 403), reply)
            }
            BandAction::Challenge => {
                let ua = header(&self.head, "user-agent")
                    .unwrap_or_default()
                    .to_vec();
                let b = Binding::new(self.ctx.client_ip, ch.ipv4_prefix, ch.ipv6_prefix, &ua);
                let now = host.now_nanos() / 1_000_000_000;
                if let Some(t) = cookie(&self.head, &ch.cookie) {
                    let t = String::from_utf8_lossy(t);
                    match token::check_token(&ch.keys, &b, &t, now, ch.difficulty) {
                        Ok(()) => {
                            host.counter_add("waap.bots.token_valid", 1);
                            return None;
                        }
                        Err(e) => {
                            host.counter_add(&format!("waap.bots.token_refused.{}", e.name()), 1)
                        }
                    }
                }
                if route.api {
                    let reply = crate::families::reply_json(
                        403,
                        Family::Bots,
                        RULE_CHALLENGE,
                        &self.head.request_id,
                        Some("automated client: this API does not serve challenges"),
                    );
                    return self.decide(host, decision(Action::Deny, RULE_CHALLENGE, 403), reply);
                }
                let reply = challenge_reply(cfg, &b, now, &uri);
                self.decide(
                    host,
                    decision(Action::Challenge, RULE_CHALLENGE, 403),
                    reply,
                )
            }
        }
    }

    /// A request to the solution path: checks nonce and work (or the no-JavaScript
    /// fallback), then sets the token cookie and redirects back.
    fn bots_solution(
        &mut self,
        host: &dyn crate::Host,
        cfg: &BotsConfig,
        query: &[u8],
    ) -> Option<crate::Verdict> {
        let ch = &cfg.challenge;
        let ua = header(&self.head, "user-agent")
            .unwrap_or_default()
            .to_vec();
        let b = Binding::new(self.ctx.client_ip, ch.ipv4_prefix, ch.ipv6_prefix, &ua);
        let now = host.now_nanos() / 1_000_000_000;
        let nonce = String::from_utf8_lossy(&page::decode_component(
            query_param(query, b"n").unwrap_or_default(),
        ))
        .into_owned();
        let counter =
            String::from_utf8_lossy(query_param(query, b"s").unwrap_or_default()).into_owned();
        let nojs = query_param(query, b"nojs") == Some(b"1");
        let back = page::decode_component(query_param(query, b"r").unwrap_or(b"/"));
        // Only a local path: no scheme, no `//host`, no control bytes or spaces.
        let back_ok = back.first() == Some(&b'/')
            && !back.starts_with(b"//")
            && !back.starts_with(b"/\\")
            && back.iter().all(|&c| (0x21..0x7f).contains(&c));
        let back = if back_ok { back } else { b"/".to_vec() };
        let checked = token::check_nonce(&ch.keys, &b, &nonce, now, ch.nonce_ttl, ch.difficulty)
            .and_then(|(issued, diff)| {
                if nojs {
                    let nojs_ok = ch.nojs_fallback
                        && ch.difficulty <= NOJS_MAX_DIFFICULTY
                        && now.saturating_sub(issued) >= ch.nojs_delay as u64
                        && cookie(&self.head, &format!("{}_check", ch.cookie))
                            .is_some_and(|c| nonce.as_bytes().ends_with(c) && c.len() >= 16);
                    if nojs_ok {
                        Ok(diff)
                    } else {
                        Err(token::Refusal::BadWork)
                    }
                } else if counter.len() <= 20
                    && counter.bytes().all(|c| c.is_ascii_digit())
                    && !counter.is_empty()
                    && token::work_bits(&nonce, &counter) >= diff as u32
                {
                    Ok(diff)
                } else {
                    Err(token::Refusal::BadWork)
                }
            });
        match checked {
            Ok(diff) => {
                let exp = now + ch.token_ttl as u64;
                // No key: nothing can be minted (and no nonce could have verified).
                let tok = token::mint_token(&ch.keys, &b, exp, diff)?;
                host.counter_add("waap.bots.challenge_passed", 1);
                host.log(
                    crate::LogLevel::Info,
                    &format!(
                        "{{\"waap\":\"bot\",\"request_id\":\"{}\",\"challenge\":\"passed\",\"method\":\"{}\",\"difficulty\":{diff}}}",
                        crate::log::json_escape(&self.head.request_id),
                        if nojs { "nojs" } else { "pow" }
                    ),
                );
                let secure = if ch.cookie_secure { "; Secure" } else { "" };
                Some(crate::Verdict::Reply(Reply {
                    status: 303,
                    headers: vec![
                        (
                            "location".into(),
                            String::from_utf8_lossy(&back).into_owned(),
                        ),
                        (
                            "set-cookie".into(),
                            format!(
                                "{}={tok}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
                                ch.cookie, ch.token_ttl
                            ),
                        ),
                        ("cache-control".into(), "no-store".into()),
                        ("content-type".into(), "text/plain".into()),
                    ],
                    body: b"verified\n".to_vec(),
                }))
            }
            Err(e) => {
                host.counter_add(&format!("waap.bots.solution_refused.{}", e.name()), 1);
                let d = Decision {
                    family: Family::Bots,
                    rule_id: RULE_BAD_SOLUTION,
                    action: Action::Challenge,
                    status: 403,
                    reason: format!("challenge solution refused: {}", e.name()),
                    monitored: false,
                };
                let reply = challenge_reply(cfg, &b, now, &back);
                self.decide(host, d, reply)
            }
        }
    }
}

/// The challenge page reply (403, HTML, not cacheable) with a fresh nonce, plus the cookie
/// the no-JavaScript fallback checks.
fn challenge_reply(cfg: &BotsConfig, b: &Binding, now: u64, back: &[u8]) -> Reply {
    let ch = &cfg.challenge;
    let nonce = token::mint_nonce(&ch.keys, b, now, ch.difficulty).unwrap_or_default();
    let nojs = ch.nojs_fallback && ch.difficulty <= NOJS_MAX_DIFFICULTY;
    let html = page::challenge_html(
        &nonce,
        ch.difficulty,
        &ch.path,
        back,
        nojs.then_some(ch.nojs_delay),
    );
    let mut headers = vec![
        ("content-type".into(), "text/html; charset=utf-8".into()),
        ("cache-control".into(), "no-store".into()),
    ];
    if nojs {
        let mac = nonce.rsplit('.').next().unwrap_or_default();
        headers.push((
            "set-cookie".into(),
            format!(
                "{}_check={mac}; Path={}; Max-Age={}; HttpOnly; SameSite=Lax",
                ch.cookie, ch.path, ch.nonce_ttl
            ),
        ));
    }
    Reply {
        status: 403,
        headers,
        body: html.into_bytes(),
    }
}

/// Challenge keys handed over in the plugin configuration instead of the bundle: the JSON
/// form `{"bundle": "<base64>", "bot_keys": ["<current>", "<previous>"]}` (each key as
/// text, at least 16 bytes; the first signs, all verify). `None` when the configuration is
/// raw bundle bytes or has no `bot_keys`. Errors never quote a key.
pub fn keys_from_plugin_config(config: &[u8]) -> Result<Option<Vec<config::Secret>>, String> {
    let first = config.iter().find(|b| !b.is_ascii_whitespace()).copied();
    if first != Some(b'{') {
        return Ok(None);
    }
    let limits = crate::parse::JsonLimits {
        max_output_bytes: config.len() + 64,
        ..Default::default()
    };
    let json = crate::parse::parse_json(config, &limits);
    if json.error.is_some() {
        // bundle_from_plugin_config reports the parse error.
        return Ok(None);
    }
    let mut keys = Vec::new();
    let mut listed = false;
    for (k, v) in json.pairs {
        if k == b"json.bot_keys" {
            return Err("plugin configuration: \"bot_keys\" must be a list of strings".into());
        }
        if let Some(i) = k.as_slice().strip_prefix(&b"json.bot_keys.array_"[..]) {
            listed = true;
            let v = v.trim_ascii().to_vec();
            if v.len() < 16 {
                return Err(format!(
                    "plugin configuration: bot_keys[{}] is {} bytes, at least 16 are needed",
                    String::from_utf8_lossy(i),
                    v.len()
                ));
            }
            keys.push(config::Secret(v));
        }
    }
    Ok(listed.then_some(keys))
}

impl crate::Engine {
    /// Installs challenge keys from the plugin configuration (they replace the bundle's),
    /// then refuses a policy that challenges without any key. Call after
    /// [`crate::Engine::load`] with [`keys_from_plugin_config`]'s result.
    pub fn with_bot_keys(
        mut self,
        keys: Option<Vec<config::Secret>>,
    ) -> Result<crate::Engine, crate::LoadError> {
        let Some(bots) = self.families.bots.as_mut() else {
            return Ok(self);
        };
        if let Some(k) = keys {
            bots.challenge.keys = k;
        }
        let challenges = bots
            .routes
            .iter()
            .any(|r| r.bands.iter().any(|b| b.action == BandAction::Challenge));
        if challenges && bots.challenge.keys.is_empty() {
            return Err(crate::LoadError::Families(
                "bots: a route challenges but no key came with the bundle or in the plugin configuration (\"bot_keys\")".into(),
            ));
        }
        Ok(self)
    }
}

#[cfg(test)]
mod plugin_config_tests {
    use super::keys_from_plugin_config;

    #[test]
    fn validated_claims_exempt_a_request() {
        let exempt = vec![("scope".to_string(), "partner".to_string())];
        let claims = vec![
            ("sub".to_string(), vec!["u1".to_string()]),
            (
                "scope".to_string(),
                vec!["read".to_string(), "partner".to_string()],
            ),
        ];
        assert!(super::exempt_by_claims(&exempt, Some(&claims)));
        assert!(!super::exempt_by_claims(&exempt, None));
        let other = vec![("scope".to_string(), vec!["read".to_string()])];
        assert!(!super::exempt_by_claims(&exempt, Some(&other)));
        assert!(!super::exempt_by_claims(&[], Some(&claims)));
    }

    #[test]
    fn bot_keys_come_from_json_plugin_configuration() {
        assert_eq!(keys_from_plugin_config(b"WAAPBNDL").unwrap(), None);
        assert_eq!(keys_from_plugin_config(br#"{"bundle":"x"}"#).unwrap(), None);
        let k = keys_from_plugin_config(
            br#"{"bundle":"x","bot_keys":["0123456789abcdef-cur","0123456789abcdef-prev"]}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(k.len(), 2);
        assert_eq!(k[0].0, b"0123456789abcdef-cur");
        let e =
            keys_from_plugin_config(br#"{"bundle":"x","bot_keys":["tiny-secret"]}"#).unwrap_err();
        assert!(
            e.contains("at least 16") && !e.contains("tiny-secret"),
            "{e}"
        );
        assert!(
            keys_from_plugin_config(br#"{"bundle":"x","bot_keys":"0123456789abcdef0"}"#).is_err()
        );
    }
}
