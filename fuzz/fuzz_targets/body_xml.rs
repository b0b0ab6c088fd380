//! Arbitrary bytes as an XML body, with the default limits or small ones (byte 0).
#![no_main]

use libfuzzer_sys::fuzz_target;
use waap_engine::parse::{parse_xml, XmlLimits};
use waap_engine::request::{BodyData, BodyProcessor};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, input)) = data.split_first() else {
        return;
    };
    let limits = if sel & 1 == 0 {
        XmlLimits::default()
    } else {
        XmlLimits {
            max_depth: (sel >> 1 & 7) as usize,
            max_elements: (sel >> 4) as usize,
            max_attributes: (sel >> 3 & 3) as usize,
        }
    };
    let x = parse_xml(input, &limits);
    if let Some(e) = &x.error {
        assert!(e.offset <= input.len(), "{e}");
    }
    let _ = BodyData::new(
        input.to_vec(),
        false,
        BodyProcessor::Xml,
        b"application/xml",
    );
});
