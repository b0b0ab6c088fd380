//! Hosts for native benchmarks: every call but the clock costs (almost) nothing, so the
//! time measured is the engine's.

use std::hint::black_box;
use waap_engine::host::Host;
use waap_engine::LogLevel;

/// A host with a fixed clock (2027-01-15, Unix 1,800,000,000 s).
pub struct QuietHost;

/// A host with the system clock, for benchmarks whose inputs expire (tokens).
pub struct ClockHost;

/// The fixed time of [`QuietHost`], nanoseconds since the epoch.
pub const QUIET_NOW_NANOS: u64 = 1_800_000_000_000_000_000;

fn log(msg: &str) {
    black_box(msg);
}

fn counter(name: &str, delta: u64) {
    black_box((name, delta));
}

impl Host for QuietHost {
    fn now_nanos(&self) -> u64 {
        QUIET_NOW_NANOS
    }
    fn log(&self, _level: LogLevel, msg: &str) {
        log(msg)
    }
    fn shared_get(&self, _key: &str) -> Option<(Vec<u8>, u32)> {
        None
    }
    fn shared_set(&self, _key: &str, _value: &[u8], _cas: Option<u32>) -> bool {
        true
    }
    fn counter_add(&self, name: &str, delta: u64) {
        counter(name, delta)
    }
}

impl Host for ClockHost {
    fn now_nanos(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    }
    fn log(&self, _level: LogLevel, msg: &str) {
        log(msg)
    }
    fn shared_get(&self, _key: &str) -> Option<(Vec<u8>, u32)> {
        None
    }
    fn shared_set(&self, _key: &str, _value: &[u8], _cas: Option<u32>) -> bool {
        true
    }
    fn counter_add(&self, name: &str, delta: u64) {
        counter(name, delta)
    }
}
