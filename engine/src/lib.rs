//! The waap engine: every decision the filter makes, with no proxy-wasm dependency.
//!
//! The filter hands the engine a bundle once per VM ([`Engine::load`]) and starts a
//! [`Transaction`] per request; the engine reaches the outside world only through the
//! [`Host`] trait, so everything here is tested natively with `cargo test`.

pub mod api;
pub mod bots;
pub mod detect;
pub mod engine;
pub mod eval;
pub mod families;
pub mod fold;
pub mod host;
pub mod log;
pub mod matcher;
pub(crate) mod operator;
pub mod parse;
pub mod policy_set;
pub mod prefilter;
pub mod program;
pub mod ratelimit;
pub mod request;
pub mod schema;
pub mod sensitive;
pub mod transform;

pub use engine::{bundle_from_plugin_config, Engine, LoadError};
pub use eval::{Transaction, Verdict};
pub use families::{Family, Reply};
pub use host::{Host, LogLevel};
pub use policy_set::PolicySet;
pub use request::RequestHead;

/// Calls `f` with every string of `0..=max_len` bytes over `alphabet` (exhaustive tests).
#[cfg(test)]
pub(crate) fn each_string(alphabet: &[u8], max_len: u32, mut f: impl FnMut(Vec<u8>)) {
    for len in 0..=max_len {
        for mut n in 0..alphabet.len().pow(len) {
            let mut v = Vec::with_capacity(len as usize);
            for _ in 0..len {
                v.push(alphabet[n % alphabet.len()]);
                n /= alphabet.len();
            }
            f(v);
        }
    }
}

/// A deterministic xorshift64 generator for tests that draw random inputs (the same
/// inputs every run, so a failure reproduces).
#[cfg(test)]
pub(crate) fn test_rng(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}
