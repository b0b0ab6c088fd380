//! `waap-crs`: the OWASP CRS v4 regression tests against waap. See `tests/crs/README.md`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use waap_crs_runner::overrides::OverridesFile;
use waap_crs_runner::policy::{policy_yaml, resolve_crs_dir};
use waap_crs_runner::proxy::LogIndex;
use waap_crs_runner::report::{render, Counts};
use waap_crs_runner::run::{run_all, Driver, Outcome};
use waap_crs_runner::{ftw, run};
use waap_e2e::envoy::{self, Envoy, EnvoyOptions, TempDir, WasmFilter};

const USAGE: &str =
    "usage: waap-crs [--native | --envoy] [--crs-dir DIR] [--filter REGEX] [--overrides FILE]
                [--json OUT] [--concurrency N] [--min-pass-rate P] [--paranoia N]
                [--no-fold | --differential] [-v]

Runs the OWASP CRS v4 regression tests (go-ftw YAML) against waap.
  --native          run every phase on the engine in process (default; fast)
  --envoy           send each stage byte-exact through Envoy with the filter (release wasm)
  --crs-dir DIR     CRS checkout (rules/, crs-setup.conf.example, tests/regression/tests/);
                    default $CRS_DIR, else ../shared/corpus/crs-v4 beside the workspace,
                    else /usr/share/modsecurity-crs
  --filter REGEX    only tests whose name (<rule_id>-<test_id>) matches
  --overrides FILE  CRS-format overrides (default with --envoy: tests/crs/overrides.yaml)
  --json OUT        write per-test results as JSON
  --concurrency N   parallel workers/connections (default 4)
  --min-pass-rate P exit 1 if fewer than P% of the tests pass (skips count as failures)
  --paranoia N      paranoia level 1..4 (default 4, as upstream runs its tests); at a lower
                    level the tests of higher-level rules fail, which a differential run wants
  --no-fold         native only: load the engine without folding TX-decided rules (compare
                    the --json output with a folded run: ids and statuses must be equal)
  --differential    native only: run every test on a folded and an unfolded engine and exit 1
                    unless both observe the same statuses, rule ids and log reasons
  -v                print every test's result as it finishes
Exit status: 0, or 1 when --min-pass-rate is not met, 2 on errors.";

#[derive(Debug)]
struct Args {
    envoy: bool,
    crs_dir: Option<PathBuf>,
    filter: Option<regex::Regex>,
    overrides: Option<PathBuf>,
    json: Option<PathBuf>,
    concurrency: usize,
    min_pass_rate: Option<f64>,
    paranoia: u8,
    no_fold: bool,
    differential: bool,
    verbose: bool,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args {
        envoy: false,
        crs_dir: None,
        filter: None,
        overrides: None,
        json: None,
        concurrency: 4,
        min_pass_rate: None,
        paranoia: 4,
        no_fold: false,
        differential: false,
        verbose: false,
    };
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--native" => a.envoy = false,
            "--envoy" => a.envoy = true,
            "--crs-dir" => a.crs_dir = Some(PathBuf::from(value(&arg)?)),
            "--filter" => {
                let v = value(&arg)?;
                a.filter = Some(regex::Regex::new(&v).map_err(|e| format!("--filter: {e}"))?);
            }
            "--overrides" => a.overrides = Some(PathBuf::from(value(&arg)?)),
            "--json" => a.json = Some(PathBuf::from(value(&arg)?)),
            "--concurrency" => {
                a.concurrency = value(&arg)?
                    .parse()
                    .ok()
                    .filter(|&n: &usize| n > 0)
                    .ok_or("--concurrency needs a positive integer")?
            }
            "--min-pass-rate" => {
                a.min_pass_rate = Some(
                    value(&arg)?
                        .parse()
                        .ok()
                        .filter(|p: &f64| (0.0..=100.0).contains(p))
                        .ok_or("--min-pass-rate needs a percentage in [0, 100]")?,
                )
            }
            "--paranoia" => {
                a.paranoia = value(&arg)?
                    .parse()
                    .ok()
                    .filter(|n: &u8| (1..=4).contains(n))
                    .ok_or("--paranoia needs 1, 2, 3 or 4")?
            }
            "--no-fold" => a.no_fold = true,
            "--differential" => a.differential = true,
            "-v" | "--verbose" => a.verbose = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("waap-crs: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match real_main(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("waap-crs: {e}");
            ExitCode::from(2)
        }
    }
}

fn real_main(args: &Args) -> Result<ExitCode, String> {
    let workspace = envoy::workspace_root();
    let crs = resolve_crs_dir(args.crs_dir.as_deref(), &workspace);
    if !crs.rules().is_dir() {
        return Err(format!(
            "no CRS rules in {} (set --crs-dir or CRS_DIR)",
            crs.rules().display()
        ));
    }
    if !crs.tests().is_dir() {
        return Err(format!(
            "no CRS regression tests in {}: {} has the rules but not tests/regression/tests \
             (Debian's modsecurity-crs package ships none); point --crs-dir or CRS_DIR at a CRS checkout",
            crs.tests().display(),
            crs.root.display()
        ));
    }
    let mode = if args.envoy { "envoy" } else { "native" };
    let mut tests = ftw::load_dir(&crs.tests())?;
    if let Some(f) = &args.filter {
        tests.retain(|t| f.is_match(&t.name()));
    }
    let overrides_path = match (&args.overrides, args.envoy) {
        (Some(p), _) => Some(p.clone()),
        (None, true) => Some(workspace.join("tests/crs/overrides.yaml")).filter(|p| p.is_file()),
        (None, false) => None,
    };
    let overrides = match &overrides_path {
        Some(p) => OverridesFile::load(p)?,
        None => OverridesFile::default(),
    };
    eprintln!(
        "waap-crs: {} tests from {}; mode {mode}; overrides {}",
        tests.len(),
        crs.tests().display(),
        overrides_path.as_ref().map_or("none".into(), |p| format!(
            "{} ({} entries)",
            p.display(),
            overrides.test_overrides.len()
        ))
    );

    // The policy: CRS with upstream's test settings, compiled by waapc's library.
    let tmp = TempDir::new("waap-crs").map_err(|e| e.to_string())?;
    let policy = tmp.path().join("crs-policy.yaml");
    if (args.no_fold || args.differential) && args.envoy {
        return Err("--no-fold and --differential apply to --native only".into());
    }
    std::fs::write(
        &policy,
        policy_yaml(&crs, &workspace.join("tests/crs"), args.paranoia),
    )
    .map_err(|e| format!("{}: {e}", policy.display()))?;
    let t0 = Instant::now();
    let compiled = waap_policy_compiler::compile_file(&policy)
        .map_err(|e| format!("compiling the CRS policy: {e}"))?;
    eprintln!(
        "waap-crs: compiled {} rules into a {} byte bundle in {:.1}s",
        compiled.rules,
        compiled.bundle.len(),
        t0.elapsed().as_secs_f64()
    );

    let verbose = args.verbose;
    let progress = |done: usize, total: usize| {
        if !verbose && (done.is_multiple_of(500) || done == total) {
            eprintln!("waap-crs: {done}/{total}");
        }
    };
    let t1 = Instant::now();
    if args.differential {
        let bundle = Arc::new(compiled.bundle);
        let run = |fold: bool, tests: Vec<ftw::TestCase>| {
            let driver = Driver::Native {
                bundle: Arc::clone(&bundle),
                fold,
            };
            run_all(&driver, tests, &overrides, args.concurrency, &progress)
        };
        let folded = run(true, tests.clone())?;
        let plain = run(false, tests)?;
        return differential(&folded, &plain, t1);
    }
    let results = if args.envoy {
        run_envoy(
            compiled.bundle,
            tests,
            &overrides,
            args.concurrency,
            &progress,
        )?
    } else {
        let driver = Driver::Native {
            bundle: Arc::new(compiled.bundle),
            fold: !args.no_fold,
        };
        run_all(&driver, tests, &overrides, args.concurrency, &progress)?
    };
    eprintln!(
        "waap-crs: ran {} tests in {:.1}s",
        results.len(),
        t1.elapsed().as_secs_f64()
    );
    if verbose {
        for r in &results {
            let tag = match r.outcome {
                Outcome::Pass => "PASS",
                Outcome::Fail => "FAIL",
                Outcome::Skip => "SKIP",
            };
            let ids: Vec<String> = r
                .stages
                .iter()
                .map(|s| format!("{:?} {:?}", s.status, s.ids))
                .collect();
            eprintln!("{tag} {} [{}]", r.name, ids.join(" | "));
        }
    }
    if let Some(out) = &args.json {
        let text = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
        std::fs::write(out, text).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    let report = render(&results, mode, 15);
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{report}");
    let counts = Counts::of(&results);
    if let Some(min) = args.min_pass_rate {
        if counts.pass_rate() < min {
            eprintln!(
                "waap-crs: pass rate {:.1}% is below --min-pass-rate {min}%",
                counts.pass_rate()
            );
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Compares what a folded and an unfolded engine observed, test by test.
fn differential(
    folded: &[run::TestResult],
    plain: &[run::TestResult],
    started: Instant,
) -> Result<ExitCode, String> {
    let seen = |r: &run::TestResult| serde_json::to_string(&r.stages).map_err(|e| e.to_string());
    let by_name: std::collections::HashMap<&str, &run::TestResult> =
        plain.iter().map(|r| (r.name.as_str(), r)).collect();
    let mut differ = Vec::new();
    for f in folded {
        let same = match by_name.get(f.name.as_str()) {
            Some(p) => seen(f)? == seen(p)?,
            None => false,
        };
        if !same {
            differ.push(f.name.as_str());
        }
    }
    if folded.len() != plain.len() {
        return Err(format!(
            "{} results folded, {} unfolded",
            folded.len(),
            plain.len()
        ));
    }
    println!(
        "differential: {} tests on a folded and an unfolded engine in {:.1}s; {} differ{}",
        folded.len(),
        started.elapsed().as_secs_f64(),
        differ.len(),
        if differ.is_empty() {
            String::new()
        } else {
            format!(
                ": {}",
                differ
                    .iter()
                    .take(20)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    Ok(if differ.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn run_envoy(
    bundle: Vec<u8>,
    tests: Vec<ftw::TestCase>,
    overrides: &OverridesFile,
    concurrency: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<run::TestResult>, String> {
    let echo = waap_crs_runner::upstream::Upstream::start()
        .map_err(|e| format!("starting the upstream: {e}"))?;
    let wasm = envoy::wasm_path().map_err(|e| e.to_string())?;
    let mut opts = EnvoyOptions::new(echo.port(), Some(WasmFilter { wasm, bundle }));
    opts.concurrency = 2;
    opts.ready_timeout = std::time::Duration::from_secs(120);
    let t0 = Instant::now();
    let proxy = Envoy::start(&opts).map_err(|e| format!("starting Envoy: {e}"))?;
    eprintln!(
        "waap-crs: Envoy ready on {} in {:.1}s (log {})",
        proxy.addr(),
        t0.elapsed().as_secs_f64(),
        log_path(proxy.dir()).display()
    );
    let index = Arc::new(LogIndex::default());
    let tailer = index.follow(log_path(proxy.dir()));
    let driver = Driver::Envoy {
        addr: proxy.addr(),
        index: Arc::clone(&index),
    };
    let results = run_all(&driver, tests, overrides, concurrency, progress);
    index.stop();
    let _ = tailer.join();
    if std::env::var_os("WAAP_KEEP_TMP").is_some() {
        eprintln!("waap-crs: Envoy's files kept in {}", proxy.dir().display());
    }
    drop(proxy);
    drop(echo);
    results
}

fn log_path(dir: &Path) -> PathBuf {
    dir.join("envoy.log")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<Args, String> {
        parse_args(s.split_whitespace().map(str::to_string))
    }

    #[test]
    fn cli_parses_flags() {
        let a =
            args("--envoy --filter ^942 --concurrency 8 --min-pass-rate 12.5 -v --json out.json")
                .unwrap();
        assert!(a.envoy && a.verbose);
        assert_eq!((a.concurrency, a.min_pass_rate), (8, Some(12.5)));
        assert!(a.filter.unwrap().is_match("942100-1"));
        assert_eq!(a.json, Some(PathBuf::from("out.json")));
        assert!(!args("").unwrap().envoy);
        assert!(args("--concurrency 0").is_err());
        assert!(args("--min-pass-rate 101").is_err());
        assert!(args("--bogus").is_err());
        assert!(args("--crs-dir").is_err());
    }
}
