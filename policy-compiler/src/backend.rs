//! The backend: builds dense DFAs for the program's regexes and writes the bundle.

use std::time::Instant;

use regex_automata::{
    dfa::{dense, StartKind},
    nfa::thompson,
};
use waap_bundle::{BundleWriter, Meta, SectionKind};
use waap_engine::matcher::syntax_config;
use waap_engine::program::Program;

use crate::yaml::{BackendOptions, FallbackYaml};

/// What the backend did, for the compile report.
#[derive(Debug, Default, Clone)]
pub struct BackendStats {
    /// Regexes shipped as dense DFAs.
    pub dfas: usize,
    /// Regexes left to a lazy DFA at load.
    pub fallbacks: usize,
    /// Bytes of DFA sections.
    pub dfa_bytes: usize,
    /// Regexes with a required-literal prefilter.
    pub prefilters: usize,
    /// Milliseconds spent building DFAs.
    pub build_ms: u128,
    /// Ids (pattern prefixes) of fallback regexes, for the report.
    pub fallback_patterns: Vec<String>,
}

/// Builds a dense DFA for `pattern` under `limit` bytes, serialized little-endian.
pub fn build_dfa(def: &waap_engine::program::RegexDef, limit: usize) -> Result<Vec<u8>, String> {
    let dfa = dense::Builder::new()
        .configure(
            dense::Config::new()
                .minimize(false)
                .start_kind(StartKind::Unanchored)
                .dfa_size_limit(Some(limit))
                .determinize_size_limit(Some(limit)),
        )
        .syntax(syntax_config(def))
        .thompson(thompson::Config::new().utf8(false).shrink(false))
        .build(&def.pattern)
        .map_err(|e| e.to_string())?;
    let (bytes, pad) = dfa.to_bytes_little_endian();
    Ok(bytes.get(pad..).unwrap_or_default().to_vec())
}

/// Builds DFAs for every regex (fills `dfa`), then lays out the bundle.
pub fn emit(
    program: &mut Program,
    families: &waap_engine::families::Families,
    opts: &BackendOptions,
    meta: &Meta,
) -> Result<(Vec<u8>, BackendStats), String> {
    let start = Instant::now();
    let mut stats = BackendStats::default();
    let mut dfa_sections: Vec<Vec<u8>> = Vec::new();
    for (i, def) in program.regexes.iter_mut().enumerate() {
        match build_dfa(def, opts.dfa_size_limit) {
            Ok(bytes) => {
                def.dfa = Some(dfa_sections.len() as u32);
                stats.dfa_bytes += bytes.len();
                dfa_sections.push(bytes);
                stats.dfas += 1;
            }
            Err(e) => {
                if opts.fallback == FallbackYaml::Error {
                    return Err(format!(
                        "regex #{i} `{}`: dense DFA over the size limit of {} bytes and `regex.fallback: error` is set: {e}",
                        short(&def.pattern),
                        opts.dfa_size_limit
                    ));
                }
                def.dfa = None;
                stats.fallbacks += 1;
                stats
                    .fallback_patterns
                    .push(short(&def.pattern).to_string());
            }
        }
        def.required_literals = crate::prefilter::required_factors(def);
        if !def.required_literals.is_empty() {
            stats.prefilters += 1;
        }
    }
    stats.build_ms = start.elapsed().as_millis();
    let program_bytes =
        postcard::to_allocvec(program).map_err(|e| format!("encoding the program: {e}"))?;
    let mut w = BundleWriter::new();
    w.section(SectionKind::Program, true, program_bytes);
    for d in dfa_sections {
        w.section(SectionKind::Dfa, true, d);
    }
    if !families.is_empty() {
        let bytes =
            postcard::to_allocvec(families).map_err(|e| format!("encoding the families: {e}"))?;
        // Required: a filter that cannot read the families must not run without them.
        w.section(SectionKind::Families, true, bytes);
    }
    Ok((w.finish(meta), stats))
}

fn short(p: &str) -> &str {
    match p.char_indices().nth(60) {
        Some((i, _)) => &p[..i],
        None => p,
    }
}
