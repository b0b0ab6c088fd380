//! A multipart body: the first line of the input is the Content-Type header value, the rest
//! the body. The limits come from the header line's length (even: defaults, odd: small
//! limits), so seeds stay plain text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use waap_engine::parse::{parse_multipart, MultipartLimits};
use waap_engine::request::{BodyData, BodyProcessor};

fuzz_target!(|data: &[u8]| {
    let (ct, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let ct = ct.strip_suffix(b"\r").unwrap_or(ct);
    let limits = if ct.len() % 2 == 0 {
        MultipartLimits::default()
    } else {
        MultipartLimits {
            max_parts: 2,
            max_header_line: 40,
            max_headers_per_part: 2,
        }
    };
    let m = parse_multipart(ct, body, &limits);
    assert!(m.args.len() + m.files.len() <= limits.max_parts);
    assert!(m.error.is_none() || m.strict_error);
    if let Some(e) = &m.error {
        // Content-Type errors ("invalid boundary in C-T") give an offset into the header.
        assert!(e.offset <= body.len().max(ct.len()), "{e}");
    }
    let _ = BodyData::new(body.to_vec(), false, BodyProcessor::Multipart, ct);
});
