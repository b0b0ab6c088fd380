//! The echo upstream and the raw client against each other (native, no Envoy).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use waap_e2e::client::{build_request, get, send, HttpConnection};
use waap_e2e::echo::EchoServer;

fn server() -> std::io::Result<EchoServer> {
    EchoServer::start("127.0.0.1:0")
}

#[test]
fn echo_returns_method_path_headers_and_body_as_json() {
    let s = server().unwrap();
    let req = build_request(
        "POST",
        "/a/b?x=%3C1%3E",
        &[
            ("X-Dup", "1"),
            ("x-dup", "2"),
            ("Content-Type", "text/plain"),
        ],
        b"hello",
    );
    let r = send(s.addr(), &req).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let j = r.json().unwrap();
    assert_eq!(j.get("method").and_then(|v| v.as_str()), Some("POST"));
    assert_eq!(
        j.get("path").and_then(|v| v.as_str()),
        Some("/a/b?x=%3C1%3E")
    );
    assert_eq!(j.get("body").and_then(|v| v.as_str()), Some("hello"));
    let h = j.get("headers").unwrap();
    assert_eq!(h.get("x-dup").and_then(|v| v.as_str()), Some("1, 2"));
    assert_eq!(h.get("content-length").and_then(|v| v.as_str()), Some("5"));
    // header_list keeps the case and order exactly as sent.
    let list = j.get("header_list").and_then(|v| v.as_array()).unwrap();
    let names: Vec<&str> = list
        .iter()
        .filter_map(|p| p.as_array()?.first()?.as_str())
        .collect();
    assert_eq!(
        names,
        ["Host", "X-Dup", "x-dup", "Content-Type", "Content-Length"]
    );
}

#[test]
fn echo_reads_chunked_bodies_and_keeps_the_connection_alive() {
    let s = server().unwrap();
    let mut c = HttpConnection::connect(s.addr()).unwrap();
    let chunked = b"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n";
    let r = c.request(chunked).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json().unwrap().get("body").and_then(|v| v.as_str()),
        Some("hello world")
    );
    // Same connection, second request.
    let r2 = c
        .request(&build_request("GET", "/second", &[], b""))
        .unwrap();
    assert_eq!(
        r2.json().unwrap().get("path").and_then(|v| v.as_str()),
        Some("/second")
    );
    // Pipelined: two requests in one write, two responses in order.
    let mut two = build_request("GET", "/p1", &[], b"");
    two.extend(build_request("GET", "/p2", &[], b""));
    c.send_raw(&two).unwrap();
    let p1 = c.read_response(false).unwrap();
    let p2 = c.read_response(false).unwrap();
    assert_eq!(
        p1.json().unwrap().get("path").and_then(|v| v.as_str()),
        Some("/p1")
    );
    assert_eq!(
        p2.json().unwrap().get("path").and_then(|v| v.as_str()),
        Some("/p2")
    );
    // HEAD: no body read even though Content-Length is set.
    let h = c.request(&build_request("HEAD", "/h", &[], b"")).unwrap();
    assert_eq!(h.status, 200);
    assert!(h.body.is_empty());
    assert!(h.header("content-length").is_some());
    let after = c
        .request(&build_request("GET", "/after-head", &[], b""))
        .unwrap();
    assert_eq!(after.status, 200);
}

#[test]
fn reflect_uses_status_headers_and_body_from_the_spec() {
    let s = server().unwrap();
    let spec = br#"{"status": 418, "headers": {"X-Reflected": "yes", "Content-Type": "text/html", "Bad Name": "x", "Content-Length": "999"}, "body": "<b>hi</b>", "logMessage": "t1"}"#;
    let r = send(
        s.addr(),
        &build_request(
            "POST",
            "/reflect",
            &[("Content-Type", "application/json")],
            spec,
        ),
    )
    .unwrap();
    assert_eq!(r.status, 418);
    assert_eq!(r.header("x-reflected"), Some("yes"));
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert_eq!(r.header("bad name"), None);
    assert_eq!(r.header("content-length"), Some("9"));
    assert_eq!(r.text(), "<b>hi</b>");

    // encodedBody is base64 and wins over body; any /reflect* path reflects.
    let spec = br#"{"status": 200, "encodedBody": "AAEC/w==", "body": "ignored"}"#;
    let r = send(
        s.addr(),
        &build_request("POST", "/reflect/x?y=1", &[], spec),
    )
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, [0, 1, 2, 255]);

    for bad in [
        &b"not json"[..],
        br#"{"status": 99}"#,
        br#"{"status": "x"}"#,
        br#"{"encodedBody": "!!"}"#,
        b"[1]",
    ] {
        let r = send(s.addr(), &build_request("POST", "/reflect", &[], bad)).unwrap();
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn malformed_requests_get_400_and_the_server_survives() {
    let s = server().unwrap();
    let cases: [&[u8]; 6] = [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ];
    for raw in cases {
        let r = send(s.addr(), raw).unwrap();
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(raw));
    }
    // A client that vanishes mid-request does not hurt anyone else.
    let mut t = TcpStream::connect(s.addr()).unwrap();
    t.write_all(b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc")
        .unwrap();
    drop(t);
    // Oversized head.
    let mut t = TcpStream::connect(s.addr()).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(70 * 1024));
    let _ = t.write_all(huge.as_bytes());
    let mut buf = Vec::new();
    let _ = t.read_to_end(&mut buf);
    assert!(String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 400"));
    assert_eq!(get(s.addr(), "/still-up").unwrap().status, 200);
}

#[test]
fn client_sends_bytes_unchanged() {
    let s = server().unwrap();
    // Odd case, odd spacing in values, an unencoded path: all must arrive as written.
    let raw = b"GET /a/../b?q=<script> HTTP/1.1\r\nhOsT: x\r\nX-Weird:   spaced value\r\n\r\n";
    let r = send(s.addr(), raw).unwrap();
    let j = r.json().unwrap();
    assert_eq!(
        j.get("path").and_then(|v| v.as_str()),
        Some("/a/../b?q=<script>")
    );
    let list = j.get("header_list").and_then(|v| v.as_array()).unwrap();
    assert_eq!(list[0].as_array().unwrap()[0].as_str(), Some("hOsT"));
    assert_eq!(
        list[1].as_array().unwrap()[1].as_str(),
        Some("spaced value")
    );
}

#[test]
fn echo_server_stops_on_drop() {
    let s = server().unwrap();
    let addr = s.addr();
    drop(s);
    // The listener is closed: a connect is refused (or, at worst, gets no answer).
    let r = send(addr, &build_request("GET", "/", &[], b""));
    assert!(r.is_err());
}
