//! `rate_limits:`: the YAML form of the rate-limit family and its lowering into
//! [`waap_engine::ratelimit::RateLimits`].
//!
//! ```yaml
//! rate_limits:
//!   failure_mode: fail_open        # required: fail_open | fail_closed
//!   max_keys: 16384                # keys tracked per entry (bounded memory)
//!   service:                       # only for scope: global
//!     cluster: waap_ratelimit      # Envoy cluster (HTTP/2) of the rate-limit service
//!     domain: waap
//!     timeout_ms: 50
//!   limits:
//!     - name: login
//!       match: { methods: [POST], path_prefix: /api/login }
//!       key: client_ip             # or [client_ip, {header: x-api-key}], {cookie: c}, {query: q}, {claim: sub}
//!       limit: 5/minute            # N/second|minute|hour|day, or N/<n>s|m|h|d|ms
//!       burst: 5                   # default: N
//!       scope: local               # local | global
//!       action: block              # block | monitor (default: the policy's mode)
//!       status: 429
//!       distinct: { of: {query: account_id}, max: 20, per: minute }
//! ```

use serde::Deserialize;
use waap_engine::program::{Program, RegexDef, RegexFlags};
use waap_engine::ratelimit::{
    Distinct, FailureMode, GlobalService, KeyPart, Limit, RateLimit, RateLimits, RequestMatch,
    Scope, DEFAULT_MAX_KEYS, DISTINCT_MAX, RULE_BASE,
};

use crate::error::PolicyError;

/// `rate_limits:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitsYaml {
    /// What happens when a limit cannot be evaluated; required.
    pub failure_mode: FailureYaml,
    /// Keys tracked per entry.
    #[serde(default)]
    pub max_keys: Option<u32>,
    /// The rate-limit service of global entries.
    #[serde(default)]
    pub service: Option<ServiceYaml>,
    /// The limits.
    #[serde(default)]
    pub limits: Vec<LimitYaml>,
}

/// `failure_mode:`.
#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum FailureYaml {
    /// Let requests through.
    FailOpen,
    /// Deny them.
    FailClosed,
}

/// `service:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceYaml {
    /// Envoy cluster name.
    pub cluster: String,
    /// Rate-limit domain.
    #[serde(default)]
    pub domain: Option<String>,
    /// Call timeout (default 50 ms).
    #[serde(default)]
    pub timeout_ms: Option<u32>,
}

/// One entry of `limits:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitYaml {
    /// Name.
    pub name: String,
    /// Which requests count.
    #[serde(default, rename = "match")]
    pub matcher: Option<MatchYaml>,
    /// Key parts.
    pub key: OneOrMany,
    /// `N/unit`.
    #[serde(default)]
    pub limit: Option<String>,
    /// Burst.
    #[serde(default)]
    pub burst: Option<u32>,
    /// local | global.
    #[serde(default)]
    pub scope: Option<ScopeYaml>,
    /// block | monitor.
    #[serde(default)]
    pub action: Option<crate::yaml::ModeYaml>,
    /// Denial status.
    #[serde(default)]
    pub status: Option<u16>,
    /// Distinct-values limit.
    #[serde(default)]
    pub distinct: Option<DistinctYaml>,
}

/// `scope:`.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ScopeYaml {
    /// This Envoy.
    Local,
    /// The rate-limit service.
    Global,
}

/// `match:` of an entry.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MatchYaml {
    /// Hosts.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Path prefix.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Path regex.
    #[serde(default)]
    pub path_regex: Option<String>,
    /// Methods.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Headers.
    #[serde(default)]
    pub headers: Vec<HeaderYaml>,
    /// An OpenAPI operation of `api:`, `METHOD /template`.
    #[serde(default)]
    pub api_route: Option<String>,
}

/// A header condition.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderYaml {
    /// Name.
    pub name: String,
    /// Exact value; any when absent.
    #[serde(default)]
    pub value: Option<String>,
}

/// A key given as one part or a list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One part.
    One(KeyYaml),
    /// Several, joined.
    Many(Vec<KeyYaml>),
}

/// One key part: `client_ip` or `{header|cookie|query|claim: NAME}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum KeyYaml {
    /// `client_ip`.
    Word(String),
    /// A named request part.
    Named(NamedKeyYaml),
}

/// `{header: NAME}` and friends.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NamedKeyYaml {
    /// Header name.
    #[serde(default)]
    pub header: Option<String>,
    /// Cookie name.
    #[serde(default)]
    pub cookie: Option<String>,
    /// Query argument name.
    #[serde(default)]
    pub query: Option<String>,
    /// Token claim name.
    #[serde(default)]
    pub claim: Option<String>,
    /// Path parameter of the matched OpenAPI operation.
    #[serde(default)]
    pub path_param: Option<String>,
}

/// `distinct:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistinctYaml {
    /// The part whose distinct values are counted.
    pub of: KeyYaml,
    /// Distinct values allowed per window.
    pub max: u32,
    /// Window: `second`, `minute`, `hour`, `day` or `<n>s|m|h|d|ms`.
    pub per: String,
}

/// Parses a duration word: `second|minute|hour|day` (and `s|sec|m|min|h|d`) or
/// `<n>ms|s|m|h|d`. Milliseconds.
pub fn parse_period(s: &str) -> Option<u64> {
    let s = s.trim();
    let unit = |u: &str| -> Option<u64> {
        Some(match u {
            "ms" => 1,
            "s" | "sec" | "second" | "seconds" => 1_000,
            "m" | "min" | "minute" | "minutes" => 60_000,
            "h" | "hour" | "hours" => 3_600_000,
            "d" | "day" | "days" => 86_400_000,
            _ => return None,
        })
    };
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (n, u) = s.split_at(digits);
    let n: u64 = if n.is_empty() { 1 } else { n.parse().ok()? };
    let ms = n.checked_mul(unit(u.trim())?)?;
    (ms > 0).then_some(ms)
}

/// Parses `N/period` into (N, period in ms).
pub fn parse_limit(s: &str) -> Option<(u32, u64)> {
    let (n, p) = s.split_once('/')?;
    let n: u32 = n.trim().parse().ok()?;
    (n > 0).then_some(())?;
    Some((n, parse_period(p)?))
}

fn key_part(k: &KeyYaml) -> Result<KeyPart, String> {
    match k {
        KeyYaml::Word(w) if w == "client_ip" => Ok(KeyPart::ClientIp),
        KeyYaml::Word(w) => Err(format!(
            "key part `{w}` is not known: use client_ip or {{header|cookie|query|claim: NAME}}"
        )),
        KeyYaml::Named(n) => {
            let given: Vec<KeyPart> = [
                n.header
                    .as_ref()
                    .map(|h| KeyPart::Header(h.to_ascii_lowercase())),
                n.cookie.clone().map(KeyPart::Cookie),
                n.query.clone().map(KeyPart::Query),
                n.claim.clone().map(KeyPart::Claim),
                n.path_param.clone().map(KeyPart::PathParam),
            ]
            .into_iter()
            .flatten()
            .collect();
            match <[KeyPart; 1]>::try_from(given) {
                Ok([p]) => Ok(p),
                Err(g) => Err(format!(
                    "a key part needs exactly one of header, cookie, query, claim, path_param ({} given)",
                    g.len()
                )),
            }
        }
    }
}

/// The 1-based line of `- name: NAME` (or `name: NAME`) after the `rate_limits:` key.
fn entry_line(src: &str, name: &str) -> Option<usize> {
    let start = src.lines().position(|l| l.starts_with("rate_limits:"))?;
    src.lines().enumerate().skip(start).find_map(|(i, l)| {
        let t = l.trim_start().trim_start_matches("- ").trim_start();
        let v = t
            .strip_prefix("name:")?
            .trim()
            .trim_matches(|c| c == '"' || c == '\'');
        (v == name).then_some(i + 1)
    })
}

/// Lowers `rate_limits:`; path regexes go into `program.regexes` (the backend builds their
/// DFAs). `policy_monitor`: the policy's `mode` is monitor (every entry then monitors).
pub fn lower(
    file: &str,
    src: &str,
    y: &RateLimitsYaml,
    policy_monitor: bool,
    program: &mut Program,
) -> Result<RateLimits, Vec<PolicyError>> {
    let mut errors = Vec::new();
    let section = src
        .lines()
        .position(|l| l.starts_with("rate_limits:"))
        .map(|i| i + 1);
    let max_keys = y.max_keys.unwrap_or(DEFAULT_MAX_KEYS);
    if max_keys == 0 || max_keys > 4_000_000 {
        errors.push(
            PolicyError::new(
                file,
                format!("rate_limits.max_keys must be 1..=4000000 (got {max_keys})"),
            )
            .at(section),
        );
    }
    let global = y.service.as_ref().map(|s| GlobalService {
        cluster: s.cluster.clone(),
        domain: s.domain.clone().unwrap_or_else(|| "waap".into()),
        timeout_ms: s.timeout_ms.unwrap_or(50),
    });
    if let Some(s) = &global {
        if s.cluster.is_empty() || s.timeout_ms == 0 {
            errors.push(
                PolicyError::new(
                    file,
                    "rate_limits.service needs a cluster name and a timeout_ms above 0",
                )
                .at(section),
            );
        }
    }
    let mut entries = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for (i, e) in y.limits.iter().enumerate() {
        let line = entry_line(src, &e.name).or(section);
        let err =
            |m: String| PolicyError::new(file, format!("rate limit `{}`: {m}", e.name)).at(line);
        if e.name.is_empty()
            || !e
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        {
            errors.push(err("name must be non-empty letters, digits, `_`, `-` or `.` (it appears in response headers)".into()));
        }
        if names.contains(&e.name.as_str()) {
            errors.push(err("name used twice".into()));
        }
        names.push(&e.name);
        if i >= 10_000 {
            errors.push(err(
                "more than 10000 rate limits (rule ids 310000-319999)".into()
            ));
            break;
        }
        let m = e.matcher.as_ref();
        let mut matcher = RequestMatch {
            hosts: m
                .map(|m| m.hosts.iter().map(|h| h.to_ascii_lowercase()).collect())
                .unwrap_or_default(),
            path_prefix: m.and_then(|m| m.path_prefix.clone()),
            api_route: m.and_then(|m| m.api_route.clone()),
            path_regex: None,
            methods: m
                .map(|m| m.methods.iter().map(|x| x.to_ascii_uppercase()).collect())
                .unwrap_or_default(),
            headers: m
                .map(|m| {
                    m.headers
                        .iter()
                        .map(|h| (h.name.to_ascii_lowercase(), h.value.clone()))
                        .collect()
                })
                .unwrap_or_default(),
        };
        if let Some(p) = m.and_then(|m| m.path_regex.as_ref()) {
            match crate::yaml::check_regex(p) {
                Ok(()) => {
                    matcher.path_regex = Some(program.regexes.len() as u32);
                    program.regexes.push(RegexDef {
                        pattern: p.clone(),
                        dfa: None,
                        flags: RegexFlags {
                            case_insensitive: false,
                            dot_all: true,
                            multi_line: false,
                        },
                        required_literals: vec![],
                    });
                }
                Err(m) => errors.push(err(format!("match.path_regex: {m}"))),
            }
        }
        let parts: Vec<&KeyYaml> = match &e.key {
            OneOrMany::One(k) => vec![k],
            OneOrMany::Many(v) => v.iter().collect(),
        };
        if parts.is_empty() {
            errors.push(err("key needs at least one part".into()));
        }
        let mut key = Vec::new();
        for p in parts {
            match key_part(p) {
                Ok(k) => key.push(k),
                Err(m) => errors.push(err(m)),
            }
        }
        let limit = match &e.limit {
            Some(s) => match parse_limit(s) {
                Some((count, period_ms)) => Some(Limit {
                    count,
                    period_ms,
                    burst: e.burst.unwrap_or(count),
                }),
                None => {
                    errors.push(err(format!(
                        "limit `{s}` is not N/period (e.g. 100/minute, 5/10s)"
                    )));
                    None
                }
            },
            None => None,
        };
        if e.burst == Some(0) {
            errors.push(err("burst must be at least 1".into()));
        }
        if e.burst.is_some() && e.limit.is_none() {
            errors.push(err("burst needs a limit".into()));
        }
        let distinct = match &e.distinct {
            Some(d) => {
                let part = key_part(&d.of)
                    .map_err(|m| errors.push(err(format!("distinct.of: {m}"))))
                    .ok();
                let period = parse_period(&d.per);
                if period.is_none() {
                    errors.push(err(format!(
                        "distinct.per `{}` is not a period (e.g. minute, 10s)",
                        d.per
                    )));
                }
                if d.max == 0 || d.max > DISTINCT_MAX {
                    errors.push(err(format!("distinct.max must be 1..={DISTINCT_MAX}")));
                }
                match (part, period) {
                    (Some(part), Some(period_ms)) => Some(Distinct {
                        part,
                        max: d.max,
                        period_ms,
                    }),
                    _ => None,
                }
            }
            None => None,
        };
        if e.limit.is_none() && e.distinct.is_none() {
            errors.push(err("needs a limit, a distinct limit, or both".into()));
        }
        let scope = match e.scope {
            Some(ScopeYaml::Global) => Scope::Global,
            _ => Scope::Local,
        };
        if scope == Scope::Global {
            if global.is_none() {
                errors.push(err(
                    "scope: global needs rate_limits.service (cluster of the rate-limit service)"
                        .into(),
                ));
            }
            if e.distinct.is_some() {
                errors.push(err("distinct limits are local only".into()));
            }
            if e.burst.is_some() {
                errors.push(err(
                    "burst applies to local limits only (the service counts fixed windows)".into(),
                ));
            }
            if let Some(l) = &limit {
                if waap_engine::ratelimit::proto::Unit::from_millis(l.period_ms).is_none() {
                    errors.push(err("a global limit's period must be one second, minute, hour or day (the rate-limit protocol's units)".into()));
                }
            }
        }
        let status = e.status.unwrap_or(429);
        if !(400..=599).contains(&status) {
            errors.push(err(format!("status {status} is not a 4xx or 5xx status")));
        }
        let monitor = policy_monitor || e.action == Some(crate::yaml::ModeYaml::Monitor);
        entries.push(RateLimit {
            name: e.name.clone(),
            rule_id: RULE_BASE + i as u32,
            matcher,
            key,
            limit,
            distinct,
            scope,
            monitor,
            status,
        });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(RateLimits {
        entries,
        max_keys,
        failure_mode: match y.failure_mode {
            FailureYaml::FailOpen => FailureMode::Open,
            FailureYaml::FailClosed => FailureMode::Closed,
        },
        global,
    })
}

/// `waapc inspect` lines for the rate limits: one per entry (no key values, no secrets).
pub fn inspect(rl: &RateLimits) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "rate limits   {} (failure_mode={:?}, max_keys={}{})",
        rl.entries.len(),
        rl.failure_mode,
        rl.max_keys,
        rl.global
            .as_ref()
            .map(|g| format!(
                ", service cluster={} domain={} timeout={}ms",
                g.cluster, g.domain, g.timeout_ms
            ))
            .unwrap_or_default()
    );
    for e in &rl.entries {
        let mut what = Vec::new();
        if let Some(l) = &e.limit {
            what.push(format!("{}/{}ms burst {}", l.count, l.period_ms, l.burst));
        }
        if let Some(d) = &e.distinct {
            what.push(format!(
                "distinct {:?} max {}/{}ms",
                d.part, d.max, d.period_ms
            ));
        }
        let _ = writeln!(
            s,
            "  {} {} {:?} {} status {} key {:?} {}",
            e.rule_id,
            e.name,
            e.scope,
            if e.monitor { "monitor" } else { "block" },
            e.status,
            e.key,
            what.join(", ")
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_periods_parse() {
        assert_eq!(parse_limit("100/minute"), Some((100, 60_000)));
        assert_eq!(parse_limit("5/2s"), Some((5, 2_000)));
        assert_eq!(parse_limit("5 / 10s"), Some((5, 10_000)));
        assert_eq!(parse_limit("1000/min"), Some((1000, 60_000)));
        assert_eq!(parse_limit("3/500ms"), Some((3, 500)));
        assert_eq!(parse_limit("0/minute"), None);
        assert_eq!(parse_limit("5/fortnight"), None);
        assert_eq!(parse_limit("5"), None);
        assert_eq!(parse_period("day"), Some(86_400_000));
        assert_eq!(parse_period("0s"), None);
    }
}
