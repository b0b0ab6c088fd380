//! The backend for the CRS tests: the harness's echo server (`waap_e2e::echo::respond`, with
//! albedo's `/reflect`) plus one thing albedo gets from Go's net/http: a reflected response
//! with a body and no Content-Type gets one sniffed from the body
//! (`http.DetectContentType`), e.g. `text/plain; charset=utf-8`. The RESPONSE-95x rules only
//! inspect bodies of text/plain, text/html, text/xml and application/json, and most of their
//! tests reflect a body without headers, so this matters.

use std::io::{self, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use waap_e2e::echo::{self, Request, Response};
use waap_e2e::http::{self, Framing};

/// Go's `http.DetectContentType`, for the signatures a CRS test body can plausibly have.
pub fn detect_content_type(body: &[u8]) -> &'static str {
    let data = &body[..body.len().min(512)];
    let ws = |b: &u8| matches!(b, b'\t' | b'\n' | 0x0c | b'\r' | b' ');
    let start = data.iter().position(|b| !ws(b)).unwrap_or(data.len());
    let trimmed = &data[start..];
    const HTML: &[&[u8]] = &[
        b"<!DOCTYPE HTML",
        b"<HTML",
        b"<HEAD",
        b"<SCRIPT",
        b"<IFRAME",
        b"<H1",
        b"<DIV",
        b"<FONT",
        b"<TABLE",
        b"<A",
        b"<STYLE",
        b"<TITLE",
        b"<B",
        b"<BODY",
        b"<BR",
        b"<P",
        b"<!--",
    ];
    for sig in HTML {
        if trimmed.len() > sig.len()
            && trimmed[..sig.len()].eq_ignore_ascii_case(sig)
            && matches!(trimmed[sig.len()], b' ' | b'>')
        {
            return "text/html; charset=utf-8";
        }
    }
    if trimmed.starts_with(b"<?xml") {
        return "text/xml; charset=utf-8";
    }
    for (sig, ct) in [
        (&b"%PDF-"[..], "application/pdf"),
        (b"%!PS-Adobe-", "application/postscript"),
        (b"\xFE\xFF", "text/plain; charset=utf-16be"),
        (b"\xFF\xFE", "text/plain; charset=utf-16le"),
        (b"\xEF\xBB\xBF", "text/plain; charset=utf-8"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"\x89PNG\x0D\x0A\x1A\x0A", "image/png"),
        (b"\xFF\xD8\xFF", "image/jpeg"),
        (b"PK\x03\x04", "application/zip"),
        (b"\x1F\x8B\x08", "application/x-gzip"),
    ] {
        if data.starts_with(sig) {
            return ct;
        }
    }
    let binary = data.iter().any(|&b| {
        b <= 0x08 || b == 0x0B || (0x0E..=0x1A).contains(&b) || (0x1C..=0x1F).contains(&b)
    });
    if binary {
        "application/octet-stream"
    } else {
        "text/plain; charset=utf-8"
    }
}

/// albedo's answer: `POST /reflect` (and `/reflect/...`) reflects the JSON specification
/// (the echo server's `respond`) with a sniffed Content-Type when the body has none; other
/// methods there get Go's mux 405; every other path gets albedo's default handler: 200, no
/// body, no Content-Type.
pub fn respond(req: &Request) -> Response {
    let path = req.target.split('?').next().unwrap_or("");
    let reflect_path = path == "/reflect" || path.starts_with("/reflect/");
    if !reflect_path {
        return Response {
            status: 200,
            headers: Vec::new(),
            body: Vec::new(),
        };
    }
    if req.method != "POST" {
        return Response {
            status: 405,
            headers: vec![
                ("Allow".into(), "POST".into()),
                ("Content-Type".into(), "text/plain; charset=utf-8".into()),
            ],
            body: b"Method Not Allowed\n".to_vec(),
        };
    }
    let mut resp = echo::respond(req);
    let typed = resp
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
    if !typed && !resp.body.is_empty() {
        resp.headers.push((
            "Content-Type".into(),
            detect_content_type(&resp.body).into(),
        ));
    }
    resp
}

/// The upstream on a loopback port, one thread per connection; stopped on drop.
pub struct Upstream {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Upstream {
    pub fn start() -> io::Result<Upstream> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("waap-crs-upstream".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if flag.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = conn {
                        let _ = std::thread::Builder::new().spawn(move || {
                            let _ = serve(stream);
                        });
                    }
                }
            })?;
        Ok(Upstream {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn bad_request(w: &mut TcpStream, msg: &str) -> io::Result<()> {
    let resp = Response {
        status: 400,
        headers: Vec::new(),
        body: format!("{msg}\n").into_bytes(),
    };
    echo::write_response(w, &resp, false, true)
}

fn serve(stream: TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let head = match http::read_head(&mut reader) {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(()),
            Err(e) => return bad_request(&mut writer, &e.to_string()),
        };
        let mut parts = head.start_line.split(' ');
        let (Some(method), Some(target), Some(version)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return bad_request(&mut writer, "malformed request line");
        };
        let (method, target, version) =
            (method.to_string(), target.to_string(), version.to_string());
        let framing = match http::framing(&head, Framing::None) {
            Ok(f) => f,
            Err(e) => return bad_request(&mut writer, &e.to_string()),
        };
        if head.has_token("expect", "100-continue") && framing != Framing::None {
            writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let body = match http::read_body(&mut reader, framing) {
            Ok(b) => b,
            Err(e) => return bad_request(&mut writer, &e.to_string()),
        };
        let close = head.has_token("connection", "close")
            || (version == "HTTP/1.0" && !head.has_token("connection", "keep-alive"));
        let req = Request {
            method,
            target,
            version,
            headers: head.headers,
            body,
        };
        let resp = respond(&req);
        echo::write_response(&mut writer, &resp, req.method == "HEAD", close)?;
        if close {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_like_go() {
        assert_eq!(
            detect_content_type(b"plain [match] text"),
            "text/plain; charset=utf-8"
        );
        assert_eq!(
            detect_content_type(b"  <html><body>x"),
            "text/html; charset=utf-8"
        );
        assert_eq!(
            detect_content_type(b"<?xml version=\"1.0\"?><a/>"),
            "text/xml; charset=utf-8"
        );
        assert_eq!(
            detect_content_type(b"{\"a\":1}"),
            "text/plain; charset=utf-8"
        );
        assert_eq!(detect_content_type(b"a\x00b"), "application/octet-stream");
        assert_eq!(
            detect_content_type(b"<b>bold</b>"),
            "text/html; charset=utf-8"
        );
        assert_eq!(detect_content_type(b"<bx"), "text/plain; charset=utf-8");
    }

    fn reflect(body: &str) -> Response {
        respond(&Request {
            method: "POST".into(),
            target: "/reflect".into(),
            version: "HTTP/1.1".into(),
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        })
    }

    #[test]
    fn reflected_bodies_without_a_type_get_one() {
        let r = reflect(r#"{"body":"ORA-01756: quoted string"}"#);
        assert!(r.headers.contains(&(
            "Content-Type".to_string(),
            "text/plain; charset=utf-8".to_string()
        )));
        let r = reflect(r#"{"body":"x","headers":{"Content-Type":"application/json"}}"#);
        assert_eq!(
            r.headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("content-type"))
                .count(),
            1
        );
        assert!(reflect(r#"{"status":204}"#).headers.is_empty());
    }

    #[test]
    fn other_paths_get_albedos_empty_200_and_get_reflect_a_405() {
        let req = |m: &str, t: &str| Request {
            method: m.into(),
            target: t.into(),
            version: "HTTP/1.1".into(),
            headers: Vec::new(),
            body: Vec::new(),
        };
        let r = respond(&req("GET", "/get?a=<script>"));
        assert!((r.status, r.headers.is_empty(), r.body.is_empty()) == (200, true, true));
        assert_eq!(respond(&req("GET", "/reflect")).status, 405);
        assert_eq!(respond(&req("GET", "/reflector")).status, 200);
    }

    #[test]
    fn serves_over_tcp() {
        let up = Upstream::start().unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], up.port()));
        let body = br#"{"body":"hello"}"#;
        let req =
            waap_e2e::client::build_request("POST", "/reflect", &[("Connection", "close")], body);
        let resp = waap_e2e::client::send(addr, &req).unwrap();
        assert_eq!((resp.status, resp.text().as_str()), (200, "hello"));
        assert_eq!(
            resp.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
    }
}
