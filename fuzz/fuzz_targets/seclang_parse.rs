//! Arbitrary text as SecLang: `seclang::parse_str` then `seclang::lower` must return
//! errors or diagnostics, never panic.
//!
//! Never touch the filesystem: `Include`/`IncludeOptional` read (and glob) files, and
//! `@pmFromFile`/`@pmf`/`@ipMatchFromFile`/`@ipMatchF` read data files when lowered. The
//! parser lowercases directive names and strips quotes, backslashes and line continuations,
//! so the check is on the lowercased ASCII letters and digits of the input alone: inputs
//! containing "include", "pmf" or "ipmatchf" there are refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use waap_policy_compiler::seclang;

fn may_read_files(text: &str) -> bool {
    let squeezed: String = text
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    ["include", "pmf", "ipmatchf"]
        .iter()
        .any(|w| squeezed.contains(w))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if may_read_files(text) {
        return;
    }
    if let Ok(directives) = seclang::parse_str(text, "fuzz.conf") {
        for strict in [false, true] {
            let opts = seclang::LowerOptions {
                strict,
                tx_init: vec![("blocking_paranoia_level".into(), "1".into())],
            };
            if let Ok(lowered) = seclang::lower(&directives, &opts) {
                let _ = lowered.into_program();
            }
        }
    }
});
