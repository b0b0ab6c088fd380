//! `bots:` in the policy: lowers bot management into [`waap_engine::bots::BotsConfig`]
//! (literal signatures into one program literal set, regex signatures into program regexes,
//! which the backend turns into DFAs), reading the challenge keys from the environment or
//! files at compile time. Key values never appear in errors.

use std::collections::BTreeMap;

use serde::Deserialize;
use waap_engine::bots::config::{
    Band, BandAction, BotRoute, BotsConfig, ChallengeConfig, Cidr, GoodBot, Heuristics, Secret,
    SigKind, Signature, TlsSignal, NOJS_MAX_DIFFICULTY,
};
use waap_engine::program::{LiteralSet, Program, RegexDef, RegexFlags};

/// The signature list waapc ships: (category, name, user-agent substring, case-insensitive).
/// Documented in the README (policy reference, `bots`).
pub const DEFAULT_SIGNATURES: &[(&str, &str, &str)] = &[
    // Vulnerability scanners and attack tools.
    ("scanner", "sqlmap", "sqlmap"),
    ("scanner", "nikto", "nikto"),
    ("scanner", "nuclei", "nuclei"),
    ("scanner", "nmap", "nmap scripting engine"),
    ("scanner", "masscan", "masscan"),
    ("scanner", "zgrab", "zgrab"),
    ("scanner", "wpscan", "wpscan"),
    ("scanner", "dirbuster", "dirbuster"),
    ("scanner", "gobuster", "gobuster"),
    ("scanner", "ffuf", "fuzz faster u fool"),
    ("scanner", "feroxbuster", "feroxbuster"),
    ("scanner", "wfuzz", "wfuzz"),
    ("scanner", "acunetix", "acunetix"),
    ("scanner", "netsparker", "netsparker"),
    ("scanner", "openvas", "openvas"),
    ("scanner", "nessus", "nessus"),
    ("scanner", "w3af", "w3af"),
    ("scanner", "arachni", "arachni"),
    ("scanner", "skipfish", "skipfish"),
    ("scanner", "whatweb", "whatweb"),
    ("scanner", "commix", "commix"),
    ("scanner", "zmeu", "zmeu"),
    ("scanner", "havij", "havij"),
    // HTTP libraries and command-line clients.
    ("http_library", "curl", "curl/"),
    ("http_library", "wget", "wget/"),
    ("http_library", "python-requests", "python-requests"),
    ("http_library", "python-urllib", "python-urllib"),
    ("http_library", "aiohttp", "aiohttp"),
    ("http_library", "httpx", "python-httpx"),
    ("http_library", "go-http-client", "go-http-client"),
    ("http_library", "java", "java/"),
    ("http_library", "okhttp", "okhttp"),
    ("http_library", "apache-httpclient", "apache-httpclient"),
    ("http_library", "libwww-perl", "libwww-perl"),
    ("http_library", "node-fetch", "node-fetch"),
    ("http_library", "axios", "axios/"),
    ("http_library", "guzzle", "guzzlehttp"),
    ("http_library", "scrapy", "scrapy"),
    ("http_library", "httpie", "httpie/"),
    // Headless and automated browsers.
    ("headless", "headlesschrome", "headlesschrome"),
    ("headless", "phantomjs", "phantomjs"),
    ("headless", "selenium", "selenium"),
    ("headless", "puppeteer", "puppeteer"),
    ("headless", "playwright", "playwright"),
    // AI crawlers and training-data collectors.
    ("ai_crawler", "gptbot", "gptbot"),
    ("ai_crawler", "chatgpt-user", "chatgpt-user"),
    ("ai_crawler", "oai-searchbot", "oai-searchbot"),
    ("ai_crawler", "claudebot", "claudebot"),
    ("ai_crawler", "claude-web", "claude-web"),
    ("ai_crawler", "anthropic-ai", "anthropic-ai"),
    ("ai_crawler", "ccbot", "ccbot"),
    ("ai_crawler", "google-extended", "google-extended"),
    ("ai_crawler", "perplexitybot", "perplexitybot"),
    ("ai_crawler", "bytespider", "bytespider"),
    ("ai_crawler", "amazonbot", "amazonbot"),
    ("ai_crawler", "meta-externalagent", "meta-externalagent"),
    ("ai_crawler", "cohere-ai", "cohere-ai"),
    ("ai_crawler", "diffbot", "diffbot"),
];

/// Default score of each shipped category.
pub const DEFAULT_CATEGORY_SCORES: &[(&str, u8)] = &[
    ("scanner", 100),
    ("headless", 70),
    ("ai_crawler", 60),
    ("http_library", 40),
];

/// Paths never scored by default.
pub const DEFAULT_ALLOW_PATHS: &[&str] = &["/healthz", "/robots.txt", "/.well-known/"];

/// `bots:`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BotsYaml {
    /// `block` or `monitor`; default: the policy's `mode`.
    #[serde(default)]
    pub mode: Option<crate::yaml::ModeYaml>,
    /// Signatures.
    #[serde(default)]
    pub signatures: SignaturesYaml,
    /// Heuristic weights.
    #[serde(default)]
    pub heuristics: Option<HeuristicsYaml>,
    /// Verified good bots.
    #[serde(default)]
    pub good_bots: Vec<GoodBotYaml>,
    /// TLS fingerprint signal.
    #[serde(default)]
    pub tls: Option<TlsYaml>,
    /// Paths never scored (default: health, robots.txt, .well-known).
    #[serde(default)]
    pub allow_paths: Option<Vec<String>>,
    /// Routes and their bands (default: `/` with log 30, block 80).
    #[serde(default)]
    pub routes: Option<Vec<RouteYaml>>,
    /// The challenge.
    #[serde(default)]
    pub challenge: Option<ChallengeYaml>,
    /// Claims of a validated token that exempt a request from bot checks.
    #[serde(default)]
    pub exempt_claims: Vec<ExemptClaimYaml>,
}

/// `bots.exempt_claims[]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExemptClaimYaml {
    /// Claim name.
    pub claim: String,
    /// Value (one element of an array claim).
    pub value: String,
}

/// `bots.signatures:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignaturesYaml {
    /// Use the shipped list (default true).
    #[serde(default = "yes")]
    pub defaults: bool,
    /// Names of shipped signatures to leave out.
    #[serde(default)]
    pub disable: Vec<String>,
    /// Score per category (overrides the shipped category scores).
    #[serde(default)]
    pub scores: BTreeMap<String, u8>,
    /// Your own signatures.
    #[serde(default)]
    pub extra: Vec<SignatureYaml>,
}

impl Default for SignaturesYaml {
    fn default() -> Self {
        SignaturesYaml {
            defaults: true,
            disable: vec![],
            scores: BTreeMap::new(),
            extra: vec![],
        }
    }
}

fn yes() -> bool {
    true
}

/// One signature: exactly one of `contains` and `regex`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureYaml {
    /// Name for logs.
    pub name: String,
    /// Category.
    pub category: String,
    /// User-agent substring, ASCII case-insensitive.
    #[serde(default)]
    pub contains: Option<String>,
    /// User-agent regex (case-insensitive, linear time).
    #[serde(default)]
    pub regex: Option<String>,
    /// Score; default: the category's.
    #[serde(default)]
    pub score: Option<u8>,
}

/// `bots.heuristics:` (every weight optional).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct HeuristicsYaml {
    #[serde(default)]
    no_user_agent: Option<u8>,
    #[serde(default)]
    missing_accept: Option<u8>,
    #[serde(default)]
    missing_accept_language: Option<u8>,
    #[serde(default)]
    missing_accept_encoding: Option<u8>,
    #[serde(default)]
    sec_ch_ua_mismatch: Option<u8>,
    #[serde(default)]
    http10_browser: Option<u8>,
}

/// `bots.good_bots[]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoodBotYaml {
    /// Name.
    pub name: String,
    /// User-agent substring it claims.
    pub user_agent: String,
    /// Source ranges (CIDR).
    pub ranges: Vec<String>,
}

/// `bots.tls:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsYaml {
    /// Header Envoy fills with the fingerprint.
    pub header: String,
    #[serde(default)]
    deny: Vec<String>,
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    deny_score: Option<u8>,
    #[serde(default)]
    allow_credit: Option<u8>,
}

/// `bots.routes[]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteYaml {
    /// Path prefix.
    pub prefix: String,
    /// `html` (default) or `api`.
    #[serde(default, rename = "type")]
    pub kind: Option<RouteKind>,
    /// Minimum score of each action.
    #[serde(default)]
    pub bands: BTreeMap<String, u8>,
}

/// `bots.routes[].type`.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RouteKind {
    /// Pages: challenges are HTML.
    Html,
    /// API: never HTML.
    Api,
}

/// `bots.challenge:`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ChallengeYaml {
    #[serde(default)]
    difficulty: Option<u8>,
    #[serde(default)]
    token_ttl: Option<u32>,
    #[serde(default)]
    nonce_ttl: Option<u32>,
    #[serde(default)]
    cookie: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    ipv4_prefix: Option<u8>,
    #[serde(default)]
    ipv6_prefix: Option<u8>,
    #[serde(default)]
    cookie_secure: Option<bool>,
    #[serde(default)]
    nojs_fallback: Option<bool>,
    #[serde(default)]
    nojs_delay: Option<u32>,
    #[serde(default)]
    key_env: Option<String>,
    #[serde(default)]
    key_file: Option<String>,
    #[serde(default)]
    previous_key_env: Option<String>,
    #[serde(default)]
    previous_key_file: Option<String>,
    /// The keys come in the plugin configuration (`"bot_keys"`), not in the bundle.
    #[serde(default)]
    keys_from_plugin_config: bool,
}

/// Minimum key length in bytes.
pub const MIN_KEY_BYTES: usize = 16;

fn read_key(
    base: &std::path::Path,
    env: Option<&str>,
    file: Option<&str>,
    what: &str,
) -> Result<Option<Secret>, String> {
    let bytes = match (env, file) {
        (Some(_), Some(_)) => {
            return Err(format!(
                "bots.challenge: give {what}_env or {what}_file, not both"
            ))
        }
        (None, None) => return Ok(None),
        (Some(v), None) => std::env::var_os(v)
            .map(|s| s.into_encoded_bytes())
            .ok_or_else(|| {
                format!("bots.challenge.{what}_env: environment variable {v} is not set")
            })?,
        (None, Some(f)) => {
            let p = base.join(f);
            std::fs::read(&p).map_err(|e| {
                format!(
                    "bots.challenge.{what}_file: cannot read {}: {}",
                    p.display(),
                    e.kind()
                )
            })?
        }
    };
    let trimmed = bytes.trim_ascii().to_vec();
    if trimmed.len() < MIN_KEY_BYTES {
        return Err(format!(
            "bots.challenge: the {what} is {} bytes, at least {MIN_KEY_BYTES} are needed (e.g. `openssl rand -hex 32`)",
            trimmed.len()
        ));
    }
    Ok(Some(Secret(trimmed)))
}

fn action_of(name: &str) -> Option<BandAction> {
    Some(match name {
        "allow" => BandAction::Allow,
        "log" => BandAction::Log,
        "challenge" => BandAction::Challenge,
        "block" => BandAction::Block,
        _ => return None,
    })
}

/// Lowers `bots:`; `monitor` is the policy's mode, `base` the policy's directory (for
/// key files). Errors are messages naming the entry; the caller adds file and line.
pub fn lower(
    b: &BotsYaml,
    policy_monitor: bool,
    base: &std::path::Path,
    program: &mut Program,
) -> Result<BotsConfig, String> {
    let mut cfg = BotsConfig {
        monitor: b
            .mode
            .map_or(policy_monitor, |m| m == crate::yaml::ModeYaml::Monitor),
        ..BotsConfig::default()
    };
    // Signatures.
    let s = &b.signatures;
    let score_of = |cat: &str| -> u8 {
        s.scores
            .get(cat)
            .copied()
            .or_else(|| {
                DEFAULT_CATEGORY_SCORES
                    .iter()
                    .find(|(c, _)| *c == cat)
                    .map(|(_, v)| *v)
            })
            .unwrap_or(50)
    };
    for (cat, v) in &s.scores {
        if *v > 100 {
            return Err(format!("bots.signatures.scores.{cat}: {v} is over 100"));
        }
    }
    for d in &s.disable {
        if !DEFAULT_SIGNATURES.iter().any(|(_, n, _)| n == d) {
            return Err(format!(
                "bots.signatures.disable: {d:?} is not a shipped signature name"
            ));
        }
    }
    let mut literals: Vec<Vec<u8>> = Vec::new();
    if s.defaults {
        for (cat, name, lit) in DEFAULT_SIGNATURES {
            if s.disable.iter().any(|d| d == name) {
                continue;
            }
            cfg.signatures.push(Signature {
                name: name.to_string(),
                category: cat.to_string(),
                score: score_of(cat),
                kind: SigKind::Literal(literals.len() as u32),
            });
            literals.push(lit.as_bytes().to_vec());
        }
    }
    for e in &s.extra {
        let what = format!("bots.signatures.extra {:?}", e.name);
        if e.name.is_empty() || e.category.is_empty() {
            return Err(format!("{what}: name and category must not be empty"));
        }
        let score = e.score.unwrap_or_else(|| score_of(&e.category));
        if score > 100 {
            return Err(format!("{what}: score {score} is over 100"));
        }
        let kind = match (&e.contains, &e.regex) {
            (Some(c), None) if !c.is_empty() => {
                literals.push(c.as_bytes().to_vec());
                SigKind::Literal(literals.len() as u32 - 1)
            }
            (None, Some(r)) => {
                regex_syntax::ParserBuilder::new()
                    .unicode(false)
                    .utf8(false)
                    .case_insensitive(true)
                    .build()
                    .parse(r)
                    .map_err(|err| {
                        format!(
                            "{what}: invalid regex: {}",
                            err.to_string().replace('\n', " ")
                        )
                    })?;
                program.regexes.push(RegexDef {
                    pattern: r.clone(),
                    dfa: None,
                    flags: RegexFlags {
                        case_insensitive: true,
                        dot_all: true,
                        multi_line: false,
                    },
                    required_literals: vec![],
                });
                SigKind::Regex(program.regexes.len() as u32 - 1)
            }
            _ => {
                return Err(format!(
                    "{what}: needs exactly one of `contains` (not empty) and `regex`"
                ))
            }
        };
        cfg.signatures.push(Signature {
            name: e.name.clone(),
            category: e.category.clone(),
            score,
            kind,
        });
    }
    if !literals.is_empty() {
        cfg.literal_set = Some(program.literal_sets.len() as u32);
        program.literal_sets.push(LiteralSet { literals });
    }
    // Heuristics.
    let h = b.heuristics.as_ref();
    let d = Heuristics::default();
    cfg.heuristics = Heuristics {
        no_user_agent: h.and_then(|h| h.no_user_agent).unwrap_or(d.no_user_agent),
        missing_accept: h.and_then(|h| h.missing_accept).unwrap_or(d.missing_accept),
        missing_accept_language: h
            .and_then(|h| h.missing_accept_language)
            .unwrap_or(d.missing_accept_language),
        missing_accept_encoding: h
            .and_then(|h| h.missing_accept_encoding)
            .unwrap_or(d.missing_accept_encoding),
        sec_ch_ua_mismatch: h
            .and_then(|h| h.sec_ch_ua_mismatch)
            .unwrap_or(d.sec_ch_ua_mismatch),
        http10_browser: h.and_then(|h| h.http10_browser).unwrap_or(d.http10_browser),
    };
    // Good bots.
    for g in &b.good_bots {
        let what = format!("bots.good_bots {:?}", g.name);
        if g.user_agent.is_empty() {
            return Err(format!("{what}: user_agent must not be empty"));
        }
        if g.ranges.is_empty() {
            return Err(format!("{what}: ranges must list at least one CIDR range"));
        }
        let ranges = g
            .ranges
            .iter()
            .map(|r| Cidr::parse(r).map_err(|e| format!("{what}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        cfg.good_bots.push(GoodBot {
            name: g.name.clone(),
            user_agent: g.user_agent.to_ascii_lowercase(),
            ranges,
        });
    }
    // TLS.
    if let Some(t) = &b.tls {
        if t.header.is_empty() || t.header.starts_with(':') {
            return Err("bots.tls.header: name a regular request header (e.g. x-waap-ja4)".into());
        }
        cfg.tls = TlsSignal {
            header: t.header.to_ascii_lowercase(),
            deny: t.deny.clone(),
            allow: t.allow.clone(),
            deny_score: t.deny_score.unwrap_or(50).min(100),
            allow_credit: t.allow_credit.unwrap_or(20).min(100),
        };
    }
    // Paths and routes.
    cfg.allow_paths = b
        .allow_paths
        .clone()
        .unwrap_or_else(|| DEFAULT_ALLOW_PATHS.iter().map(|s| s.to_string()).collect());
    let routes = match &b.routes {
        Some(r) => r.iter().collect::<Vec<_>>(),
        None => Vec::new(),
    };
    if routes.is_empty() {
        cfg.routes.push(BotRoute {
            prefix: "/".into(),
            api: false,
            bands: vec![
                Band {
                    min_score: 30,
                    action: BandAction::Log,
                },
                Band {
                    min_score: 80,
                    action: BandAction::Block,
                },
            ],
        });
    }
    for r in routes {
        let what = format!("bots.routes {:?}", r.prefix);
        if !r.prefix.starts_with('/') {
            return Err(format!("{what}: prefix must start with /"));
        }
        if cfg.routes.iter().any(|x| x.prefix == r.prefix) {
            return Err(format!("{what}: prefix listed twice"));
        }
        let mut bands = Vec::new();
        for (name, min) in &r.bands {
            let action = action_of(name).ok_or_else(|| {
                format!("{what}: band {name:?} is not allow, log, challenge or block")
            })?;
            if *min > 100 {
                return Err(format!("{what}: band {name}: score {min} is over 100"));
            }
            if bands.iter().any(|b: &Band| b.min_score == *min) {
                return Err(format!("{what}: two bands start at score {min}"));
            }
            bands.push(Band {
                min_score: *min,
                action,
            });
        }
        bands.sort_by_key(|b| b.min_score);
        cfg.routes.push(BotRoute {
            prefix: r.prefix.clone(),
            api: r.kind == Some(RouteKind::Api),
            bands,
        });
    }
    // Challenge.
    let c = b.challenge.as_ref();
    let d = ChallengeConfig::default();
    let mut ch = ChallengeConfig {
        difficulty: c.and_then(|c| c.difficulty).unwrap_or(d.difficulty),
        token_ttl: c.and_then(|c| c.token_ttl).unwrap_or(d.token_ttl),
        nonce_ttl: c.and_then(|c| c.nonce_ttl).unwrap_or(d.nonce_ttl),
        cookie: c.and_then(|c| c.cookie.clone()).unwrap_or(d.cookie),
        path: c.and_then(|c| c.path.clone()).unwrap_or(d.path),
        ipv4_prefix: c.and_then(|c| c.ipv4_prefix).unwrap_or(d.ipv4_prefix),
        ipv6_prefix: c.and_then(|c| c.ipv6_prefix).unwrap_or(d.ipv6_prefix),
        cookie_secure: c.and_then(|c| c.cookie_secure).unwrap_or(d.cookie_secure),
        nojs_fallback: c.and_then(|c| c.nojs_fallback).unwrap_or(d.nojs_fallback),
        nojs_delay: c.and_then(|c| c.nojs_delay).unwrap_or(d.nojs_delay),
        keys: Vec::new(),
    };
    if !(1..=32).contains(&ch.difficulty) {
        return Err(format!(
            "bots.challenge.difficulty: {} is not 1..=32",
            ch.difficulty
        ));
    }
    if ch.ipv4_prefix > 32 || ch.ipv6_prefix > 128 {
        return Err("bots.challenge: ipv4_prefix is 0..=32 and ipv6_prefix 0..=128".into());
    }
    if ch.token_ttl == 0 || ch.nonce_ttl == 0 {
        return Err("bots.challenge: token_ttl and nonce_ttl must be positive (seconds)".into());
    }
    if ch.cookie.is_empty()
        || !ch
            .cookie
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err("bots.challenge.cookie: letters, digits, _ and - only".into());
    }
    if !ch.path.starts_with('/') || ch.path.contains('?') {
        return Err("bots.challenge.path: an absolute path without a query".into());
    }
    if ch.nojs_fallback && ch.difficulty > NOJS_MAX_DIFFICULTY {
        return Err(format!(
            "bots.challenge.nojs_fallback: only for difficulty <= {NOJS_MAX_DIFFICULTY} (the fallback costs the client a wait, not work); difficulty is {}",
            ch.difficulty
        ));
    }
    let base_keys = c.map(|c| {
        (
            c.key_env.as_deref(),
            c.key_file.as_deref(),
            c.previous_key_env.as_deref(),
            c.previous_key_file.as_deref(),
        )
    });
    if let Some((ke, kf, pe, pf)) = base_keys {
        let cur = read_key(base, ke, kf, "key")?;
        let prev = read_key(base, pe, pf, "previous_key")?;
        match (cur, prev) {
            (Some(k), p) => {
                ch.keys.push(k);
                ch.keys.extend(p);
            }
            (None, Some(_)) => {
                return Err("bots.challenge: previous_key given without a current key".into())
            }
            (None, None) => {}
        }
    }
    let challenges = cfg
        .routes
        .iter()
        .any(|r| r.bands.iter().any(|b| b.action == BandAction::Challenge));
    let from_plugin = c.is_some_and(|c| c.keys_from_plugin_config);
    if challenges && ch.keys.is_empty() && !from_plugin {
        return Err("bots.challenge: a route has a challenge band but no key is configured (key_env, key_file, or keys_from_plugin_config: true)".into());
    }
    cfg.challenge = ch;
    for e in &b.exempt_claims {
        if e.claim.is_empty() {
            return Err("bots.exempt_claims: claim must not be empty".into());
        }
        cfg.exempt_claims.push((e.claim.clone(), e.value.clone()));
    }
    Ok(cfg)
}

/// The line of an error from [`lower`]: the first line after `bots:` holding the entry the
/// message quotes (`bots.routes "/app/"` -> the line with `/app/`), else the key named
/// after `bots.` (`bots.challenge.difficulty` -> `difficulty:`), else `bots:` itself.
pub fn error_line(src: &str, msg: &str) -> Option<usize> {
    let start = src.lines().position(|l| l.starts_with("bots:"))?;
    let lines = || src.lines().enumerate().skip(start);
    let quoted = msg.split('"').nth(1).filter(|q| !q.is_empty());
    let key = msg
        .split([':', ' '])
        .next()
        .and_then(|p| p.rsplit('.').next())
        .filter(|k| *k != "bots");
    quoted
        .and_then(|q| lines().find(|(_, l)| l.contains(q)))
        .or_else(|| {
            key.and_then(|k| {
                lines().find(|(_, l)| {
                    l.trim_start()
                        .trim_start_matches("- ")
                        .starts_with(&format!("{k}:"))
                })
            })
        })
        .map(|(i, _)| i + 1)
        .or(Some(start + 1))
}
