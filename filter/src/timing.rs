//! Where a request's time goes inside Envoy, for profiling builds only (cargo feature
//! `phase-timing`; `make bench-phases` builds and runs it). Each [`Span`] adds the host
//! clock time between its creation and its drop to one of [`SPANS`]; every [`REPORT_EVERY`]
//! requests the averages are logged at warn level as one `waap timing` line and reset.
//! Without the feature a span is an empty value and nothing is measured or logged.

/// The measured parts of a request, in report order.
#[derive(Clone, Copy)]
pub enum Part {
    /// The whole request-headers callback.
    RequestHeaders,
    /// Fetching the request headers and properties into a `RequestHead`.
    RequestHead,
    /// Of which: the header map host call.
    HeaderMap,
    /// Of which: the `request.protocol` and `source.address` property host calls.
    Properties,
    /// Starting the transaction (request parsing, pooled state).
    NewTransaction,
    /// The engine's request-headers phase (families, WAF phase 1).
    EngineRequestHeaders,
    /// The engine's request-body phase (WAF phase 2), when run from the headers callback
    /// or the body callback.
    EngineRequestBody,
    /// The whole response-headers callback.
    ResponseHeaders,
    /// Of which: the engine's response-headers phase (WAF phase 3).
    EngineResponseHeaders,
    /// The whole log callback.
    Log,
    /// Of which: the engine's logging phase (WAF phase 5, counters, audit).
    EngineLog,
}

/// Report labels, indexed by `Part as usize`.
#[cfg_attr(not(feature = "phase-timing"), allow(dead_code))]
pub const SPANS: [&str; 11] = [
    "request_headers",
    "request_head",
    "header_map",
    "properties",
    "new_transaction",
    "engine_request_headers",
    "engine_request_body",
    "response_headers",
    "engine_response_headers",
    "log",
    "engine_log",
];

/// Requests per report line.
#[cfg_attr(not(feature = "phase-timing"), allow(dead_code))]
pub const REPORT_EVERY: u64 = 4096;

#[cfg(feature = "phase-timing")]
mod imp {
    use super::{Part, REPORT_EVERY, SPANS};
    use crate::host::ProxyHost;
    use core::cell::RefCell;
    use waap_engine::host::{Host, LogLevel};

    thread_local! {
        static SUMS: RefCell<([u64; SPANS.len()], u64)> =
            const { RefCell::new(([0; SPANS.len()], 0)) };
    }

    /// Measures until dropped.
    pub struct Span(Part, u64);

    impl Span {
        /// Starts measuring `part`.
        pub fn start(part: Part) -> Span {
            Span(part, ProxyHost.now_nanos())
        }
    }

    impl Drop for Span {
        fn drop(&mut self) {
            let d = ProxyHost.now_nanos().saturating_sub(self.1);
            SUMS.with(|s| {
                if let Ok(mut s) = s.try_borrow_mut() {
                    if let Some(v) = s.0.get_mut(self.0 as usize) {
                        *v += d;
                    }
                }
            });
        }
    }

    /// Counts a finished request and logs the averages every [`REPORT_EVERY`] requests.
    pub fn request_done() {
        SUMS.with(|s| {
            let Ok(mut s) = s.try_borrow_mut() else {
                return;
            };
            s.1 += 1;
            if s.1 < REPORT_EVERY {
                return;
            }
            let mut line = format!("waap timing: ns per request over {REPORT_EVERY} requests:");
            for (label, total) in SPANS.iter().zip(s.0.iter()) {
                line.push_str(&format!(" {label}={}", total / REPORT_EVERY));
            }
            ProxyHost.log(LogLevel::Warn, &line);
            *s = ([0; SPANS.len()], 0);
        });
    }
}

#[cfg(not(feature = "phase-timing"))]
mod imp {
    use super::Part;

    /// Measures nothing (the `phase-timing` feature is off).
    pub struct Span;

    impl Span {
        /// Does nothing.
        #[inline(always)]
        pub fn start(_part: Part) -> Span {
            Span
        }
    }

    /// Does nothing.
    #[inline(always)]
    pub fn request_done() {}
}

pub use imp::{request_done, Span};
