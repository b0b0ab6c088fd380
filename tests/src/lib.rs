//! waap-e2e: the operational test kit for the waap filter.
//!
//! - [`echo`]: the upstream (`waap-echo`): echoes requests as JSON, reflects CRS albedo specs.
//! - [`client`]: a blocking HTTP/1.1 client that sends bytes exactly as given.
//! - [`render`]: renders `envoy/envoy.yaml.tmpl` and `envoy/ecds.yaml.tmpl`.
//! - [`envoy`]: finds Envoy, the wasm and waapc; starts Envoy on free loopback ports, waits for
//!   `/ready`, swaps bundles through ECDS, stops it on drop; `envoy --mode validate`.
//! - [`ratelimit`]: Redis and the rate-limit service (`waap-ratelimit`) as processes.
//! - [`cases`]: the shared request -> verdict corpus format (`tests/cases/*.yaml`).

pub mod base64;
pub mod cases;
pub mod client;
pub mod echo;
pub mod envoy;
pub mod http;
pub mod json;
pub mod ratelimit;
pub mod render;

use std::fmt;

/// A harness error: what failed, with enough context to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub message: String,
}

impl Error {
    pub fn new(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::new(e.to_string())
    }
}

impl From<json::JsonError> for Error {
    fn from(e: json::JsonError) -> Error {
        Error::new(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
