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
//!     requires_crs: 4                    # optional: skipped when the bundle's CRS is older
//! ```

use crate::{Error, Result};
pub use waap_policy_compiler::cases::{Case, CaseFile, CaseRequest, Expect};

/// The raw request bytes for a case: headers in order, `Host` and `Content-Length` added
/// when missing.
pub fn request_bytes(req: &CaseRequest) -> Result<Vec<u8>> {
    let pairs = req.header_pairs().map_err(Error::new)?;
    let mut headers: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        headers.insert(0, ("Host", "localhost"));
    }
    let body = req.body.as_deref().unwrap_or("").as_bytes();
    Ok(crate::client::build_request(
        &req.method,
        &req.path,
        &headers,
        body,
    ))
}

/// The case files of a directory, sorted.
pub fn case_files(dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>> {
    waap_policy_compiler::cases::case_files(dir)
        .map_err(|e| Error::new(format!("{}: {e}", dir.display())))
}

/// Reads and parses a case file.
pub fn load(path: &std::path::Path) -> Result<CaseFile> {
    CaseFile::read(path).map_err(Error::new)
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
        let bytes = String::from_utf8(request_bytes(&f.cases[0].request).unwrap()).unwrap();
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
