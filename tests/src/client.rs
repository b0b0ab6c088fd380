//! A tiny blocking HTTP/1.1 client over `std::net::TcpStream`. It sends bytes exactly as given
//! (no normalisation of case, order, encoding or framing), which the CRS tests need, and reads
//! one response per call; the connection can be reused for keep-alive.

use crate::http::{self, Framing};
use crate::json::{self, Value};
use std::io::{self, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Default connect, read and write timeout.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A response as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as lossy UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Result<Value, json::JsonError> {
        json::parse(&self.body)
    }
}

/// One client connection.
pub struct HttpConnection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl HttpConnection {
    pub fn connect(addr: SocketAddr) -> io::Result<HttpConnection> {
        Self::connect_timeout(addr, TIMEOUT)
    }

    pub fn connect_timeout(addr: SocketAddr, timeout: Duration) -> io::Result<HttpConnection> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        let writer = stream.try_clone()?;
        Ok(HttpConnection {
            reader: BufReader::new(stream),
            writer,
        })
    }

    /// Writes `bytes` to the connection unchanged.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)?;
        self.writer.flush()
    }

    /// Reads the next final response (1xx responses are skipped). `head_request` says the
    /// request was HEAD, whose response has no body whatever its headers say.
    pub fn read_response(&mut self, head_request: bool) -> io::Result<HttpResponse> {
        loop {
            let head = http::read_head(&mut self.reader)?.ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed before a response",
                )
            })?;
            let mut parts = head.start_line.splitn(3, ' ');
            let version = parts.next().unwrap_or("");
            let status: u16 = parts
                .next()
                .and_then(|s| s.parse().ok())
                .filter(|_| version.starts_with("HTTP/1."))
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("malformed status line: {:?}", head.start_line),
                    )
                })?;
            let reason = parts.next().unwrap_or("").to_string();
            if (100..200).contains(&status) {
                continue;
            }
            let framing = if head_request || status == 204 || status == 304 {
                Framing::None
            } else {
                http::framing(&head, Framing::UntilClose)?
            };
            let body = http::read_body(&mut self.reader, framing)?;
            return Ok(HttpResponse {
                status,
                reason,
                headers: head.headers,
                body,
            });
        }
    }

    /// Sends `bytes` and reads one response.
    pub fn request(&mut self, bytes: &[u8]) -> io::Result<HttpResponse> {
        self.send_raw(bytes)?;
        self.read_response(bytes.starts_with(b"HEAD "))
    }
}

/// Opens a connection, sends `bytes` unchanged and reads one response.
pub fn send(addr: SocketAddr, bytes: &[u8]) -> io::Result<HttpResponse> {
    HttpConnection::connect(addr)?.request(bytes)
}

/// Builds request bytes: the request line, `headers` in the given order and case, then the
/// body. Adds `Host: test` if no Host header is given and `Content-Length` if the body is
/// non-empty and neither Content-Length nor Transfer-Encoding is given. Nothing else is added
/// or changed; for full control write the bytes yourself.
pub fn build_request(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let mut out = format!("{method} {target} HTTP/1.1\r\n").into_bytes();
    if !has("host") {
        out.extend_from_slice(b"Host: test\r\n");
    }
    for (n, v) in headers {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    if !body.is_empty() && !has("content-length") && !has("transfer-encoding") {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// `GET target` on a fresh connection.
pub fn get(addr: SocketAddr, target: &str) -> io::Result<HttpResponse> {
    send(
        addr,
        &build_request("GET", target, &[("Connection", "close")], b""),
    )
}
