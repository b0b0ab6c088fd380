//! waap-crs: runs the OWASP CRS v4 regression tests (go-ftw's YAML format) against waap,
//! natively on the engine (`--native`) or end to end through Envoy and the filter
//! (`--envoy`). See `tests/crs/README.md`.
//!
//! - [`ftw`]: the test format; [`request`]: raw request bytes exactly as go-ftw builds them.
//! - [`parse`]: a lenient HTTP/1.1 request parser (native mode).
//! - [`native`], [`proxy`]: the two drivers; [`run`]: stages, retries, workers.
//! - [`judge`]: expected output vs what was observed; [`overrides`]: CRS-format overrides.
//! - [`policy`]: the CRS policy compiled for the run; [`report`]: the summary.

pub mod ftw;
pub mod judge;
pub mod native;
pub mod overrides;

pub mod policy;
pub mod proxy;
pub mod report;
pub mod request;
pub mod run;
pub mod upstream;
