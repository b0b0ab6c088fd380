//! Arbitrary bytes as a JSON body, with the default limits or small ones (byte 0).
#![no_main]

use libfuzzer_sys::fuzz_target;
use waap_engine::parse::{parse_json, JsonLimits};
use waap_engine::request::{BodyData, BodyProcessor};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, input)) = data.split_first() else {
        return;
    };
    let limits = if sel & 1 == 0 {
        JsonLimits::default()
    } else {
        JsonLimits {
            max_depth: (sel >> 1 & 7) as usize,
            max_elements: (sel >> 4) as usize * 3,
            max_output_bytes: (sel as usize) * 4,
        }
    };
    let j = parse_json(input, &limits);
    assert!(j.pairs.len() <= limits.max_elements);
    assert!(
        j.pairs
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum::<usize>()
            <= limits.max_output_bytes
    );
    if let Some(e) = &j.error {
        assert!(e.offset <= input.len(), "{e}");
    }
    let _ = BodyData::new(
        input.to_vec(),
        false,
        BodyProcessor::Json,
        b"application/json",
    );
});
