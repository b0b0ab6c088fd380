//! `waapc`, the waap policy compiler: frontends (our YAML, SecLang for the CRS, OpenAPI for
//! the API family, policy sets) lower policies into one IR ([`waap_engine::program::Program`]
//! for WAF rules, [`waap_engine::families::Families`] for rate limits, bots and API
//! protection), passes check it, and the backend builds DFAs and writes a checksummed bundle.

pub mod api;
pub mod backend;
pub mod bots;
pub mod cases;
pub mod crs;
pub mod error;
pub mod explain;
pub mod inspect;
pub mod policy_set;
pub mod prefilter;
pub mod ratelimit;
pub mod rawhttp;
pub mod schema;
pub mod seclang;
pub mod token;
pub mod yaml;

use std::path::Path;
use std::time::Instant;

use waap_bundle::Meta;

pub use error::{PolicyError, PolicyErrors};

/// The compiler's name in bundle metadata.
pub const COMPILER: &str = "waapc";
/// The compiler's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A compiled policy.
pub struct Compiled {
    /// The bundle bytes.
    pub bundle: Vec<u8>,
    /// The revision written into it.
    pub revision: String,
    /// Rules compiled.
    pub rules: usize,
    /// Backend figures.
    pub stats: backend::BackendStats,
    /// Milliseconds for the whole compile.
    pub compile_ms: u128,
    /// Frontend diagnostics (rules approximated or disabled), one per line.
    pub diagnostics: Vec<String>,
    /// Rule-set files read.
    pub files: usize,
}

/// Reads and compiles a policy file.
pub fn compile_file(path: &Path) -> Result<Compiled, PolicyErrors> {
    let name = path.display().to_string();
    let src = std::fs::read_to_string(path)
        .map_err(|e| PolicyError::new(&name, format!("cannot read: {e}")))?;
    compile_str(&name, &src)
}

/// Compiles policy source text; `file` names it in errors. A policy-set file (top-level
/// `policies:`, see [`policy_set`]) compiles into one bundle holding every member.
pub fn compile_str(file: &str, src: &str) -> Result<Compiled, PolicyErrors> {
    let start = Instant::now();
    if policy_set::is_policy_set(src) {
        let (bundle, revision, members) = policy_set::compile_set(file, src)?;
        let mut c = Compiled {
            bundle,
            revision,
            rules: 0,
            stats: backend::BackendStats::default(),
            compile_ms: 0,
            diagnostics: Vec::new(),
            files: 0,
        };
        for m in members {
            let mc = m.compiled;
            c.rules += mc.rules;
            c.stats.dfas += mc.stats.dfas;
            c.stats.fallbacks += mc.stats.fallbacks;
            c.stats.prefilters += mc.stats.prefilters;
            c.stats.dfa_bytes += mc.stats.dfa_bytes;
            c.files += mc.files;
            c.diagnostics.push(format!(
                "policy {}: revision {}, {} rules, bundle {} bytes",
                m.name,
                mc.revision,
                mc.rules,
                mc.bundle.len()
            ));
            c.diagnostics.extend(
                mc.diagnostics
                    .into_iter()
                    .map(|d| format!("policy {}: {d}", m.name)),
            );
        }
        c.compile_ms = start.elapsed().as_millis();
        return Ok(c);
    }
    let mut fe = yaml::parse(file, src)?;
    let revision = fe
        .revision
        .clone()
        .unwrap_or_else(|| format!("{:016x}", fnv1a64(src.as_bytes())));
    let meta = Meta {
        compiler: COMPILER.into(),
        compiler_version: VERSION.into(),
        revision: revision.clone(),
        extra: std::iter::once(("source".to_string(), file.to_string()))
            .chain(
                fe.components
                    .iter()
                    .map(|c| ("component".to_string(), c.clone())),
            )
            .collect(),
    };
    let (bundle, stats) = backend::emit(&mut fe.program, &fe.families, &fe.backend, &meta)
        .map_err(|msg| PolicyError::new(file, msg))?;
    Ok(Compiled {
        bundle,
        revision,
        rules: fe.program.rules.len(),
        stats,
        compile_ms: start.elapsed().as_millis(),
        diagnostics: fe.diagnostics,
        files: fe.files.len(),
    })
}

/// FNV-1a, 64 bit: a stable content hash for default revision ids.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}
