//! Raw request bytes exactly as go-ftw builds them from a stage's `input`:
//!
//! 1. `encoded_request` (base64 of the whole request) wins over everything else.
//! 2. Request line `METHOD URI VERSION` (defaults GET, /, HTTP/1.1), headers in order
//!    (`ordered_headers`, else the `headers` map sorted by name), each `Name: value`.
//! 3. The body is `data` (a Go template: only sprig's `repeat` is supported, the one the
//!    corpus uses) or base64 `encoded_data`.
//! 4. With autocompletion (the default) and a body: no Content-Type adds
//!    `application/x-www-form-urlencoded`; if the Content-Type is exactly that
//!    (case-insensitive) and the body does not already look encoded (`QueryUnescape`
//!    would change it or fail: it has `+` or `%`), each `key=value` between `&` is
//!    `QueryEscape`d.
//! 5. A Content-Type containing `multipart/form-data;` turns every LF of the body into
//!    CRLF (autocompletion or not; an existing CRLF becomes CR CR LF, as in go-ftw).
//! 6. With autocompletion: `Connection: close` unless a Connection header exists;
//!    `Content-Length` unless one exists, when the body is non-empty or the method matches
//!    go-ftw's `^POST|PUT|PATCH|DELETE$` (sic: POST as prefix, PUT/PATCH anywhere, DELETE
//!    as suffix).

use crate::ftw::Input;

/// Builds the bytes go-ftw would send for `input`.
pub fn build(input: &Input) -> Result<Vec<u8>, String> {
    if let Some(enc) = input.encoded_request.as_deref().filter(|e| !e.is_empty()) {
        return waap_e2e::base64::decode(enc)
            .ok_or_else(|| "encoded_request is not valid base64".to_string());
    }
    let mut headers = input.header_list();
    let mut data = body(input)?;
    let autocomplete = input.autocomplete();
    if !data.is_empty() && autocomplete {
        if !has(&headers, "content-type") {
            headers.push((
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            ));
        }
        let form = headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("content-type")
                && v.eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
        if form {
            data = encode_form(&data);
        }
    }
    let multipart = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("content-type")
            && v.to_ascii_lowercase().contains("multipart/form-data;")
    });
    if multipart {
        data = lf_to_crlf(&data);
    }
    if autocomplete {
        if !has(&headers, "connection") {
            headers.push(("Connection".into(), "close".into()));
        }
        if !has(&headers, "content-length")
            && (!data.is_empty() || method_wants_length(input.method()))
        {
            headers.push(("Content-Length".into(), data.len().to_string()));
        }
    }
    let mut out =
        format!("{} {} {}\r\n", input.method(), input.uri(), input.version()).into_bytes();
    for (n, v) in &headers {
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&data);
    Ok(out)
}

fn has(headers: &[(String, String)], name: &str) -> bool {
    headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
}

/// go-ftw's `^POST|PUT|PATCH|DELETE$`, alternation precedence included.
fn method_wants_length(method: &str) -> bool {
    method.starts_with("POST")
        || method.contains("PUT")
        || method.contains("PATCH")
        || method.ends_with("DELETE")
}

/// The body: `data` with its template expanded, else decoded `encoded_data`, else empty.
fn body(input: &Input) -> Result<Vec<u8>, String> {
    if let Some(d) = &input.data {
        return expand_template(d).map(String::into_bytes);
    }
    if let Some(e) = &input.encoded_data {
        return waap_e2e::base64::decode(e)
            .ok_or_else(|| "encoded_data is not valid base64".to_string());
    }
    Ok(Vec::new())
}

/// Expands Go template actions in `data`. Supported: `{{ "s" | repeat N }}` and
/// `{{ repeat N "s" }}` (sprig). Anything else is an error (go-ftw would send no body).
pub fn expand_template(data: &str) -> Result<String, String> {
    let mut out = String::with_capacity(data.len());
    let mut rest = data;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "data: unclosed {{ template action".to_string())?;
        let action = after[..end].trim_matches(|c: char| c == '-' || c.is_whitespace());
        out.push_str(&eval_action(action)?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn eval_action(action: &str) -> Result<String, String> {
    let unsupported =
        || format!("data: unsupported template action {{{{ {action} }}}} (only sprig repeat)");
    let (s, n) = if let Some((lhs, rhs)) = action.split_once('|') {
        let rhs = rhs.trim();
        let count = rhs.strip_prefix("repeat").ok_or_else(unsupported)?;
        (go_string(lhs.trim()).ok_or_else(unsupported)?, count.trim())
    } else {
        let args = action
            .strip_prefix("repeat")
            .ok_or_else(unsupported)?
            .trim();
        let (count, s) = args
            .split_once(char::is_whitespace)
            .ok_or_else(unsupported)?;
        (go_string(s.trim()).ok_or_else(unsupported)?, count.trim())
    };
    let n: usize = n.parse().map_err(|_| unsupported())?;
    Ok(s.repeat(n))
}

/// A Go string literal: "..." with simple escapes, or `...`.
fn go_string(lit: &str) -> Option<String> {
    if let Some(raw) = lit.strip_prefix('`').and_then(|l| l.strip_suffix('`')) {
        return Some(raw.to_string());
    }
    let inner = lit.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            _ => return None,
        }
    }
    Some(out)
}

/// go-ftw's `encodeDataParameters` for a form body: unchanged if `QueryUnescape` would
/// change it or fail (it contains `+` or `%`); else every `&`-separated token is encoded,
/// `key=value` as `QueryEscape(key)=QueryEscape(value)` (only the first `=` splits).
pub fn encode_form(data: &[u8]) -> Vec<u8> {
    if data.is_empty() || data.contains(&b'+') || data.contains(&b'%') {
        return data.to_vec();
    }
    let mut out = Vec::with_capacity(data.len() + 16);
    let mut remaining = data;
    while !remaining.is_empty() {
        let (token, rest) = match remaining.iter().position(|&b| b == b'&') {
            Some(i) => (&remaining[..i], &remaining[i + 1..]),
            None => (remaining, &[][..]),
        };
        remaining = rest;
        match token.iter().position(|&b| b == b'=') {
            Some(eq) => {
                query_escape(&token[..eq], &mut out);
                out.push(b'=');
                query_escape(&token[eq + 1..], &mut out);
            }
            None => query_escape(token, &mut out),
        }
        out.push(b'&');
    }
    out.pop();
    out
}

/// Go's `url.QueryEscape`: unreserved bytes kept, space as `+`, the rest `%XX`.
pub fn query_escape(s: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b),
            b' ' => out.push(b'+'),
            _ => out.extend_from_slice(&[b'%', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]),
        }
    }
}

fn lf_to_crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 16);
    for &b in data {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ftw::{parse_file, HeaderTuple};
    use std::path::Path;

    fn input(yaml: &str) -> Input {
        let text = format!("rule_id: 1\ntests:\n  - stages:\n      - input:\n{yaml}");
        parse_file(Path::new("1.yaml"), &text, "G").unwrap()[0].stages[0]
            .input
            .clone()
    }

    fn text(i: &Input) -> String {
        String::from_utf8(build(i).unwrap()).unwrap()
    }

    #[test]
    fn get_gets_connection_close_but_no_content_length() {
        let i = input(
            "          headers: { Host: localhost, User-Agent: ua }\n          uri: /a?b=c\n",
        );
        assert_eq!(
            text(&i),
            "GET /a?b=c HTTP/1.1\r\nHost: localhost\r\nUser-Agent: ua\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn post_with_data_gets_form_type_encoding_and_length() {
        let i = input("          method: POST\n          headers: { Host: h }\n          data: \"a=<b c>&d=e/f=g&flag\"\n");
        let body = "a=%3Cb+c%3E&d=e%2Ff%3Dg&flag";
        assert_eq!(
            text(&i),
            format!(
                "POST / HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
        );
    }

    #[test]
    fn data_that_looks_encoded_is_sent_as_is() {
        assert_eq!(encode_form(b"a=%27b"), b"a=%27b");
        assert_eq!(encode_form(b"a=b+c d"), b"a=b+c d");
        // An invalid escape makes QueryUnescape fail: unchanged too.
        assert_eq!(encode_form(b"a=100%"), b"a=100%");
        assert_eq!(encode_form(b"x=1&"), b"x=1");
    }

    #[test]
    fn other_content_types_are_not_encoded() {
        let i = input("          method: POST\n          headers: { Content-Type: application/json }\n          data: '{\"a\": \"b c\"}'\n");
        assert!(text(&i).ends_with("Content-Length: 12\r\n\r\n{\"a\": \"b c\"}"));
        let i = input("          method: POST\n          headers: { Content-Type: \"application/x-www-form-urlencoded; charset=utf-8\" }\n          data: 'a=b c'\n");
        assert!(text(&i).ends_with("\r\n\r\na=b c"));
    }

    #[test]
    fn no_autocomplete_sends_exactly_what_is_given() {
        let i = input("          method: POST\n          autocomplete_headers: false\n          headers: { Host: h }\n          data: 'a=b c'\n");
        assert_eq!(text(&i), "POST / HTTP/1.1\r\nHost: h\r\n\r\na=b c");
    }

    #[test]
    fn methods_with_bodies_get_a_zero_length() {
        let i = input("          method: DELETE\n");
        assert!(text(&i).contains("Content-Length: 0\r\n"));
        let i = input("          method: OPTIONS\n");
        assert!(!text(&i).contains("Content-Length"));
        assert!(
            method_wants_length("XPUTX")
                && method_wants_length("POSTX")
                && !method_wants_length("XPOST")
        );
    }

    #[test]
    fn existing_connection_and_length_headers_are_kept() {
        let i = input("          method: POST\n          headers: { Connection: keep-alive, Content-Length: 99 }\n          data: x\n");
        let t = text(&i);
        assert!(
            !t.contains("close")
                && t.contains("Content-Length: 99\r\n")
                && !t.contains("Content-Length: 1")
        );
    }

    #[test]
    fn multipart_bodies_get_crlf_even_without_autocomplete() {
        let i = input(
            "          method: POST\n          autocomplete_headers: false\n          headers: { Content-Type: \"multipart/form-data; boundary=b\" }\n          data: \"--b\\nX: y\\r\\n\\nv\\n--b--\\n\"\n",
        );
        assert!(text(&i).ends_with("\r\n\r\n--b\r\nX: y\r\r\n\r\nv\r\n--b--\r\n"));
    }

    #[test]
    fn repeat_template_expands() {
        assert_eq!(
            expand_template("a{{ \"1\" | repeat 3 }}b").unwrap(),
            "a111b"
        );
        assert_eq!(expand_template("{{repeat 2 \"xy\"}}").unwrap(), "xyxy");
        assert_eq!(expand_template("no template").unwrap(), "no template");
        assert!(expand_template("{{ .Foo }}").is_err());
        let i = input("          method: POST\n          headers: { Content-Type: text/plain }\n          data: '{{ \"1\" | repeat 64200 }}'\n");
        let t = build(&i).unwrap();
        assert!(
            t.ends_with(&[b'1'; 64200])
                && String::from_utf8_lossy(&t).contains("Content-Length: 64200\r\n")
        );
    }

    #[test]
    fn encoded_request_overrides_everything() {
        let raw = b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
        let i = Input {
            encoded_request: Some(waap_e2e::base64::encode(raw)),
            data: Some("ignored".into()),
            ordered_headers: Some(vec![HeaderTuple {
                name: "A".into(),
                value: "b".into(),
            }]),
            ..Input::default()
        };
        assert_eq!(build(&i).unwrap(), raw);
        // go-ftw's decoder skips newlines inside the base64 (the corpus wraps long ones).
        let wrapped = waap_e2e::base64::encode(raw);
        let wrapped = format!("{}\n{}", &wrapped[..8], &wrapped[8..]);
        let i = Input {
            encoded_request: Some(wrapped),
            ..Input::default()
        };
        assert_eq!(build(&i).unwrap(), raw);
    }

    #[test]
    fn ordered_headers_keep_their_order() {
        let i = Input {
            ordered_headers: Some(vec![
                HeaderTuple {
                    name: "Z".into(),
                    value: "1".into(),
                },
                HeaderTuple {
                    name: "A".into(),
                    value: "2".into(),
                },
            ]),
            autocomplete_headers: Some(false),
            ..Input::default()
        };
        assert_eq!(text(&i), "GET / HTTP/1.1\r\nZ: 1\r\nA: 2\r\n\r\n");
    }
}
