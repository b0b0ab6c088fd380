//! The shared case corpus: `tests/cases/*.yaml`, one policy and a list of requests with the
//! verdict each must get. The native driver (against the engine) and the Envoy driver
//! (`tests/tests/cases.rs`) read the same files.
//!
//! ```yaml
//! policy: examples/basic/policy.yaml   # relative to the workspace root
//! cases:
//!   - name: xss in query is blocked
//!     request:
//!       method: GET                      # optional, default GET
//!       path: "/search?q=%3Cscript%3E"
//!       headers: { content-type: application/json }   # optional, order kept
//!       body: '...'                      # optional
//!     expect:
//!       status: 403                      # 403/413...: denied by the filter; 200: reached the upstream
//!       rule_ids: [1001]                 # optional: ids that must all be in the deny body
//! ```

use crate::{Error, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    pub policy: String,
    pub cases: Vec<Case>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    pub request: CaseRequest,
    pub expect: Expect,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseRequest {
    #[serde(default = "default_method")]
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub headers: serde_yaml::Mapping,
    #[serde(default)]
    pub body: Option<String>,
}

fn default_method() -> String {
    "GET".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub status: u16,
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
    /// Header name/value pairs in file order; non-scalar values are an error.
    pub fn header_pairs(&self) -> Result<Vec<(String, String)>> {
        self.headers
            .iter()
            .map(|(k, v)| match (scalar(k), scalar(v)) {
                (Some(k), Some(v)) => Ok((k, v)),
                _ => Err(Error::new(format!(
                    "header {k:?}: {v:?} is not a scalar pair"
                ))),
            })
            .collect()
    }

    /// The request bytes: request line, `Host: localhost` unless given, the headers in order,
    /// `Content-Length` for a body unless given, the body.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let pairs = self.header_pairs()?;
        let mut headers: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            headers.insert(0, ("Host", "localhost"));
        }
        let body = self.body.as_deref().unwrap_or("").as_bytes();
        Ok(crate::client::build_request(
            &self.method,
            &self.path,
            &headers,
            body,
        ))
    }
}

impl CaseFile {
    pub fn parse(text: &str) -> Result<CaseFile> {
        serde_yaml::from_str(text).map_err(|e| Error::new(e.to_string()))
    }

    pub fn load(path: &Path) -> Result<CaseFile> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::new(format!("{}: {e}", path.display())))?;
        Self::parse(&text).map_err(|e| Error::new(format!("{}: {e}", path.display())))
    }
}

/// The case files in `dir` (`*.yaml`, `*.yml`), sorted.
pub fn case_files(dir: &Path) -> Result<Vec<PathBuf>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_file_parses_and_keeps_header_order() {
        let f = CaseFile::parse(
            r#"
policy: examples/basic/policy.yaml
cases:
  - name: a
    request:
      method: POST
      path: /api/items
      headers: { X-B: "2", content-type: application/json, x-n: 5 }
      body: '{"name":"x"}'
    expect: { status: 403, rule_ids: [1001] }
  - name: b
    request: { path: / }
    expect: { status: 200 }
"#,
        )
        .unwrap();
        assert_eq!(f.cases.len(), 2);
        let bytes = String::from_utf8(f.cases[0].request.to_bytes().unwrap()).unwrap();
        assert_eq!(
            bytes,
            "POST /api/items HTTP/1.1\r\nHost: localhost\r\nX-B: 2\r\ncontent-type: application/json\r\nx-n: 5\r\nContent-Length: 12\r\n\r\n{\"name\":\"x\"}"
        );
        assert_eq!(f.cases[1].request.method, "GET");
        assert_eq!(f.cases[0].expect.rule_ids, Some(vec![1001]));
    }

    #[test]
    fn case_file_rejects_unknown_keys() {
        let err = CaseFile::parse("policy: p\ncases:\n  - name: a\n    request: { path: / }\n    expect: { status: 200, rules: [1] }\n");
        assert!(err.is_err());
    }
}
