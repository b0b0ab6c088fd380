//! The policy waap-crs compiles: CRS in monitor mode with upstream's test settings
//! (DetectionOnly, paranoia level 4 unless asked, the test-suite tx limits, response body inspection for
//! the reflected MIME types), plus `tests/crs/before.conf` (the XML/JSON body-processor rules
//! 200000/200001) and `tests/crs/after.conf` (the end-of-transaction marker).

use std::path::{Path, PathBuf};

/// The id of the end-of-transaction marker rule in `tests/crs/after.conf`.
pub const MARKER_ID: u32 = 999_990;

/// Where the CRS rules and tests are.
#[derive(Debug, Clone)]
pub struct CrsDir {
    pub root: PathBuf,
}

impl CrsDir {
    pub fn rules(&self) -> PathBuf {
        self.root.join("rules")
    }
    pub fn tests(&self) -> PathBuf {
        self.root.join("tests/regression/tests")
    }
    /// `crs-setup.conf.example` if present.
    pub fn setup(&self) -> Option<PathBuf> {
        let p = self.root.join("crs-setup.conf.example");
        p.is_file().then_some(p)
    }
}

/// CRS_DIR: `--crs-dir`, else `$CRS_DIR`, else `../shared/corpus/crs-v4` beside the workspace
/// root if it exists, else Debian's `/usr/share/modsecurity-crs`.
pub fn resolve_crs_dir(flag: Option<&Path>, workspace: &Path) -> CrsDir {
    if let Some(f) = flag {
        return CrsDir {
            root: f.to_path_buf(),
        };
    }
    if let Some(env) = std::env::var_os("CRS_DIR").filter(|v| !v.is_empty()) {
        return CrsDir {
            root: PathBuf::from(env),
        };
    }
    let shared = workspace.join("../shared/corpus/crs-v4");
    if shared.is_dir() {
        return CrsDir { root: shared };
    }
    CrsDir {
        root: PathBuf::from("/usr/share/modsecurity-crs"),
    }
}

fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

/// The policy text. `data_dir` holds before.conf and after.conf.
pub fn policy_yaml(crs: &CrsDir, data_dir: &Path, paranoia: u8) -> String {
    let abs = |p: &Path| {
        std::fs::canonicalize(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string()
    };
    let mut out = String::new();
    out.push_str("# Written by waap-crs: CRS v4 with upstream's regression-test setup.\n");
    out.push_str("version: 1\nmode: monitor\nwaf:\n  crs:\n");
    out.push_str(&format!(
        "    rules_dir: {}\n",
        yaml_str(&abs(&crs.rules()))
    ));
    if let Some(setup) = crs.setup() {
        out.push_str(&format!("    setup: {}\n", yaml_str(&abs(&setup))));
    }
    out.push_str(&format!(
        "    paranoia_level: {paranoia}\n    detection_paranoia_level: {paranoia}\n"
    ));
    out.push_str("    inbound_threshold: 5\n    outbound_threshold: 4\n");
    // Limits of upstream's test setup (CRS-NOTES); arg_name_length 100 and UTF-8 validation
    // are what test 920360-1 and the 920250 tests assume (coraza-proxy-wasm sets the same).
    out.push_str(
        "    tx: { arg_name_length: 100, arg_length: 400, total_arg_length: 64000, max_num_args: 255, max_file_size: 64100, combined_file_sizes: 65535, crs_validate_utf8_encoding: 1 }\n",
    );
    out.push_str(&format!(
        "    before: [{}]\n",
        yaml_str(&abs(&data_dir.join("before.conf")))
    ));
    out.push_str(&format!(
        "    after: [{}]\n",
        yaml_str(&abs(&data_dir.join("after.conf")))
    ));
    out.push_str(
        "    response_body_mime_types: [text/plain, text/html, text/xml, application/json]\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_rules_setup_and_extra_files() {
        let dir = std::env::temp_dir().join(format!("waap-crs-policy-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("rules")).unwrap();
        std::fs::write(dir.join("crs-setup.conf.example"), "").unwrap();
        let crs = CrsDir { root: dir.clone() };
        let y = policy_yaml(&crs, Path::new("/data"), 4);
        let v: serde_yaml::Value = serde_yaml::from_str(&y).unwrap();
        let c = &v["waf"]["crs"];
        assert_eq!(v["mode"].as_str(), Some("monitor"));
        assert!(c["rules_dir"].as_str().unwrap().ends_with("/rules"));
        assert!(c["setup"]
            .as_str()
            .unwrap()
            .ends_with("crs-setup.conf.example"));
        assert_eq!(c["paranoia_level"].as_u64(), Some(4));
        assert_eq!(c["tx"]["max_file_size"].as_u64(), Some(64100));
        assert_eq!(c["before"][0].as_str(), Some("/data/before.conf"));
        assert_eq!(c["after"][0].as_str(), Some("/data/after.conf"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn crs_dir_flag_wins() {
        let d = resolve_crs_dir(Some(Path::new("/x")), Path::new("/nowhere"));
        assert_eq!(d.tests(), Path::new("/x/tests/regression/tests"));
    }
}
