//! The rule families beside the WAF (rate limits, bots, API protection) and what they
//! share: who the client is, token claims, local replies, and one way to record a decision
//! in block or monitor mode so logs and metrics look the same for every family.
//!
//! Rule ids: a family decision carries a rule id from a reserved range so denials, logs and
//! metrics name it like a WAF rule. `200000..=209999` engine limits (body over limit, body
//! parse error), `310000..=319999` rate limits, `320000..=329999` bots, `330000..=339999`
//! API protection. The compiler refuses custom WAF rules in these ranges.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::request::RequestHead;

/// Version of the FAMILIES section encoding; bumped on any incompatible change.
pub const FAMILIES_VERSION: u32 = 1;

/// Reserved rule-id ranges, inclusive, by family.
pub const RESERVED_IDS: [(u32, u32, Family); 4] = [
    (200_000, 209_999, Family::Waf),
    (310_000, 319_999, Family::RateLimit),
    (320_000, 329_999, Family::Bots),
    (330_000, 339_999, Family::Api),
];

/// The FAMILIES section: everything the policy configures beside WAF rules.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Families {
    /// [`FAMILIES_VERSION`] when written.
    pub version: u32,
    /// How the client address is found.
    pub client: ClientConfig,
    /// API protection (OpenAPI positive model, JWT, authorization).
    pub api: Option<crate::api::ApiConfig>,
    /// Bot management (`bots:`), when configured.
    pub bots: Option<crate::bots::BotsConfig>,
}

impl Families {
    /// True when nothing beyond defaults is configured (no FAMILIES section is written).
    pub fn is_empty(&self) -> bool {
        *self
            == Families {
                version: self.version,
                ..Families::default()
            }
    }
}

/// How the client address is found.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ClientConfig {
    /// Proxies in front of Envoy that append to `X-Forwarded-For` and are trusted: the
    /// client is the address this many entries from the right end of the header (1: the
    /// last entry). 0 (the default) ignores the header and uses the connection's peer.
    pub xff_trusted_hops: u8,
}

/// A rule family, as named in logs, metrics and denial bodies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Family {
    /// WAF rules (custom and CRS) and engine limits.
    Waf,
    /// Rate limits.
    RateLimit,
    /// Bot management.
    Bots,
    /// API protection.
    Api,
}

impl Family {
    /// The name used in logs (`family` field), metrics and denial bodies.
    pub fn name(self) -> &'static str {
        match self {
            Family::Waf => "waf",
            Family::RateLimit => "ratelimit",
            Family::Bots => "bots",
            Family::Api => "api",
        }
    }

    /// The family owning a reserved rule id, if it is one.
    pub fn of_reserved(id: u32) -> Option<Family> {
        RESERVED_IDS
            .iter()
            .find(|(lo, hi, _)| (*lo..=*hi).contains(&id))
            .map(|(_, _, f)| *f)
    }
}

/// A local reply: the filter answers with it instead of forwarding the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Extra response headers (`content-type` included).
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: Vec<u8>,
}

/// What a family decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Deny the request (any 4xx/5xx reply).
    Deny,
    /// Answer with a challenge instead of the resource.
    Challenge,
    /// Deny because a rate limit is exceeded.
    RateLimit,
}

impl Action {
    /// Metric and log word for the action when enforced.
    pub fn enforced(self) -> &'static str {
        match self {
            Action::Deny => "denied",
            Action::Challenge => "challenged",
            Action::RateLimit => "rate_limited",
        }
    }
}

/// One decision of a family, kept for the audit line and counted in metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Which family.
    pub family: Family,
    /// Its rule id (from the family's reserved range).
    pub rule_id: u32,
    /// What it decided.
    pub action: Action,
    /// The status it answered (or would have answered) with.
    pub status: u16,
    /// A short reason for logs; never a secret or raw matched data.
    pub reason: String,
    /// True when the family ran in monitor mode: nothing was enforced.
    pub monitored: bool,
}

/// Token claims made available to every family, flattened: a claim name and its values as
/// text (arrays give one value per element; numbers and booleans their JSON text).
pub type Claims = Vec<(String, Vec<String>)>;

/// Per-request facts shared by the families.
#[derive(Clone, Debug, Default)]
pub struct RequestContext {
    /// The client address after the trusted `X-Forwarded-For` hops.
    pub client_ip: Option<IpAddr>,
    /// Claims of a validated token, once authentication ran.
    pub claims: Option<Claims>,
    /// Decisions made so far, in order.
    pub decisions: Vec<Decision>,
    /// The API family's view of the request (matched operation, path parameters).
    pub api: crate::api::ApiState,
}

/// The client address of `head` under `cfg`: the entry `xff_trusted_hops` from the right of
/// the last `X-Forwarded-For` header when configured and present, else the peer address.
/// A malformed entry falls back to the peer (a client cannot choose its identity by
/// sending garbage).
pub fn client_ip(head: &RequestHead, cfg: &ClientConfig) -> Option<IpAddr> {
    let peer = head.remote_addr.parse::<IpAddr>().ok();
    if cfg.xff_trusted_hops == 0 {
        return peer;
    }
    let xff: Vec<&[u8]> = head
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("x-forwarded-for"))
        .map(|(_, v)| v.as_slice())
        .collect();
    let Some(last) = xff.last() else {
        return peer;
    };
    let entries: Vec<&str> = std::str::from_utf8(last)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let hops = cfg.xff_trusted_hops as usize;
    if entries.len() < hops {
        return peer;
    }
    entries
        .get(entries.len() - hops)
        .and_then(|e| e.parse::<IpAddr>().ok())
        .or(peer)
}

/// The JSON body of a family denial: the same shape as WAF denials (`error`, `rule_ids`,
/// `request_id`) plus `family` and, when given, a `detail` that never holds secrets.
pub fn reply_json(
    status: u16,
    family: Family,
    rule_id: u32,
    request_id: &str,
    detail: Option<&str>,
) -> Reply {
    let base = crate::log::deny_body_for(status, &[rule_id], request_id);
    let mut body = base.trim_end_matches('}').to_string();
    body.push_str(&format!(",\"family\":\"{}\"", family.name()));
    if let Some(d) = detail {
        body.push_str(&format!(",\"detail\":\"{}\"", crate::log::json_escape(d)));
    }
    body.push('}');
    Reply {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.into_bytes(),
    }
}

impl<E: core::ops::Deref<Target = crate::Engine> + Clone> crate::Transaction<E> {
    /// The families that run on request headers, before WAF phase 1, in this fixed order:
    /// 1. authentication (API family: validates the token and fills the claims),
    /// 2. rate limits (keys may use the client address and claims),
    /// 3. bots (score, challenge, verified bots),
    /// 4. API routes, parameters and authorization.
    ///
    /// Returns the verdict that stops the request, if any.
    pub(crate) fn families_request_headers(
        &mut self,
        host: &dyn crate::Host,
    ) -> Option<crate::Verdict> {
        // 1. Authentication.
        if let Some(v) = self.api_authenticate(host) {
            return Some(v);
        }

        // 2. Rate limits.

        // 3. Bots.
        if let Some(v) = self.bots_request_headers(host) {
            return Some(v);
        }

        // 4. API routes, parameters, authorization.
        if let Some(v) = self.api_authorize(host) {
            return Some(v);
        }

        None
    }

    /// The families that run on the request body, before WAF phase 2 (API schema
    /// validation and mass assignment).
    pub(crate) fn families_request_body(
        &mut self,
        host: &dyn crate::Host,
    ) -> Option<crate::Verdict> {
        self.api_validate_body(host)
    }

    /// Records a family decision and, unless `monitored`, stops the request with `reply`.
    /// Counts `waap.<family>.<denied|challenged|rate_limited>` or `waap.<family>.monitored`
    /// and `waap.rule.<id>` (bounded: one per configured family rule).
    pub fn decide(
        &mut self,
        host: &dyn crate::Host,
        decision: Decision,
        reply: Reply,
    ) -> Option<crate::Verdict> {
        let fam = decision.family.name();
        let word = if decision.monitored {
            "monitored"
        } else {
            decision.action.enforced()
        };
        host.counter_add(&format!("waap.{fam}.{word}"), 1);
        host.counter_add(&format!("waap.rule.{}", decision.rule_id), 1);
        let line = format!(
            "{{\"waap\":\"decision\",\"request_id\":\"{}\",\"client\":\"{}\",\"family\":\"{fam}\",\"id\":{},\"action\":\"{}{}\",\"status\":{},\"reason\":\"{}\"}}",
            crate::log::json_escape(&self.head.request_id),
            self.ctx.client_ip.map(|i| i.to_string()).unwrap_or_default(),
            decision.rule_id,
            if decision.monitored { "would_" } else { "" },
            decision.action.enforced(),
            decision.status,
            crate::log::json_escape(&decision.reason),
        );
        host.log(crate::LogLevel::Info, &line);
        let stop = !decision.monitored;
        if stop {
            self.denied = Some((decision.status, decision.rule_id));
        } else if self.would_deny.is_none() {
            self.would_deny = Some((decision.status, decision.rule_id));
        }
        self.ctx.decisions.push(decision);
        stop.then_some(crate::Verdict::Reply(reply))
    }

    /// The client address (after trusted `X-Forwarded-For` hops).
    pub fn client_ip(&self) -> Option<IpAddr> {
        self.ctx.client_ip
    }

    /// The family decisions made so far.
    pub fn decisions(&self) -> &[Decision] {
        &self.ctx.decisions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(peer: &str, xff: Option<&str>) -> RequestHead {
        let mut h = RequestHead {
            remote_addr: peer.into(),
            ..RequestHead::default()
        };
        if let Some(x) = xff {
            h.headers
                .push(("x-forwarded-for".into(), x.as_bytes().to_vec()));
        }
        h
    }

    #[test]
    fn client_ip_uses_trusted_hops_from_the_right() {
        let cfg0 = ClientConfig {
            xff_trusted_hops: 0,
        };
        let cfg1 = ClientConfig {
            xff_trusted_hops: 1,
        };
        let cfg2 = ClientConfig {
            xff_trusted_hops: 2,
        };
        let h = head("127.0.0.1", Some("6.6.6.6, 10.0.0.7"));
        assert_eq!(client_ip(&h, &cfg0), "127.0.0.1".parse().ok());
        assert_eq!(client_ip(&h, &cfg1), "10.0.0.7".parse().ok());
        assert_eq!(client_ip(&h, &cfg2), "6.6.6.6".parse().ok());
        // Fewer entries than trusted hops, garbage, or no header: the peer.
        let h3 = ClientConfig {
            xff_trusted_hops: 3,
        };
        assert_eq!(client_ip(&h, &h3), "127.0.0.1".parse().ok());
        assert_eq!(
            client_ip(&head("127.0.0.1", Some("evil")), &cfg1),
            "127.0.0.1".parse().ok()
        );
        assert_eq!(client_ip(&head("::1", None), &cfg1), "::1".parse().ok());
    }

    #[test]
    fn reserved_ranges_name_their_family() {
        assert_eq!(Family::of_reserved(200_002), Some(Family::Waf));
        assert_eq!(Family::of_reserved(310_000), Some(Family::RateLimit));
        assert_eq!(Family::of_reserved(325_000), Some(Family::Bots));
        assert_eq!(Family::of_reserved(339_999), Some(Family::Api));
        assert_eq!(Family::of_reserved(941_100), None);
    }
}
