//! Rate limits: the `rate_limits:` entries of a policy.
//!
//! Each entry matches requests (host, path prefix or regex, method, headers), builds a key
//! (client address, header, cookie, query argument, token claim, or several joined) and
//! limits it:
//! - `scope: local`: a GCRA (generic cell rate algorithm) in the proxy's shared data,
//!   updated with compare-and-swap so every worker of one Envoy counts against one state.
//!   State lives in a fixed table of `max_keys` slots per entry (2-way set-associative on
//!   the key's hash): memory is bounded, a full set evicts the slot closest to expiry and
//!   counts `waap.ratelimit.evictions`; expired state is simply reused.
//! - `scope: global`: one `ShouldRateLimit` call (Envoy's rate-limit protocol) per request
//!   for all matched global entries; see [`GlobalCall`] and
//!   [`crate::Transaction::on_global_response`].
//! - `distinct:`: at most N distinct values of a request part per key per window (local).
//!
//! An entry whose key cannot be built (header, cookie, argument or claim absent) does not
//! apply to the request: a limit keyed on an API key does not lump all requests without
//! one into a single bucket. Add a client-IP entry to cover those.
//!
//! Denials answer `status` (429 by default) with `Retry-After`, `RateLimit-Policy` and
//! `RateLimit` headers (draft-ietf-httpapi-ratelimit-headers) and the usual JSON body.

pub mod proto;

use serde::{Deserialize, Serialize};

use crate::families::{Action, Decision, Family};
use crate::host::{Host, LogLevel};

/// First rule id of the rate-limit family; entry `i` has id `RULE_BASE + i`.
pub const RULE_BASE: u32 = 310_000;

/// Default slots (distinct keys kept) per entry.
pub const DEFAULT_MAX_KEYS: u32 = 16_384;

/// CAS attempts before an update is given up (then the failure mode applies).
pub const CAS_ATTEMPTS: u32 = 16;

/// The `rate_limits:` section of a policy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct RateLimits {
    /// Entries in policy order.
    pub entries: Vec<RateLimit>,
    /// Slots of local state per entry: the bound on distinct keys tracked at once.
    pub max_keys: u32,
    /// What happens when the limiter cannot decide (CAS contention, service down).
    pub failure_mode: FailureMode,
    /// The rate-limit service of `scope: global` entries.
    pub global: Option<GlobalService>,
}

/// What to do when a limit cannot be evaluated.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailureMode {
    /// Let the request through (counted `waap.ratelimit.failed_open`).
    #[default]
    Open,
    /// Treat it as over the limit (counted `waap.ratelimit.failed_closed`).
    Closed,
}

/// Where global limits are counted.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct GlobalService {
    /// Envoy cluster of the rate-limit service (HTTP/2).
    pub cluster: String,
    /// Rate-limit domain sent with each call.
    pub domain: String,
    /// Call timeout in milliseconds.
    pub timeout_ms: u32,
}

/// One rate limit.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct RateLimit {
    /// Name (logs, `RateLimit-Policy`, descriptors).
    pub name: String,
    /// Rule id (`RULE_BASE + index`).
    pub rule_id: u32,
    /// Which requests count.
    pub matcher: RequestMatch,
    /// The key parts, joined.
    pub key: Vec<KeyPart>,
    /// The rate, if this entry limits requests.
    pub limit: Option<Limit>,
    /// The distinct-values limit, if any.
    pub distinct: Option<Distinct>,
    /// Local or global counting.
    pub scope: Scope,
    /// Monitor: count and log "would limit" but let traffic through.
    pub monitor: bool,
    /// Status of the denial.
    pub status: u16,
}

/// Local (this Envoy) or global (the rate-limit service).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Scope {
    /// Shared data of this Envoy.
    #[default]
    Local,
    /// The rate-limit service.
    Global,
}

/// `count` requests per `period_ms`, with bursts up to `burst` requests.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limit {
    /// Requests per period.
    pub count: u32,
    /// Period in milliseconds.
    pub period_ms: u64,
    /// Requests admitted back to back from a fresh state (default: `count`).
    pub burst: u32,
}

/// At most `max` distinct values of `part` per key per `period_ms` (fixed windows).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Distinct {
    /// The request part whose distinct values are counted.
    pub part: KeyPart,
    /// Distinct values allowed per window.
    pub max: u32,
    /// Window in milliseconds.
    pub period_ms: u64,
}

/// Which requests an entry counts; every given condition must hold.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestMatch {
    /// Hosts (lowercase, no port); `*.example.com` matches subdomains. Empty: any.
    pub hosts: Vec<String>,
    /// Prefix of the URL-decoded path.
    pub path_prefix: Option<String>,
    /// Regex over the URL-decoded path (index into the program's regexes).
    pub path_regex: Option<u32>,
    /// Methods (uppercase). Empty: any.
    pub methods: Vec<String>,
    /// Headers that must be present (lowercase name), with an exact value when given.
    pub headers: Vec<(String, Option<String>)>,
    /// An OpenAPI operation of the API family, `METHOD /template` (e.g.
    /// `GET /accounts/{account_id}`): the request must have matched it.
    pub api_route: Option<String>,
}

/// One part of a key.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub enum KeyPart {
    /// The client address (after trusted `X-Forwarded-For` hops).
    #[default]
    ClientIp,
    /// A request header (lowercase name).
    Header(String),
    /// A cookie.
    Cookie(String),
    /// A query argument (decoded name).
    Query(String),
    /// A claim of the validated token.
    Claim(String),
    /// A path parameter of the matched OpenAPI operation (API family).
    PathParam(String),
}

/// A pending call to the rate-limit service: the filter sends it, holds the request and
/// hands the answer to [`crate::Transaction::on_global_response`].
///
/// The call is gRPC (`/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit`, one
/// length-prefixed message, `grpc-status` in the trailers) sent as an HTTP/2 request with
/// the proxy's `dispatch_http_call`: proxy-wasm 0.2.5's `dispatch_grpc_call` panics (and
/// aborts the VM) when Envoy answers `BadArgument` for an unknown cluster, while the HTTP
/// call reports it as an error the failure mode can handle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobalCall {
    /// Envoy cluster (HTTP/2).
    pub cluster: String,
    /// Request headers, pseudo-headers first.
    pub headers: Vec<(String, String)>,
    /// The gRPC frame: flag byte 0, 4-byte big-endian length, the `RateLimitRequest`.
    pub body: Vec<u8>,
    /// Timeout in milliseconds.
    pub timeout_ms: u32,
}

/// The proxy's answer to a [`GlobalCall`]: HTTP status, `grpc-status` and `grpc-message`
/// (from the trailers, or the headers of a trailers-only answer) and the body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpAnswer<'a> {
    /// `:status`, if any headers came back (none when the call failed or timed out).
    pub status: Option<u16>,
    /// `grpc-status`.
    pub grpc_status: Option<u32>,
    /// `grpc-message`.
    pub grpc_message: String,
    /// Response body (gRPC frames).
    pub body: &'a [u8],
}

/// The `RateLimitResponse` bytes of a unary gRPC answer, or why there are none.
pub fn grpc_unary_message<'a>(a: &HttpAnswer<'a>) -> Result<&'a [u8], GlobalError> {
    match a.status {
        None => {
            return Err(GlobalError::Status(
                4,
                "no response (timeout or connection failure)".into(),
            ))
        }
        Some(200) => {}
        Some(s) => return Err(GlobalError::Status(14, format!("HTTP status {s}"))),
    }
    match a.grpc_status {
        Some(0) => {}
        Some(c) => return Err(GlobalError::Status(c, a.grpc_message.clone())),
        None => return Err(GlobalError::Malformed("no grpc-status".into())),
    }
    let b = a.body;
    if b.len() < 5 {
        return Err(GlobalError::Malformed(
            "gRPC frame shorter than its 5-byte prefix".into(),
        ));
    }
    if b[0] != 0 {
        return Err(GlobalError::Malformed(
            "compressed gRPC message (not requested)".into(),
        ));
    }
    let n = u32::from_be_bytes([b[1], b[2], b[3], b[4]]) as usize;
    b.get(5..5 + n)
        .ok_or_else(|| GlobalError::Malformed("gRPC frame truncated".into()))
}

/// The HTTP/2 request carrying `message` as a unary gRPC call of `ShouldRateLimit`.
pub fn grpc_call(cluster: &str, message: &[u8], timeout_ms: u32) -> GlobalCall {
    let mut body = Vec::with_capacity(5 + message.len());
    body.push(0);
    body.extend_from_slice(&(message.len() as u32).to_be_bytes());
    body.extend_from_slice(message);
    GlobalCall {
        cluster: cluster.to_string(),
        headers: vec![
            (":method".into(), "POST".into()),
            (
                ":path".into(),
                format!("/{}/{}", proto::SERVICE, proto::METHOD),
            ),
            (":authority".into(), cluster.to_string()),
            ("content-type".into(), "application/grpc".into()),
            ("te".into(), "trailers".into()),
            ("grpc-timeout".into(), format!("{timeout_ms}m")),
        ],
        body,
        timeout_ms,
    }
}

/// Why the rate-limit service gave no answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GlobalError {
    /// The call could not be dispatched (unknown cluster...).
    Dispatch(String),
    /// The call ended with a gRPC status other than OK (4: no answer in time or no
    /// connection; 14: an HTTP error status).
    Status(u32, String),
    /// The answer did not decode.
    Malformed(String),
}

/// Rate-limit state of one request: global entries waiting for the service.
#[derive(Clone, Debug, Default)]
pub struct Pending {
    /// Matched global entries (index into the entries) awaiting the service.
    entries: Vec<usize>,
    /// The call, until the filter takes it.
    call: Option<GlobalCall>,
}

/// FNV-1a, 64 bits: slot and fingerprint of a key (same on every worker and VM).
pub fn hash64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in *p {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // Separator so ("ab","c") and ("a","bc") differ.
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // Final mix (splitmix64 finaliser) so the low bits used for slots are well spread.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The outcome of one local check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Admitted; requests left in the current burst.
    Pass {
        /// Requests still admitted back to back.
        remaining: u64,
    },
    /// Over the limit; seconds until a request is admitted again.
    Limited {
        /// `Retry-After` in whole seconds (at least 1).
        retry_after_secs: u64,
    },
    /// The state could not be updated (CAS contention or host failure).
    Failed,
}

/// State of a GCRA slot: the key's fingerprint and its theoretical arrival time.
fn read_u64(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at + 8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

/// Shared-data key of a slot: `waap.rl.<rule id>.<slot>` (rates) or `waap.rld.<rule
/// id>.<slot>` (distinct values).
fn slot_key(table: &str, slot: u64) -> String {
    format!("{table}.{slot}")
}

/// The two candidate slots of a hash.
fn slots(h: u64, max_keys: u32) -> [u64; 2] {
    let n = u64::from(max_keys.max(1));
    let a = h % n;
    let b = (h.rotate_left(32) ^ 0x9e37_79b9_7f4a_7c15) % n;
    [a, b]
}

/// A shared-data value and its CAS token.
type Entry = (Vec<u8>, u32);

/// Picks the slot for `fp`: the one holding it, else an empty or expired one, else the one
/// whose state expires first (an eviction). `expiry` reads a stored value's expiry time.
/// Returns (slot, current value and CAS if any, evicted a live key).
fn choose_slot(
    host: &dyn Host,
    table: &str,
    h: u64,
    max_keys: u32,
    now: u64,
    expiry: impl Fn(&[u8]) -> u64,
) -> (u64, Option<Entry>, bool) {
    let cands = slots(h, max_keys);
    let mut best: Option<(u64, Option<Entry>, u64)> = None;
    for s in cands {
        let cur = host.shared_get(&slot_key(table, s));
        let (fp, exp) = match &cur {
            Some((v, _)) if v.len() >= 16 => (read_u64(v, 0).unwrap_or(0), expiry(v)),
            _ => (0, 0),
        };
        if cur.is_some() && fp == h {
            return (s, cur, false);
        }
        let better = match &best {
            None => true,
            Some((_, _, e)) => exp < *e,
        };
        if better {
            best = Some((s, cur, exp));
        }
    }
    match best {
        Some((s, cur, exp)) => {
            // A live state of another key is being replaced.
            let evicted = cur.as_ref().is_some_and(|(v, _)| v.len() >= 16) && exp > now;
            (s, cur, evicted)
        }
        None => (cands[0], None, false),
    }
}

/// One GCRA decision for key hash `h` at `now` (ns), with CAS retries.
pub fn gcra(host: &dyn Host, rule_id: u32, max_keys: u32, lim: &Limit, h: u64, now: u64) -> Check {
    let count = u64::from(lim.count.max(1));
    let interval = (lim.period_ms.saturating_mul(1_000_000) / count).max(1);
    let tau = interval.saturating_mul(u64::from(lim.burst.max(1)));
    let tat_of = |v: &[u8]| read_u64(v, 8).unwrap_or(0);
    let table = format!("waap.rl.{rule_id}");
    for _ in 0..CAS_ATTEMPTS {
        let (slot, cur, evicted) = choose_slot(host, &table, h, max_keys, now, tat_of);
        let stored = match &cur {
            Some((v, _)) if read_u64(v, 0) == Some(h) => tat_of(v),
            _ => 0,
        };
        let tat = stored.max(now);
        let new_tat = tat.saturating_add(interval);
        if new_tat - now > tau {
            let wait = new_tat - tau - now;
            return Check::Limited {
                retry_after_secs: wait.div_ceil(1_000_000_000).max(1),
            };
        }
        let mut value = Vec::with_capacity(16);
        value.extend_from_slice(&h.to_le_bytes());
        value.extend_from_slice(&new_tat.to_le_bytes());
        if store(host, &table, slot, &value, cur.as_ref()) {
            if evicted {
                host.counter_add("waap.ratelimit.evictions", 1);
            }
            return Check::Pass {
                remaining: (tau - (new_tat - now)) / interval,
            };
        }
        host.counter_add("waap.ratelimit.cas_retries", 1);
    }
    Check::Failed
}

/// Writes a slot. A slot seen empty is created unconditionally (the proxy's shared data
/// has no create-if-absent); this can lose one concurrent first update of a new slot.
fn store(
    host: &dyn Host,
    table: &str,
    slot: u64,
    value: &[u8],
    cur: Option<&(Vec<u8>, u32)>,
) -> bool {
    let key = slot_key(table, slot);
    match cur {
        Some((_, cas)) => host.shared_set(&key, value, Some(*cas)),
        None => host.shared_set(&key, value, None),
    }
}

/// Most distinct values per window a `distinct:` limit may count (bounds slot size).
pub const DISTINCT_MAX: u32 = 1_000;

/// One distinct-values decision: `value_hash` is the hash of the counted part's value.
/// Slot layout: fingerprint, window start (ns), then 4-byte value hashes.
pub fn distinct(
    host: &dyn Host,
    rule_id: u32,
    max_keys: u32,
    d: &Distinct,
    h: u64,
    value_hash: u32,
    now: u64,
) -> Check {
    let period = d.period_ms.saturating_mul(1_000_000).max(1);
    let window = now - now % period;
    let end_of = |v: &[u8]| read_u64(v, 8).unwrap_or(0).saturating_add(period);
    let table = format!("waap.rld.{rule_id}");
    for _ in 0..CAS_ATTEMPTS {
        let (slot, cur, evicted) = choose_slot(host, &table, h, max_keys, now, end_of);
        let mut seen: Vec<u32> = Vec::new();
        if let Some((v, _)) = &cur {
            if read_u64(v, 0) == Some(h) && read_u64(v, 8) == Some(window) {
                seen = v[16..]
                    .chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
            }
        }
        if seen.contains(&value_hash) {
            return Check::Pass {
                remaining: u64::from(d.max).saturating_sub(seen.len() as u64),
            };
        }
        if seen.len() as u64 >= u64::from(d.max) {
            let wait = window.saturating_add(period).saturating_sub(now);
            return Check::Limited {
                retry_after_secs: wait.div_ceil(1_000_000_000).max(1),
            };
        }
        seen.push(value_hash);
        let mut value = Vec::with_capacity(16 + 4 * seen.len());
        value.extend_from_slice(&h.to_le_bytes());
        value.extend_from_slice(&window.to_le_bytes());
        for s in &seen {
            value.extend_from_slice(&s.to_le_bytes());
        }
        if store(host, &table, slot, &value, cur.as_ref()) {
            if evicted {
                host.counter_add("waap.ratelimit.evictions", 1);
            }
            return Check::Pass {
                remaining: u64::from(d.max).saturating_sub(seen.len() as u64),
            };
        }
        host.counter_add("waap.ratelimit.cas_retries", 1);
    }
    Check::Failed
}

fn period_words(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}", ms / 1000)
    } else {
        // Sub-second windows: the header wants seconds; round up.
        format!("{}", ms.div_ceil(1000))
    }
}

/// `host:port`, `[v6]:port` or a bare name/address to the name/address alone.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    match host.split_once(':') {
        Some((h, p)) if !p.contains(':') => h,
        _ => host,
    }
}

/// The denial reply of `e`: JSON body plus `Retry-After`, `RateLimit-Policy`, `RateLimit`.
pub fn reply(
    e: &RateLimit,
    request_id: &str,
    retry_after_secs: u64,
    remaining: u64,
) -> crate::Reply {
    let mut r = crate::families::reply_json(
        e.status,
        Family::RateLimit,
        e.rule_id,
        request_id,
        Some(&format!("rate limit {} exceeded", e.name)),
    );
    let (quota, window_ms) = match (&e.limit, &e.distinct) {
        (Some(l), _) => (l.count, l.period_ms),
        (None, Some(d)) => (d.max, d.period_ms),
        (None, None) => (0, 0),
    };
    r.headers
        .push(("retry-after".into(), retry_after_secs.to_string()));
    r.headers.push((
        "ratelimit-policy".into(),
        format!("\"{}\";q={quota};w={}", e.name, period_words(window_ms)),
    ));
    r.headers.push((
        "ratelimit".into(),
        format!("\"{}\";r={remaining};t={retry_after_secs}", e.name),
    ));
    r
}

impl<E: core::ops::Deref<Target = crate::Engine> + Clone> crate::Transaction<E> {
    /// Step 2 of the request-header families: every matching local entry is checked and the
    /// first one over its limit (in policy order) decides; matching global entries are
    /// gathered into one pending [`GlobalCall`].
    pub(crate) fn rate_limits(&mut self, host: &dyn Host) -> Option<crate::Verdict> {
        let engine = self.engine.clone();
        let rl = engine.families.rate_limits.as_ref()?;
        let now = host.now_nanos();
        let mut global = Vec::new();
        for (i, e) in rl.entries.iter().enumerate() {
            if !self.rl_matches(&e.matcher) {
                continue;
            }
            let Some(parts) = self.rl_key(&e.key) else {
                continue;
            };
            let refs: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
            let h = hash64(&refs);
            if e.scope == Scope::Global {
                global.push((i, h));
                continue;
            }
            let mut checks = Vec::with_capacity(2);
            if let Some(l) = &e.limit {
                checks.push(gcra(host, e.rule_id, rl.max_keys, l, h, now));
            }
            if let Some(d) = &e.distinct {
                // A request without the counted part adds no distinct value.
                if let Some(v) = self.rl_key(std::slice::from_ref(&d.part)) {
                    let vh = hash64(&[v.concat().as_slice()]) as u32;
                    checks.push(distinct(host, e.rule_id, rl.max_keys, d, h, vh, now));
                }
            }
            for c in checks {
                let v = match c {
                    Check::Pass { .. } => None,
                    Check::Limited { retry_after_secs } => {
                        self.rl_deny(host, e, retry_after_secs, "over the limit")
                    }
                    Check::Failed => {
                        self.rl_failed(host, e, rl.failure_mode, "shared-data contention")
                    }
                };
                if v.is_some() {
                    return v;
                }
            }
        }
        if !global.is_empty() {
            if let Some(svc) = &rl.global {
                let descriptors = global
                    .iter()
                    .filter_map(|&(i, h)| {
                        let e = rl.entries.get(i)?;
                        let l = e.limit.as_ref()?;
                        Some(proto::Descriptor {
                            entries: vec![
                                ("waap_limit".into(), e.name.clone()),
                                ("key".into(), format!("{h:016x}")),
                            ],
                            limit: proto::Unit::from_millis(l.period_ms).map(|u| (l.count, u)),
                        })
                    })
                    .collect();
                let req = proto::Request {
                    domain: svc.domain.clone(),
                    descriptors,
                    hits_addend: 0,
                };
                self.ctx.ratelimit = Pending {
                    entries: global.iter().map(|&(i, _)| i).collect(),
                    call: Some(grpc_call(&svc.cluster, &req.encode(), svc.timeout_ms)),
                };
            }
        }
        None
    }

    /// The call to the rate-limit service this request needs, if any: the filter dispatches
    /// it once the request is otherwise allowed, holds the request, and passes the answer
    /// to [`Self::on_global_response`]. Taking it again returns `None`.
    pub fn take_global_call(&mut self) -> Option<GlobalCall> {
        if self.denied.is_some() {
            return None;
        }
        self.ctx.ratelimit.call.take()
    }

    /// The rate-limit service's answer (the `RateLimitResponse` bytes) or why there is none.
    /// Over-limit entries decide in policy order; without an answer the failure mode
    /// decides (`waap.ratelimit.global.errors` counts every failed call).
    pub fn on_global_response(
        &mut self,
        host: &dyn Host,
        answer: Result<&[u8], GlobalError>,
    ) -> crate::Verdict {
        let engine = self.engine.clone();
        let Some(rl) = engine.families.rate_limits.as_ref() else {
            return crate::Verdict::Allow;
        };
        let pending = std::mem::take(&mut self.ctx.ratelimit.entries);
        let resp = answer.and_then(|b| {
            proto::Response::decode(b).map_err(|e| GlobalError::Malformed(e.0.into()))
        });
        match resp {
            Ok(resp) => {
                host.counter_add("waap.ratelimit.global.calls", 1);
                for (n, i) in pending.iter().enumerate() {
                    let Some(e) = rl.entries.get(*i) else {
                        continue;
                    };
                    let over = match resp.statuses.get(n) {
                        Some(s) => s.code == proto::Code::OverLimit,
                        // No per-descriptor status: the overall code speaks for all.
                        None => resp.overall == proto::Code::OverLimit,
                    };
                    if over {
                        let retry = resp.statuses.get(n).map_or(1, |s| s.reset_secs.max(1));
                        if let Some(v) = self.rl_deny(host, e, retry, "over the global limit") {
                            return v;
                        }
                    }
                }
                crate::Verdict::Allow
            }
            Err(err) => {
                host.counter_add("waap.ratelimit.global.errors", 1);
                let why = match &err {
                    GlobalError::Dispatch(m) => {
                        format!("rate-limit service call not dispatched: {m}")
                    }
                    GlobalError::Status(c, m) => {
                        format!("rate-limit service failed: grpc status {c} {m}")
                    }
                    GlobalError::Malformed(m) => {
                        format!("rate-limit service answer malformed: {m}")
                    }
                };
                host.log(
                    LogLevel::Warn,
                    &format!("waap: {}", crate::log::json_escape(&why)),
                );
                for i in pending {
                    let Some(e) = rl.entries.get(i) else { continue };
                    if let Some(v) =
                        self.rl_failed(host, e, rl.failure_mode, "rate-limit service unavailable")
                    {
                        return v;
                    }
                }
                crate::Verdict::Allow
            }
        }
    }

    fn rl_deny(
        &mut self,
        host: &dyn Host,
        e: &RateLimit,
        retry_after_secs: u64,
        why: &str,
    ) -> Option<crate::Verdict> {
        let reply = reply(e, &self.head.request_id, retry_after_secs, 0);
        self.decide(
            host,
            Decision {
                family: Family::RateLimit,
                rule_id: e.rule_id,
                action: Action::RateLimit,
                status: e.status,
                reason: format!("{}: {why}", e.name),
                monitored: e.monitor,
            },
            reply,
        )
    }

    fn rl_failed(
        &mut self,
        host: &dyn Host,
        e: &RateLimit,
        mode: FailureMode,
        why: &str,
    ) -> Option<crate::Verdict> {
        match mode {
            FailureMode::Open => {
                host.counter_add("waap.ratelimit.failed_open", 1);
                None
            }
            FailureMode::Closed => {
                host.counter_add("waap.ratelimit.failed_closed", 1);
                self.rl_deny(host, e, 1, &format!("{why} (fail_closed)"))
            }
        }
    }

    fn rl_matches(&self, m: &RequestMatch) -> bool {
        if !m.methods.is_empty()
            && !m
                .methods
                .iter()
                .any(|x| x.eq_ignore_ascii_case(&self.head.method))
        {
            return false;
        }
        if let Some(want) = &m.api_route {
            let matched = self.engine.families.api.as_ref().and_then(|a| {
                a.routes
                    .get(self.ctx.api.route? as usize)
                    .map(|r| format!("{} {}", r.method, r.template))
            });
            if matched.as_deref() != Some(want.as_str()) {
                return false;
            }
        }
        if let Some(p) = &m.path_prefix {
            if !self.hd.filename.starts_with(p.as_bytes()) {
                return false;
            }
        }
        if let Some(r) = m.path_regex {
            match self.engine.matchers.get(r as usize) {
                Some(mm) => {
                    if !mm.is_match(&self.hd.filename).unwrap_or(false) {
                        return false;
                    }
                }
                None => return false,
            }
        }
        if !m.hosts.is_empty() {
            let host = self.rl_header("host").unwrap_or_default();
            let host = String::from_utf8_lossy(host).to_ascii_lowercase();
            let host = strip_port(&host);
            let ok = m.hosts.iter().any(|want| match want.strip_prefix("*.") {
                Some(suffix) => {
                    host.len() > suffix.len() + 1
                        && host.ends_with(suffix)
                        && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
                }
                None => host == want,
            });
            if !ok {
                return false;
            }
        }
        m.headers
            .iter()
            .all(|(name, want)| match (self.rl_header(name), want) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(v), Some(w)) => v == w.as_bytes(),
            })
    }

    fn rl_header(&self, name: &str) -> Option<&[u8]> {
        self.head
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The key parts' values, or `None` when one is absent.
    fn rl_key(&self, parts: &[KeyPart]) -> Option<Vec<Vec<u8>>> {
        parts
            .iter()
            .map(|p| match p {
                KeyPart::ClientIp => self.ctx.client_ip.map(|i| i.to_string().into_bytes()),
                KeyPart::Header(n) => self.rl_header(n).map(<[u8]>::to_vec),
                KeyPart::Cookie(n) => self
                    .hd
                    .cookies
                    .iter()
                    .find(|(k, _)| k == n.as_bytes())
                    .map(|(_, v)| v.clone()),
                KeyPart::Query(n) => self
                    .hd
                    .args_get
                    .iter()
                    .find(|(k, _)| k == n.as_bytes())
                    .map(|(_, v)| v.clone()),
                KeyPart::Claim(n) => self.ctx.claims.as_ref().and_then(|c| {
                    c.iter()
                        .find(|(k, _)| k == n)
                        .map(|(_, v)| v.join(",").into_bytes())
                }),
                KeyPart::PathParam(n) => self
                    .ctx
                    .api
                    .path_params
                    .iter()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| v.clone().into_bytes()),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
