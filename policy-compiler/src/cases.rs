//! The shared request -> verdict case format (`tests/cases/*.yaml`): one corpus that runs
//! natively against the engine (`waapc test`, `cargo test`) and through a real Envoy (the
//! `waap-e2e` harness).
//!
//! ```yaml
//! policy: examples/basic/policy.yaml   # relative to the workspace root
//! cases:
//!   - name: xss in query is blocked
//!     request:
//!       method: GET                      # default GET
//!       path: "/search?q=%3Cscript%3E"  # request target as sent
//!       headers: { content-type: application/json }   # optional, order kept
//!       body: '...'                      # optional
//!     expect:
//!       status: 403                      # 200: reached the upstream
//!       rule_ids: [1001]                 # optional: ids that must all be in the deny body
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;
use waap_engine::host::NativeHost;
use waap_engine::{Engine, RequestHead, Verdict};

/// One case file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    /// The policy the cases run against, relative to the workspace root.
    pub policy: String,
    /// The cases.
    pub cases: Vec<Case>,
}

/// One request and its expected verdict.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// What the case shows.
    pub name: String,
    /// The request.
    pub request: CaseRequest,
    /// The verdict.
    pub expect: Expect,
}

/// A request of a case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseRequest {
    /// Method (default GET).
    #[serde(default = "default_method")]
    pub method: String,
    /// Request target, as sent.
    pub path: String,
    /// Headers, in order.
    #[serde(default)]
    pub headers: serde_yaml::Mapping,
    /// Body.
    #[serde(default)]
    pub body: Option<String>,
}

fn default_method() -> String {
    "GET".into()
}

/// The expected verdict.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Status the client sees (200 when the request reaches the upstream).
    pub status: u16,
    /// Rule ids that must all be named in the deny body.
    #[serde(default)]
    pub rule_ids: Option<Vec<u64>>,
}

fn scalar(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl CaseRequest {
    /// The headers as (name, value) strings, in order.
    pub fn header_pairs(&self) -> Result<Vec<(String, String)>, String> {
        self.headers
            .iter()
            .map(|(k, v)| match (scalar(k), scalar(v)) {
                (Some(k), Some(v)) => Ok((k, v)),
                _ => Err(format!("header {k:?}: {v:?} is not a scalar pair")),
            })
            .collect()
    }

    /// The request head the filter would build (names lower-cased as Envoy gives them,
    /// `host` added when absent).
    pub fn head(&self) -> Result<RequestHead, String> {
        let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
        let pairs = self.header_pairs()?;
        if !pairs.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            headers.push(("host".into(), b"localhost".to_vec()));
        }
        let has_length = pairs.iter().any(|(k, _)| {
            k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding")
        });
        headers.extend(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.into_bytes())),
        );
        // As the Envoy driver sends it: a body comes with its Content-Length.
        if let Some(body) = self
            .body
            .as_deref()
            .filter(|b| !b.is_empty() && !has_length)
        {
            headers.push(("content-length".into(), body.len().to_string().into_bytes()));
        }
        Ok(RequestHead {
            method: self.method.clone(),
            uri: self.path.as_bytes().to_vec(),
            protocol: "HTTP/1.1".into(),
            headers,
            remote_addr: "127.0.0.1".into(),
            request_id: "native".into(),
            peer_cert_sha256: None,
        })
    }
}

impl CaseFile {
    /// Parses a case file.
    pub fn parse(text: &str) -> Result<CaseFile, String> {
        serde_yaml::from_str(text).map_err(|e| e.to_string())
    }

    /// Reads and parses a case file.
    pub fn read(path: &Path) -> Result<CaseFile, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// The `*.yaml` / `*.yml` files of a directory, sorted (none if it does not exist).
pub fn case_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    if !dir.is_dir() {
        return Ok(files);
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Checks a verdict against a case's expectation: `Err` says what differs.
pub fn judge(expect: &Expect, status: u16, rule_ids: &[u64]) -> Result<(), String> {
    if status != expect.status {
        return Err(format!(
            "got {status} {rule_ids:?}, want {} {:?}",
            expect.status, expect.rule_ids
        ));
    }
    if let Some(want) = &expect.rule_ids {
        let missing: Vec<u64> = want
            .iter()
            .copied()
            .filter(|w| !rule_ids.contains(w))
            .collect();
        if !missing.is_empty() {
            return Err(format!("rule_ids {rule_ids:?} lack {missing:?}"));
        }
    }
    Ok(())
}

/// Runs one case natively on `engine` (request phases, as the filter does).
pub fn run_native(engine: &Engine, case: &Case) -> Result<(), String> {
    let host = NativeHost::default();
    let mut tx = engine.transaction(case.request.head()?);
    let verdict = tx.run_request(
        case.request.body.as_deref().unwrap_or_default().as_bytes(),
        &host,
    );
    let (status, ids) = match verdict {
        Verdict::Allow => (200, vec![]),
        Verdict::Deny { status, rule_ids } => {
            (status, rule_ids.into_iter().map(u64::from).collect())
        }
        Verdict::Reply(r) => (
            r.status,
            tx.decisions()
                .iter()
                .filter(|d| !d.monitored)
                .map(|d| u64::from(d.rule_id))
                .collect(),
        ),
    };
    judge(&case.expect, status, &ids)
}
