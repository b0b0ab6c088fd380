//! Loading a bundle into an immutable [`Engine`], once per VM.

use core::fmt;

use waap_bundle::{Bundle, BundleError, Meta};

use crate::matcher::{CaptureMatcher, LiteralGate, LiteralMatcher, Matcher, MatcherError};
use crate::program::{Program, PROGRAM_VERSION};

/// The bundle bytes, kept alive for the DFAs that point into them.
enum Storage {
    /// The buffer as handed over (its start was 8-byte aligned).
    Bytes(#[allow(dead_code)] Vec<u8>),
    /// An aligned copy of a misaligned buffer.
    Words(#[allow(dead_code)] Vec<u64>),
}

/// Why a bundle could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// The container is invalid (truncated, corrupted, wrong version...).
    Bundle(BundleError),
    /// The PROGRAM section does not decode or has the wrong IR version.
    Program(String),
    /// A regex or literal set could not be built.
    Matcher(MatcherError),
    /// The FAMILIES section does not decode, has the wrong version or is inconsistent.
    Families(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Bundle(e) => write!(f, "invalid bundle: {e}"),
            LoadError::Program(e) => write!(f, "invalid bundle: section PROGRAM: {e}"),
            LoadError::Matcher(e) => write!(f, "invalid bundle: {e}"),
            LoadError::Families(e) => write!(f, "invalid bundle: section FAMILIES: {e}"),
        }
    }
}

impl std::error::Error for LoadError {}

/// A loaded, validated policy: the program plus its matchers. Immutable; shared by all
/// requests of a VM.
pub struct Engine {
    // Field order matters: `matchers` borrows from `_storage` and must be dropped first
    // (fields drop in declaration order).
    pub(crate) matchers: Vec<Matcher<'static>>,
    pub(crate) literals: Vec<LiteralMatcher>,
    /// Required-literal prefilters per regex.
    pub(crate) gates: Vec<Option<LiteralGate>>,
    /// Literal forms of key-selector regexes (`None`: run the DFA).
    pub(crate) key_forms: Vec<Option<crate::matcher::KeyForm>>,
    /// Rule skipping by required literals.
    pub(crate) prefilter: crate::prefilter::Prefilter,
    /// Capture matchers per regex, built on first use (`Some(None)`: could not be built).
    pub(crate) capture_vms: Vec<core::cell::RefCell<Option<Option<std::rc::Rc<CaptureMatcher>>>>>,
    pub(crate) program: Program,
    /// Rate limits, bots, API protection and client identity (empty when the bundle has
    /// no FAMILIES section).
    pub(crate) families: crate::families::Families,
    /// Ready JWT verifiers of the API family.
    pub(crate) api_runtime: Option<crate::api::ApiRuntime>,
    /// Rule indices per phase (index 1..=5).
    pub(crate) phase_rules: [Vec<u32>; 6],
    /// The initial TX variables, names lower-cased, sorted, the last of equal names kept.
    pub(crate) tx_init: Vec<(String, Vec<u8>)>,
    /// Whether an initial TX name holds a line feed (see `Transaction::tx_newline`).
    pub(crate) tx_init_newline: bool,
    /// Buffers of finished transactions, reused by the next ones (see
    /// [`crate::eval::Scratch`]).
    pub(crate) scratch: core::cell::RefCell<Vec<crate::eval::Scratch>>,
    /// Rules left out of the phase lists at load (see [`crate::fold`]).
    folded: crate::fold::FoldStats,
    /// Whether anything reads the response status or headers (see
    /// [`Engine::reads_response_head`]).
    reads_response_head: bool,
    meta: Meta,
    bundle_len: usize,
    dfa_count: usize,
    _storage: Storage,
}

impl Engine {
    /// Validates `bytes` as a bundle and builds the engine. The buffer is used in place when
    /// it is 8-byte aligned, otherwise copied once into aligned storage.
    pub fn load(bytes: Vec<u8>) -> Result<Engine, LoadError> {
        Self::load_with(bytes, true)
    }

    /// [`Engine::load`] without the load-time folding of TX-decided rules
    /// ([`crate::fold`]): every rule is visited as written. For differential tests (the
    /// verdicts and matched rules must be the same) and for diagnosis.
    pub fn load_unfolded(bytes: Vec<u8>) -> Result<Engine, LoadError> {
        Self::load_with(bytes, false)
    }

    fn load_with(bytes: Vec<u8>, fold: bool) -> Result<Engine, LoadError> {
        let storage = if (bytes.as_ptr() as usize).is_multiple_of(8) {
            Storage::Bytes(bytes)
        } else {
            let mut words = vec![0u64; bytes.len().div_ceil(8)];
            for (w, chunk) in words.iter_mut().zip(bytes.chunks(8)) {
                let mut a = [0u8; 8];
                a[..chunk.len()].copy_from_slice(chunk);
                *w = u64::from_ne_bytes(a);
            }
            let len = bytes.len();
            drop(bytes);
            return Self::load_storage(Storage::Words(words), len, fold);
        };
        let len = match &storage {
            Storage::Bytes(b) => b.len(),
            Storage::Words(_) => 0,
        };
        Self::load_storage(storage, len, fold)
    }

    fn load_storage(storage: Storage, len: usize, fold: bool) -> Result<Engine, LoadError> {
        let slice: &[u8] = match &storage {
            Storage::Bytes(b) => b.as_slice(),
            // SAFETY: u64 storage viewed as bytes; `len <= 8 * words.len()`.
            Storage::Words(w) => unsafe {
                core::slice::from_raw_parts(w.as_ptr().cast::<u8>(), len)
            },
        };
        // SAFETY: `slice` points into the heap allocation owned by `storage`, which moves
        // into the returned `Engine` without reallocating and is never mutated. Every
        // borrower (`matchers`) is a field of that `Engine`, declared before `_storage`, so
        // it is dropped first, and nothing hands out a `'static` reference: accessors tie
        // borrows to `&self`.
        let slice: &'static [u8] = unsafe { core::mem::transmute::<&[u8], &'static [u8]>(slice) };
        let bundle = Bundle::parse(slice).map_err(LoadError::Bundle)?;
        if bundle.policy_set().is_some() {
            return Err(LoadError::Program(
                "the bundle is a policy set (several policies): load it with PolicySet::load"
                    .into(),
            ));
        }
        let program: Program = postcard::from_bytes(bundle.program())
            .map_err(|e| LoadError::Program(format!("does not decode: {e}")))?;
        if program.version != PROGRAM_VERSION {
            return Err(LoadError::Program(format!(
                "program IR version {} but this filter reads {PROGRAM_VERSION}: recompile the policy with a matching waapc",
                program.version
            )));
        }
        let families = match bundle.families() {
            None => crate::families::Families::default(),
            Some(bytes) => {
                let f: crate::families::Families = postcard::from_bytes(bytes)
                    .map_err(|e| LoadError::Families(format!("does not decode: {e}")))?;
                if f.version != crate::families::FAMILIES_VERSION {
                    return Err(LoadError::Families(format!(
                        "version {} but this filter reads {}: recompile the policy with a matching waapc",
                        f.version,
                        crate::families::FAMILIES_VERSION
                    )));
                }
                f
            }
        };
        let api_runtime = match &families.api {
            Some(a) => Some(crate::api::ApiRuntime::build(a).map_err(LoadError::Families)?),
            None => None,
        };
        let dfas: Vec<&'static [u8]> = bundle.dfas().collect();
        let matchers = program
            .regexes
            .iter()
            .enumerate()
            .map(|(i, def)| Matcher::build(i, def, &dfas))
            .collect::<Result<Vec<_>, _>>()
            .map_err(LoadError::Matcher)?;
        let literals = program
            .literal_sets
            .iter()
            .enumerate()
            .map(|(i, set)| LiteralMatcher::build(i, set))
            .collect::<Result<Vec<_>, _>>()
            .map_err(LoadError::Matcher)?;
        let mut phase_rules: [Vec<u32>; 6] = Default::default();
        for (i, rule) in program.rules.iter().enumerate() {
            let p = rule.phase.clamp(1, 5) as usize;
            phase_rules[p].push(i as u32);
        }
        validate_references(&program)?;
        let capture_vms = program
            .regexes
            .iter()
            .map(|_| core::cell::RefCell::new(None))
            .collect();
        let gates = program
            .regexes
            .iter()
            .map(|d| LiteralGate::new(&d.required_literals))
            .collect();
        let key_forms = program
            .regexes
            .iter()
            .map(crate::matcher::KeyForm::of)
            .collect();
        // Sorted by name, the last value of a name winning (as inserting them in order).
        let mut tx_init: Vec<(String, Vec<u8>)> = program
            .tx_init
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.as_bytes().to_vec()))
            .collect::<std::collections::BTreeMap<_, _>>()
            .into_iter()
            .collect();
        let folded = if fold {
            crate::fold::fold(&program, &mut tx_init, &mut phase_rules)
        } else {
            crate::fold::FoldStats::default()
        };
        // After folding: rules it left out never run and need no literals.
        let mut live = vec![false; program.rules.len()];
        for &ri in phase_rules.iter().flatten() {
            if let Some(x) = live.get_mut(ri as usize) {
                *x = true;
            }
        }
        let prefilter =
            crate::prefilter::Prefilter::build(&program, crate::eval::chain_hash, &live);
        // The keyword sets of the `@detectSQLi` shortcuts, built here rather than by the
        // first request.
        if program.rules.iter().any(|r| {
            core::iter::once(&r.cond)
                .chain(&r.chain)
                .any(|c| matches!(c.operator, crate::program::Operator::DetectSqli))
        }) {
            crate::detect::warm();
        }
        // Response body inspection reads the content type, and only then runs phase 4.
        let reads_response_head = (program.body.inspect_response && !phase_rules[4].is_empty())
            || families.api.is_some()
            || program.rules.iter().any(|r| {
                r.mentions(&[
                    crate::program::Collection::ResponseHeaders,
                    crate::program::Collection::ResponseStatus,
                ])
            });
        Ok(Engine {
            tx_init_newline: tx_init.iter().any(|(n, _)| n.contains('\n')),
            tx_init,
            folded,
            reads_response_head,
            scratch: Default::default(),
            key_forms,
            prefilter,
            matchers,
            literals,
            gates,
            capture_vms,
            meta: bundle.meta.clone(),
            bundle_len: len,
            dfa_count: dfas.len(),
            program,
            families,
            api_runtime,
            phase_rules,
            _storage: storage,
        })
    }

    /// Rules that the initial TX variables decide, left out of the phase lists at load.
    pub fn folded(&self) -> crate::fold::FoldStats {
        self.folded
    }

    /// The rule-skipping prefilter.
    pub fn prefilter(&self) -> &crate::prefilter::Prefilter {
        &self.prefilter
    }

    /// The capture matcher of regex `i`, built on first use.
    pub(crate) fn capture_matcher(&self, i: u32) -> Option<std::rc::Rc<CaptureMatcher>> {
        let cell = self.capture_vms.get(i as usize)?;
        if let Ok(slot) = cell.try_borrow() {
            if let Some(built) = slot.as_ref() {
                return built.clone();
            }
        }
        let built = self
            .program
            .regexes
            .get(i as usize)
            .and_then(|d| CaptureMatcher::build(d).ok())
            .map(std::rc::Rc::new);
        if let Ok(mut slot) = cell.try_borrow_mut() {
            *slot = Some(built.clone());
        }
        built
    }

    /// Whether the response status and headers are read at all: by a rule (as a target or
    /// in a macro), by response body inspection for phase-4 rules (its content types) or by
    /// API protection.
    /// When not, the proxy may pass an empty response head and save fetching it.
    pub fn reads_response_head(&self) -> bool {
        self.reads_response_head
    }

    /// Whether a request needs [`crate::RequestHead::peer_cert_sha256`]: some API operation
    /// requires a client certificate.
    pub fn needs_peer_certificate(&self) -> bool {
        self.api_runtime
            .as_ref()
            .is_some_and(|r| r.needs_peer_certificate)
    }

    /// Whether regex `i` of the program matches somewhere in `hay`. An unknown index or a
    /// matcher failure counts as no match (a schema `pattern` then fails: fail closed).
    pub fn regex_is_match(&self, i: u32, hay: &[u8]) -> bool {
        self.matchers
            .get(i as usize)
            .is_some_and(|m| m.is_match(hay).unwrap_or(false))
    }

    /// The families beside the WAF (rate limits, bots, API protection).
    pub fn families(&self) -> &crate::families::Families {
        &self.families
    }

    /// Who compiled the bundle, and its policy revision.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// The program.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// A number identifying the policy revision, for the `waap.bundle.revision` gauge:
    /// the revision itself when it is a decimal number below 2^53 (exact in Prometheus'
    /// floats), else the low 32 bits of its FNV-1a hash. The load log line gives both.
    pub fn revision_id(&self) -> u64 {
        revision_id(&self.meta.revision)
    }

    /// A one-line summary for the load log.
    pub fn summary(&self) -> String {
        format!(
            "revision={} compiler={} {} rules={} regexes={} dfas={} lazy={} literal_sets={} bundle_bytes={} mode={:?}",
            self.meta.revision,
            self.meta.compiler,
            self.meta.compiler_version,
            self.program.rules.len(),
            self.program.regexes.len(),
            self.dfa_count,
            self.matchers.iter().filter(|m| matches!(m, Matcher::Lazy(..))).count(),
            self.program.literal_sets.len(),
            self.bundle_len,
            self.program.mode,
        )
    }
}

/// The bundle inside a plugin configuration: the raw bundle bytes (Envoy's
/// `google.protobuf.BytesValue`), or a JSON object `{"bundle": "<base64>"}` (Istio's
/// `WasmPlugin.pluginConfig`, which Envoy hands over as JSON text).
pub fn bundle_from_plugin_config(config: Vec<u8>) -> Result<Vec<u8>, String> {
    let first = config.iter().find(|b| !b.is_ascii_whitespace()).copied();
    if first != Some(b'{') {
        return Ok(config);
    }
    let limits = crate::parse::JsonLimits {
        max_output_bytes: config.len() + 64,
        ..Default::default()
    };
    let json = crate::parse::parse_json(&config, &limits);
    if let Some(e) = json.error {
        return Err(format!(
            "plugin configuration looks like JSON but does not parse: {e}"
        ));
    }
    let Some((_, b64)) = json.pairs.into_iter().find(|(k, _)| k == b"json.bundle") else {
        return Err("plugin configuration is JSON without a \"bundle\" key (expected {\"bundle\": \"<base64 of the .waapb>\"})".into());
    };
    let bytes = crate::transform::Transform::Base64Decode
        .apply(&b64)
        .into_owned();
    if bytes.is_empty() {
        return Err("plugin configuration: \"bundle\" is not valid base64".into());
    }
    Ok(bytes)
}

/// Checks every index the program holds, so evaluation never meets a dangling one.
fn validate_references(p: &Program) -> Result<(), LoadError> {
    use crate::program::{Operator, Selector};
    let nre = p.regexes.len() as u32;
    let nlit = p.literal_sets.len() as u32;
    let nrules = p.rules.len() as u32;
    for rule in &p.rules {
        let bad = |what: String| LoadError::Program(format!("rule {}: {what}", rule.id));
        if !(1..=5).contains(&rule.phase) {
            return Err(bad(format!("phase {} is not 1..5", rule.phase)));
        }
        if let Some(s) = rule.actions.skip_after {
            if s > nrules {
                return Err(bad(format!("skipAfter target {s} past the last rule")));
            }
        }
        for cond in core::iter::once(&rule.cond).chain(&rule.chain) {
            match cond.operator {
                Operator::Rx(i) if i >= nre => {
                    return Err(bad(format!("regex {i} does not exist")))
                }
                Operator::Pm(i) if i >= nlit => {
                    return Err(bad(format!("literal set {i} does not exist")))
                }
                Operator::ValidateByteRange(ref m) if m.len() != 32 => {
                    return Err(bad("byte range map is not 32 bytes".into()))
                }
                _ => {}
            }
            for t in &cond.targets {
                for s in core::iter::once(&t.selector).chain(&t.exclude) {
                    if let Selector::Regex(i) = s {
                        if *i >= nre {
                            return Err(bad(format!("selector regex {i} does not exist")));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod config_tests {
    use super::bundle_from_plugin_config;

    #[test]
    fn plugin_config_is_raw_bytes_or_json_with_base64_bundle() {
        assert_eq!(
            bundle_from_plugin_config(b"WAAPBNDL...".to_vec()).unwrap(),
            b"WAAPBNDL..."
        );
        assert_eq!(
            bundle_from_plugin_config(br#" {"bundle":"V0FBUEJOREw="}"#.to_vec()).unwrap(),
            b"WAAPBNDL"
        );
        assert!(bundle_from_plugin_config(br#"{"other":1}"#.to_vec())
            .unwrap_err()
            .contains("bundle"));
        assert!(bundle_from_plugin_config(br#"{"bundle":"%%%"}"#.to_vec()).is_err());
        assert!(bundle_from_plugin_config(br#"{"bundle":"#.to_vec()).is_err());
    }
}

/// See [`Engine::revision_id`].
pub fn revision_id(revision: &str) -> u64 {
    if let Ok(n) = revision.parse::<u64>() {
        if n < (1 << 53) {
            return n;
        }
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in revision.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h & 0xffff_ffff
}

#[cfg(test)]
mod revision_id_tests {
    use super::revision_id;

    #[test]
    fn revision_id_is_the_number_or_a_stable_32_bit_hash() {
        assert_eq!(revision_id("42"), 42);
        assert_eq!(revision_id("a1b2"), revision_id("a1b2"));
        assert_ne!(revision_id("a1b2"), revision_id("a1b3"));
        assert!(revision_id("9007199254740993") <= u64::from(u32::MAX));
        assert!(revision_id("r-2026-11-27") <= u64::from(u32::MAX));
    }
}
