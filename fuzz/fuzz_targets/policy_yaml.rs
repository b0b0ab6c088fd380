//! Arbitrary UTF-8 as a YAML policy: `compile_str` must return errors, never panic.
//!
//! A `waf:` key makes the compiler read CRS files from disk (and compile the whole rule
//! set): inputs whose top-level mapping has a `waf` key are refused so the fuzzer never
//! touches the filesystem. The check runs on the parsed YAML (anchors, aliases and escaped
//! keys included); when the text does not parse as YAML, inputs that could spell `waf`
//! indirectly (`waf`, `\`, `*`) are refused too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fn may_read_files(src: &str) -> bool {
    match serde_yaml::from_str::<serde_yaml::Value>(src) {
        Ok(serde_yaml::Value::Mapping(m)) => m
            .keys()
            .any(|k| k.as_str().is_some_and(|k| k.contains("waf"))),
        Ok(serde_yaml::Value::Tagged(_)) => true,
        Ok(_) => false,
        Err(_) => src.contains("waf") || src.contains('\\') || src.contains('*'),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    if may_read_files(src) {
        return;
    }
    if let Ok(c) = waap_policy_compiler::compile_str("fuzz.yaml", src) {
        // What the compiler writes, the engine must load.
        if let Err(e) = waap_engine::Engine::load(c.bundle) {
            panic!("compiled bundle does not load: {e}");
        }
    }
});
