//! Helpers shared by the tests that read the CRS corpora.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

/// The CRS v4 corpus: `$CRS_DIR`, else `/work/shared/corpus/crs-v4`. `None` (with the
/// reason printed) when it is missing or is another CRS: the Makefile points `CRS_DIR` at
/// Debian's CRS 3.3.4 on a machine without the v4 corpus, and the v4 tests do not apply.
pub fn crs_v4() -> Option<PathBuf> {
    let dir = corpus("CRS_DIR", "/work/shared/corpus/crs-v4")?;
    let init = dir.join("rules/REQUEST-901-INITIALIZATION.conf");
    let text = std::fs::read_to_string(&init).unwrap_or_default();
    if dir.join("crs-setup.conf.example").is_file()
        && text.contains("SecComponentSignature \"OWASP_CRS/4.")
    {
        Some(dir)
    } else {
        eprintln!(
            "skipping: {} is not CRS v4 (no crs-setup.conf.example, or {} does not sign OWASP_CRS/4.x)",
            dir.display(),
            init.display()
        );
        None
    }
}

/// The corpus at `$var`, else at `default`. When the variable is set and its path is
/// missing, fails; when the default is missing, prints why and returns `None`.
pub fn corpus(var: &str, default: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(p) => {
            let p = PathBuf::from(p);
            assert!(
                p.exists(),
                "{var} is set to {} which does not exist",
                p.display()
            );
            Some(p)
        }
        None => {
            let p = PathBuf::from(default);
            if p.exists() {
                Some(p)
            } else {
                eprintln!("skipping: {default} not found and {var} not set");
                None
            }
        }
    }
}

/// CRS v4's setup example, then its rule files in name order.
pub fn v4_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = vec![dir.join("crs-setup.conf.example")];
    let mut rules: Vec<PathBuf> = std::fs::read_dir(dir.join("rules"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    rules.sort();
    files.extend(rules);
    files
}
