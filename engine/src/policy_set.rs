//! Several named policies in one bundle, one VM: the filter picks one per request by
//! Envoy route name (`xds.route_name`), or by host and path prefix, else the default.
//!
//! A policy-set bundle has a META section (the set's revision), an empty PROGRAM section
//! and a required POLICY_SET section: a postcard-encoded [`PolicySetSpec`] holding the
//! selectors and each member as a complete bundle. [`PolicySet::load`] loads every member
//! with [`Engine::load`]; one bad member rejects the whole set. A plain bundle loads as a
//! set of one policy with no selectors, so the filter has one code path.

use std::rc::Rc;

use serde::{Deserialize, Serialize};
use waap_bundle::{Bundle, Meta};

use crate::{Engine, LoadError};

/// Version of the POLICY_SET section encoding.
pub const POLICY_SET_VERSION: u32 = 1;

/// Upper bound on members, so a corrupt section cannot make the loader work wildly.
pub const MAX_MEMBERS: usize = 256;

/// The POLICY_SET section.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySetSpec {
    /// [`POLICY_SET_VERSION`].
    pub version: u32,
    /// The members, in the set file's order.
    pub members: Vec<MemberSpec>,
    /// Selection rules, tried in order; the first that matches picks its member.
    pub selectors: Vec<SelectorSpec>,
    /// Index of the member used when no selector matches.
    pub default: u32,
}

/// One named policy of a set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberSpec {
    /// The policy's name in the set file (log lines, `waapc inspect`).
    pub name: String,
    /// A complete bundle, as `waapc compile` writes for a single policy.
    #[serde(with = "byte_buf")]
    pub bundle: Vec<u8>,
}

/// `Vec<u8>` as one byte string: postcard writes it exactly like a sequence of `u8` (a
/// varint length, then the bytes), but reads it in one copy instead of byte by byte.
mod byte_buf {
    use serde::de::{Deserializer, Error, SeqAccess, Visitor};
    use serde::Serializer;

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
                while let Some(b) = seq.next_element()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        d.deserialize_byte_buf(V)
    }
}

/// One selection rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Selector {
    /// Envoy's route name (`xds.route_name`) equals this.
    Route(String),
    /// The host and the path prefix both match (an absent part matches anything).
    HostPath {
        /// `api.example.com` (exact, case-insensitive, port ignored) or `*.example.com`
        /// (any subdomain).
        host: Option<String>,
        /// Prefix of the normalized path (percent-decoded, `//`, `/./`, `/../` resolved,
        /// query removed), so `/public/../admin` cannot pick the `/public` policy.
        path_prefix: Option<String>,
    },
}

/// A selector and the member it picks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectorSpec {
    /// What must match.
    pub selector: Selector,
    /// Index into [`PolicySetSpec::members`].
    pub member: u32,
}

/// Loaded policies of one VM and how to pick one per request.
pub struct PolicySet {
    members: Vec<(String, Rc<Engine>)>,
    selectors: Vec<SelectorSpec>,
    default: usize,
    meta: Meta,
    needs_route_name: bool,
    needs_path: bool,
}

impl PolicySet {
    /// Loads a policy-set bundle, or a plain bundle as a set of one.
    pub fn load(bytes: Vec<u8>) -> Result<PolicySet, LoadError> {
        let spec = {
            let bundle = Bundle::parse(&bytes).map_err(LoadError::Bundle)?;
            match bundle.policy_set() {
                None => None,
                Some(section) => Some((decode_spec(section)?, bundle.meta.clone())),
            }
        };
        let Some((spec, meta)) = spec else {
            let engine = Engine::load(bytes)?;
            let meta = engine.meta().clone();
            return Ok(PolicySet {
                members: vec![("default".into(), Rc::new(engine))],
                selectors: Vec::new(),
                default: 0,
                meta,
                needs_route_name: false,
                needs_path: false,
            });
        };
        drop(bytes);
        let mut members = Vec::with_capacity(spec.members.len());
        for m in spec.members {
            let engine = Engine::load(m.bundle).map_err(|e| set_error(&m.name, e))?;
            members.push((m.name, Rc::new(engine)));
        }
        Ok(PolicySet {
            needs_route_name: spec
                .selectors
                .iter()
                .any(|s| matches!(s.selector, Selector::Route(_))),
            needs_path: spec.selectors.iter().any(|s| {
                matches!(
                    s.selector,
                    Selector::HostPath {
                        path_prefix: Some(_),
                        ..
                    }
                )
            }),
            members,
            selectors: spec.selectors,
            default: spec.default as usize,
            meta,
        })
    }

    /// Applies bot challenge keys from the plugin configuration to every member.
    pub fn with_bot_keys(
        self,
        keys: Option<Vec<crate::bots::config::Secret>>,
    ) -> Result<PolicySet, LoadError> {
        let mut members = Vec::with_capacity(self.members.len());
        for (name, engine) in self.members {
            let engine = Rc::try_unwrap(engine)
                .map_err(|_| LoadError::Families(format!("policy {name}: engine is shared")))?
                .with_bot_keys(keys.clone())
                .map_err(|e| set_error(&name, e))?;
            members.push((name, Rc::new(engine)));
        }
        Ok(PolicySet { members, ..self })
    }

    /// Whether a selector needs Envoy's route name (reading it costs a host call).
    pub fn needs_route_name(&self) -> bool {
        self.needs_route_name
    }

    /// Whether this is a set of more than one policy.
    pub fn is_set(&self) -> bool {
        self.members.len() > 1 || !self.selectors.is_empty()
    }

    /// Picks the policy for a request: the first selector that matches, else the default
    /// (`None` only for a set without members, which `load` refuses).
    /// `route_name` is called at most once, and only when a selector names a route; `host`
    /// is the `Host`/`:authority` value and `uri` the raw request target.
    pub fn select(
        &self,
        route_name: impl FnOnce() -> Option<String>,
        host: &[u8],
        uri: &[u8],
    ) -> Option<(&str, &Rc<Engine>)> {
        let route = if self.needs_route_name {
            route_name()
        } else {
            None
        };
        let path = if self.needs_path {
            normalized_path(uri)
        } else {
            Vec::new()
        };
        let host = strip_port(host);
        let index = self
            .selectors
            .iter()
            .find(|s| match &s.selector {
                Selector::Route(r) => route.as_deref() == Some(r.as_str()),
                Selector::HostPath {
                    host: h,
                    path_prefix,
                } => {
                    h.as_deref().is_none_or(|h| host_matches(h, host))
                        && path_prefix
                            .as_deref()
                            .is_none_or(|p| path.starts_with(p.as_bytes()))
                }
            })
            .map_or(self.default, |s| s.member as usize);
        // Indices were checked by `load`, and a set always has a member.
        self.members.get(index).map(|(n, e)| (n.as_str(), e))
    }

    /// The members, in the set file's order.
    pub fn members(&self) -> impl Iterator<Item = (&str, &Rc<Engine>)> {
        self.members.iter().map(|(n, e)| (n.as_str(), e))
    }

    /// The member named `name`.
    pub fn member(&self, name: &str) -> Option<&Rc<Engine>> {
        self.members.iter().find(|(n, _)| n == name).map(|(_, e)| e)
    }

    /// The default member's name.
    pub fn default_name(&self) -> &str {
        self.members
            .get(self.default)
            .map_or("", |(n, _)| n.as_str())
    }

    /// The selection rules, in order, with the member name each picks.
    pub fn selectors(&self) -> impl Iterator<Item = (&Selector, &str)> {
        self.selectors.iter().map(|s| {
            (
                &s.selector,
                self.members
                    .get(s.member as usize)
                    .map_or("", |(n, _)| n.as_str()),
            )
        })
    }

    /// The set's META (for a plain bundle, the bundle's own).
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Takes the member `name` (or the default when `None`) out of the set, for native
    /// tools that evaluate one policy.
    pub fn into_member(mut self, name: Option<&str>) -> Option<Engine> {
        let index = match name {
            Some(n) => self.members.iter().position(|(m, _)| m == n)?,
            None => self.default,
        };
        if index >= self.members.len() {
            return None;
        }
        let (_, engine) = self.members.swap_remove(index);
        Rc::try_unwrap(engine).ok()
    }

    /// The numeric id of the bundle's revision (the set's own for a set), for the
    /// `waap.bundle.revision` gauge; see [`crate::engine::revision_id`].
    pub fn revision_id(&self) -> u64 {
        crate::engine::revision_id(&self.meta.revision)
    }

    /// A one-line summary for the load log.
    pub fn summary(&self) -> String {
        if !self.is_set() {
            return self
                .members
                .first()
                .map(|(_, e)| e.summary())
                .unwrap_or_default();
        }
        let mut s = format!(
            "policy set revision={} policies={} selectors={} default={}",
            self.meta.revision,
            self.members.len(),
            self.selectors.len(),
            self.default_name()
        );
        for (name, e) in &self.members {
            s.push_str(&format!(
                "; {name}: revision={} rules={} mode={:?}",
                e.meta().revision,
                e.program().rules.len(),
                e.program().mode
            ));
        }
        s
    }
}

fn set_error(name: &str, e: LoadError) -> LoadError {
    let wrap = |s: String| format!("policy set member {name}: {s}");
    match e {
        LoadError::Bundle(b) => LoadError::Program(wrap(format!("invalid bundle: {b}"))),
        LoadError::Program(s) => LoadError::Program(wrap(s)),
        LoadError::Matcher(m) => LoadError::Program(wrap(m.to_string())),
        LoadError::Families(s) => LoadError::Families(wrap(s)),
    }
}

/// Decodes and checks the POLICY_SET section.
fn decode_spec(section: &[u8]) -> Result<PolicySetSpec, LoadError> {
    let bad = |s: String| LoadError::Program(format!("section POLICY_SET: {s}"));
    let spec: PolicySetSpec =
        postcard::from_bytes(section).map_err(|e| bad(format!("does not decode: {e}")))?;
    if spec.version != POLICY_SET_VERSION {
        return Err(bad(format!(
            "version {} but this filter reads {POLICY_SET_VERSION}: recompile the policy set with a matching waapc",
            spec.version
        )));
    }
    let n = spec.members.len();
    if n == 0 || n > MAX_MEMBERS {
        return Err(bad(format!("{n} members (1..={MAX_MEMBERS} allowed)")));
    }
    if spec.default as usize >= n {
        return Err(bad(format!(
            "default member {} does not exist",
            spec.default
        )));
    }
    if let Some(s) = spec.selectors.iter().find(|s| s.member as usize >= n) {
        return Err(bad(format!("selector member {} does not exist", s.member)));
    }
    Ok(spec)
}

/// `host:port` or `[v6]:port` to the host alone.
fn strip_port(host: &[u8]) -> &[u8] {
    if host.first() == Some(&b'[') {
        return match host.iter().position(|&b| b == b']') {
            Some(end) => host.get(..=end).unwrap_or(host),
            None => host,
        };
    }
    match host.iter().rposition(|&b| b == b':') {
        Some(i) => host.get(..i).unwrap_or(host),
        None => host,
    }
}

/// `pattern` is a host name or `*.suffix`; both compare ASCII case-insensitively.
fn host_matches(pattern: &str, host: &[u8]) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => {
            host.len() > suffix.len() + 1
                && host
                    .get(host.len() - suffix.len() - 1..)
                    .is_some_and(|tail| {
                        tail.first() == Some(&b'.')
                            && tail
                                .get(1..)
                                .is_some_and(|t| t.eq_ignore_ascii_case(suffix.as_bytes()))
                    })
        }
        None => host.eq_ignore_ascii_case(pattern.as_bytes()),
    }
}

/// The request path without its query, percent-decoded, with `//`, `/./` and `/../`
/// resolved.
fn normalized_path(uri: &[u8]) -> Vec<u8> {
    let end = uri
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .unwrap_or(uri.len());
    let raw = uri.get(..end).unwrap_or(uri);
    let decoded = crate::request::percent_decode(raw);
    crate::transform::Transform::NormalizePath
        .apply(&decoded)
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_match_exactly_or_by_wildcard_suffix_ignoring_case_and_port() {
        assert!(host_matches(
            "api.example.com",
            strip_port(b"API.example.com:8443")
        ));
        assert!(!host_matches("api.example.com", b"xapi.example.com"));
        assert!(host_matches("*.example.com", b"a.b.example.com"));
        assert!(!host_matches("*.example.com", b"example.com"));
        assert!(!host_matches("*.example.com", b"badexample.com"));
        assert_eq!(strip_port(b"[::1]:80"), b"[::1]");
        assert_eq!(strip_port(b"h"), b"h");
    }

    #[test]
    fn path_prefixes_see_the_normalized_path() {
        assert_eq!(normalized_path(b"/public/../admin/x?a=1"), b"/admin/x");
        assert_eq!(normalized_path(b"/%61dmin//y"), b"/admin/y");
    }

    #[test]
    fn member_bundles_encode_like_a_byte_sequence() {
        #[derive(Serialize)]
        struct Plain {
            name: String,
            bundle: Vec<u8>,
        }
        let m = MemberSpec {
            name: "a".into(),
            bundle: (0..=255u8).collect(),
        };
        let fast = postcard::to_allocvec(&m).unwrap();
        let plain = postcard::to_allocvec(&Plain {
            name: m.name.clone(),
            bundle: m.bundle.clone(),
        })
        .unwrap();
        assert_eq!(fast, plain);
        assert_eq!(postcard::from_bytes::<MemberSpec>(&fast).unwrap(), m);
    }

    #[test]
    fn a_spec_with_dangling_indices_is_refused() {
        let spec = PolicySetSpec {
            version: POLICY_SET_VERSION,
            members: vec![MemberSpec {
                name: "a".into(),
                bundle: vec![],
            }],
            selectors: vec![SelectorSpec {
                selector: Selector::Route("r".into()),
                member: 1,
            }],
            default: 0,
        };
        let bytes = postcard::to_allocvec(&spec).unwrap();
        let e = decode_spec(&bytes).unwrap_err().to_string();
        assert!(e.contains("selector member 1"), "{e}");
        let e = decode_spec(b"\x07").unwrap_err().to_string();
        assert!(e.contains("POLICY_SET"), "{e}");
    }
}
