//! The request (and response) model the engine evaluates, and the collections derived
//! from it once per transaction.

use crate::parse::{self, Pair};

/// What the proxy knows at request headers time.
#[derive(Clone, Debug, Default)]
pub struct RequestHead {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target exactly as received (`:path`), path and query.
    pub uri: Vec<u8>,
    /// `HTTP/1.1`, `HTTP/2`, ...
    pub protocol: String,
    /// Headers in arrival order, without pseudo-headers. Names as the proxy gives them.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Client address without port.
    pub remote_addr: String,
    /// The request id (`x-request-id`), used in denials and logs.
    pub request_id: String,
    /// SHA-256 digest (hex) of the verified client certificate, on mutual-TLS connections.
    pub peer_cert_sha256: Option<String>,
}

/// The body processor chosen for a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BodyProcessor {
    /// No processor (unknown content type).
    #[default]
    None,
    /// `application/x-www-form-urlencoded`.
    UrlEncoded,
    /// `multipart/form-data`.
    Multipart,
    /// `application/json` and `+json`.
    Json,
    /// `text/xml`, `application/xml` and `+xml`.
    Xml,
}

impl BodyProcessor {
    /// The name REQBODY_PROCESSOR shows.
    pub fn name(self) -> &'static str {
        match self {
            BodyProcessor::None => "",
            BodyProcessor::UrlEncoded => "URLENCODED",
            BodyProcessor::Multipart => "MULTIPART",
            BodyProcessor::Json => "JSON",
            BodyProcessor::Xml => "XML",
        }
    }

    /// Parses a `ctl:requestBodyProcessor=` value.
    pub fn from_name(name: &str) -> Option<BodyProcessor> {
        Some(match name.to_ascii_uppercase().as_str() {
            "URLENCODED" => BodyProcessor::UrlEncoded,
            "MULTIPART" => BodyProcessor::Multipart,
            "JSON" => BodyProcessor::Json,
            "XML" => BodyProcessor::Xml,
            _ => return None,
        })
    }

    /// The processor for a `Content-Type` value.
    pub fn for_content_type(ct: &[u8]) -> BodyProcessor {
        let ct = ct.to_ascii_lowercase();
        let mime = ct.split(|&b| b == b';').next().unwrap_or_default();
        let mime = mime.trim_ascii();
        if mime == b"application/x-www-form-urlencoded" {
            BodyProcessor::UrlEncoded
        } else if mime == b"multipart/form-data" {
            BodyProcessor::Multipart
        } else if mime == b"application/json" || mime.ends_with(b"+json") {
            BodyProcessor::Json
        } else if mime == b"application/xml" || mime == b"text/xml" || mime.ends_with(b"+xml") {
            BodyProcessor::Xml
        } else {
            BodyProcessor::None
        }
    }
}

/// Collections derived from the request head (phase 1).
#[derive(Debug, Default)]
pub struct HeadData {
    /// The raw path (no query).
    pub path_raw: Vec<u8>,
    /// The raw query (no `?`), empty if none.
    pub query: Vec<u8>,
    /// URL-decoded URI (REQUEST_URI).
    pub uri_decoded: Vec<u8>,
    /// URL-decoded path (REQUEST_FILENAME).
    pub filename: Vec<u8>,
    /// Last segment of `filename` (REQUEST_BASENAME).
    pub basename: Vec<u8>,
    /// `METHOD URI PROTOCOL`.
    pub request_line: Vec<u8>,
    /// Query arguments, decoded.
    pub args_get: Vec<Pair>,
    /// Cookies.
    pub cookies: Vec<Pair>,
    /// The [`crate::transform::facts`] of these values, shared by every rule and chain
    /// that reads them.
    pub(crate) facts: HeadFacts,
}

/// A value's [`crate::transform::facts`], 0 until the first rule that needs them computes
/// them (a policy that reads few values pays for few).
pub(crate) type FactCell = core::cell::Cell<u32>;

/// Empty fact cells for `n` (name, value) pairs: the name's at `2 * i`, the value's at
/// `2 * i + 1`.
pub(crate) fn pair_cells(n: usize) -> Vec<FactCell> {
    vec![FactCell::new(0); 2 * n]
}

/// The fact cells of a request head's values, in the collections' order.
#[derive(Debug, Default)]
pub(crate) struct HeadFacts {
    /// Of `args_get`, `cookies` and the request headers ([`pair_cells`]).
    pub args_get: Vec<FactCell>,
    pub cookies: Vec<FactCell>,
    pub headers: Vec<FactCell>,
    /// Of `path_raw`, `query`, `uri_decoded`, `filename`, `basename`, `request_line` and
    /// the raw URI.
    pub path_raw: FactCell,
    pub query: FactCell,
    pub uri_decoded: FactCell,
    pub filename: FactCell,
    pub basename: FactCell,
    pub request_line: FactCell,
    pub uri_raw: FactCell,
}

impl HeadData {
    /// Derives the head collections.
    pub fn new(head: &RequestHead) -> HeadData {
        let (path_raw, query) = match head.uri.iter().position(|&b| b == b'?') {
            Some(i) => (head.uri[..i].to_vec(), head.uri[i + 1..].to_vec()),
            None => (head.uri.clone(), Vec::new()),
        };
        let uri_decoded = percent_decode(&head.uri);
        let filename = percent_decode(&path_raw);
        let basename = match filename.iter().rposition(|&b| b == b'/') {
            Some(i) => filename[i + 1..].to_vec(),
            None => filename.clone(),
        };
        let mut request_line = Vec::with_capacity(head.method.len() + head.uri.len() + 12);
        request_line.extend_from_slice(head.method.as_bytes());
        request_line.push(b' ');
        request_line.extend_from_slice(&head.uri);
        request_line.push(b' ');
        request_line.extend_from_slice(head.protocol.as_bytes());
        let args_get = parse::parse_urlencoded(&query);
        let mut cookies = Vec::new();
        for (name, value) in &head.headers {
            if name.eq_ignore_ascii_case("cookie") {
                cookies.extend(glue::cookies(value));
            }
        }
        let facts = HeadFacts {
            args_get: pair_cells(args_get.len()),
            cookies: pair_cells(cookies.len()),
            headers: pair_cells(head.headers.len()),
            ..HeadFacts::default()
        };
        HeadData {
            path_raw,
            query,
            uri_decoded,
            filename,
            basename,
            request_line,
            args_get,
            cookies,
            facts,
        }
    }
}

/// Collections derived from the request body (phase 2).
#[derive(Debug, Default)]
pub struct BodyData {
    /// The body bytes inspected (possibly a prefix).
    pub raw: Vec<u8>,
    /// Whether `raw` is only a prefix of the body.
    pub truncated: bool,
    /// The processor that ran.
    pub processor: BodyProcessor,
    /// Whether the processor failed (REQBODY_ERROR).
    pub error: bool,
    /// The processor's error message.
    pub error_msg: String,
    /// Body arguments (urlencoded fields, JSON leaves, multipart fields).
    pub args_post: Vec<Pair>,
    /// The fact cells of `args_post` ([`pair_cells`]).
    pub(crate) args_post_facts: Vec<FactCell>,
    /// Multipart file parts: (field name, file name, size).
    pub files: Vec<(Vec<u8>, Vec<u8>, usize)>,
    /// Multipart part headers (field name, "Header: value").
    pub part_headers: Vec<Pair>,
    /// XML text nodes.
    pub xml_texts: Vec<Vec<u8>>,
    /// XML attribute values.
    pub xml_attrs: Vec<Vec<u8>>,
}

impl BodyData {
    /// Runs `processor` over `raw`.
    pub fn new(
        raw: Vec<u8>,
        truncated: bool,
        processor: BodyProcessor,
        content_type: &[u8],
    ) -> BodyData {
        let mut d = BodyData {
            truncated,
            processor,
            ..BodyData::default()
        };
        match processor {
            BodyProcessor::UrlEncoded => d.args_post = parse::parse_urlencoded(&raw),
            BodyProcessor::Json => match glue::json(&raw) {
                Ok(pairs) => d.args_post = pairs,
                Err((pairs, msg)) => {
                    d.args_post = pairs;
                    d.error = true;
                    d.error_msg = msg;
                }
            },
            BodyProcessor::Multipart => {
                let m = glue::multipart(content_type, &raw);
                d.args_post = m.args;
                d.files = m.files;
                d.part_headers = m.part_headers;
                if let Some(e) = m.error {
                    d.error = true;
                    d.error_msg = e;
                }
            }
            BodyProcessor::Xml => {
                let x = glue::xml(&raw);
                d.xml_texts = x.0;
                d.xml_attrs = x.1;
                if let Some(e) = x.2 {
                    d.error = true;
                    d.error_msg = e;
                }
            }
            BodyProcessor::None => {}
        }
        // A prefix cut at the inspection limit cannot parse cleanly: that is not the
        // client's error (the policy chose to inspect only the prefix).
        if truncated {
            d.error = false;
        }
        d.args_post_facts = pair_cells(d.args_post.len());
        d.raw = raw;
        d
    }
}

/// What the proxy knows about the response.
#[derive(Debug, Default)]
pub struct ResponseData {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Body bytes inspected.
    pub body: Vec<u8>,
}

/// `%XX` decoding only (`+` stays): how ModSecurity decodes REQUEST_URI and
/// REQUEST_FILENAME. Invalid escapes are kept as written.
pub fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        if b == b'%' {
            if let (Some(h), Some(l)) = (
                input.get(i + 1).and_then(|&c| hexval(c)),
                input.get(i + 2).and_then(|&c| hexval(c)),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

fn hexval(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// The adapters from the parsers onto the collections.
mod glue {
    use crate::parse::{self, Pair};

    pub fn cookies(value: &[u8]) -> Vec<Pair> {
        parse::parse_cookies(value)
    }

    pub fn json(raw: &[u8]) -> Result<Vec<Pair>, (Vec<Pair>, String)> {
        let j = parse::parse_json(raw, &parse::JsonLimits::default());
        match j.error {
            None => Ok(j.pairs),
            Some(e) => Err((j.pairs, format!("JSON: {e}"))),
        }
    }

    pub struct Multipart {
        pub args: Vec<Pair>,
        pub files: Vec<(Vec<u8>, Vec<u8>, usize)>,
        pub part_headers: Vec<Pair>,
        pub error: Option<String>,
    }

    pub fn multipart(ct: &[u8], raw: &[u8]) -> Multipart {
        let m = parse::parse_multipart(ct, raw, &parse::MultipartLimits::default());
        Multipart {
            args: m.args,
            files: m
                .files
                .into_iter()
                .map(|f| (f.field_name, f.filename, f.size))
                .collect(),
            part_headers: m.part_headers,
            error: m.error.map(|e| format!("multipart: {e}")),
        }
    }

    /// `XML:/*` is the root element's whole text (as libxml2's XPath gives it to
    /// ModSecurity); `XML://@*` the attribute values.
    pub fn xml(raw: &[u8]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>, Option<String>) {
        let x = parse::parse_xml(raw, &parse::XmlLimits::default());
        let texts = if x.root_text.is_empty() {
            Vec::new()
        } else {
            vec![x.root_text]
        };
        (texts, x.attr_values, x.error.map(|e| format!("XML: {e}")))
    }
}
