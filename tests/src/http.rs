//! HTTP/1.1 message framing shared by the echo server and the test client: a message head
//! (start line and headers) and the three body framings (Content-Length, chunked, until close).

use std::io::{self, BufRead, Read};

/// Largest head (start line plus headers) either side accepts.
pub const MAX_HEAD: usize = 64 * 1024;
/// Largest body either side accepts.
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// A start line and its header fields, exactly as received (names keep their case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub start_line: String,
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether any `name` header lists `token` (comma-separated, case-insensitive).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Reads one line ending in LF (CRLF or bare LF), without the line ending. `Ok(None)` at a
/// clean end of stream before any byte.
fn read_line<R: BufRead>(r: &mut R, limit: &mut usize) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let n = r
        .by_ref()
        .take(*limit as u64 + 1)
        .read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if n > *limit {
        return Err(invalid("message head too large"));
    }
    *limit -= n;
    if line.last() != Some(&b'\n') {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed mid-line",
        ));
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| invalid("head is not UTF-8"))
}

/// Reads a message head. `Ok(None)` if the stream ended cleanly before the first byte.
pub fn read_head<R: BufRead>(r: &mut R) -> io::Result<Option<Head>> {
    let mut limit = MAX_HEAD;
    let start_line = loop {
        match read_line(r, &mut limit)? {
            None => return Ok(None),
            // RFC 9112 2.2: ignore at least one empty line before the request line.
            Some(l) if l.is_empty() => continue,
            Some(l) => break l,
        }
    };
    let mut headers = Vec::new();
    loop {
        let line = read_line(r, &mut limit)?.ok_or_else(|| {
            io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed in head")
        })?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid(format!("header line without ':': {line:?}")))?;
        if name.is_empty() || name.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(invalid(format!("invalid header name: {name:?}")));
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    Ok(Some(Head {
        start_line,
        headers,
    }))
}

/// How a message body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(usize),
    Chunked,
    UntilClose,
}

/// The framing a head declares (RFC 9112 6.3): chunked wins over Content-Length; conflicting
/// or malformed Content-Length values are an error. `default` applies when neither is present.
pub fn framing(head: &Head, default: Framing) -> io::Result<Framing> {
    if head.header("transfer-encoding").is_some() {
        if head.has_token("transfer-encoding", "chunked") {
            return Ok(Framing::Chunked);
        }
        return Err(invalid("unsupported transfer-encoding"));
    }
    let mut length: Option<usize> = None;
    for (n, v) in &head.headers {
        if n.eq_ignore_ascii_case("content-length") {
            for part in v.split(',') {
                let part = part.trim();
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid(format!("invalid content-length: {v:?}")));
                }
                let n: usize = part
                    .parse()
                    .map_err(|_| invalid("content-length overflow"))?;
                if length.is_some_and(|l| l != n) {
                    return Err(invalid("conflicting content-length values"));
                }
                length = Some(n);
            }
        }
    }
    match length {
        Some(n) if n > MAX_BODY => Err(invalid("body too large")),
        Some(n) => Ok(Framing::Length(n)),
        None => Ok(default),
    }
}

/// Reads a body with the given framing. Trailers of a chunked body are read and dropped.
pub fn read_body<R: BufRead>(r: &mut R, framing: Framing) -> io::Result<Vec<u8>> {
    match framing {
        Framing::None => Ok(Vec::new()),
        Framing::Length(n) => {
            let mut body = vec![0; n];
            r.read_exact(&mut body)?;
            Ok(body)
        }
        Framing::UntilClose => {
            let mut body = Vec::new();
            r.take(MAX_BODY as u64 + 1).read_to_end(&mut body)?;
            if body.len() > MAX_BODY {
                return Err(invalid("body too large"));
            }
            Ok(body)
        }
        Framing::Chunked => {
            let mut body = Vec::new();
            let mut limit = MAX_HEAD;
            loop {
                let line = read_line(r, &mut limit)?.ok_or_else(|| {
                    io::Error::new(io::ErrorKind::UnexpectedEof, "eof in chunked body")
                })?;
                let size_text = line.split(';').next().unwrap_or("").trim();
                let size = usize::from_str_radix(size_text, 16)
                    .map_err(|_| invalid(format!("invalid chunk size: {line:?}")))?;
                if size == 0 {
                    // Trailer section, up to the empty line.
                    loop {
                        match read_line(r, &mut limit)? {
                            Some(l) if !l.is_empty() => continue,
                            _ => return Ok(body),
                        }
                    }
                }
                if body.len() + size > MAX_BODY {
                    return Err(invalid("body too large"));
                }
                let start = body.len();
                body.resize(start + size, 0);
                r.read_exact(&mut body[start..])?;
                let mut crlf = [0u8; 2];
                r.read_exact(&mut crlf)?;
                if &crlf != b"\r\n" {
                    return Err(invalid("chunk not followed by CRLF"));
                }
            }
        }
    }
}

/// The standard reason phrase for common status codes.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
