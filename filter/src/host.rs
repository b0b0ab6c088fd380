//! The engine's `Host` trait implemented with proxy-wasm host calls: the one place where
//! the engine meets the proxy. Every call is the fallible `hostcalls` form; failures are
//! reported as "no value" rather than panicking.

use std::cell::RefCell;
use std::collections::HashMap;

use proxy_wasm::hostcalls;
use proxy_wasm::types::{LogLevel as PwLevel, MetricType};
use waap_engine::host::{Host, LogLevel};

thread_local! {
    static METRICS: RefCell<HashMap<String, u32>> = RefCell::new(HashMap::new());
}

/// The proxy as the engine's host.
#[derive(Default, Clone, Copy)]
pub struct ProxyHost;

impl Host for ProxyHost {
    fn now_nanos(&self) -> u64 {
        hostcalls::get_current_time()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    }

    fn log(&self, level: LogLevel, msg: &str) {
        let level = match level {
            LogLevel::Debug => PwLevel::Debug,
            LogLevel::Info => PwLevel::Info,
            LogLevel::Warn => PwLevel::Warn,
            LogLevel::Error => PwLevel::Error,
        };
        let _ = hostcalls::log(level, msg);
    }

    fn shared_get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        match hostcalls::get_shared_data(key) {
            Ok((Some(v), Some(cas))) => Some((v, cas)),
            _ => None,
        }
    }

    fn shared_set(&self, key: &str, value: &[u8], cas: Option<u32>) -> bool {
        hostcalls::set_shared_data(key, Some(value), cas).is_ok()
    }

    fn counter_add(&self, name: &str, delta: u64) {
        METRICS.with(|m| {
            let mut m = m.borrow_mut();
            let id = match m.get(name) {
                Some(id) => *id,
                None => match hostcalls::define_metric(MetricType::Counter, name) {
                    Ok(id) => {
                        m.insert(name.to_string(), id);
                        id
                    }
                    Err(_) => return,
                },
            };
            let _ = hostcalls::increment_metric(id, delta.min(i64::MAX as u64) as i64);
        });
    }
}

/// Sets a gauge metric, defining it on first use (the engine's `Host` has counters only;
/// the filter's one gauge, `waap.bundle.revision`, is set on load).
pub fn gauge_set(name: &str, value: u64) {
    METRICS.with(|m| {
        let mut m = m.borrow_mut();
        let id = match m.get(name) {
            Some(id) => *id,
            None => match hostcalls::define_metric(MetricType::Gauge, name) {
                Ok(id) => {
                    m.insert(name.to_string(), id);
                    id
                }
                Err(_) => return,
            },
        };
        let _ = hostcalls::record_metric(id, value);
    });
}
