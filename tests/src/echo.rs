//! `waap-echo`: the upstream behind Envoy in tests and `make run`. std only, one thread per
//! connection, HTTP/1.1 keep-alive, Content-Length and chunked request bodies.
//!
//! - Any path: `200` with a JSON body `{"method","path","version","headers","header_list","body"}`
//!   echoing the request (`headers` maps lower-cased names to values joined by `", "`;
//!   `header_list` keeps order, case and duplicates; `body` is the body as lossy UTF-8).
//! - A path starting with `/reflect`: CRS albedo's reflection. The body is JSON
//!   `{"status": N, "headers": {"name": "value"}, "body": "...", "encodedBody": "base64",
//!   "logMessage": "..."}` and the response is built from it (`encodedBody` wins over `body`;
//!   invalid header names or values are dropped; framing headers are set by the server).
//! - With a mock file (`waap-echo --mock FILE`, [`EchoServer::start_with_mock`]): requests
//!   matching one of its routes get that route's canned JSON answer (see [`Mock`]).
//! - A malformed request gets `400` and the connection is closed.

use crate::http::{self, Framing, Head};
use crate::json::{self, Value};
use std::collections::BTreeMap;
use std::io::{self, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How long an idle keep-alive connection stays open.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// An echo server running on a background thread; stopped on drop.
pub struct EchoServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EchoServer {
    /// Binds `addr` (port 0 picks a free port) and serves on a background thread.
    pub fn start(addr: impl ToSocketAddrs) -> io::Result<EchoServer> {
        Self::start_with_mock(addr, None)
    }

    /// As [`EchoServer::start`], answering requests that match `mock` from it.
    pub fn start_with_mock(
        addr: impl ToSocketAddrs,
        mock: Option<Arc<Mock>>,
    ) -> io::Result<EchoServer> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("waap-echo-accept".into())
            .spawn(move || serve_with(listener, &flag, mock))?;
        Ok(EchoServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the thread sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Accepts connections until `stop` is set, one thread each.
pub fn serve(listener: TcpListener, stop: &AtomicBool) {
    serve_with(listener, stop, None)
}

/// As [`serve`], answering requests that match `mock` from it.
pub fn serve_with(listener: TcpListener, stop: &AtomicBool, mock: Option<Arc<Mock>>) {
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = conn else { continue };
        let mock = mock.clone();
        let _ = thread::Builder::new()
            .name("waap-echo-conn".into())
            .spawn(move || {
                let _ = handle_connection(stream, mock.as_deref());
            });
    }
}

/// Canned answers: a JSON file `{"routes": [{"method": "GET", "prefix": "/accounts/",
/// "status": 200, "body": {...}}]}`. The first route whose method and path prefix match
/// answers with its body as JSON, `{last}` in its strings replaced by the last path
/// segment (so `/accounts/alice` can answer for `alice`).
#[derive(Debug, Clone)]
pub struct Mock {
    routes: Vec<(String, String, u16, Value)>,
}

impl Mock {
    /// Parses a mock file's text.
    pub fn parse(text: &[u8]) -> Result<Mock, String> {
        let v = json::parse(text).map_err(|e| format!("mock: {e}"))?;
        let mut routes = Vec::new();
        for (i, r) in v
            .get("routes")
            .and_then(Value::as_array)
            .ok_or("mock: no `routes` array")?
            .iter()
            .enumerate()
        {
            let field = |k: &str| r.get(k).and_then(Value::as_str).map(String::from);
            routes.push((
                field("method").ok_or(format!("mock: routes[{i}]: no method"))?,
                field("prefix").ok_or(format!("mock: routes[{i}]: no prefix"))?,
                r.get("status")
                    .and_then(Value::as_u64)
                    .and_then(|s| u16::try_from(s).ok())
                    .unwrap_or(200),
                r.get("body").cloned().unwrap_or(Value::Null),
            ));
        }
        Ok(Mock { routes })
    }

    fn respond(&self, req: &Request) -> Option<Response> {
        let path = req.target.split('?').next().unwrap_or_default();
        let (_, _, status, body) = self
            .routes
            .iter()
            .find(|(m, p, _, _)| *m == req.method && path.starts_with(p.as_str()))?;
        let last = path.rsplit('/').next().unwrap_or_default();
        fn subst(v: &Value, last: &str) -> Value {
            match v {
                Value::String(s) => Value::String(s.replace("{last}", last)),
                Value::Array(a) => Value::Array(a.iter().map(|x| subst(x, last)).collect()),
                Value::Object(o) => {
                    Value::Object(o.iter().map(|(k, x)| (k.clone(), subst(x, last))).collect())
                }
                other => other.clone(),
            }
        }
        Some(Response {
            status: *status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: subst(body, last).to_json().into_bytes(),
        })
    }
}

/// A parsed request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub target: String,
    pub version: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A response to write.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    fn text(status: u16, msg: &str) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
            body: format!("{msg}\n").into_bytes(),
        }
    }
}

fn handle_connection(stream: TcpStream, mock: Option<&Mock>) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let head = match http::read_head(&mut reader) {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return write_response(
                    &mut writer,
                    &Response::text(400, &e.to_string()),
                    false,
                    true,
                );
            }
            Err(e) => return Err(e),
        };
        let (method, target, version) = match parse_request_line(&head.start_line) {
            Some(parts) => parts,
            None => {
                let resp = Response::text(400, "malformed request line");
                return write_response(&mut writer, &resp, false, true);
            }
        };
        let framing = match http::framing(&head, Framing::None) {
            Ok(f) => f,
            Err(e) => {
                return write_response(
                    &mut writer,
                    &Response::text(400, &e.to_string()),
                    false,
                    true,
                )
            }
        };
        if head.has_token("expect", "100-continue") && framing != Framing::None {
            writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let body = match http::read_body(&mut reader, framing) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return write_response(
                    &mut writer,
                    &Response::text(400, &e.to_string()),
                    false,
                    true,
                );
            }
            Err(e) => return Err(e),
        };
        let close = !keep_alive(&head, &version);
        let req = Request {
            method,
            target,
            version,
            headers: head.headers,
            body,
        };
        let resp = mock
            .and_then(|m| m.respond(&req))
            .unwrap_or_else(|| respond(&req));
        write_response(&mut writer, &resp, req.method == "HEAD", close)?;
        if close {
            return Ok(());
        }
    }
}

fn keep_alive(head: &Head, version: &str) -> bool {
    if head.has_token("connection", "close") {
        return false;
    }
    version != "HTTP/1.0" || head.has_token("connection", "keep-alive")
}

fn parse_request_line(line: &str) -> Option<(String, String, String)> {
    let mut parts = line.split(' ');
    let method = parts.next()?;
    let target = parts.next()?;
    let version = parts.next()?;
    if parts.next().is_some()
        || method.is_empty()
        || !method
            .bytes()
            .all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b'_')
        || target.is_empty()
        || !(version == "HTTP/1.1" || version == "HTTP/1.0")
    {
        return None;
    }
    Some((method.to_string(), target.to_string(), version.to_string()))
}

/// The response for one request: reflection for `/reflect*`, an echo otherwise.
pub fn respond(req: &Request) -> Response {
    if req.target.starts_with("/reflect") {
        return reflect(&req.body).unwrap_or_else(|msg| Response::text(400, &msg));
    }
    let mut joined: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (n, v) in &req.headers {
        joined
            .entry(n.to_ascii_lowercase())
            .or_default()
            .push(v.clone());
    }
    let headers = joined
        .into_iter()
        .map(|(n, vs)| (n, Value::String(vs.join(", "))))
        .collect();
    let header_list = req
        .headers
        .iter()
        .map(|(n, v)| Value::Array(vec![Value::String(n.clone()), Value::String(v.clone())]))
        .collect();
    let mut obj = BTreeMap::new();
    obj.insert("method".to_string(), Value::String(req.method.clone()));
    obj.insert("path".to_string(), Value::String(req.target.clone()));
    obj.insert("version".to_string(), Value::String(req.version.clone()));
    obj.insert("headers".to_string(), Value::Object(headers));
    obj.insert("header_list".to_string(), Value::Array(header_list));
    obj.insert(
        "body".to_string(),
        Value::String(String::from_utf8_lossy(&req.body).into_owned()),
    );
    Response {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: Value::Object(obj).to_json().into_bytes(),
    }
}

fn valid_header_name(n: &str) -> bool {
    !n.is_empty()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn valid_header_value(v: &str) -> bool {
    v.bytes().all(|b| b == b'\t' || (b >= b' ' && b != 0x7f))
}

/// Builds albedo's reflected response from its JSON specification.
fn reflect(body: &[u8]) -> Result<Response, String> {
    let spec = json::parse(body).map_err(|e| format!("reflect: {e}"))?;
    if spec.as_object().is_none() {
        return Err("reflect: the specification must be a JSON object".into());
    }
    let status = match spec.get("status") {
        None | Some(Value::Null) => 200,
        Some(v) => v
            .as_u64()
            .filter(|s| (100..=599).contains(s))
            .and_then(|s| u16::try_from(s).ok())
            .ok_or("reflect: status must be an integer in [100, 599]")?,
    };
    let mut headers = Vec::new();
    if let Some(h) = spec.get("headers") {
        let map = h.as_object().ok_or("reflect: headers must be an object")?;
        for (name, value) in map {
            let values: Vec<&str> = match value {
                Value::String(s) => vec![s.as_str()],
                Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            for v in values {
                let framing = ["content-length", "transfer-encoding", "connection"]
                    .iter()
                    .any(|f| name.eq_ignore_ascii_case(f));
                if !framing && valid_header_name(name) && valid_header_value(v) {
                    headers.push((name.clone(), v.to_string()));
                }
            }
        }
    }
    let body = if let Some(enc) = spec.get("encodedBody").and_then(Value::as_str) {
        crate::base64::decode(enc).ok_or("reflect: encodedBody is not valid base64")?
    } else {
        spec.get("body")
            .and_then(Value::as_str)
            .unwrap_or("")
            .as_bytes()
            .to_vec()
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Writes `resp` with a Content-Length. 1xx, 204 and 304 carry no body; neither does a
/// response to HEAD (its Content-Length still describes the body).
pub fn write_response(
    w: &mut impl Write,
    resp: &Response,
    head_only: bool,
    close: bool,
) -> io::Result<()> {
    let mut out = Vec::with_capacity(256 + resp.body.len());
    out.extend_from_slice(
        format!("HTTP/1.1 {} {}\r\n", resp.status, http::reason(resp.status)).as_bytes(),
    );
    for (n, v) in &resp.headers {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    let bodyless = resp.status < 200 || resp.status == 204 || resp.status == 304;
    if !bodyless {
        out.extend_from_slice(format!("content-length: {}\r\n", resp.body.len()).as_bytes());
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !bodyless && !head_only {
        out.extend_from_slice(&resp.body);
    }
    w.write_all(&out)?;
    w.flush()
}
