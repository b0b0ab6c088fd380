//! `waap-devtool`: renders the Envoy configuration from `envoy/*.tmpl`.
//!
//! ```text
//! waap-devtool render [--example NAME] [--listen PORT] [--admin PORT] [--upstream-port PORT]
//!                     [--ecds PATH | --no-filter] [-o OUT]
//! waap-devtool ecds --wasm WASM --bundle BUNDLE -o OUT [--version V]
//! waap-devtool istio --wasm-url URL --bundle BUNDLE -o OUT
//! ```
//! `render` writes the bootstrap (defaults: `make run`'s ports and
//! `target/run/NAME.ecds.yaml`); `ecds` writes the ECDS resource holding the wasm filter and
//! the bundle, atomically (temp file, then rename), which is what Envoy watches for.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};
use waap_e2e::render::{self, Bootstrap};

const USAGE: &str = "usage:
  waap-devtool render [--example NAME] [--listen PORT] [--admin PORT] [--upstream-port PORT] [--ecds PATH | --no-filter] [-o OUT]
  waap-devtool ecds --wasm WASM --bundle BUNDLE -o OUT [--version V]
  waap-devtool istio --wasm-url URL --bundle BUNDLE -o OUT
  waap-devtool kubernetes --bundle BUNDLE -o OUT [--wasm PATH_IN_POD]";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("waap-devtool: {e}");
            ExitCode::FAILURE
        }
    }
}

fn port(v: &str) -> Result<u16, String> {
    v.parse().map_err(|_| format!("invalid port {v:?}"))
}

fn write_out(out: Option<PathBuf>, text: &str) -> Result<(), String> {
    match out {
        Some(p) => {
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
            render::write_atomic(&p, text.as_bytes()).map_err(|e| e.to_string())
        }
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let (cmd, rest) = args.split_first().ok_or(USAGE)?;
    let mut opts = std::collections::BTreeMap::new();
    let mut no_filter = false;
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        if a == "--no-filter" {
            no_filter = true;
            continue;
        }
        let key = a.trim_start_matches('-');
        if !a.starts_with('-') || key.is_empty() {
            return Err(format!("unexpected argument {a:?}\n{USAGE}"));
        }
        let v = it
            .next()
            .ok_or_else(|| format!("{a} needs a value\n{USAGE}"))?;
        opts.insert(key.to_string(), v.clone());
    }
    let take = |opts: &mut std::collections::BTreeMap<String, String>, k: &str| opts.remove(k);
    let text;
    let out;
    match cmd.as_str() {
        "render" => {
            let example = take(&mut opts, "example").unwrap_or_else(|| "basic".into());
            let mut b = Bootstrap::for_example(&example);
            if let Some(v) = take(&mut opts, "listen") {
                b.listen_port = port(&v)?;
            }
            if let Some(v) = take(&mut opts, "admin") {
                b.admin_port = port(&v)?;
            }
            if let Some(v) = take(&mut opts, "upstream-port") {
                b.upstream_port = port(&v)?;
            }
            if let Some(v) = take(&mut opts, "ecds") {
                b.ecds_path = Some(v);
            }
            if no_filter {
                b.ecds_path = None;
            }
            out = take(&mut opts, "o").map(PathBuf::from);
            text = render::render_example(&b, &example).map_err(|e| e.to_string())?;
        }
        "ecds" => {
            let wasm = take(&mut opts, "wasm").ok_or("ecds needs --wasm")?;
            let bundle_path = take(&mut opts, "bundle").ok_or("ecds needs --bundle")?;
            let bundle = std::fs::read(&bundle_path).map_err(|e| format!("{bundle_path}: {e}"))?;
            // version_info is the bundle's revision (what Envoy's ECDS stats show), or a
            // timestamp for bytes that are not a valid bundle (tests swap those in).
            let version = take(&mut opts, "version").unwrap_or_else(|| {
                match waap_bundle::Bundle::parse(&bundle) {
                    Ok(b) => b.meta.revision,
                    Err(_) => SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map(|d| d.as_millis())
                        .unwrap_or(0)
                        .to_string(),
                }
            });
            out = Some(PathBuf::from(
                take(&mut opts, "o").ok_or("ecds needs -o OUT")?,
            ));
            text = render::render_ecds(&wasm, &bundle, &version).map_err(|e| e.to_string())?;
        }
        "istio" => {
            let url = take(&mut opts, "wasm-url").ok_or("istio needs --wasm-url")?;
            let bundle_path = take(&mut opts, "bundle").ok_or("istio needs --bundle")?;
            let bundle = std::fs::read(&bundle_path).map_err(|e| format!("{bundle_path}: {e}"))?;
            let revision = waap_bundle::Bundle::parse(&bundle)
                .map_err(|e| format!("{bundle_path}: {e}"))?
                .meta
                .revision;
            out = Some(PathBuf::from(
                take(&mut opts, "o").ok_or("istio needs -o OUT")?,
            ));
            text = render::render_istio(&url, &bundle, &revision).map_err(|e| e.to_string())?;
        }
        "kubernetes" => {
            let wasm =
                take(&mut opts, "wasm").unwrap_or_else(|| "/etc/waap/wasm/waap_filter.wasm".into());
            let bundle_path = take(&mut opts, "bundle").ok_or("kubernetes needs --bundle")?;
            let bundle = std::fs::read(&bundle_path).map_err(|e| format!("{bundle_path}: {e}"))?;
            let revision = waap_bundle::Bundle::parse(&bundle)
                .map_err(|e| format!("{bundle_path}: {e}"))?
                .meta
                .revision;
            out = Some(PathBuf::from(
                take(&mut opts, "o").ok_or("kubernetes needs -o OUT")?,
            ));
            text = render::render_kubernetes_configmap(&wasm, &bundle, &revision)
                .map_err(|e| e.to_string())?;
        }
        _ => return Err(USAGE.to_string()),
    }
    if let Some(k) = opts.keys().next() {
        return Err(format!("unknown option --{k}\n{USAGE}"));
    }
    write_out(out, &text)
}
