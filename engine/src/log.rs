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
const SECRET_NAMES: &[&str] = &["authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "password", "passwd", "token", "secret"];

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

/// The JSON body of a denial.
pub fn deny_body(rule_ids: &[u32], request_id: &str) -> String {
    let ids: Vec<String> = rule_ids.iter().map(u32::to_string).collect();
    format!(
        "{{\"error\":\"forbidden\",\"rule_ids\":[{}],\"request_id\":\"{}\"}}",
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
    host.log(if m.disruptive { LogLevel::Warn } else { LogLevel::Info }, &line);
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
        assert_eq!(mask(b"REQUEST_HEADERS:Authorization", b"Bearer abc"), "****(10 bytes)");
        let long = vec![b'a'; 100];
        let m = mask(b"ARGS:q", &long);
        assert!(m.ends_with("...") && m.len() == MAX_LOGGED_DATA + 3);
        assert_eq!(mask(b"ARGS:q", b"a\x00b"), "a\\x00b");
    }

    #[test]
    fn deny_body_is_json() {
        assert_eq!(deny_body(&[1, 2], "r\"1"), r#"{"error":"forbidden","rule_ids":[1,2],"request_id":"r\"1"}"#);
    }
}
