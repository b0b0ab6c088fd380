//! Judging one stage: what was observed (status, fired ids, log lines, errors) against the
//! stage's expected `output`, the way go-ftw's `checkResult` does it:
//! `expect_error` decides alone; otherwise an unexpected error fails, then status,
//! `response_contains`, `match_regex` / `expect_ids` (all must fire), `no_match_regex` /
//! `no_expect_ids` (none may fire).
//!
//! Log regexes run over each log line twice: as logged (the engine's JSON) and as a
//! ModSecurity-style rendering `[id "N"] [msg "..."] [data "..."] [severity "N"]` of it,
//! because CRS writes its regexes against ModSecurity's error log (`\[id "\d+"\]`).

use crate::ftw::Output;
use regex::Regex;
use serde::Serialize;
use std::collections::BTreeSet;

/// What one stage produced.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Observed {
    /// The response status, if a response came back.
    pub status: Option<u16>,
    /// A transport or protocol error instead of a response.
    pub error: Option<String>,
    /// Ids of the rules that fired (logged a match).
    pub ids: BTreeSet<u32>,
    /// The engine's log lines for this request.
    pub log_lines: Vec<String>,
    /// The response (status line, headers, body) as text, for `response_contains`.
    #[serde(skip)]
    pub response_text: String,
    /// Context for a failure (e.g. the filter never saw the request).
    pub note: Option<String>,
}

/// The ModSecurity-style rendering of a JSON match line, if it is one.
pub fn modsec_view(line: &str) -> Option<String> {
    let start = line.find('{')?;
    let v: serde_json::Value = serde_json::from_str(&line[start..]).ok()?;
    let id = v.get("id")?.as_u64()?;
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
    let mut out = format!(
        "[id \"{id}\"] [msg \"{}\"] [data \"{}\"]",
        s("msg"),
        s("data")
    );
    if let Some(sev) = v.get("severity").and_then(|x| x.as_u64()) {
        out.push_str(&format!(" [severity \"{sev}\"]"));
    }
    if !s("var").is_empty() {
        out.push_str(&format!(" [var \"{}\"]", s("var")));
    }
    Some(out)
}

/// The rule id of a JSON match line (`{"waap":"match",...,"id":N}`).
pub fn match_id(line: &str) -> Option<u32> {
    let start = line.find("{\"waap\":\"match\"")?;
    let v: serde_json::Value = serde_json::from_str(&line[start..]).ok()?;
    v.get("id")?.as_u64().and_then(|n| u32::try_from(n).ok())
}

fn log_matches(re: &Regex, lines: &[String]) -> bool {
    lines
        .iter()
        .any(|l| re.is_match(l) || modsec_view(l).is_some_and(|m| re.is_match(&m)))
}

fn compile(re: &str) -> Result<Regex, String> {
    Regex::new(re).map_err(|e| format!("invalid regex {re:?}: {e}"))
}

/// Why the stage failed; empty when it passed.
pub fn judge(want: &Output, got: &Observed) -> Vec<String> {
    let mut why = Vec::new();
    let note = |why: &mut Vec<String>| {
        if let Some(n) = &got.note {
            why.push(n.clone());
        }
    };
    if want.expect_error {
        if got.error.is_none() {
            why.push(format!(
                "expected an error, got status {}",
                got.status.map_or("none".into(), |s| s.to_string())
            ));
            note(&mut why);
        }
        return why;
    }
    if let Some(e) = &got.error {
        why.push(format!("error: {e}"));
        note(&mut why);
        return why;
    }
    if !want.status.is_empty() && !got.status.is_some_and(|s| want.status.contains(&s)) {
        let want_s: Vec<String> = want.status.iter().map(u16::to_string).collect();
        why.push(format!(
            "status {}, want {}",
            got.status.map_or("none".into(), |s| s.to_string()),
            want_s.join(" or ")
        ));
    }
    if let Some(rc) = &want.response_contains {
        match compile(rc) {
            Ok(re) if !re.is_match(&got.response_text) => {
                why.push(format!("response does not match /{rc}/"))
            }
            Ok(_) => {}
            Err(e) => why.push(e),
        }
    }
    if let Some(mr) = &want.log.match_regex {
        match compile(mr) {
            Ok(re) if !log_matches(&re, &got.log_lines) => {
                why.push(format!("log does not match /{mr}/"))
            }
            Ok(_) => {}
            Err(e) => why.push(e),
        }
    }
    let missing: Vec<u32> = want
        .log
        .expect_ids
        .iter()
        .copied()
        .filter(|id| !got.ids.contains(id))
        .collect();
    if !missing.is_empty() {
        why.push(format!("missing ids {missing:?}"));
    }
    if let Some(nmr) = &want.log.no_match_regex {
        match compile(nmr) {
            Ok(re) if log_matches(&re, &got.log_lines) => why.push(format!("log matches /{nmr}/")),
            Ok(_) => {}
            Err(e) => why.push(e),
        }
    }
    let unexpected: Vec<u32> = want
        .log
        .no_expect_ids
        .iter()
        .copied()
        .filter(|id| got.ids.contains(id))
        .collect();
    if !unexpected.is_empty() {
        why.push(format!("unexpected ids {unexpected:?}"));
    }
    if !why.is_empty() {
        note(&mut why);
    }
    why
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ftw::LogExpect;

    fn line(id: u32, msg: &str) -> String {
        format!("[wasm] wasm log waap: {{\"waap\":\"match\",\"request_id\":\"r\",\"id\":{id},\"msg\":\"{msg}\",\"var\":\"ARGS:x\",\"data\":\"d\",\"severity\":2}}")
    }

    fn observed(ids: &[u32]) -> Observed {
        Observed {
            status: Some(200),
            ids: ids.iter().copied().collect(),
            log_lines: ids.iter().map(|&i| line(i, "m")).collect(),
            ..Observed::default()
        }
    }

    fn out(expect: &[u32], no: &[u32]) -> Output {
        Output {
            log: LogExpect {
                expect_ids: expect.to_vec(),
                no_expect_ids: no.to_vec(),
                ..LogExpect::default()
            },
            ..Output::default()
        }
    }

    #[test]
    fn expect_ids_must_all_fire_and_no_expect_ids_must_not() {
        assert!(judge(&out(&[1, 2], &[3]), &observed(&[1, 2, 4])).is_empty());
        assert_eq!(
            judge(&out(&[1, 2], &[]), &observed(&[1])),
            vec!["missing ids [2]"]
        );
        assert_eq!(
            judge(&out(&[], &[3, 4]), &observed(&[3])),
            vec!["unexpected ids [3]"]
        );
    }

    #[test]
    fn status_any_of() {
        let mut o = out(&[], &[]);
        o.status = vec![400, 403];
        assert_eq!(
            judge(&o, &observed(&[])),
            vec!["status 200, want 400 or 403"]
        );
        o.status = vec![200];
        assert!(judge(&o, &observed(&[])).is_empty());
    }

    #[test]
    fn expect_error_decides_alone() {
        let mut o = out(&[1], &[]);
        o.expect_error = true;
        let mut got = observed(&[]);
        assert_eq!(judge(&o, &got), vec!["expected an error, got status 200"]);
        got.error = Some("reset".into());
        assert!(judge(&o, &got).is_empty());
        o.expect_error = false;
        assert_eq!(judge(&o, &got), vec!["error: reset"]);
    }

    #[test]
    fn log_regexes_see_json_and_modsecurity_views() {
        let mut o = out(&[], &[]);
        o.log.no_match_regex = Some(r#"\[id "\d+"\]"#.into());
        assert!(judge(&o, &observed(&[])).is_empty());
        assert_eq!(judge(&o, &observed(&[7])).len(), 1);
        let mut o = out(&[], &[]);
        o.log.match_regex = Some("ARGS:x".into());
        assert!(judge(&o, &observed(&[7])).is_empty());
        assert_eq!(
            judge(&o, &observed(&[])),
            vec!["log does not match /ARGS:x/"]
        );
        assert_eq!(match_id(&line(942100, "m")), Some(942100));
        assert_eq!(match_id("not json"), None);
    }

    #[test]
    fn a_note_explains_failures_only() {
        let mut got = observed(&[]);
        got.note = Some("no x-request-id".into());
        assert!(judge(&out(&[], &[]), &got).is_empty());
        assert_eq!(
            judge(&out(&[1], &[]), &got),
            vec!["missing ids [1]", "no x-request-id"]
        );
    }
}
