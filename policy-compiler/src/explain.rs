//! `waapc explain`: one request through the engine natively, with every rule that matched,
//! the transformed value it matched, and the anomaly scores.

use std::fmt::Write;

use waap_engine::host::NativeHost;
use waap_engine::{Engine, RequestHead, Verdict};

use crate::cases::CaseRequest;
use crate::rawhttp::parse_request;

/// Parses `input` as a raw HTTP/1.1 request (`METHOD TARGET HTTP/x`) or else as a YAML
/// case request (`{method, path, headers, body}`), evaluates it, and renders a report.
pub fn explain(engine: &Engine, input: &[u8]) -> Result<String, String> {
    let (head, body) = request_of(input)?;
    let host = NativeHost::default();
    let mut tx = engine.transaction(head);
    let verdict = tx.run_request(&body, &host);
    tx.on_log(&host);
    let mut out = String::new();
    match &verdict {
        Verdict::Allow => match tx.would_deny() {
            Some((status, id)) => {
                let _ = writeln!(
                    out,
                    "verdict: allow (monitor mode: would deny with {status} by rule {id})"
                );
            }
            None => {
                let _ = writeln!(out, "verdict: allow");
            }
        },
        Verdict::Deny { status, rule_ids } => {
            let ids: Vec<String> = rule_ids.iter().map(u32::to_string).collect();
            let _ = writeln!(out, "verdict: deny {status} (rules {})", ids.join(", "));
        }
        Verdict::Reply(r) => {
            let _ = writeln!(out, "verdict: reply {}", r.status);
        }
    }
    for d in tx.decisions() {
        let _ = writeln!(
            out,
            "decision: {} rule {} {}{} {} ({})",
            d.family.name(),
            d.rule_id,
            if d.monitored { "would be " } else { "" },
            d.action.enforced(),
            d.status,
            d.reason
        );
    }
    let _ = writeln!(out, "matched rules: {}", tx.matches().len());
    for m in tx.matches() {
        let _ = writeln!(
            out,
            "  {} phase {} {} {}",
            m.rule_id,
            m.phase,
            m.family,
            if m.disruptive { "(disruptive)" } else { "" }
        );
        let _ = writeln!(out, "    var:   {}", m.var);
        let _ = writeln!(out, "    value: {}", m.value);
        if !m.msg.is_empty() {
            let _ = writeln!(out, "    msg:   {}", m.msg);
        }
    }
    let scores: Vec<String> = tx
        .tx_vars()
        .filter(|(k, v)| k.contains("anomaly_score") && v.iter().any(|&b| b != b'0'))
        .map(|(k, v)| format!("{k}={}", String::from_utf8_lossy(v)))
        .collect();
    if !scores.is_empty() {
        let _ = writeln!(out, "scores: {}", scores.join(" "));
    }
    let (rules, ops) = tx.work();
    let _ = writeln!(out, "work: {rules} rules evaluated, {ops} operator runs");
    Ok(out)
}

fn request_of(input: &[u8]) -> Result<(RequestHead, Vec<u8>), String> {
    let first = input.split(|&b| b == b'\n').next().unwrap_or_default();
    let raw = first.windows(5).any(|w| w == b"HTTP/")
        && first.first().is_some_and(u8::is_ascii_uppercase);
    if raw {
        let req = parse_request(input).map_err(|e| format!("not a valid HTTP request: {e}"))?;
        let head = req.to_head("explain");
        return Ok((head, req.body));
    }
    let text = std::str::from_utf8(input)
        .map_err(|_| "neither an HTTP request nor UTF-8 YAML".to_string())?;
    let req: CaseRequest = serde_yaml::from_str(text)
        .map_err(|e| format!("not an HTTP request, and not a YAML request: {e}"))?;
    let body = req.body.clone().unwrap_or_default().into_bytes();
    Ok((req.head()?, body))
}
