//! `waf.crs` in a policy: OWASP CRS (or any SecLang rule set laid out like it) compiled
//! with the SecLang frontend and merged with the policy's own rules.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use waap_engine::program::Program;

use crate::error::PolicyError;
use crate::seclang::{self, Level, LowerOptions};

/// `waf:` in the policy.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct WafYaml {
    /// The Core Rule Set.
    #[serde(default)]
    pub crs: Option<CrsYaml>,
}

/// `waf.crs:` — where the rules are and how to tune them.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct CrsYaml {
    /// Directory of `*.conf` rule files (loaded in name order, like `Include rules/*.conf`).
    /// `${VAR}` and `${VAR:-default}` are expanded; relative paths are relative to the
    /// policy file.
    pub rules_dir: String,
    /// The setup file (`crs-setup.conf`), loaded first. Optional.
    #[serde(default)]
    pub setup: Option<String>,
    /// Blocking paranoia level 1..4 (`tx.blocking_paranoia_level`, CRS 4; also
    /// `tx.paranoia_level`, CRS 3 — each version ignores the other's names).
    #[serde(default)]
    pub paranoia_level: Option<u8>,
    /// Detection paranoia level (defaults to the blocking level): `tx.detection_paranoia_level`
    /// (CRS 4) and `tx.executing_paranoia_level` (CRS 3).
    #[serde(default)]
    pub detection_paranoia_level: Option<u8>,
    /// Inbound anomaly score threshold (default 5).
    #[serde(default)]
    pub inbound_threshold: Option<u32>,
    /// Outbound anomaly score threshold (default 4).
    #[serde(default)]
    pub outbound_threshold: Option<u32>,
    /// Further `tx.*` variables set before the rules (e.g. `arg_length: 400`).
    #[serde(default)]
    pub tx: BTreeMap<String, serde_yaml::Value>,
    /// SecLang files loaded after the setup, before the rules.
    #[serde(default)]
    pub before: Vec<String>,
    /// SecLang files loaded after the rules (exclusion rules).
    #[serde(default)]
    pub after: Vec<String>,
    /// Inline SecLang lines loaded after the rules, e.g. `SecRuleRemoveById 942100`.
    #[serde(default)]
    pub exclusions: Vec<String>,
    /// Response content types whose bodies the RESPONSE-95x rules inspect.
    #[serde(default)]
    pub response_body_mime_types: Option<Vec<String>>,
    /// Fail compilation on any rule the engine cannot run exactly (default false: such
    /// rules are reported and disabled).
    #[serde(default)]
    pub strict: bool,
}

/// The compiled CRS part of a policy.
pub struct CrsPart {
    /// The program holding the CRS rules and their tables.
    pub program: Program,
    /// Diagnostics as `file:line: rule N: level: directive: reason`.
    pub diagnostics: Vec<String>,
    /// Number of error-level diagnostics (rules that will not behave as written).
    pub errors: usize,
    /// Files read, in order.
    pub files: Vec<PathBuf>,
    /// `SecComponentSignature` values of the rule set (`OWASP_CRS/4.29.0-dev`).
    pub components: Vec<String>,
}

/// Expands `${VAR}` and `${VAR:-default}` from the environment.
pub fn expand_env(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[i..]);
            return out;
        };
        let expr = &after[..end];
        let (name, default) = match expr.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (expr, None),
        };
        match std::env::var(name) {
            Ok(v) if !v.is_empty() => out.push_str(&v),
            _ => out.push_str(default.unwrap_or_default()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = PathBuf::from(expand_env(p));
    if p.is_absolute() {
        p
    } else {
        base.join(p)
    }
}

fn yaml_scalar(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(if *b { "1".into() } else { "0".into() }),
        _ => None,
    }
}

/// Parses and lowers the CRS files named by `cfg`. `policy_file` names the policy in
/// errors; relative paths resolve against `base`.
pub fn compile(policy_file: &str, base: &Path, cfg: &CrsYaml) -> Result<CrsPart, Vec<PolicyError>> {
    let perr = |msg: String| vec![PolicyError::new(policy_file, msg)];
    let rules_dir = resolve(base, &cfg.rules_dir);
    let mut files = Vec::new();
    if let Some(setup) = &cfg.setup {
        let p = resolve(base, setup);
        if !p.is_file() {
            return Err(perr(format!(
                "waf.crs.setup: {} does not exist",
                p.display()
            )));
        }
        files.push(p);
    }
    for b in &cfg.before {
        files.push(resolve(base, b));
    }
    let mut rule_files: Vec<PathBuf> = std::fs::read_dir(&rules_dir)
        .map_err(|e| {
            perr(format!(
                "waf.crs.rules_dir: cannot read {}: {e}",
                rules_dir.display()
            ))
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    rule_files.sort();
    if rule_files.is_empty() {
        return Err(perr(format!(
            "waf.crs.rules_dir: no *.conf files in {}",
            rules_dir.display()
        )));
    }
    files.extend(rule_files);
    for a in &cfg.after {
        files.push(resolve(base, a));
    }
    let mut directives = seclang::parse_files(&files).map_err(|errs| {
        errs.into_iter()
            .map(|e| PolicyError::new(policy_file, format!("waf.crs: {e}")))
            .collect::<Vec<_>>()
    })?;
    if !cfg.exclusions.is_empty() {
        let text = cfg.exclusions.join("\n");
        let more = seclang::parse_str(&text, &format!("{policy_file} (waf.crs.exclusions)"))
            .map_err(|errs| {
                errs.into_iter()
                    .map(|e| PolicyError::new(policy_file, format!("waf.crs.exclusions: {e}")))
                    .collect::<Vec<_>>()
            })?;
        directives.extend(more);
    }
    let mut tx_init: Vec<(String, String)> = Vec::new();
    if let Some(pl) = cfg.paranoia_level {
        if !(1..=4).contains(&pl) {
            return Err(perr(format!("waf.crs.paranoia_level {pl} is not 1..4")));
        }
        let detection = cfg.detection_paranoia_level.unwrap_or(pl).to_string();
        tx_init.push(("blocking_paranoia_level".into(), pl.to_string()));
        tx_init.push(("detection_paranoia_level".into(), detection.clone()));
        // CRS 3 (e.g. Debian's 3.3.4) names them paranoia_level / executing_paranoia_level.
        tx_init.push(("paranoia_level".into(), pl.to_string()));
        tx_init.push(("executing_paranoia_level".into(), detection));
    } else if let Some(d) = cfg.detection_paranoia_level {
        tx_init.push(("detection_paranoia_level".into(), d.to_string()));
        tx_init.push(("executing_paranoia_level".into(), d.to_string()));
    }
    if let Some(t) = cfg.inbound_threshold {
        tx_init.push(("inbound_anomaly_score_threshold".into(), t.to_string()));
    }
    if let Some(t) = cfg.outbound_threshold {
        tx_init.push(("outbound_anomaly_score_threshold".into(), t.to_string()));
    }
    for (k, v) in &cfg.tx {
        let Some(v) = yaml_scalar(v) else {
            return Err(perr(format!(
                "waf.crs.tx.{k}: value must be a string, number or boolean"
            )));
        };
        tx_init.push((k.to_ascii_lowercase(), v));
    }
    if cfg.setup.is_none() {
        // CRS refuses to run (rule 901001) unless its setup file was loaded.
        tx_init.push(("crs_setup_version".into(), "400".into()));
    }
    let lowered = seclang::lower(
        &directives,
        &LowerOptions {
            strict: cfg.strict,
            tx_init,
        },
    )
    .map_err(|errs| {
        errs.into_iter()
            .map(|e| PolicyError::new(policy_file, format!("waf.crs: {e}")))
            .collect::<Vec<_>>()
    })?;
    let errors = lowered
        .diagnostics
        .iter()
        .filter(|d| d.level == Level::Error)
        .count();
    let components = lowered.component_signatures.clone();
    let (mut program, diags) = lowered.into_program();
    program.body.inspect = true;
    program.body.inspect_response = true;
    program.body.response_mime_types = cfg
        .response_body_mime_types
        .clone()
        .unwrap_or_else(|| vec!["text/plain".into(), "text/html".into(), "text/xml".into()])
        .into_iter()
        .map(|m| m.to_ascii_lowercase())
        .collect();
    Ok(CrsPart {
        program,
        diagnostics: diags
            .iter()
            .filter(|d| d.level != Level::Info)
            .map(ToString::to_string)
            .collect(),
        errors,
        files,
        components,
    })
}

#[cfg(test)]
mod tests {
    use super::expand_env;

    #[test]
    fn expand_env_uses_defaults_and_keeps_plain_text() {
        assert_eq!(expand_env("a/${WAAP_SURELY_UNSET_VAR:-x/y}/b"), "a/x/y/b");
        assert_eq!(expand_env("${WAAP_SURELY_UNSET_VAR}"), "");
        assert_eq!(expand_env("plain"), "plain");
        assert_eq!(expand_env("${unterminated"), "${unterminated");
    }
}
