//! Parsers for the parts of a request: query strings, cookies and bodies
//! (urlencoded, JSON, multipart, XML). All are total: malformed input yields what could be
//! parsed plus an error flag, never a panic, and all are bounded by the limits passed in.
//!
//! Semantics follow libmodsecurity v3 (the engine CRS v4 is tested against); each module
//! documents where and why it follows or departs from it.

pub mod cookies;
mod error;
pub mod json;
pub mod multipart;
pub mod urlencoded;

pub use cookies::{parse_cookies, parse_cookies_limited, CookieLimits};
pub use error::ParseError;
pub use json::{parse_json, Json, JsonLimits};
pub use multipart::{parse_multipart, FilePart, Multipart, MultipartFlags, MultipartLimits};
pub use urlencoded::{parse_args, parse_urlencoded, split_uri, url_decode_form, Args, ArgsLimits};

/// A parsed name/value pair, bytes as decoded.
pub type Pair = (Vec<u8>, Vec<u8>);
