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
//!     requires_crs: 4                    # optional: skipped (reason printed) when the
//!                                        # bundle's CRS is older (CRS_DIR = Debian's 3.3.4)
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
    /// The CRS major version the case needs (a detection older rule sets lack); the case
    /// is skipped, with the reason printed, against a bundle compiled from an older CRS.
    #[serde(default)]
    pub requires_crs: Option<u32>,
}

impl Case {
    /// Why the case cannot run against a bundle with this META, or `None` when it can.
    pub fn skip_reason(&self, meta: &waap_bundle::Meta) -> Option<String> {
        let want = self.requires_crs?;
        match crs_major(meta) {
            Some(have) if have >= want => None,
            Some(have) => Some(format!(
                "needs CRS v{want}, the bundle was compiled from CRS v{have}"
            )),
            None => Some(format!("needs CRS v{want}, the bundle has no CRS")),
        }
    }
}

/// The major version of the CRS a bundle was compiled from: its META `component` entry
/// `OWASP_CRS/<major>.<minor>...` (from `SecComponentSignature`).
pub fn crs_major(meta: &waap_bundle::Meta) -> Option<u32> {
    meta.extra
        .iter()
        .filter(|(k, _)| k == "component")
        .find_map(|(_, v)| v.strip_prefix("OWASP_CRS/"))
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse().ok())
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn meta(components: &[&str]) -> waap_bundle::Meta {
        waap_bundle::Meta {
            extra: components
                .iter()
                .map(|c| ("component".to_string(), (*c).to_string()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_case_needing_crs_v4_is_skipped_against_older_or_no_crs() {
        let f = CaseFile::parse(
            "policy: p\ncases:\n  - name: a\n    request: { path: / }\n    expect: { status: 403 }\n    requires_crs: 4\n  - name: b\n    request: { path: / }\n    expect: { status: 200 }\n",
        )
        .unwrap();
        let (v4, v3) = (meta(&["OWASP_CRS/4.29.0-dev"]), meta(&["OWASP_CRS/3.3.4"]));
        assert_eq!(crs_major(&v4), Some(4));
        assert_eq!(crs_major(&v3), Some(3));
        assert_eq!(f.cases[0].skip_reason(&v4), None);
        assert_eq!(
            f.cases[0].skip_reason(&v3).unwrap(),
            "needs CRS v4, the bundle was compiled from CRS v3"
        );
        assert!(f.cases[0].skip_reason(&meta(&[])).is_some());
        // A case without the marker always runs.
        assert_eq!(f.cases[1].skip_reason(&v3), None);
        assert_eq!(f.cases[1].skip_reason(&meta(&[])), None);
    }

    #[test]
    fn the_crs_version_reaches_the_bundle_meta() {
        let dir = std::env::temp_dir().join(format!("waapc-crs-meta-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("rules")).unwrap();
        std::fs::write(
            dir.join("rules/REQUEST-901-INITIALIZATION.conf"),
            "SecComponentSignature \"OWASP_CRS/4.7.0\"\nSecRule ARGS \"@rx x\" \"id:1,phase:2,deny\"\n",
        )
        .unwrap();
        let policy = dir.join("policy.yaml");
        std::fs::write(
            &policy,
            "version: 1\nmode: block\nwaf:\n  crs:\n    rules_dir: rules\n",
        )
        .unwrap();
        let c = crate::compile_file(&policy).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let b = waap_bundle::Bundle::parse(&c.bundle).unwrap();
        assert!(b
            .meta
            .extra
            .contains(&("component".into(), "OWASP_CRS/4.7.0".into())));
        assert_eq!(crs_major(&b.meta), Some(4));
        // A policy without CRS names no component.
        let plain = crate::compile_file(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/basic/policy.yaml"
        )))
        .unwrap();
        assert_eq!(
            crs_major(&waap_bundle::Bundle::parse(&plain.bundle).unwrap().meta),
            None
        );
    }
}
