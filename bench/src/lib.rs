//! waap-bench: the pieces of the load driver (`src/main.rs`), shared with the criterion
//! benchmarks (`benches/engine.rs`), which replay the same request kinds natively.
//!
//! - [`requests`]: the request kinds, their bodies and wrk scripts.
//! - [`wrk`]: running wrk, bounded in time, and parsing its report.
//! - [`proc`]: Envoy processes (pinned, awaited, measured, killed on drop) and the upstream sink.
//! - [`report`]: medians and spreads, the table, results.json fields, the SVG chart.

pub mod proc;
pub mod report;
pub mod requests;
pub mod wrk;
