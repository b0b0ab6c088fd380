//! Helpers shared by the tests that read the CRS corpora.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

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
