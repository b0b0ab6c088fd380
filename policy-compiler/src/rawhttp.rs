//! A small, lenient HTTP/1.1 request parser for the native tools (`waapc explain`, the CRS
//! runner's native mode): the request line, header
//! fields (obs-fold joined), and a body framed by chunked transfer coding or Content-Length.
//! Bytes after the first request are ignored (they would be a second, pipelined request).
//! It accepts what a proxy might reject (that is what Envoy mode is for): native mode shows
//! what the engine does with the request as written.

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedRequest {
    pub method: String,
    pub uri: Vec<u8>,
    /// `HTTP/1.1`, or empty for a request line without one.
    pub version: String,
    /// Names as sent, values trimmed of surrounding blanks, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl ParsedRequest {
    /// The head the filter would build: names lower-cased (as Envoy's HTTP/1 codec gives
    /// them), `x-request-id` added, a request line without a version read as HTTP/1.0.
    pub fn to_head(&self, request_id: &str) -> waap_engine::RequestHead {
        let mut headers: Vec<(String, Vec<u8>)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .collect();
        headers.push(("x-request-id".into(), request_id.as_bytes().to_vec()));
        waap_engine::RequestHead {
            method: self.method.clone(),
            uri: self.uri.clone(),
            protocol: if self.version.is_empty() {
                "HTTP/1.0".into()
            } else {
                self.version.clone()
            },
            headers,
            remote_addr: "127.0.0.1".into(),
            request_id: request_id.to_string(),
            peer_cert_sha256: None,
        }
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

/// Splits off one line ending in LF (CR before it dropped). `None` without an LF.
fn line(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = input.iter().position(|&b| b == b'\n')?;
    let l = &input[..i];
    Some((l.strip_suffix(b"\r").unwrap_or(l), &input[i + 1..]))
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |e| e + 1);
    &v[start..end.max(start)]
}

/// Parses one request from `raw`.
pub fn parse_request(raw: &[u8]) -> Result<ParsedRequest, String> {
    let mut rest = raw;
    // RFC 9112 2.2: empty lines before the request line are ignored.
    let request_line = loop {
        let (l, r) = line(rest).ok_or("no complete request line")?;
        rest = r;
        if !l.is_empty() {
            break l;
        }
    };
    let parts: Vec<&[u8]> = request_line
        .split(|&b| b == b' ')
        .filter(|p| !p.is_empty())
        .collect();
    let (method, uri, version) = match parts.as_slice() {
        [m, u] => (*m, u.to_vec(), &b""[..]),
        [m, middle @ .., v] if !middle.is_empty() => (*m, middle.join(&b' '), *v),
        _ => {
            return Err(format!(
                "malformed request line: {:?}",
                String::from_utf8_lossy(request_line)
            ))
        }
    };
    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    loop {
        let (l, r) = line(rest).ok_or("headers not terminated by an empty line")?;
        rest = r;
        if l.is_empty() {
            break;
        }
        if l[0] == b' ' || l[0] == b'\t' {
            // obs-fold: continues the previous field value.
            if let Some((_, v)) = headers.last_mut() {
                v.push(b' ');
                v.extend_from_slice(trim(l));
            }
            continue;
        }
        let Some(colon) = l.iter().position(|&b| b == b':') else {
            return Err(format!(
                "header line without ':': {:?}",
                String::from_utf8_lossy(l)
            ));
        };
        headers.push((
            String::from_utf8_lossy(&l[..colon]).into_owned(),
            trim(&l[colon + 1..]).to_vec(),
        ));
    }
    let mut req = ParsedRequest {
        method: String::from_utf8_lossy(method).into_owned(),
        uri,
        version: String::from_utf8_lossy(version).into_owned(),
        headers,
        body: Vec::new(),
    };
    let chunked = req
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"))
        .any(|(_, v)| {
            String::from_utf8_lossy(v)
                .to_ascii_lowercase()
                .contains("chunked")
        });
    req.body = if chunked {
        dechunk(rest)?
    } else if let Some(cl) = req.header("content-length") {
        let n: usize = std::str::from_utf8(cl)
            .ok()
            .and_then(|s| s.split(',').next())
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| format!("invalid content-length: {:?}", String::from_utf8_lossy(cl)))?;
        rest[..n.min(rest.len())].to_vec()
    } else {
        Vec::new()
    };
    Ok(req)
}

/// Decodes a chunked body (trailers dropped). A body cut short yields what arrived.
pub fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some((size_line, r)) = line(rest) {
        let size_text = String::from_utf8_lossy(size_line);
        let size_text = size_text.split(';').next().unwrap_or("").trim().to_string();
        let size = usize::from_str_radix(&size_text, 16)
            .map_err(|_| format!("invalid chunk size: {size_text:?}"))?;
        if size == 0 {
            return Ok(body);
        }
        let take = size.min(r.len());
        body.extend_from_slice(&r[..take]);
        rest = &r[take..];
        rest = rest
            .strip_prefix(b"\r\n")
            .or_else(|| rest.strip_prefix(b"\n"))
            .unwrap_or(rest);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_line_headers_and_content_length_body() {
        let r = parse_request(
            b"POST /a?b=c HTTP/1.1\r\nHost: h\r\nX:  v \r\nContent-Length: 3\r\n\r\nabcEXTRA",
        )
        .unwrap();
        assert_eq!(
            (r.method.as_str(), r.uri.as_slice(), r.version.as_str()),
            ("POST", &b"/a?b=c"[..], "HTTP/1.1")
        );
        assert_eq!(r.headers[1], ("X".to_string(), b"v".to_vec()));
        assert_eq!(r.body, b"abc");
        assert_eq!(r.header("content-length"), Some(&b"3"[..]));
    }

    #[test]
    fn decodes_chunked_bodies_and_ignores_content_length_then() {
        let raw = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n3\r\nHi \r\n3;ext=1\r\nCRS\r\n0\r\nT: x\r\n\r\n";
        assert_eq!(parse_request(raw).unwrap().body, b"Hi CRS");
    }

    #[test]
    fn no_length_means_no_body_and_short_bodies_are_kept() {
        assert!(parse_request(b"POST / HTTP/1.1\r\nHost: h\r\n\r\nabc")
            .unwrap()
            .body
            .is_empty());
        assert_eq!(
            parse_request(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
                .unwrap()
                .body,
            b"abc"
        );
    }

    #[test]
    fn accepts_bare_lf_leading_empty_lines_obs_fold_and_binary_values() {
        let r = parse_request(b"\r\nGET / HTTP/1.0\nA: 1\n  2\nB: \x00\xff\n\n").unwrap();
        assert_eq!(r.version, "HTTP/1.0");
        assert_eq!(
            r.headers,
            vec![
                ("A".to_string(), b"1 2".to_vec()),
                ("B".to_string(), b"\x00\xff".to_vec())
            ]
        );
    }

    #[test]
    fn odd_request_lines() {
        let r = parse_request(b"GET /\r\n\r\n").unwrap();
        assert_eq!((r.uri.as_slice(), r.version.as_str()), (&b"/"[..], ""));
        let r = parse_request(b"GET /a b HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(r.uri, b"/a b");
        assert!(parse_request(b"GET\r\n\r\n").is_err());
        assert!(parse_request(b"GET / HTTP/1.1\r\nHost: h\r\n").is_err());
        assert!(parse_request(b"GET / HTTP/1.1\r\nno colon\r\n\r\n").is_err());
    }
}
