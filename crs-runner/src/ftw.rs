//! The go-ftw test format (CRS `tests/regression/tests/**/*.yaml`): loading, defaults and
//! names. Unknown keys are ignored (the files carry `desc`, `meta`, comments as keys...).

use serde::Deserialize;
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One test file.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct FtwFile {
    #[serde(default)]
    pub rule_id: Option<u32>,
    #[serde(default)]
    pub tests: Vec<FtwTest>,
}

/// One test: stages run in order on fresh connections.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct FtwTest {
    #[serde(default)]
    pub test_id: Option<u32>,
    #[serde(default)]
    pub stages: Vec<Stage>,
}

/// One request and its expected outcome.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct Stage {
    #[serde(default)]
    pub input: Input,
    #[serde(default)]
    pub output: Output,
}

/// A header as `ordered_headers` lists it.
#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
pub struct HeaderTuple {
    #[serde(default, deserialize_with = "scalar")]
    pub name: String,
    #[serde(default, deserialize_with = "scalar")]
    pub value: String,
}

/// What to send. `None` fields take go-ftw's defaults (see the getters).
#[derive(Debug, Clone, Deserialize, Default)]
pub struct Input {
    #[serde(default)]
    pub dest_addr: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub uri: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    /// A map: go-ftw sends these sorted by name (byte order), see [`Input::header_list`].
    #[serde(default)]
    pub headers: Option<BTreeMap<String, Value>>,
    /// Explicit order; wins over `headers`.
    #[serde(default)]
    pub ordered_headers: Option<Vec<HeaderTuple>>,
    #[serde(default)]
    pub data: Option<String>,
    /// Base64 body (an alternative to `data`).
    #[serde(default)]
    pub encoded_data: Option<String>,
    /// Base64 of the whole raw request: overrides everything else.
    #[serde(default)]
    pub encoded_request: Option<String>,
    #[serde(default)]
    pub autocomplete_headers: Option<bool>,
    /// The deprecated inverse of `autocomplete_headers`.
    #[serde(default)]
    pub stop_magic: Option<bool>,
}

impl Input {
    pub fn method(&self) -> &str {
        self.method.as_deref().unwrap_or("GET")
    }
    pub fn uri(&self) -> &str {
        self.uri.as_deref().unwrap_or("/")
    }
    pub fn version(&self) -> &str {
        self.version.as_deref().unwrap_or("HTTP/1.1")
    }
    /// go-ftw: `autocomplete_headers` if given, else `!stop_magic`, else true.
    pub fn autocomplete(&self) -> bool {
        match (self.autocomplete_headers, self.stop_magic) {
            (Some(a), _) => a,
            (None, Some(s)) => !s,
            (None, None) => true,
        }
    }
    /// Headers in the order go-ftw writes them: `ordered_headers` as given, else the
    /// `headers` map sorted by name.
    pub fn header_list(&self) -> Vec<(String, String)> {
        if let Some(list) = &self.ordered_headers {
            return list
                .iter()
                .map(|t| (t.name.clone(), t.value.clone()))
                .collect();
        }
        self.headers
            .iter()
            .flatten()
            .map(|(n, v)| (n.clone(), value_text(v)))
            .collect()
    }
}

/// Log expectations.
#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq, serde::Serialize)]
pub struct LogExpect {
    #[serde(default)]
    pub expect_ids: Vec<u32>,
    #[serde(default)]
    pub no_expect_ids: Vec<u32>,
    #[serde(default)]
    pub match_regex: Option<String>,
    #[serde(default)]
    pub no_match_regex: Option<String>,
}

/// Expected outcome of a stage.
#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq, serde::Serialize)]
pub struct Output {
    /// One status (go-ftw v2) or a list (older files): any of them passes.
    #[serde(default, deserialize_with = "statuses")]
    pub status: Vec<u16>,
    #[serde(default)]
    pub log: LogExpect,
    /// Older forms: a regex the log must (not) match.
    #[serde(default)]
    pub log_contains: Option<String>,
    #[serde(default)]
    pub no_log_contains: Option<String>,
    /// A regex the full response must match.
    #[serde(default)]
    pub response_contains: Option<String>,
    #[serde(default)]
    pub expect_error: bool,
    #[serde(default)]
    pub retry_once: bool,
}

impl Output {
    /// go-ftw's post-processing: `log_contains` becomes `match_regex` when the newer fields
    /// are unset, `no_log_contains` becomes `no_match_regex`.
    pub fn normalized(mut self) -> Output {
        if let Some(lc) = self.log_contains.take() {
            if self.log.expect_ids.is_empty() && self.log.match_regex.is_none() {
                self.log.match_regex = Some(lc);
            }
        }
        if let Some(nlc) = self.no_log_contains.take() {
            if self.log.no_expect_ids.is_empty() && self.log.no_match_regex.is_none() {
                self.log.no_match_regex = Some(nlc);
            }
        }
        self
    }
}

/// A YAML scalar as Go's yaml would read it into a string.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim_end()
            .to_string(),
    }
}

fn scalar<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(value_text(&Value::deserialize(d)?))
}

fn statuses<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u16>, D::Error> {
    use serde::de::Error;
    let v = Value::deserialize(d)?;
    let one = |v: &Value| -> Result<u16, D::Error> {
        v.as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(|| D::Error::custom(format!("status must be an integer, got {v:?}")))
    };
    match &v {
        Value::Null => Ok(Vec::new()),
        Value::Sequence(items) => items.iter().map(one).collect(),
        // go-ftw treats status 0 as "no expectation".
        other => one(other).map(|s| if s == 0 { Vec::new() } else { vec![s] }),
    }
}

/// A test ready to run: its name parts, the file it came from and its stages.
#[derive(Debug, Clone)]
pub struct TestCase {
    pub rule_id: u32,
    pub test_id: u32,
    /// The rule file's directory, e.g. `REQUEST-942-APPLICATION-ATTACK-SQLI`.
    pub group: String,
    pub file: PathBuf,
    pub stages: Vec<Stage>,
}

impl TestCase {
    /// `<rule_id>-<test_id>`, as CRS names its tests.
    pub fn name(&self) -> String {
        format!("{}-{}", self.rule_id, self.test_id)
    }
}

/// Parses one test file's text. `file` supplies the rule id when `rule_id` is absent
/// (go-ftw falls back on the file name) and names errors.
pub fn parse_file(file: &Path, text: &str, group: &str) -> Result<Vec<TestCase>, String> {
    // A file that is entirely comments (920539.yaml) is an empty document.
    let parsed: Option<FtwFile> =
        serde_yaml::from_str(text).map_err(|e| format!("{}: {e}", file.display()))?;
    let Some(parsed) = parsed else {
        return Ok(Vec::new());
    };
    let rule_id = match parsed.rule_id {
        Some(r) => r,
        None => file
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                format!(
                    "{}: no rule_id and the file name is not a rule id",
                    file.display()
                )
            })?,
    };
    Ok(parsed
        .tests
        .into_iter()
        .enumerate()
        .map(|(i, t)| TestCase {
            rule_id,
            test_id: t.test_id.unwrap_or(i as u32 + 1),
            group: group.to_string(),
            file: file.to_path_buf(),
            stages: t
                .stages
                .into_iter()
                .map(|s| Stage {
                    input: s.input,
                    output: s.output.normalized(),
                })
                .collect(),
        })
        .collect())
}

/// Every `*.yaml` / `*.yml` under `dir`, sorted by path, parsed.
pub fn load_dir(dir: &Path) -> Result<Vec<TestCase>, String> {
    let mut files = Vec::new();
    collect(dir, &mut files).map_err(|e| format!("{}: {e}", dir.display()))?;
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        let group = f
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.extend(parse_file(&f, &text, &group)?);
    }
    Ok(out)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        if p.is_dir() {
            collect(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
meta: { author: x }
rule_id: 920100
tests:
  - test_id: 3
    desc: d
    stages:
      - input:
          dest_addr: "127.0.0.1"
          port: 80
          headers:
            User-Agent: "ua"
            Host: localhost
            Content-Length: 0
          data: "a=b"
        output:
          status: 400
          log:
            expect_ids: [920100]
  - stages:
      - input: {}
        output:
          status: [200, 403]
          log_contains: 'id "1"'
"#;

    #[test]
    fn parses_tests_with_defaults_and_sorted_headers() {
        let t = parse_file(Path::new("x/920100.yaml"), FILE, "G").unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].name(), "920100-3");
        assert_eq!(t[1].name(), "920100-2");
        let i = &t[0].stages[0].input;
        assert_eq!(
            i.header_list(),
            vec![
                ("Content-Length".to_string(), "0".to_string()),
                ("Host".to_string(), "localhost".to_string()),
                ("User-Agent".to_string(), "ua".to_string()),
            ]
        );
        assert_eq!(t[0].stages[0].output.status, vec![400]);
        assert_eq!(t[0].stages[0].output.log.expect_ids, vec![920100]);
        let i2 = &t[1].stages[0].input;
        assert_eq!(
            (i2.method(), i2.uri(), i2.version(), i2.autocomplete()),
            ("GET", "/", "HTTP/1.1", true)
        );
        assert_eq!(t[1].stages[0].output.status, vec![200, 403]);
        assert_eq!(
            t[1].stages[0].output.log.match_regex.as_deref(),
            Some("id \"1\"")
        );
    }

    #[test]
    fn rule_id_falls_back_on_the_file_name_and_comment_only_files_are_empty() {
        let t = parse_file(Path::new("d/933100.yaml"), "tests:\n  - stages: []\n", "G").unwrap();
        assert_eq!(t[0].rule_id, 933100);
        assert!(parse_file(Path::new("d/1.yaml"), "# nothing\n", "G")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn stop_magic_is_the_inverse_of_autocomplete() {
        let i = Input {
            stop_magic: Some(true),
            ..Input::default()
        };
        assert!(!i.autocomplete());
        let i = Input {
            stop_magic: Some(true),
            autocomplete_headers: Some(true),
            ..Input::default()
        };
        assert!(i.autocomplete());
    }
}
