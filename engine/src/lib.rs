//! The waap engine: every decision the filter makes, with no proxy-wasm dependency.
//!
//! The filter hands the engine a validated bundle once per VM ([`Engine::load`]) and a
//! [`Transaction`] per request; the engine reaches the outside world only through the
//! [`Host`] trait, so everything here is tested natively with `cargo test`.

pub mod host;
pub mod parse;
pub mod program;
pub mod transform;

pub use host::Host;
