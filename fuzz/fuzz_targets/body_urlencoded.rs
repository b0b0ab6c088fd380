//! Arbitrary bytes as a query string / urlencoded body (byte 0 picks the argument limit).
#![no_main]

use libfuzzer_sys::fuzz_target;
use waap_engine::parse::{parse_args, parse_urlencoded, split_uri, url_decode_form, ArgsLimits};
use waap_engine::request::{BodyData, BodyProcessor};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, input)) = data.split_first() else {
        return;
    };
    let limits = if sel & 1 == 0 {
        ArgsLimits::default()
    } else {
        ArgsLimits {
            max_args: (sel >> 1) as usize,
        }
    };
    let args = parse_args(input, &limits);
    assert!(args.pairs.len() <= limits.max_args);
    if let Some(e) = &args.error {
        assert!(e.offset <= input.len(), "{e}");
    }
    let _ = parse_urlencoded(input);
    let _ = url_decode_form(input);
    let (path, query) = split_uri(input);
    assert!(path.len() + query.map_or(0, |q| q.len() + 1) <= input.len());
    let _ = BodyData::new(
        input.to_vec(),
        sel & 2 != 0,
        BodyProcessor::UrlEncoded,
        b"application/x-www-form-urlencoded",
    );
});
