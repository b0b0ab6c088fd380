//! waap-bench: the pieces of the load driver (`src/main.rs`), shared with the criterion
//! benchmarks (`benches/engine.rs`), which replay the same request kinds natively.
//!
//! - [`requests`]: the request kinds, their bodies and wrk scripts.
//! - [`wrk`]: running wrk, bounded in time, and parsing its report.
//! - [`proc`]: Envoy processes (pinned, awaited, measured, killed on drop) and the upstream sink.
//! - [`policy`]: policy variants (CRS at another paranoia level) and waapc's summary line.
//! - [`footprint`]: load time and memory of an idle Envoy with a filter.
//! - [`linear`]: `waap-bench linear`, CRS on large adversarial bodies, natively.
//! - [`host`]: the quiet `Host`s the native benchmarks run the engine with.
//! - [`report`]: medians and spreads, the table, results.json fields, the SVG chart.

pub mod footprint;
pub mod host;
pub mod linear;
pub mod policy;
pub mod proc;
pub mod report;
pub mod requests;
pub mod wrk;
