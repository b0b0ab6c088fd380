//! `waap-bench`: throughput and latency of Envoy with and without wasm filters, in one run.
//!
//! Starts on 127.0.0.1 free ports, all routing to one upstream (an Envoy `direct_response`
//! sink): Envoy without a filter, Envoy with the no-op wasm filter, and Envoy with the waap
//! filter under each `examples/*/policy.yaml`. Envoys run with `--concurrency 1` pinned to
//! CPU 0 and wrk to CPU 1 when taskset exists. For each (configuration, request kind) cell:
//! a warm-up run, then `BENCH_REPEATS` runs of `BENCH_SECONDS`, interleaved across cells so
//! drift on a shared machine hits every configuration alike. Prints a table, writes
//! `target/bench/results.json` and `target/bench/ratios.svg`, and ends with
//! `basic_get_ratio=R` and `crs_pl1_get_ratio=R`. See bench/README.md.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{SystemTime, UNIX_EPOCH};
use waap_bench::footprint::{self, bundle_load_us, memory, wasm_stats, Footprint};
use waap_bench::policy::{self as bpolicy, Changes, CompileSummary};
use waap_bench::proc::{self, BenchEnvoy, Launch};
use waap_bench::report::{self, num, obj, opt_num, text, Cell};
use waap_bench::{linear, requests, wrk};
use waap_e2e::envoy as harness;
use waap_e2e::json::Value;
use waap_e2e::render::{self, Bootstrap};

const NO_FILTER: &str = "no-filter";
const NOOP: &str = "noop-wasm";

const USAGE: &str = "usage:
  waap-bench             the load run (make bench): Envoy without a filter, with the no-op
                         filter and with waap per example; wrk; then the CRS footprint record
  waap-bench footprint   only the CRS load/memory record (no-op, CRS PL1, CRS PL4; no load)
  waap-bench linear      CRS PL4 on adversarial bodies of 64 KiB, 256 KiB, 1 MiB (native)
  waap-bench wrk-script KIND DIR
                         write KIND's wrk script (and body file) into DIR; prints its path
                         (bench/ab.sh uses it)";

/// `waap-bench wrk-script KIND DIR`: KIND's wrk script (and its body file) in DIR.
fn wrk_script_main(kind: Option<&String>, dir: Option<&String>) -> Result<(), String> {
    let (Some(kind), Some(dir)) = (kind, dir) else {
        return Err(format!("wrk-script needs KIND and DIR\n{USAGE}"));
    };
    let k = requests::kinds()
        .into_iter()
        .find(|k| k.name == kind.as_str())
        .ok_or_else(|| format!("no request kind {kind:?}"))?;
    let dir = std::path::Path::new(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let body = if k.body.is_empty() {
        None
    } else {
        let p = dir.join(format!("{}.body", k.name));
        std::fs::write(&p, &k.body).map_err(|e| format!("{}: {e}", p.display()))?;
        Some(p.display().to_string())
    };
    let script = dir.join(format!("{}.lua", k.name));
    std::fs::write(&script, requests::lua_script(&k, body.as_deref()))
        .map_err(|e| format!("{}: {e}", script.display()))?;
    println!("{}", script.display());
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        None => run(),
        Some("footprint") => footprint_main(),
        Some("linear") => linear_main(),
        Some("wrk-script") => wrk_script_main(args.get(1), args.get(2)),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command {other:?}\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("waap-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Settings, from the environment.
struct Settings {
    seconds: u32,
    repeats: u32,
    warmup: u32,
    connections: u32,
    noise: f64,
    out: PathBuf,
    envoy_cpu: Option<u32>,
    wrk_cpu: Option<u32>,
    sink_cpu: Option<u32>,
}

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map_err(|_| format!("${name}={v:?} is not a valid number")),
        _ => Ok(default),
    }
}

fn root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest.to_path_buf())
}

impl Settings {
    fn from_env() -> Result<Settings, String> {
        let nproc = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let pin =
            nproc >= 2 && proc::taskset_available() && std::env::var_os("BENCH_NO_PIN").is_none();
        let out = std::env::var_os("BENCH_OUT")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("target/bench"));
        let s = Settings {
            seconds: env_num("BENCH_SECONDS", 5)?,
            repeats: env_num("BENCH_REPEATS", 3)?,
            warmup: env_num("BENCH_WARMUP", 1)?,
            connections: env_num("BENCH_CONNECTIONS", 16)?,
            noise: env_num("BENCH_NOISE", 0.10)?,
            out,
            envoy_cpu: pin.then_some(0),
            wrk_cpu: pin.then_some(1),
            sink_cpu: if pin {
                Some(env_num("BENCH_SINK_CPU", 1)?)
            } else {
                None
            },
        };
        if s.seconds == 0 || s.repeats == 0 || s.connections == 0 {
            return Err(
                "BENCH_SECONDS, BENCH_REPEATS and BENCH_CONNECTIONS must be at least 1".into(),
            );
        }
        Ok(s)
    }
}

/// What sits in the filter chain of one configuration.
enum Filter {
    None,
    Noop(PathBuf),
    Waap {
        wasm: PathBuf,
        example: String,
        bundle: Vec<u8>,
    },
}

struct Config {
    name: String,
    filter: Filter,
}

/// `examples/*/policy.yaml`, sorted by example name.
fn examples() -> Result<Vec<String>, String> {
    let dir = root().join("examples");
    let mut names = Vec::new();
    for entry in fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        if entry.path().join("policy.yaml").is_file() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

fn noop_wasm() -> Result<PathBuf, String> {
    let p = match std::env::var_os("NOOP_WASM") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => root().join("target/wasm32-wasip1/release/waap_noop_filter.wasm"),
    };
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!(
            "{} not found (set NOOP_WASM to override); build it with `cargo build --release -p waap-noop-filter --target wasm32-wasip1` (make bench does)",
            p.display()
        ))
    }
}

fn command_line(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    let t = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !t.is_empty()).then_some(t)
}

fn cpu_model() -> Option<String> {
    let text = fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

/// Waits (at most 30 s) until `e` is idle: requests still in flight when wrk stops (a slow
/// policy can hold seconds of work) must not steal the CPU from the next cell.
fn settle(e: &BenchEnvoy) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let window = std::time::Duration::from_millis(200);
    while std::time::Instant::now() < deadline {
        let Some(a) = e.cpu_seconds() else { return };
        std::thread::sleep(window);
        let Some(b) = e.cpu_seconds() else { return };
        if (b - a) / window.as_secs_f64() < 0.10 {
            return;
        }
    }
    eprintln!("waap-bench: {} still busy 30 s after its run", e.name);
}

fn file_size(p: &Path) -> Option<f64> {
    fs::metadata(p).ok().map(|m| m.len() as f64)
}

fn run() -> Result<(), String> {
    let settings = Settings::from_env()?;
    if !wrk::available() {
        return Err("wrk not found on PATH: install it (Debian: `apt-get install -y wrk`); waap-bench installs nothing itself".into());
    }
    let envoy_bin = harness::envoy_bin().map_err(|e| e.to_string())?;
    let waap_wasm = harness::wasm_path().map_err(|e| e.to_string())?;
    let noop = noop_wasm()?;
    let out = settings.out.clone();
    let run_dir = out.join("run");
    let _ = fs::remove_dir_all(&run_dir);
    fs::create_dir_all(&run_dir).map_err(|e| format!("{}: {e}", run_dir.display()))?;

    // Configurations: the two baselines, then one per example policy.
    let mut configs = vec![
        Config {
            name: NO_FILTER.into(),
            filter: Filter::None,
        },
        Config {
            name: NOOP.into(),
            filter: Filter::Noop(noop.clone()),
        },
    ];
    let examples = examples()?;
    let waapc = harness::waapc_bin().map_err(|e| e.to_string())?;
    let mut compiles: BTreeMap<String, CompileSummary> = BTreeMap::new();
    let mut crs_bundles: Vec<(String, Vec<u8>)> = Vec::new();
    for ex in &examples {
        let policy = root().join("examples").join(ex).join("policy.yaml");
        let bundle_path = run_dir.join(format!("{ex}.waapb"));
        eprintln!("waap-bench: compiling {}", policy.display());
        let (bundle, summary) = bpolicy::waapc_compile(&waapc, &policy, &bundle_path)?;
        eprintln!("waap-bench:   {}", summary.line);
        compiles.insert(ex.clone(), summary);
        if ex == "crs" {
            crs_bundles.push(("crs-pl1".into(), bundle.clone()));
            let (b4, s4) = compile_crs_variant(&waapc, &run_dir, 4)?;
            compiles.insert("crs-pl4".into(), s4);
            crs_bundles.push(("crs-pl4".into(), b4));
        }
        configs.push(Config {
            name: format!("waap-{ex}"),
            filter: Filter::Waap {
                wasm: waap_wasm.clone(),
                example: ex.clone(),
                bundle,
            },
        });
    }
    let crs_missing = !examples.iter().any(|e| e == "crs");
    if crs_missing {
        println!("note: examples/crs/policy.yaml is missing: no CRS PL1 configuration in this run");
    }

    // Ports: sink (listen, admin), then (listen, admin) per configuration.
    let ports = harness::free_ports(2 + 2 * configs.len()).map_err(|e| e.to_string())?;
    eprintln!(
        "waap-bench: starting the upstream sink and {} Envoys",
        configs.len()
    );
    let sink = BenchEnvoy::start(&Launch {
        name: "sink",
        envoy: &envoy_bin,
        bootstrap: &proc::sink_bootstrap(ports[0], ports[1]),
        dir: &run_dir,
        listen_port: ports[0],
        admin_port: ports[1],
        cpu: settings.sink_cpu,
    })?;
    let mut envoys = Vec::new();
    for (i, cfg) in configs.iter().enumerate() {
        let (listen_port, admin_port) = (ports[2 + 2 * i], ports[3 + 2 * i]);
        let ecds = run_dir.join(format!("{}.ecds.yaml", cfg.name));
        let (wasm, bundle): (Option<&Path>, &[u8]) = match &cfg.filter {
            Filter::None => (None, &[]),
            // The no-op filter gets an empty configuration: it reads none.
            Filter::Noop(w) => (Some(w), &[]),
            Filter::Waap { wasm, bundle, .. } => (Some(wasm), bundle),
        };
        if let Some(w) = wasm {
            let text = render::render_ecds(&w.to_string_lossy(), bundle, "1")
                .map_err(|e| e.to_string())?;
            render::write_atomic(&ecds, text.as_bytes()).map_err(|e| e.to_string())?;
        }
        let bootstrap = render::render_bootstrap(&Bootstrap {
            listen_port,
            admin_port,
            upstream_host: "127.0.0.1".into(),
            upstream_port: ports[0],
            ecds_path: wasm.map(|_| ecds.to_string_lossy().into_owned()),
            // Measured without access logs, as before they were added to the template.
            access_log: false,
        })
        .map_err(|e| e.to_string())?;
        let e = BenchEnvoy::start(&Launch {
            name: &cfg.name,
            envoy: &envoy_bin,
            bootstrap: &bootstrap,
            dir: &run_dir,
            listen_port,
            admin_port,
            cpu: settings.envoy_cpu,
        })?;
        eprintln!(
            "waap-bench: {} ready in {} ms (pid {})",
            cfg.name,
            e.startup.as_millis(),
            e.pid()
        );
        envoys.push(e);
    }

    // wrk scripts and bodies.
    let kinds = requests::kinds();
    let wrk_dir = out.join("wrk");
    fs::create_dir_all(&wrk_dir).map_err(|e| format!("{}: {e}", wrk_dir.display()))?;
    let mut scripts = Vec::new();
    for k in &kinds {
        let body_path = if k.body.is_empty() {
            None
        } else {
            let p = wrk_dir.join(format!("{}.body", k.name));
            fs::write(&p, &k.body).map_err(|e| format!("{}: {e}", p.display()))?;
            Some(p.to_string_lossy().into_owned())
        };
        let script = wrk_dir.join(format!("{}.lua", k.name));
        fs::write(&script, requests::lua_script(k, body_path.as_deref()))
            .map_err(|e| format!("{}: {e}", script.display()))?;
        scripts.push(script);
    }

    // Cells, with one pre-flight request each: its status shows what the filter decided.
    let mut cells = Vec::new();
    for (ci, cfg) in configs.iter().enumerate() {
        for k in &kinds {
            let status = waap_e2e::client::send(envoys[ci].listen, &requests::raw_request(k))
                .ok()
                .map(|r| r.status);
            let is_waap = matches!(cfg.filter, Filter::Waap { .. });
            match status {
                Some(s) if is_waap && k.attack && s < 400 => {
                    println!("warning: {} let the attack request through ({s}): {} measures the allow path", cfg.name, k.name)
                }
                Some(s) if !k.attack && !(200..300).contains(&s) => println!(
                    "warning: {} answered {s} to the benign {} request: that cell measures a deny/error path",
                    cfg.name, k.name
                ),
                None => println!("warning: {} gave no answer to the pre-flight {} request", cfg.name, k.name),
                _ => {}
            }
            cells.push(Cell {
                config: cfg.name.clone(),
                request: k.name.to_string(),
                probe_status: status,
                ..Cell::default()
            });
        }
    }

    let rss_before: Vec<Option<u64>> = envoys.iter().map(BenchEnvoy::rss_kib).collect();
    let memory_before: Vec<Value> = envoys.iter().map(memory).collect();
    let wrk_opts = wrk::WrkOptions {
        threads: 1,
        connections: settings.connections,
        cpu: settings.wrk_cpu,
    };
    let url = |ci: usize| format!("http://{}", envoys[ci].listen);
    let total = cells.len() as u32 * (settings.repeats * settings.seconds + settings.warmup);
    eprintln!(
        "waap-bench: {} cells x ({} warm-up + {} x {} s) = about {} s of load{}",
        cells.len(),
        settings.warmup,
        settings.repeats,
        settings.seconds,
        total,
        if settings.envoy_cpu.is_some() {
            "; Envoys on CPU 0, wrk on CPU 1"
        } else {
            "; not pinned"
        }
    );
    if settings.warmup > 0 {
        for (i, cell) in cells.iter().enumerate() {
            let ci = i / kinds.len();
            wrk::run(
                &wrk_opts,
                &scripts[i % kinds.len()],
                &url(ci),
                settings.warmup,
            )
            .map_err(|e| format!("warm-up {} {}: {e}", cell.config, cell.request))?;
            settle(&envoys[ci]);
        }
    }
    for rep in 0..settings.repeats {
        for (i, cell) in cells.iter_mut().enumerate() {
            let ci = i / kinds.len();
            let cpu0 = (envoys[ci].cpu_seconds(), sink.cpu_seconds());
            let t0 = std::time::Instant::now();
            let r = wrk::run(
                &wrk_opts,
                &scripts[i % kinds.len()],
                &url(ci),
                settings.seconds,
            )
            .map_err(|e| format!("{} {}: {e}", cell.config, cell.request))?;
            let wall = t0.elapsed().as_secs_f64().max(1e-3);
            if let (Some(a), Some(b)) = (cpu0.0, envoys[ci].cpu_seconds()) {
                cell.envoy_cpu_runs.push((b - a) / wall);
                if r.requests > 0 {
                    cell.envoy_cpu_us_per_request_runs
                        .push((b - a) * 1e6 / r.requests as f64);
                }
            }
            if let (Some(a), Some(b)) = (cpu0.1, sink.cpu_seconds()) {
                cell.upstream_cpu_runs.push((b - a) / wall);
            }
            settle(&envoys[ci]);
            eprintln!(
                "waap-bench: run {}/{} {:<14} {:<11} {:>9.0} req/s",
                rep + 1,
                settings.repeats,
                cell.config,
                cell.request,
                r.rps
            );
            cell.rps_runs.push(r.rps);
            if r.requests > 0 {
                cell.p50_us_runs.extend(r.p50_us);
                cell.p99_us_runs.extend(r.p99_us);
            }
            cell.requests += r.requests;
            cell.non_2xx += r.non_2xx;
            cell.socket_errors += r.socket_errors;
        }
    }
    report::fill_ratios(&mut cells, NO_FILTER, NOOP);

    // Per-configuration facts.
    let mut config_json = Vec::new();
    for (ci, cfg) in configs.iter().enumerate() {
        let e = &envoys[ci];
        let log = e.log_text();
        let (kind, example, bundle_size, module) = match &cfg.filter {
            Filter::None => ("none", None, None, None),
            Filter::Noop(w) => ("noop", None, None, Some(w.clone())),
            Filter::Waap {
                wasm,
                example,
                bundle,
            } => (
                "waap",
                Some(example.clone()),
                Some(bundle.len() as f64),
                Some(wasm.clone()),
            ),
        };
        let loads = bundle_load_us(&log);
        config_json.push(obj(vec![
            ("name", text(&cfg.name)),
            ("filter", text(kind)),
            (
                "example",
                example.as_deref().map(text).unwrap_or(Value::Null),
            ),
            (
                "module_bytes",
                opt_num(module.as_deref().and_then(file_size)),
            ),
            ("bundle_bytes", opt_num(bundle_size)),
            ("startup_ms", num(e.startup.as_secs_f64() * 1000.0)),
            ("rss_kib_before", opt_num(rss_before[ci].map(|v| v as f64))),
            ("rss_kib_after", opt_num(e.rss_kib().map(|v| v as f64))),
            ("memory_before", memory_before[ci].clone()),
            ("memory_after", memory(e)),
            ("wasm_stats", wasm_stats(e)),
            ("bundle_loads", num(loads.len() as f64)),
            (
                "bundle_load_us",
                Value::Array(loads.into_iter().map(Value::Number).collect()),
            ),
        ]));
    }
    let sink_requests = sink
        .admin_get("/stats?filter=^http.sink.downstream_rq_total$")
        .ok()
        .and_then(|(_, b)| {
            b.split(": ")
                .nth(1)
                .and_then(|v| v.trim().parse::<f64>().ok())
        });
    let sink_connections = sink
        .admin_get("/stats?filter=^http.sink.downstream_cx_total$")
        .ok()
        .and_then(|(_, b)| {
            b.split(": ")
                .nth(1)
                .and_then(|v| v.trim().parse::<f64>().ok())
        });
    drop(envoys);
    drop(sink);

    // The CRS load/memory record: idle Envoys, one at a time, no traffic.
    let (footprint_json, footprint_lines) = if crs_bundles.is_empty() {
        (
            Value::Null,
            vec!["footprint: examples/crs missing: no CRS load/memory record".to_string()],
        )
    } else {
        footprint_phase(
            &envoy_bin,
            &waap_wasm,
            &noop,
            &run_dir,
            settings.envoy_cpu,
            &crs_bundles,
            &compiles,
        )?
    };

    // results.json
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let git = |args: &[&str]| command_line(Command::new("git").arg("-C").arg(root()).args(args));
    let envoy_version = command_line(Command::new(&envoy_bin).arg("--version")).map(|v| {
        v.rsplit("version: ")
            .next()
            .unwrap_or(&v)
            .trim()
            .to_string()
    });
    let mut bundles = BTreeMap::new();
    for cfg in &configs {
        if let Filter::Waap {
            example, bundle, ..
        } = &cfg.filter
        {
            bundles.insert(example.clone(), num(bundle.len() as f64));
        }
    }
    let pin = |c: Option<u32>| opt_num(c.map(f64::from));
    let results = obj(vec![
        ("schema", text("waap-bench/1")),
        ("date", text(&report::iso8601(now))),
        (
            "machine",
            obj(vec![
                ("nproc", num(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64)),
                ("cpu_model", cpu_model().as_deref().map(text).unwrap_or(Value::Null)),
            ]),
        ),
        ("envoy_version", envoy_version.as_deref().map(text).unwrap_or(Value::Null)),
        ("git_commit", git(&["rev-parse", "HEAD"]).as_deref().map(text).unwrap_or(Value::Null)),
        ("git_dirty", Value::Bool(git(&["status", "--porcelain", "--untracked-files=no"]).is_some())),
        (
            "settings",
            obj(vec![
                ("seconds", num(f64::from(settings.seconds))),
                ("repeats", num(f64::from(settings.repeats))),
                ("warmup_seconds", num(f64::from(settings.warmup))),
                ("connections", num(f64::from(settings.connections))),
                ("wrk_threads", num(1.0)),
                ("noise_threshold", num(settings.noise)),
                ("envoy_concurrency", num(1.0)),
                ("envoy_cpu", pin(settings.envoy_cpu)),
                ("wrk_cpu", pin(settings.wrk_cpu)),
                ("upstream", text("envoy direct_response sink (buffer filter + direct_response, concurrency 1)")),
                ("upstream_cpu", pin(settings.sink_cpu)),
            ]),
        ),
        (
            "modules",
            obj(vec![
                ("waap_filter_wasm_bytes", opt_num(file_size(&waap_wasm))),
                ("noop_filter_wasm_bytes", opt_num(file_size(&noop))),
            ]),
        ),
        ("bundles", Value::Object(bundles)),
        (
            "compile",
            Value::Object(compiles.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
        ),
        ("footprint", footprint_json),
        (
            "missing_examples",
            Value::Array(if crs_missing { vec![text("crs")] } else { vec![] }),
        ),
        (
            "requests",
            Value::Array(
                kinds
                    .iter()
                    .map(|k| {
                        obj(vec![
                            ("name", text(k.name)),
                            ("description", text(k.description)),
                            ("method", text(k.method)),
                            ("path", text(k.path)),
                            ("body_bytes", num(k.body.len() as f64)),
                            ("attack", Value::Bool(k.attack)),
                        ])
                    })
                    .collect(),
            ),
        ),
        ("upstream_requests", opt_num(sink_requests)),
        ("upstream_connections", opt_num(sink_connections)),
        ("configs", Value::Array(config_json.clone())),
        ("cells", Value::Array(cells.iter().map(|c| report::cell_json(c, settings.noise)).collect())),
    ]);
    let results_path = out.join("results.json");
    fs::write(&results_path, results.to_json() + "\n")
        .map_err(|e| format!("{}: {e}", results_path.display()))?;
    let names: Vec<String> = configs.iter().map(|c| c.name.clone()).collect();
    let reqs: Vec<String> = kinds.iter().map(|k| k.name.to_string()).collect();
    let title = format!(
        "waap-bench {}: req/s relative to Envoy without a filter (concurrency 1)",
        report::iso8601(now)
    );
    let svg_path = out.join("ratios.svg");
    fs::write(&svg_path, report::svg(&cells, &names, &reqs, &title))
        .map_err(|e| format!("{}: {e}", svg_path.display()))?;

    // Table, then the summary lines; the CRS ratio is the last line.
    println!();
    print!("{}", report::table(&cells, settings.noise));
    println!();
    for c in &config_json {
        let name = c.get("name").and_then(Value::as_str).unwrap_or("?");
        let rss = |k: &str| {
            c.get(k)
                .and_then(Value::as_f64)
                .map(|v| format!("{:.1} MiB", v / 1024.0))
                .unwrap_or_else(|| "?".into())
        };
        let loads: Vec<String> = c
            .get("bundle_load_us")
            .and_then(Value::as_array)
            .unwrap_or(&[])
            .iter()
            .filter_map(Value::as_f64)
            .map(|v| format!("{v:.0}"))
            .collect();
        println!(
            "{name:<14} RSS {} -> {}; startup {:.0} ms{}",
            rss("rss_kib_before"),
            rss("rss_kib_after"),
            c.get("startup_ms").and_then(Value::as_f64).unwrap_or(0.0),
            if loads.is_empty() {
                String::new()
            } else {
                format!("; bundle load per VM (us): {}", loads.join(", "))
            }
        );
    }
    println!();
    for l in &footprint_lines {
        println!("{l}");
    }
    println!(
        "results: {} and {}",
        results_path.display(),
        svg_path.display()
    );
    let get_ratio = |cfg: &str| {
        cells
            .iter()
            .find(|c| c.config == cfg && c.request == "get")
            .and_then(|c| c.ratio_to_no_filter)
            .map(|r| format!("{r:.3}"))
    };
    let cpu_ratio = |cfg: &str| {
        cells
            .iter()
            .find(|c| c.config == cfg && c.request == "get")
            .and_then(|c| c.cpu_ratio_to_no_filter)
            .map(|r| format!("{r:.3}"))
            .unwrap_or_else(|| "NA".into())
    };
    println!(
        "cpu-normalised (no-filter Envoy CPU per request / this one's): basic_get={} crs_pl1_get={}",
        cpu_ratio("waap-basic"),
        cpu_ratio("waap-crs")
    );
    println!(
        "basic_get_ratio={}",
        get_ratio("waap-basic").unwrap_or_else(|| "NA (examples/basic missing)".into())
    );
    match get_ratio("waap-crs") {
        Some(r) => println!("crs_pl1_get_ratio={r}"),
        None => println!("crs_pl1_get_ratio=NA (examples/crs missing)"),
    }
    Ok(())
}

/// Compiles `examples/crs/policy.yaml` at paranoia level `pl` (otherwise unchanged) with
/// waapc into `run_dir/crs-plN.waapb`.
fn compile_crs_variant(
    waapc: &Path,
    run_dir: &Path,
    pl: u8,
) -> Result<(Vec<u8>, CompileSummary), String> {
    let base = root().join("examples/crs/policy.yaml");
    let text = bpolicy::variant(
        &base,
        &Changes {
            paranoia_level: Some(pl),
            ..Changes::default()
        },
    )?;
    let policy = run_dir.join(format!("crs-pl{pl}.policy.yaml"));
    fs::write(&policy, text).map_err(|e| format!("{}: {e}", policy.display()))?;
    eprintln!("waap-bench: compiling {}", policy.display());
    let (bundle, summary) =
        bpolicy::waapc_compile(waapc, &policy, &run_dir.join(format!("crs-pl{pl}.waapb")))?;
    eprintln!("waap-bench:   {}", summary.line);
    Ok((bundle, summary))
}

fn kib_mib(kib: f64) -> String {
    format!("{:.1} MiB", kib / 1024.0)
}

/// Starts, one at a time and without traffic, Envoy with the no-op filter and with waap
/// under each of `bundles`; returns the `footprint` object of results.json and the lines
/// for stdout.
fn footprint_phase(
    envoy: &Path,
    waap_wasm: &Path,
    noop: &Path,
    run_dir: &Path,
    cpu: Option<u32>,
    bundles: &[(String, Vec<u8>)],
    compiles: &BTreeMap<String, CompileSummary>,
) -> Result<(Value, Vec<String>), String> {
    let dir = run_dir.join("footprint");
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    eprintln!("waap-bench: footprint: idle {NOOP}");
    let base = footprint::measure(&footprint::Spec {
        name: NOOP,
        envoy,
        wasm: Some((noop, &[])),
        expect_loads: 0,
        dir: &dir,
        cpu,
    })?;
    let mut measured: Vec<(Footprint, Option<usize>)> = vec![(base, None)];
    for (i, (name, bundle)) in bundles.iter().enumerate() {
        eprintln!("waap-bench: footprint: idle waap-{name}");
        let f = footprint::measure(&footprint::Spec {
            name: &format!("waap-{name}"),
            envoy,
            wasm: Some((waap_wasm, bundle)),
            expect_loads: 3,
            dir: &dir,
            cpu,
        })?;
        measured.push((f, Some(i)));
    }
    let base = &measured[0].0;
    let base_rss = base.rss_kib.map(|v| v as f64);
    let base_alloc = base.memory.get("allocated").and_then(Value::as_f64);
    let base_wasm_per_vm = base.vms().map(|n| base.wasm_resident_kib() as f64 / n);
    let mut configs = Vec::new();
    let mut lines = vec![
        "footprint (idle Envoy, --concurrency 1, no traffic; per VM = delta vs noop-wasm / VMs):"
            .to_string(),
    ];
    for (f, bi) in &measured {
        let mut j = match f.to_json() {
            Value::Object(m) => m,
            _ => BTreeMap::new(),
        };
        let vms = f.vms();
        let rss = f.rss_kib.map(|v| v as f64);
        let rss_delta = rss.zip(base_rss).map(|(a, b)| a - b);
        let rss_delta_per_vm = rss_delta.zip(vms).map(|(d, n)| d / n);
        let alloc_delta = f
            .memory
            .get("allocated")
            .and_then(Value::as_f64)
            .zip(base_alloc)
            .map(|(a, b)| a - b);
        let wasm_per_vm = vms.map(|n| f.wasm_resident_kib() as f64 / n);
        let wasm_delta_per_vm = wasm_per_vm.zip(base_wasm_per_vm).map(|(a, b)| a - b);
        let example = bi.map(|i| bundles[i].0.as_str());
        let compile = example.and_then(|e| compiles.get(if e == "crs-pl1" { "crs" } else { e }));
        j.insert(
            "filter".into(),
            text(if bi.is_some() { "waap" } else { "noop" }),
        );
        j.insert("policy".into(), example.map(text).unwrap_or(Value::Null));
        j.insert(
            "bundle_bytes".into(),
            opt_num(bi.map(|i| bundles[i].1.len() as f64)),
        );
        j.insert(
            "compile".into(),
            compile.map(CompileSummary::to_json).unwrap_or(Value::Null),
        );
        j.insert("rss_kib_delta_vs_noop".into(), opt_num(rss_delta));
        j.insert("rss_kib_delta_per_vm".into(), opt_num(rss_delta_per_vm));
        j.insert("allocated_bytes_delta_vs_noop".into(), opt_num(alloc_delta));
        j.insert("wasm_resident_kib_per_vm".into(), opt_num(wasm_per_vm));
        j.insert(
            "wasm_resident_kib_per_vm_delta_vs_noop".into(),
            opt_num(wasm_delta_per_vm),
        );
        configs.push(Value::Object(j));

        let loads: Vec<String> = f
            .bundle_load_us
            .iter()
            .map(|v| format!("{:.1}", v / 1000.0))
            .collect();
        let opt = |v: Option<f64>, f: fn(f64) -> String| v.map(f).unwrap_or_else(|| "?".into());
        lines.push(format!(
            "  {:<14} VMs {}; RSS {}{}; wasm memories resident [{}] MiB ({} per VM{}); Envoy heap allocated {}{}{}",
            f.name,
            opt(vms, |v| format!("{v:.0}")),
            opt(rss, kib_mib),
            if bi.is_some() {
                format!(" (+{} vs noop, {} per VM)", opt(rss_delta, kib_mib), opt(rss_delta_per_vm, kib_mib))
            } else {
                String::new()
            },
            f.wasm_memories
                .iter()
                .map(|m| format!("{:.1}", m.resident_kib as f64 / 1024.0))
                .collect::<Vec<_>>()
                .join(", "),
            opt(wasm_per_vm, kib_mib),
            if bi.is_some() {
                format!(", +{} vs noop", opt(wasm_delta_per_vm, kib_mib))
            } else {
                String::new()
            },
            opt(f.memory.get("allocated").and_then(Value::as_f64), |b| kib_mib(b / 1024.0)),
            if loads.is_empty() {
                String::new()
            } else {
                format!("; on_configure bundle load per VM (ms): {}", loads.join(", "))
            },
            compile
                .map(|c| format!("\n  {:<14} {}", "", c.short()))
                .unwrap_or_default(),
        ));
    }
    let json = obj(vec![
        (
            "note",
            text("idle Envoys started one at a time after the load run, --concurrency 1 (3 VMs: 2 on the main thread, 1 on the worker), measured once every VM logged its bundle load and the process was idle. Envoy 1.40 has no per-VM memory stat (admin /stats?filter=wasm has only wasm.envoy.wasm.runtime.v8.active/created, wasm.wasm_vm_count, remote-load and vm_reload counters, and the filter's own wasmcustom.waap.* counters); wasm_memories are the V8 wasm linear memories found in /proc/PID/smaps (an 8 GiB reservation each: the read-write part is the instance's memory, resident_kib what it touched); rss_kib_delta_per_vm = (RSS - noop-wasm RSS) / VMs."),
        ),
        ("configs", Value::Array(configs)),
    ]);
    Ok((json, lines))
}

/// `waap-bench footprint`: compile examples/crs at PL1 and PL4 with waapc, then the idle
/// load/memory record for no-op, CRS PL1 and CRS PL4. Writes `target/bench/footprint.json`.
fn footprint_main() -> Result<(), String> {
    let settings = Settings::from_env()?;
    let envoy_bin = harness::envoy_bin().map_err(|e| e.to_string())?;
    let waap_wasm = harness::wasm_path().map_err(|e| e.to_string())?;
    let waapc = harness::waapc_bin().map_err(|e| e.to_string())?;
    let noop = noop_wasm()?;
    let run_dir = settings.out.join("footprint-run");
    let _ = fs::remove_dir_all(&run_dir);
    fs::create_dir_all(&run_dir).map_err(|e| format!("{}: {e}", run_dir.display()))?;
    let mut compiles = BTreeMap::new();
    let mut bundles = Vec::new();
    let crs = root().join("examples/crs/policy.yaml");
    eprintln!("waap-bench: compiling {}", crs.display());
    let (b1, s1) = bpolicy::waapc_compile(&waapc, &crs, &run_dir.join("crs.waapb"))?;
    eprintln!("waap-bench:   {}", s1.line);
    compiles.insert("crs".to_string(), s1);
    bundles.push(("crs-pl1".to_string(), b1));
    let (b4, s4) = compile_crs_variant(&waapc, &run_dir, 4)?;
    compiles.insert("crs-pl4".to_string(), s4);
    bundles.push(("crs-pl4".to_string(), b4));
    let (json, lines) = footprint_phase(
        &envoy_bin,
        &waap_wasm,
        &noop,
        &run_dir,
        settings.envoy_cpu,
        &bundles,
        &compiles,
    )?;
    let out = settings.out.join("footprint.json");
    let doc = with_meta(
        "waap-bench-footprint/1",
        &envoy_bin,
        vec![
            (
                "compile",
                Value::Object(
                    compiles
                        .iter()
                        .map(|(k, v)| (k.clone(), v.to_json()))
                        .collect(),
                ),
            ),
            ("footprint", json),
        ],
    );
    fs::write(&out, doc.to_json() + "\n").map_err(|e| format!("{}: {e}", out.display()))?;
    for l in &lines {
        println!("{l}");
    }
    println!("results: {}", out.display());
    Ok(())
}

/// `fields` plus schema, date, machine, envoy version (when `envoy` is given) and git.
fn with_meta(schema: &str, envoy: &Path, fields: Vec<(&str, Value)>) -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let git = |args: &[&str]| command_line(Command::new("git").arg("-C").arg(root()).args(args));
    let envoy_version = command_line(Command::new(envoy).arg("--version")).map(|v| {
        v.rsplit("version: ")
            .next()
            .unwrap_or(&v)
            .trim()
            .to_string()
    });
    let mut all = vec![
        ("schema", text(schema)),
        ("date", text(&report::iso8601(now))),
        (
            "machine",
            obj(vec![
                (
                    "nproc",
                    num(std::thread::available_parallelism()
                        .map(|n| n.get())
                        .unwrap_or(1) as f64),
                ),
                (
                    "cpu_model",
                    cpu_model().as_deref().map(text).unwrap_or(Value::Null),
                ),
            ]),
        ),
        (
            "envoy_version",
            envoy_version.as_deref().map(text).unwrap_or(Value::Null),
        ),
        (
            "git_commit",
            git(&["rev-parse", "HEAD"])
                .as_deref()
                .map(text)
                .unwrap_or(Value::Null),
        ),
        (
            "git_dirty",
            Value::Bool(git(&["status", "--porcelain", "--untracked-files=no"]).is_some()),
        ),
    ];
    all.extend(fields);
    obj(all)
}

/// `waap-bench linear`: see `waap_bench::linear`. Writes `target/bench/linear.json`.
fn linear_main() -> Result<(), String> {
    let out = std::env::var_os("BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/bench"));
    let sizes: Vec<usize> = match std::env::var("BENCH_LINEAR_SIZES") {
        Ok(v) if !v.trim().is_empty() => v
            .split(',')
            .map(|s| {
                s.trim()
                    .parse::<usize>()
                    .map_err(|_| format!("BENCH_LINEAR_SIZES: {s:?} is not a byte count"))
            })
            .collect::<Result<_, _>>()?,
        _ => vec![64 << 10, 256 << 10, 1 << 20],
    };
    let opts = linear::LinearOptions {
        policy: root().join("examples/crs/policy.yaml"),
        out: out.join("linear"),
        sizes,
        runs: env_num("BENCH_LINEAR_RUNS", 3)?,
        max_run_seconds: env_num("BENCH_LINEAR_MAX_SECONDS", 20.0)?,
        paranoia_level: env_num("BENCH_LINEAR_PL", 4)?,
    };
    if !opts.policy.is_file() {
        return Err(format!("{} not found", opts.policy.display()));
    }
    let (fields, max_ratio) = linear::run(&opts)?;
    let envoy = PathBuf::from("envoy");
    let mut doc = with_meta("waap-bench-linear/1", &envoy, fields);
    if let Value::Object(m) = &mut doc {
        m.remove("envoy_version");
        m.insert(
            "settings".into(),
            obj(vec![(
                "build",
                text("release (the workspace release profile), native, one thread"),
            )]),
        );
    }
    let path = out.join("linear.json");
    fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    fs::write(&path, doc.to_json() + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
    println!("results: {}", path.display());
    println!("linear_max_ratio={max_ratio:.2}");
    Ok(())
}
