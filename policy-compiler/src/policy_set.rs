//! Policy-set files: several named policies compiled into ONE bundle, selected per request
//! by Envoy route name or by host and path prefix (engine `policy_set`).
//!
//! ```yaml
//! version: 1
//! policies:
//!   - name: admin
//!     policy: admin.yaml            # relative to this file
//!     match:
//!       - route: admin              # Envoy route name (xds.route_name)
//!       - host: admin.example.com   # or host and/or path prefix
//!         path_prefix: /admin/
//!   - name: public
//!     policy: public.yaml
//! default: public
//! ```
//!
//! `waapc compile` recognises the form by its top-level `policies:` key. Each member is
//! compiled exactly as `waapc compile` would compile it alone; the set bundle holds the
//! member bundles whole in its POLICY_SET section.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use waap_bundle::{BundleWriter, Meta, SectionKind};
use waap_engine::policy_set::{
    MemberSpec, PolicySetSpec, Selector, SelectorSpec, POLICY_SET_VERSION,
};

use crate::{PolicyError, PolicyErrors};

/// The set file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetFile {
    version: u32,
    #[serde(default)]
    revision: Option<String>,
    policies: Vec<MemberFile>,
    default: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberFile {
    name: String,
    policy: String,
    #[serde(default, rename = "match")]
    matches: Vec<MatchFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchFile {
    #[serde(default)]
    route: Option<String>,
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    path_prefix: Option<String>,
}

/// Whether `src` is a policy-set file (a mapping with a top-level `policies:` key).
pub fn is_policy_set(src: &str) -> bool {
    src.lines().any(|l| {
        l.strip_prefix("policies:")
            .is_some_and(|rest| rest.trim().is_empty() || rest.trim_start().starts_with('#'))
    })
}

/// The 1-based line of the first line containing `needle`.
fn line_of(src: &str, needle: &str) -> Option<usize> {
    src.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}

/// What a member compiled to, for the compile report.
pub struct MemberReport {
    /// The member's name.
    pub name: String,
    /// Its compile result.
    pub compiled: crate::Compiled,
}

/// Compiles a policy-set file; `file` names it and anchors relative member paths.
pub fn compile_set(
    file: &str,
    src: &str,
) -> Result<(Vec<u8>, String, Vec<MemberReport>), PolicyErrors> {
    let sf: SetFile = serde_yaml::from_str(src).map_err(|e| {
        let line = e.location().map(|l| l.line());
        let msg = e.to_string();
        let msg = match msg.find(" at line ") {
            Some(i) => msg[..i].to_string(),
            None => msg,
        };
        PolicyError::new(file, msg).at(line)
    })?;
    let err = |msg: String, needle: &str| PolicyError::new(file, msg).at(line_of(src, needle));
    if sf.version != 1 {
        return Err(err(
            format!(
                "policy set version {} is not supported (this waapc reads version 1)",
                sf.version
            ),
            "version",
        )
        .into());
    }
    if sf.policies.is_empty() {
        return Err(err("policies: at least one policy is needed".into(), "policies").into());
    }
    let mut index: BTreeMap<&str, u32> = BTreeMap::new();
    let mut errors = Vec::new();
    for (i, m) in sf.policies.iter().enumerate() {
        let needle = format!("name: {}", m.name);
        if m.name.is_empty()
            || !m
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            errors.push(err(
                format!(
                    "policies[{i}]: name {:?} must be non-empty letters, digits, '_' or '-'",
                    m.name
                ),
                &needle,
            ));
        }
        if index.insert(m.name.as_str(), i as u32).is_some() {
            errors.push(err(
                format!("policies[{i}]: name {} is used twice", m.name),
                &needle,
            ));
        }
    }
    let Some(&default) = index.get(sf.default.as_str()) else {
        errors.push(err(
            format!(
                "default: {} is not the name of a policy in this set",
                sf.default
            ),
            "default:",
        ));
        return Err(PolicyErrors(errors));
    };
    let mut selectors = Vec::new();
    let mut seen_routes: BTreeMap<&str, &str> = BTreeMap::new();
    for (i, m) in sf.policies.iter().enumerate() {
        let needle = format!("name: {}", m.name);
        for (j, mf) in m.matches.iter().enumerate() {
            let at = format!("policies[{i}] ({}): match[{j}]", m.name);
            let selector = match (&mf.route, &mf.host, &mf.path_prefix) {
                (Some(r), None, None) => {
                    if let Some(prev) = seen_routes.insert(r.as_str(), m.name.as_str()) {
                        errors.push(err(
                            format!("{at}: route {r} is already matched by policy {prev}"),
                            &needle,
                        ));
                    }
                    Selector::Route(r.clone())
                }
                (Some(_), _, _) => {
                    errors.push(err(
                        format!("{at}: route cannot be combined with host or path_prefix"),
                        &needle,
                    ));
                    continue;
                }
                (None, None, None) => {
                    errors.push(err(
                        format!("{at}: give route, or host and/or path_prefix"),
                        &needle,
                    ));
                    continue;
                }
                (None, h, p) => {
                    if let Some(p) = p.as_deref().filter(|p| !p.starts_with('/')) {
                        errors.push(err(
                            format!("{at}: path_prefix {p:?} must start with '/'"),
                            &needle,
                        ));
                    }
                    if let Some(h) = h.as_deref().filter(|h| {
                        let bare = h.strip_prefix("*.").unwrap_or(h);
                        bare.is_empty() || bare.contains(['*', ':', '/', ' ']) || !bare.is_ascii()
                    }) {
                        errors.push(err(
                            format!("{at}: host {h:?} must be a host name or *.domain (no port)"),
                            &needle,
                        ));
                    }
                    Selector::HostPath {
                        host: h.clone(),
                        path_prefix: p.clone(),
                    }
                }
            };
            selectors.push(SelectorSpec {
                selector,
                member: i as u32,
            });
        }
    }
    if !errors.is_empty() {
        return Err(PolicyErrors(errors));
    }
    let base = Path::new(file).parent().unwrap_or(Path::new("."));
    let mut members = Vec::new();
    let mut reports = Vec::new();
    for m in &sf.policies {
        let path = base.join(&m.policy);
        let at = format!("policy: {}", m.policy);
        let name = path.display().to_string();
        let member_src = std::fs::read_to_string(&path)
            .map_err(|e| err(format!("policy {}: cannot read {name}: {e}", m.name), &at))?;
        if is_policy_set(&member_src) {
            return Err(err(
                format!(
                    "policy {}: {name} is itself a policy set; members must be single policies",
                    m.name
                ),
                &at,
            )
            .into());
        }
        let compiled = crate::compile_str(&name, &member_src).map_err(|e| {
            let mut e = e;
            e.0.insert(
                0,
                err(format!("policy {}: {name} does not compile:", m.name), &at),
            );
            e
        })?;
        members.push(MemberSpec {
            name: m.name.clone(),
            bundle: compiled.bundle.clone(),
        });
        reports.push(MemberReport {
            name: m.name.clone(),
            compiled,
        });
    }
    let spec = PolicySetSpec {
        version: POLICY_SET_VERSION,
        members,
        selectors,
        default,
    };
    // The default revision covers the set file and every member's revision.
    let revision = sf.revision.clone().unwrap_or_else(|| {
        let mut h = src.to_string();
        for r in &reports {
            h.push('\n');
            h.push_str(&r.compiled.revision);
        }
        format!("{:016x}", crate::fnv1a64(h.as_bytes()))
    });
    let meta = Meta {
        compiler: crate::COMPILER.into(),
        compiler_version: crate::VERSION.into(),
        revision: revision.clone(),
        extra: vec![
            ("source".into(), file.into()),
            ("policies".into(), sf.policies.len().to_string()),
        ],
    };
    let bundle = write_set(&spec, &meta).map_err(|e| PolicyError::new(file, e))?;
    Ok((bundle, revision, reports))
}

/// Writes a policy-set bundle: META, an empty PROGRAM (every bundle has one; the policies
/// are the members') and the POLICY_SET section, required so that a filter without
/// policy-set support refuses the bundle. The members are not checked here.
pub fn write_set(spec: &PolicySetSpec, meta: &Meta) -> Result<Vec<u8>, String> {
    let bytes = postcard::to_allocvec(spec).map_err(|e| format!("encoding the policy set: {e}"))?;
    let mut w = BundleWriter::new();
    w.section(SectionKind::Program, true, Vec::new());
    w.section(SectionKind::PolicySet, true, bytes);
    Ok(w.finish(meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    fn scratch(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("waapc-set-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    const STRICT: &str = "version: 1\nmode: block\nrules:\n  - id: 1001\n    msg: m\n    targets: [query_args]\n    match:\n      literals: [attack]\n";

    #[test]
    fn set_errors_name_file_line_and_entry() {
        let d = scratch("errors");
        write(&d, "a.yaml", STRICT);
        let set = d.join("set.yaml");
        let src = "version: 1\npolicies:\n  - name: a\n    policy: a.yaml\n    match:\n      - route: r\n      - route: r\ndefault: b\n";
        let e = compile_set(&set.display().to_string(), src)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("default: b is not the name"), "{e}");
        assert!(e.contains("set.yaml:8"), "{e}");
        let src = "version: 1\npolicies:\n  - name: a\n    policy: a.yaml\n    match:\n      - route: r\n      - route: r\ndefault: a\n";
        let e = compile_set(&set.display().to_string(), src)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("set.yaml:3") && e.contains("route r is already matched"),
            "{e}"
        );
        let src = "version: 1\npolicies:\n  - name: a\n    policy: missing.yaml\ndefault: a\n";
        let e = compile_set(&set.display().to_string(), src)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("set.yaml:4") && e.contains("missing.yaml"),
            "{e}"
        );
        let src =
            "version: 1\npolicies:\n  - name: a\n    policy: a.yaml\n    mtch: []\ndefault: a\n";
        let e = compile_set(&set.display().to_string(), src)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("set.yaml:5") && e.contains("mtch"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    const LAX: &str = "version: 1\nmode: monitor\nrules:\n  - id: 1001\n    msg: m\n    targets: [query_args]\n    match:\n      literals: [attack]\n";

    /// Compiles a two-policy set and returns (bundle, member revisions strict, lax).
    fn two_policy_set(tag: &str) -> (Vec<u8>, String, String) {
        let d = scratch(tag);
        write(&d, "strict.yaml", STRICT);
        write(&d, "lax.yaml", LAX);
        let src = "version: 1\npolicies:\n  - name: strict\n    policy: strict.yaml\n    match:\n      - route: admin\n      - { host: '*.admin.test', path_prefix: /ops/ }\n  - name: lax\n    policy: lax.yaml\ndefault: lax\n";
        let set = d.join("set.yaml");
        let c = crate::compile_str(&set.display().to_string(), src).unwrap();
        let strict = crate::compile_str("s", STRICT).unwrap().revision;
        let lax = crate::compile_str("l", LAX).unwrap().revision;
        std::fs::remove_dir_all(&d).unwrap();
        (c.bundle, strict, lax)
    }

    #[test]
    fn a_set_bundle_selects_by_route_then_host_and_normalized_path_then_default() {
        use waap_engine::PolicySet;
        let (bundle, strict, lax) = two_policy_set("select");
        let set = PolicySet::load(bundle.clone()).unwrap();
        assert!(set.is_set() && set.needs_route_name());
        let pick = |route: Option<&str>, host: &[u8], uri: &[u8]| {
            let r = route.map(str::to_string);
            let (name, e) = set.select(|| r, host, uri).unwrap();
            (name.to_string(), e.meta().revision.clone())
        };
        assert_eq!(
            pick(Some("admin"), b"x", b"/"),
            ("strict".into(), strict.clone())
        );
        assert_eq!(pick(Some("other"), b"x", b"/"), ("lax".into(), lax.clone()));
        assert_eq!(
            pick(None, b"a.admin.test:8080", b"/ops/x"),
            ("strict".into(), strict.clone())
        );
        assert_eq!(
            pick(None, b"a.admin.test", b"/pub/../ops/x?q=1"),
            ("strict".into(), strict)
        );
        assert_eq!(
            pick(None, b"a.admin.test", b"/pub/x"),
            ("lax".into(), lax.clone())
        );
        assert_eq!(pick(None, b"admin.test", b"/ops/x"), ("lax".into(), lax));
        // A set bundle is not a single policy: Engine::load refuses it rather than
        // enforcing its empty program.
        let e = waap_engine::Engine::load(bundle).err().unwrap().to_string();
        assert!(e.contains("policy set"), "{e}");
    }

    #[test]
    fn the_route_name_is_not_asked_for_when_no_selector_names_a_route() {
        let set =
            waap_engine::PolicySet::load(crate::compile_str("s", STRICT).unwrap().bundle).unwrap();
        assert!(!set.is_set() && !set.needs_route_name());
        let (name, _) = set
            .select(|| panic!("route name read"), b"h", b"/")
            .unwrap();
        assert_eq!(name, "default");
    }

    #[test]
    fn one_bad_member_rejects_the_whole_set() {
        let good = crate::compile_str("s", STRICT).unwrap().bundle;
        let mut bad = good.clone();
        bad.truncate(bad.len() - 8);
        let spec = PolicySetSpec {
            version: POLICY_SET_VERSION,
            members: vec![
                MemberSpec {
                    name: "good".into(),
                    bundle: good,
                },
                MemberSpec {
                    name: "broken".into(),
                    bundle: bad,
                },
            ],
            selectors: vec![],
            default: 0,
        };
        let meta = Meta {
            compiler: "test".into(),
            compiler_version: "0".into(),
            revision: "r".into(),
            extra: vec![],
        };
        let e = waap_engine::PolicySet::load(write_set(&spec, &meta).unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("policy set member broken") && e.contains("length"),
            "{e}"
        );
    }

    #[test]
    fn inspect_shows_the_members_and_selectors() {
        let (bundle, strict, _) = two_policy_set("inspect");
        let r = crate::inspect::report(&bundle).unwrap();
        assert!(r.contains("policy set    2 policies"), "{r}");
        assert!(r.contains("route admin") && r.contains("-> strict"), "{r}");
        assert!(r.contains("host *.admin.test path_prefix /ops/"), "{r}");
        assert!(r.contains("policy lax") && r.contains(&strict), "{r}");
    }

    #[test]
    fn the_form_is_detected_by_its_policies_key() {
        assert!(is_policy_set("version: 1\npolicies:\n  - name: a\n"));
        assert!(!is_policy_set("version: 1\nrules: []\n"));
        assert!(!is_policy_set("rules:\n  policies:\n"));
    }
}
