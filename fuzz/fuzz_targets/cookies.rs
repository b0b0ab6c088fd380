//! Arbitrary bytes as a Cookie header value (byte 0 picks the cookie limit).
#![no_main]

use libfuzzer_sys::fuzz_target;
use waap_engine::parse::{parse_cookies, parse_cookies_limited, CookieLimits};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, input)) = data.split_first() else {
        return;
    };
    let all = parse_cookies(input);
    let limits = CookieLimits {
        max_cookies: sel as usize,
    };
    let some = parse_cookies_limited(input, &limits);
    assert!(some.len() <= limits.max_cookies);
    assert_eq!(some[..], all[..some.len().min(all.len())]);
    for (k, v) in &all {
        assert!(k.len() + v.len() <= input.len());
    }
});
