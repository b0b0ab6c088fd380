//! SecLang (ModSecurity rule language) frontend: parses `.conf` files (OWASP CRS) and
//! lowers them into the engine IR ([`waap_engine::program`]).
//!
//! ```text
//! parser::parse_files(&[setup, rules...]) -> Vec<Directive>
//! lower::lower(&directives, &LowerOptions) -> Lowered { rules, regexes, literal_sets, .. }
//! ```

pub mod ast;
pub mod lower;
pub mod parser;

pub use ast::{Directive, DirectiveKind, Error, Span};
pub use lower::{lower, Diagnostic, Level, LowerOptions, Lowered};
pub use parser::{parse_file, parse_files, parse_str};
