//! Native mode: the raw request is parsed here and run through every phase of the engine the
//! way the filter drives it, with the echo server's response (albedo `/reflect` semantics)
//! for phases 3 and 4. Fast, and shows the engine's behaviour without Envoy in between.

use crate::judge::Observed;
use crate::policy::MARKER_ID;
use crate::upstream;
use waap_e2e::echo;
use waap_engine::host::NativeHost;
use waap_engine::{Engine, RequestHead, Verdict};
use waap_policy_compiler::rawhttp::{parse_request, ParsedRequest};

/// The head the filter would build, plus the `x-forwarded-proto` Envoy adds before it.
fn head_of(req: &ParsedRequest, request_id: &str) -> RequestHead {
    let mut head = req.to_head(request_id);
    let at = head.headers.len().saturating_sub(1);
    head.headers
        .insert(at, ("x-forwarded-proto".into(), b"http".to_vec()));
    head
}

/// Runs one raw request through `engine`.
pub fn run(engine: &Engine, raw: &[u8], request_id: &str) -> Observed {
    let req = match parse_request(raw) {
        Ok(r) => r,
        Err(e) => {
            return Observed {
                status: Some(400),
                note: Some(format!("the native parser rejected the request: {e}")),
                ..Observed::default()
            }
        }
    };
    let host = NativeHost::default();
    let mut tx = engine.transaction(head_of(&req, request_id));
    let verdict = tx.run_request(&req.body, &host);
    let status = match verdict {
        Verdict::Deny { status, .. } => status,
        Verdict::Reply(r) => r.status,
        Verdict::Allow => {
            let resp = upstream::respond(&echo::Request {
                method: req.method.clone(),
                target: String::from_utf8_lossy(&req.uri).into_owned(),
                version: req.version.clone(),
                headers: req
                    .headers
                    .iter()
                    .map(|(n, v)| (n.clone(), String::from_utf8_lossy(v).into_owned()))
                    .collect(),
                body: req.body.clone(),
            });
            let mut headers: Vec<(String, Vec<u8>)> = resp
                .headers
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.as_bytes().to_vec()))
                .collect();
            headers.push((
                "content-length".into(),
                resp.body.len().to_string().into_bytes(),
            ));
            match tx.on_response_headers(resp.status, headers, &host) {
                Verdict::Deny { status, .. } => status,
                Verdict::Reply(r) => r.status,
                Verdict::Allow => {
                    if tx.wants_response_body() {
                        let limit = tx.engine_response_limit();
                        let _ = tx.on_response_body(
                            resp.body[..resp.body.len().min(limit)].to_vec(),
                            &host,
                        );
                    }
                    resp.status
                }
            }
        }
    };
    tx.on_log(&host);
    let ids = tx
        .matches()
        .iter()
        .map(|m| m.rule_id)
        .filter(|&id| id != MARKER_ID)
        .collect();
    let log_lines = host
        .logs
        .borrow()
        .iter()
        .map(|(_, l)| l.clone())
        .filter(|l| crate::judge::match_id(l) != Some(MARKER_ID))
        .collect();
    Observed {
        status: Some(status),
        ids,
        log_lines,
        response_text: String::new(),
        ..Observed::default()
    }
}
