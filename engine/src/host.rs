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
