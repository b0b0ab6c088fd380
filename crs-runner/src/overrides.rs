//! Platform overrides in CRS's format (`tests/regression/*-overrides.yaml`):
//! `{version, meta, test_overrides: [{rule_id, test_ids, stage_ids?, reason, output?}]}`.
//!
//! An override with `output` replaces the expected output of the test's stages (all of them,
//! or those in `stage_ids`, 0-based as in go-ftw) and the test is judged against it. One
//! without `output` skips the test; skips count as failures in the pass rate. Empty
//! `test_ids` means every test of the rule.

use crate::ftw::{Output, TestCase};
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, Deserialize, Default)]
pub struct OverridesFile {
    #[serde(default)]
    pub version: Option<serde_yaml::Value>,
    #[serde(default)]
    pub meta: Option<serde_yaml::Value>,
    #[serde(default)]
    pub test_overrides: Vec<TestOverride>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TestOverride {
    pub rule_id: u32,
    #[serde(default)]
    pub test_ids: Vec<u32>,
    #[serde(default)]
    pub stage_ids: Vec<usize>,
    pub reason: String,
    #[serde(default)]
    pub output: Option<Output>,
}

/// What an override does to a test.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// No override.
    None,
    /// Skipped, with the reason.
    Skip(String),
    /// Expectations replaced; the reason is reported with the result.
    Replaced(String),
}

impl OverridesFile {
    pub fn parse(text: &str) -> Result<OverridesFile, String> {
        let f: Option<OverridesFile> = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        Ok(f.unwrap_or_default())
    }

    pub fn load(path: &Path) -> Result<OverridesFile, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn find(&self, rule_id: u32, test_id: u32) -> Option<&TestOverride> {
        self.test_overrides.iter().find(|o| {
            o.rule_id == rule_id && (o.test_ids.is_empty() || o.test_ids.contains(&test_id))
        })
    }

    /// Applies the override for `test` (if any) to its stages.
    pub fn apply(&self, test: &mut TestCase) -> Applied {
        let Some(o) = self.find(test.rule_id, test.test_id) else {
            return Applied::None;
        };
        let Some(output) = &o.output else {
            return Applied::Skip(o.reason.trim().to_string());
        };
        for (i, stage) in test.stages.iter_mut().enumerate() {
            if o.stage_ids.is_empty() || o.stage_ids.contains(&i) {
                stage.output = output.clone().normalized();
            }
        }
        Applied::Replaced(o.reason.trim().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ftw::parse_file;

    const TESTS: &str = "rule_id: 920100\ntests:\n  - test_id: 1\n    stages:\n      - output: { status: 400 }\n      - output: { status: 400 }\n  - test_id: 2\n    stages:\n      - output: { log: { expect_ids: [920100] } }\n  - test_id: 3\n    stages:\n      - output: { status: 200 }\n";

    const OVERRIDES: &str = r#"
version: "v0.0.0"
meta: { engine: waap, platform: envoy }
test_overrides:
  - rule_id: 920100
    test_ids: [1]
    stage_ids: [1]
    reason: "Envoy answers 400 itself"
    output:
      status: 400
      log: { no_expect_ids: [920100] }
  - rule_id: 920100
    test_ids: [2]
    reason: |
      cannot be sent through Envoy
"#;

    #[test]
    fn overrides_replace_outputs_or_skip() {
        let o = OverridesFile::parse(OVERRIDES).unwrap();
        let mut tests = parse_file(Path::new("920100.yaml"), TESTS, "G").unwrap();
        assert_eq!(
            o.apply(&mut tests[0]),
            Applied::Replaced("Envoy answers 400 itself".into())
        );
        assert!(tests[0].stages[0].output.log.no_expect_ids.is_empty());
        assert_eq!(tests[0].stages[1].output.log.no_expect_ids, vec![920100]);
        assert_eq!(
            o.apply(&mut tests[1]),
            Applied::Skip("cannot be sent through Envoy".into())
        );
        assert_eq!(o.apply(&mut tests[2]), Applied::None);
    }

    #[test]
    fn empty_files_and_empty_test_ids() {
        assert!(OverridesFile::parse("").unwrap().test_overrides.is_empty());
        let o = OverridesFile::parse("test_overrides:\n  - rule_id: 1\n    reason: all\n").unwrap();
        let mut t = parse_file(
            Path::new("1.yaml"),
            "tests:\n  - test_id: 9\n    stages: []\n",
            "G",
        )
        .unwrap();
        assert_eq!(o.apply(&mut t[0]), Applied::Skip("all".into()));
    }

    #[test]
    fn upstream_override_files_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/corpus/crs-v4/tests/regression");
        for name in [
            "coraza-overrides.yaml",
            "nginx-overrides.yaml",
            "httpd-overrides.yaml",
        ] {
            let p = dir.join(name);
            if p.is_file() {
                let f = OverridesFile::load(&p).unwrap();
                assert!(!f.test_overrides.is_empty(), "{name}");
            }
        }
    }
}
