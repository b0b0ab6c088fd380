//! Match records and the JSON lines the filter logs: one per match, matched data truncated
//! and masked so secrets never reach the log.

use crate::host::{Host, LogLevel};
use crate::program::Mode;
use crate::request::RequestHead;

/// One rule that matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchRecord {
    /// Rule id.
    pub rule_id: u32,
    /// Phase it matched in.
    pub phase: u8,
    /// Rule family (`waf`, `crs`, ...).
    pub family: String,
    /// Expanded message.
    pub msg: String,
    /// The matched variable's name, e.g. `ARGS:q`.
    pub var: String,
    /// The rule's logdata if it has one, else the matched value; truncated and masked.
    pub data: String,
    /// The matched value after the rule's transformations, truncated and masked.
    pub value: String,
    /// Severity, if the rule has one.
    pub severity: Option<u8>,
    /// Whether this rule's own action was disruptive.
    pub disruptive: bool,
}

/// Bytes of matched data kept in logs.
pub const MAX_LOGGED_DATA: usize = 64;

/// Variable names whose values are never logged.
const SECRET_NAMES: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "password",
    "passwd",
    "token",
    "secret",
];

/// Truncates `value` to [`MAX_LOGGED_DATA`] bytes with non-printable bytes escaped, and
/// masks it entirely when the variable name looks like a credential.
pub fn mask(var_name: &[u8], value: &[u8]) -> String {
    let lname = String::from_utf8_lossy(var_name).to_ascii_lowercase();
    if SECRET_NAMES.iter().any(|s| lname.contains(s)) {
        return format!("****({} bytes)", value.len());
    }
    let mut out = String::new();
    for &b in value.iter().take(MAX_LOGGED_DATA) {
        match b {
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    if value.len() > MAX_LOGGED_DATA {
        out.push_str("...");
    }
    out
}

/// Escapes a string for a JSON string literal.
pub fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// The JSON body of a 403 denial.
pub fn deny_body(rule_ids: &[u32], request_id: &str) -> String {
    deny_body_for(403, rule_ids, request_id)
}

/// The JSON body of a denial with `status`: `error` names the status (`forbidden` for 403,
/// `payload_too_large` for 413, ...), the shape is the same for all.
pub fn deny_body_for(status: u16, rule_ids: &[u32], request_id: &str) -> String {
    let error = match status {
        400 => "bad_request",
        401 => "unauthorized",
        404 => "not_found",
        405 => "method_not_allowed",
        413 => "payload_too_large",
        429 => "too_many_requests",
        503 => "unavailable",
        _ => "forbidden",
    };
    let ids: Vec<String> = rule_ids.iter().map(u32::to_string).collect();
    format!(
        "{{\"error\":\"{error}\",\"rule_ids\":[{}],\"request_id\":\"{}\"}}",
        ids.join(","),
        json_escape(request_id)
    )
}

/// Logs one match as a JSON line.
pub fn emit_match(host: &dyn Host, head: &RequestHead, m: &MatchRecord, mode: Mode) {
    let action = match (m.disruptive, mode) {
        (true, Mode::Block) => "deny",
        (true, Mode::Monitor) => "would_deny",
        (false, _) => "log",
    };
    let line = format!(
        "{{\"waap\":\"match\",\"request_id\":\"{}\",\"client\":\"{}\",\"method\":\"{}\",\"path\":\"{}\",\"id\":{},\"family\":\"{}\",\"phase\":{},\"action\":\"{}\",\"msg\":\"{}\",\"var\":\"{}\",\"data\":\"{}\"{}}}",
        json_escape(&head.request_id),
        json_escape(&head.remote_addr),
        json_escape(&head.method),
        json_escape(&mask(b"path", &head.uri)),
        m.rule_id,
        json_escape(&m.family),
        m.phase,
        action,
        json_escape(&m.msg),
        json_escape(&m.var),
        json_escape(&m.data),
        m.severity.map(|s| format!(",\"severity\":{s}")).unwrap_or_default(),
    );
    host.log(
        if m.disruptive {
            LogLevel::Warn
        } else {
            LogLevel::Info
        },
        &line,
    );
}

/// Logs a limit-based denial (no rule).
pub fn emit_limit(host: &dyn Host, head: &RequestHead, status: u16, reason: &str) {
    let line = format!(
        "{{\"waap\":\"limit\",\"request_id\":\"{}\",\"client\":\"{}\",\"status\":{},\"reason\":\"{}\"}}",
        json_escape(&head.request_id),
        json_escape(&head.remote_addr),
        status,
        json_escape(reason)
    );
    host.log(LogLevel::Warn, &line);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_hides_credentials_and_truncates() {
        assert_eq!(
            mask(b"REQUEST_HEADERS:Authorization", b"Bearer abc"),
            "****(10 bytes)"
        );
        let long = vec![b'a'; 100];
        let m = mask(b"ARGS:q", &long);
        assert!(m.ends_with("...") && m.len() == MAX_LOGGED_DATA + 3);
        assert_eq!(mask(b"ARGS:q", b"a\x00b"), "a\\x00b");
    }

    #[test]
    fn deny_body_is_json() {
        assert_eq!(
            deny_body(&[1, 2], "r\"1"),
            r#"{"error":"forbidden","rule_ids":[1,2],"request_id":"r\"1"}"#
        );
    }
}

/// RFC 3339 UTC timestamp (millisecond precision) for `nanos` since the Unix epoch.
pub fn rfc3339(nanos: u64) -> String {
    let secs = nanos / 1_000_000_000;
    let millis = (nanos / 1_000_000) % 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// The audit record of a denied or monitored request: one JSON object.
pub struct Audit<'a> {
    /// When, in nanoseconds since the epoch.
    pub now_nanos: u64,
    /// The request.
    pub head: &'a RequestHead,
    /// `deny` or `would_deny`.
    pub action: &'a str,
    /// HTTP status (given or that would have been given).
    pub status: u16,
    /// Rule ids, the deciding rule first.
    pub rule_ids: &'a [u32],
    /// Family of the deciding rule.
    pub family: &'a str,
    /// The anomaly score, when the policy keeps one.
    pub score: i64,
}

impl Audit<'_> {
    /// Renders the JSON line. Matched data never appears here; the path is truncated.
    pub fn to_json(&self) -> String {
        let ids: Vec<String> = self.rule_ids.iter().map(u32::to_string).collect();
        format!(
            "{{\"waap\":\"audit\",\"timestamp\":\"{}\",\"request_id\":\"{}\",\"client\":\"{}\",\"method\":\"{}\",\"path\":\"{}\",\"rule_ids\":[{}],\"family\":\"{}\",\"score\":{},\"action\":\"{}\",\"status\":{}}}",
            rfc3339(self.now_nanos),
            json_escape(&self.head.request_id),
            json_escape(&self.head.remote_addr),
            json_escape(&self.head.method),
            json_escape(&mask(b"path", &self.head.uri)),
            ids.join(","),
            json_escape(self.family),
            self.score,
            self.action,
            self.status,
        )
    }
}

#[cfg(test)]
mod audit_tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(1_795_758_406_362_000_000),
            "2026-11-27T05:46:46.362Z"
        );
        assert_eq!(rfc3339(951_782_400_000_000_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn audit_line_is_json_without_header_values() {
        let head = RequestHead {
            method: "GET".into(),
            uri: b"/a?q=1".to_vec(),
            headers: vec![("authorization".into(), b"Bearer secret-token".to_vec())],
            request_id: "r1".into(),
            remote_addr: "10.0.0.1".into(),
            ..RequestHead::default()
        };
        let a = Audit {
            now_nanos: 0,
            head: &head,
            action: "deny",
            status: 403,
            rule_ids: &[949110, 941100],
            family: "crs",
            score: 10,
        };
        let j = a.to_json();
        assert!(
            j.contains("\"rule_ids\":[949110,941100]") && j.contains("\"score\":10"),
            "{j}"
        );
        assert!(!j.contains("secret-token"));
    }
}
