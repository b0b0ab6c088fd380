//! The one boundary between the engine and the proxy.

/// Log levels, as the proxy knows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Debug detail.
    Debug,
    /// Normal events (a match in monitor mode, a bundle loaded).
    Info,
    /// Something an operator should look at.
    Warn,
    /// A failure.
    Error,
}

/// What the engine needs from its host: time, shared data, metrics and logs.
pub trait Host {
    /// Current wall-clock time in nanoseconds since the Unix epoch.
    fn now_nanos(&self) -> u64;
    /// Writes a log line.
    fn log(&self, level: LogLevel, msg: &str);
    /// Reads a shared-data entry: its bytes and a CAS token.
    fn shared_get(&self, key: &str) -> Option<(Vec<u8>, u32)>;
    /// Writes a shared-data entry if the CAS token still matches (`None`: unconditional).
    /// Returns false on a CAS mismatch or failure.
    fn shared_set(&self, key: &str, value: &[u8], cas: Option<u32>) -> bool;
    /// Adds `delta` to a counter metric, defining it on first use.
    fn counter_add(&self, name: &str, delta: u64);
}

/// A host for native use (tests, `waapc explain`, benchmarks): system clock, in-memory
/// shared data and counters, and log lines kept in memory.
#[derive(Default)]
pub struct NativeHost {
    /// Log lines written, with their levels.
    pub logs: std::cell::RefCell<Vec<(LogLevel, String)>>,
    shared: std::cell::RefCell<std::collections::HashMap<String, (Vec<u8>, u32)>>,
    /// Counter values by name.
    pub counters: std::cell::RefCell<std::collections::BTreeMap<String, u64>>,
    /// A fixed clock for tests (nanoseconds); the system clock when `None`.
    pub fixed_now: std::cell::Cell<Option<u64>>,
}

impl NativeHost {
    /// Shared-data entries and the bytes of their keys and values.
    pub fn shared_usage(&self) -> (usize, usize) {
        let m = self.shared.borrow();
        (m.len(), m.iter().map(|(k, (v, _))| k.len() + v.len()).sum())
    }
}

impl Host for NativeHost {
    fn now_nanos(&self) -> u64 {
        self.fixed_now.get().unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
        })
    }

    fn log(&self, level: LogLevel, msg: &str) {
        self.logs.borrow_mut().push((level, msg.to_string()));
    }

    fn shared_get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.shared.borrow().get(key).cloned()
    }

    fn shared_set(&self, key: &str, value: &[u8], cas: Option<u32>) -> bool {
        let mut m = self.shared.borrow_mut();
        let cur = m.get(key).map(|(_, c)| *c);
        if let Some(c) = cas {
            if cur.is_some_and(|cur| cur != c) {
                return false;
            }
        }
        let next = cur.unwrap_or(0).wrapping_add(1);
        m.insert(key.to_string(), (value.to_vec(), next));
        true
    }

    fn counter_add(&self, name: &str, delta: u64) {
        *self
            .counters
            .borrow_mut()
            .entry(name.to_string())
            .or_insert(0) += delta;
    }
}
