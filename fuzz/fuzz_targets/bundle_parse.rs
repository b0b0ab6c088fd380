//! Arbitrary bytes as a bundle: `Bundle::parse` and `Engine::load` must return an error or
//! succeed, never panic (a bundle arrives from the control plane and is not trusted).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = waap_bundle::Bundle::parse(data);
    let _ = waap_engine::Engine::load(data.to_vec());
});
