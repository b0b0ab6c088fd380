//! Evasions that the case format (tests/cases/evasion.yaml) cannot express, through a real
//! Envoy with the waap filter and examples/crs/policy.yaml (CRS v4 PL1, blocking,
//! body.limit 131072, over_limit: block):
//!
//! - chunked request bodies (Transfer-Encoding: chunked, no Content-Length) carrying the
//!   attack, split so that the payload straddles chunk boundaries (1-byte chunks, chunk
//!   extensions): the filter must inspect the reassembled body;
//! - bodies over the inspection limit: the attack after 140 KiB of padding is refused with
//!   413, with Content-Length and chunked (an attack just under the limit is still found).
//!
//! Known: Envoy's HTTP/1 codec removes `Transfer-Encoding: chunked` before the filter sees
//! the headers, so on every chunked POST CRS 920180 ("POST without Content-Length and
//! Transfer-Encoding headers", warning, +3) fires; the deny bodies here name it. It does not
//! change these verdicts, but it is a false-positive risk for benign chunked POSTs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use waap_e2e::client::{build_request, HttpConnection, HttpResponse};
use waap_e2e::envoy::{self, Envoy, PolicyStack};

const UA: (&str, &str) = ("User-Agent", "Mozilla/5.0");
const ACCEPT: (&str, &str) = ("Accept", "*/*");
const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");
const JSON: (&str, &str) = ("Content-Type", "application/json");

fn start() -> PolicyStack {
    envoy::start_with_policy("examples/crs/policy.yaml").unwrap()
}

/// `body` as a chunked message body, cut into the given chunk sizes (the rest in one chunk).
fn chunked(body: &[u8], sizes: &[usize], extension: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    let mut sizes = sizes.iter().copied();
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(rest.len()).min(rest.len()).max(1);
        out.extend_from_slice(format!("{n:x}{extension}\r\n").as_bytes());
        out.extend_from_slice(&rest[..n]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[n..];
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

fn post_chunked(
    envoy: &Envoy,
    path: &str,
    ctype: (&str, &str),
    body: &[u8],
    sizes: &[usize],
    ext: &str,
) -> HttpResponse {
    let mut req = build_request(
        "POST",
        path,
        &[UA, ACCEPT, ctype, ("Transfer-Encoding", "chunked")],
        b"",
    );
    req.extend_from_slice(&chunked(body, sizes, ext));
    HttpConnection::connect(envoy.addr())
        .unwrap()
        .request(&req)
        .unwrap()
}

fn post(envoy: &Envoy, path: &str, ctype: (&str, &str), body: &[u8]) -> HttpResponse {
    let req = build_request("POST", path, &[UA, ACCEPT, ctype], body);
    HttpConnection::connect(envoy.addr())
        .unwrap()
        .request(&req)
        .unwrap()
}

fn rule_ids(r: &HttpResponse) -> Vec<u64> {
    r.json()
        .ok()
        .and_then(|j| {
            j.get("rule_ids")
                .and_then(|v| v.as_array())
                .map(|a| a.iter().filter_map(|v| v.as_u64()).collect())
        })
        .unwrap_or_default()
}

/// A urlencoded form: `pad=aaa...` of `pad` bytes in total, then `tail`.
fn padded_form(pad: usize, tail: &str) -> Vec<u8> {
    let mut body = b"pad=".to_vec();
    body.resize(pad, b'a');
    body.extend_from_slice(tail.as_bytes());
    body
}

#[test]
#[ignore = "needs Envoy, the wasm build and waapc: run `make test`"]
fn chunked_and_over_limit_evasions_are_refused() {
    let stack = start();
    let envoy = &stack.envoy;
    let mut failures = Vec::new();

    // Control: a chunked benign form reaches the upstream, reassembled.
    let benign = b"name=Alice&comment=nice+shoes";
    let r = post_chunked(envoy, "/comment", FORM, benign, &[3, 1, 7], "");
    let echoed = r
        .json()
        .ok()
        .and_then(|j| j.get("body").and_then(|v| v.as_str()).map(str::to_owned));
    if echoed.as_deref() != Some("name=Alice&comment=nice+shoes") {
        failures.push(format!(
            "chunked benign form: got {} {:?}, wanted 200 and the body echoed",
            r.status,
            r.text()
        ));
    }

    let mut expect = |name: &str, r: HttpResponse, status: u16, ids: &[u64]| {
        let got = rule_ids(&r);
        if r.status != status || !ids.iter().all(|id| got.contains(id)) {
            failures.push(format!(
                "{name}: got {} {got:?}, wanted {status} {ids:?}; body: {}",
                r.status,
                r.text()
            ));
        }
    };

    let xss = b"name=Alice&comment=%3Cscript%3Ealert(1)%3C%2Fscript%3E";
    // The tag cut mid-escape ("%3" | "Cscr" | "ipt") across chunks.
    let r = post_chunked(envoy, "/comment", FORM, xss, &[21, 4, 3, 5], "");
    expect("chunked xss form, split mid-tag", r, 403, &[949110]);
    // One byte per chunk, with chunk extensions.
    let sizes = vec![1; xss.len()];
    let r = post_chunked(envoy, "/comment", FORM, xss, &sizes, ";ext=\"x\"");
    expect(
        "chunked xss form, 1-byte chunks with extensions",
        r,
        403,
        &[949110],
    );

    let json =
        br#"{"user":"admin' OR 1=1--","note":"\u003cscript\u003ealert(1)\u003c/script\u003e"}"#;
    let r = post_chunked(envoy, "/api/items", JSON, json, &[10, 3, 9, 2, 17], "");
    expect("chunked JSON sqli + escaped xss", r, 403, &[949110]);

    let sqli = b"id=1%27%20UNION%20SELECT%20password%20FROM%20users--";
    let r = post_chunked(envoy, "/items", FORM, sqli, &[8, 8, 8], "");
    expect("chunked sqli form", r, 403, &[949110]);

    let multipart = b"--AaB03x\r\nContent-Disposition: form-data; name=\"comment\"\r\n\r\n<script>alert(1)</script>\r\n--AaB03x--\r\n";
    let r = post_chunked(
        envoy,
        "/upload",
        ("Content-Type", "multipart/form-data; boundary=AaB03x"),
        multipart,
        &[5, 30, 27, 4],
        "",
    );
    expect(
        "chunked multipart xss, boundary split across chunks",
        r,
        403,
        &[949110],
    );

    // Over the limit (131072): the attack after 140 KiB of padding is never inspected, so the
    // body is refused whole (413, no rule ids) rather than passed.
    let tail = "&comment=%3Cscript%3Ealert(1)%3C%2Fscript%3E";
    let over = padded_form(140 * 1024, tail);
    let r = post(envoy, "/comment", FORM, &over);
    expect("xss after 140 KiB of padding (Content-Length)", r, 413, &[]);
    let sizes = vec![8192; over.len() / 8192 + 1];
    let r = post_chunked(envoy, "/comment", FORM, &over, &sizes, "");
    expect("xss after 140 KiB of padding (chunked)", r, 413, &[]);
    // Exactly at the limit is inspected whole: the attack at its very end is found.
    let at = padded_form(131072 - tail.len(), tail);
    assert_eq!(at.len(), 131072);
    let r = post(envoy, "/comment", FORM, &at);
    expect(
        "xss at the end of a body of exactly the limit",
        r,
        403,
        &[949110],
    );
    let r = post_chunked(envoy, "/comment", FORM, &at, &sizes, "");
    expect(
        "xss at the end of a chunked body of exactly the limit",
        r,
        403,
        &[949110],
    );

    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}\nEnvoy log tail:\n{}",
        failures.len(),
        failures.join("\n"),
        envoy.log_tail(30)
    );
}
