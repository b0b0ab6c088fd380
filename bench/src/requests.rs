//! The request kinds a cell sends, and the wrk Lua scripts that send them.
//!
//! Every body is generated deterministically (same bytes every run) and written to a file
//! that the script reads once at start, so wrk replays the identical request.

use std::fmt::Write as _;

/// The `Host` every request names: a DNS name as a browser sends it. (A numeric Host such as
/// wrk's default `127.0.0.1` is a CRS PL1 warning, 920350, that logs a match per request:
/// the "benign" GET would not be benign.)
pub const HOST: &str = "shop.example.com";

/// Headers a desktop browser sends on a navigation.
const BROWSER_HEADERS: &[(&str, &str)] = &[
    (
        "User-Agent",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    ),
    (
        "Accept",
        "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
    ),
    ("Accept-Language", "en-US,en;q=0.9,de;q=0.7"),
    ("Accept-Encoding", "gzip, deflate, br"),
    ("Referer", "http://shop.example.com/shop/"),
    (
        "Cookie",
        "session_id=3f2a9c1e7b4d4e0fa1c2d3e4f5a6b7c8; theme=dark; cart=sku-1234.sku-5678; _ga=GA1.2.123456789.1700000000",
    ),
];

/// One request kind.
#[derive(Debug, Clone)]
pub struct RequestKind {
    /// Short name used in the table, the JSON and the chart.
    pub name: &'static str,
    /// What it is, for the README and the JSON.
    pub description: &'static str,
    pub method: &'static str,
    pub path: &'static str,
    /// Extra headers beyond the browser ones.
    pub headers: Vec<(&'static str, &'static str)>,
    pub body: Vec<u8>,
    /// True when the waap filter is expected to deny it (the deny path).
    pub attack: bool,
}

/// The request kinds, in table order.
pub fn kinds() -> Vec<RequestKind> {
    vec![
        RequestKind {
            name: "get",
            description: "benign browser-like GET with 6 query args and 4 cookies",
            method: "GET",
            path: "/shop/search?q=running+shoes&category=sports&page=2&sort=price_asc&lang=en-US&utm_source=newsletter",
            headers: vec![],
            body: vec![],
            attack: false,
        },
        RequestKind {
            name: "json-2k",
            description: "POST of a 2 KiB JSON document (application/json)",
            method: "POST",
            path: "/api/orders?src=web",
            headers: vec![("Content-Type", "application/json")],
            body: json_body(2048),
            attack: false,
        },
        RequestKind {
            name: "form-2k",
            description: "POST of a 2 KiB urlencoded form (application/x-www-form-urlencoded)",
            method: "POST",
            path: "/account/profile",
            headers: vec![("Content-Type", "application/x-www-form-urlencoded")],
            body: form_body(2048),
            attack: false,
        },
        RequestKind {
            name: "json-64k",
            description: "POST of a 64 KiB JSON document (application/json)",
            method: "POST",
            path: "/api/orders?src=web",
            headers: vec![("Content-Type", "application/json")],
            body: json_body(65536),
            attack: false,
        },
        RequestKind {
            name: "attack-xss",
            description: "GET with a <script> XSS payload in a query arg (the deny path)",
            method: "GET",
            path: "/shop/search?q=%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E&page=1",
            headers: vec![],
            body: vec![],
            attack: true,
        },
    ]
}

const WORDS: &[&str] = &[
    "blue",
    "running",
    "shoe",
    "size",
    "comfortable",
    "delivery",
    "weekend",
    "gift",
    "cotton",
    "jacket",
    "warm",
    "light",
    "classic",
    "green",
    "summer",
    "travel",
    "bag",
    "leather",
    "wallet",
    "garden",
];

fn words(seed: usize, n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(WORDS[(seed * 7 + i * 3) % WORDS.len()]);
    }
    s
}

/// A JSON order of exactly `target` bytes (for targets of at least 400): items until the
/// next one would not fit, then a padding string field. Items carry a ~130-byte description
/// so that 64 KiB stays near 2,000 JSON elements, well under the engine's default limit of
/// 4,096 (beyond it the body is a parse error, denied with 400 by `on_parse_error: block`).
pub fn json_body(target: usize) -> Vec<u8> {
    let mut s = String::from("{\"order_id\":\"ord-20261127-0042\",\"customer\":{\"name\":\"Alice Smith\",\"email\":\"alice@example.com\",\"newsletter\":true},\"items\":[");
    let tail_min = "],\"note\":\"\"}".len();
    let mut i = 0;
    loop {
        let mut item = String::new();
        if i > 0 {
            item.push(',');
        }
        let _ = write!(
            item,
            "{{\"sku\":\"sku-{:05}\",\"qty\":{},\"price\":{}.{:02},\"title\":\"{}\",\"tags\":[\"{}\",\"{}\"],\"description\":\"{}\"}}",
            1000 + i * 37,
            1 + i % 4,
            5 + i % 90,
            (i * 13) % 100,
            words(i, 4),
            WORDS[i % WORDS.len()],
            WORDS[(i + 5) % WORDS.len()],
            words(i + 3, 20)
        );
        if s.len() + item.len() + tail_min > target {
            break;
        }
        s.push_str(&item);
        i += 1;
    }
    s.push_str("],\"note\":\"");
    let pad = target.saturating_sub(s.len() + 2);
    s.push_str(&words(i, pad).chars().take(pad).collect::<String>());
    s.push_str("\"}");
    s.into_bytes()
}

/// An urlencoded form of exactly `target` bytes (for targets of at least 100).
pub fn form_body(target: usize) -> Vec<u8> {
    let mut s = String::from("name=Alice+Smith&email=alice%40example.com&city=Berlin&zip=10115");
    let mut i = 0;
    loop {
        let field = format!("&field{i}={}", words(i, 3).replace(' ', "+"));
        if s.len() + field.len() + "&comment=".len() > target {
            break;
        }
        s.push_str(&field);
        i += 1;
    }
    s.push_str("&comment=");
    let pad = target.saturating_sub(s.len());
    s.push_str(
        &words(i, pad)
            .replace(' ', "+")
            .chars()
            .take(pad)
            .collect::<String>(),
    );
    s.into_bytes()
}

/// A Lua string literal (long brackets cannot be used safely for arbitrary text).
fn lua_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The wrk script for `kind`; `body_path` holds the body (read once when wrk starts).
pub fn lua_script(kind: &RequestKind, body_path: Option<&str>) -> String {
    let mut s = format!(
        "-- generated by waap-bench: {} ({})\n",
        kind.name, kind.description
    );
    let _ = writeln!(s, "wrk.method = {}", lua_string(kind.method));
    let _ = writeln!(s, "wrk.path = {}", lua_string(kind.path));
    let _ = writeln!(s, "wrk.headers[\"Host\"] = {}", lua_string(HOST));
    for (k, v) in BROWSER_HEADERS.iter().chain(kind.headers.iter()) {
        let _ = writeln!(s, "wrk.headers[{}] = {}", lua_string(k), lua_string(v));
    }
    if let Some(p) = body_path {
        let _ = writeln!(s, "local f = assert(io.open({}, \"rb\"))", lua_string(p));
        s.push_str("wrk.body = f:read(\"*a\")\nf:close()\n");
    }
    s
}

/// The request as raw HTTP/1.1 bytes (for the pre-flight probe of each cell).
pub fn raw_request(kind: &RequestKind) -> Vec<u8> {
    let mut head = format!("{} {} HTTP/1.1\r\nHost: {HOST}\r\n", kind.method, kind.path);
    for (k, v) in BROWSER_HEADERS.iter().chain(kind.headers.iter()) {
        let _ = write!(head, "{k}: {v}\r\n");
    }
    if !kind.body.is_empty() || kind.method == "POST" {
        let _ = write!(head, "Content-Length: {}\r\n", kind.body.len());
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(&kind.body);
    out
}

/// The request as the engine sees it behind Envoy: lower-case header names, `host` from
/// `:authority`, an `x-request-id`, and `content-length` on a POST.
pub fn engine_headers(kind: &RequestKind) -> Vec<(String, Vec<u8>)> {
    let mut h: Vec<(String, Vec<u8>)> = vec![("host".into(), HOST.as_bytes().to_vec())];
    for (k, v) in BROWSER_HEADERS.iter().chain(kind.headers.iter()) {
        h.push((k.to_ascii_lowercase(), v.as_bytes().to_vec()));
    }
    if kind.method == "POST" {
        h.push((
            "content-length".into(),
            kind.body.len().to_string().into_bytes(),
        ));
    }
    h.push((
        "x-request-id".into(),
        b"7d3c1f0a-2b4e-4c6d-9e8f-0a1b2c3d4e5f".to_vec(),
    ));
    h
}

/// The engine's request head for `kind`, as the filter builds it.
pub fn engine_head(kind: &RequestKind) -> waap_engine::RequestHead {
    waap_engine::RequestHead {
        method: kind.method.to_string(),
        uri: kind.path.as_bytes().to_vec(),
        protocol: "HTTP/1.1".into(),
        headers: engine_headers(kind),
        remote_addr: "127.0.0.1".into(),
        request_id: "7d3c1f0a-2b4e-4c6d-9e8f-0a1b2c3d4e5f".into(),
        peer_cert_sha256: None,
    }
}

/// One whole transaction of `kind` as the filter drives it (request headers, body when the
/// engine asks for it, response headers, log); returns whether it was denied.
pub fn run_transaction(
    engine: &waap_engine::Engine,
    kind: &RequestKind,
    host: &dyn waap_engine::Host,
) -> bool {
    use waap_engine::Verdict;
    let mut tx = engine.transaction(engine_head(kind));
    let mut v = tx.on_request_headers(host);
    if matches!(v, Verdict::Allow) {
        let body = if tx.wants_request_body() {
            kind.body.clone()
        } else {
            Vec::new()
        };
        v = tx.on_request_body(body, false, host);
    }
    if matches!(v, Verdict::Allow) {
        v = tx.on_response_headers(
            200,
            vec![
                ("content-type".into(), b"application/json".to_vec()),
                ("content-length".into(), b"12".to_vec()),
            ],
            host,
        );
    }
    tx.on_log(host);
    !matches!(v, Verdict::Allow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_have_exact_sizes_and_json_is_well_formed() {
        for n in [2048, 65536] {
            let b = json_body(n);
            assert_eq!(b.len(), n);
            assert!(waap_e2e::json::parse(&b).is_ok());
        }
        let f = form_body(2048);
        assert_eq!(f.len(), 2048);
        assert!(!f.contains(&b' '));
    }

    #[test]
    fn json_bodies_parse_within_the_engine_default_limits() {
        for n in [2048, 65536] {
            let parsed = waap_engine::parse::parse_json(
                &json_body(n),
                &waap_engine::parse::JsonLimits::default(),
            );
            assert!(parsed.error.is_none(), "{n}: {:?}", parsed.error);
        }
    }

    #[test]
    fn lua_script_reads_the_body_file_and_sets_headers() {
        let k = &kinds()[1];
        let s = lua_script(k, Some("/tmp/x \"y\".json"));
        assert!(s.contains("wrk.method = \"POST\""));
        assert!(s.contains("wrk.headers[\"Content-Type\"] = \"application/json\""));
        assert!(s.contains("io.open(\"/tmp/x \\\"y\\\".json\", \"rb\")"));
    }
}
