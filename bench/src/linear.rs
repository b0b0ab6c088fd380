//! `waap-bench linear`: is a large adversarial body processed in time linear in its size?
//!
//! Compiles a CRS paranoia-level-4 variant of `examples/crs/policy.yaml` in monitor mode
//! (every rule runs, nothing stops the transaction early) with `body.limit` 2 MiB, loads it
//! natively (`waap_engine::Engine::load`) and times whole transactions (`Transaction::new`,
//! `on_request_headers`, `on_request_body`, the way the filter drives them) with bodies of
//! several shapes at 64 KiB, 256 KiB and 1 MiB. See bench/README.md, "Linear time".

use std::path::PathBuf;
use std::time::Instant;
use waap_e2e::json::Value;

use crate::policy::{self, Changes, CompileSummary};
use crate::report::{median, num, obj, text};
use waap_engine::{Engine, RequestHead, Verdict};

pub use crate::host::QuietHost;

/// CPU time of the calling thread, in seconds (`CLOCK_THREAD_CPUTIME_ID`): unlike wall
/// time it does not count the time other processes on a shared machine take the CPU.
pub fn thread_cpu_seconds() -> Option<f64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid, exclusive pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then_some(ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9)
}

/// One adversarial body shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `application/x-www-form-urlencoded`: one argument of repeated SQLi/RCE fragments.
    UrlencodedOneArg,
    /// `application/json`: an object of many keys whose values mix attack fragments.
    JsonManyKeys,
    /// `text/plain` (no body processor: REQUEST_BODY only): repeated `<script a=` fragments.
    TextPlain,
}

pub const SHAPES: [Shape; 3] = [
    Shape::UrlencodedOneArg,
    Shape::JsonManyKeys,
    Shape::TextPlain,
];

/// The fragment repeated in the urlencoded argument: a quote, comment-padded `or` (942's
/// SQLi patterns and the `/**/` comment evasions), a shell substitution start `;$(` (932's
/// command-injection patterns, which loop on short tokens) and a URL-encoded quote `%27`.
pub const URLENCODED_FRAGMENT: &str = "'/**/or/**/1=1;$(%27";

/// Values of the JSON shape, cycled (none contains `"` or `\`, so no JSON escaping).
pub const JSON_FRAGMENTS: [&str; 8] = [
    "'/**/or/**/1=1-- ",
    "<script>alert(document.cookie)</script>",
    ";$(cat /etc/passwd)`id`",
    "../../../../etc/shadow",
    " union all select null,@@version,null#",
    "${jndi:ldap://x/a}",
    "<?php system($_GET[c]); ?>",
    "javascript:alert(1)//<img src=x onerror=",
];

/// The fragment repeated in the text/plain body.
pub const TEXT_FRAGMENT: &str = "<script a=";

impl Shape {
    pub fn name(self) -> &'static str {
        match self {
            Shape::UrlencodedOneArg => "urlencoded-one-arg",
            Shape::JsonManyKeys => "json-many-keys",
            Shape::TextPlain => "text-plain",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Shape::UrlencodedOneArg => "application/x-www-form-urlencoded",
            Shape::JsonManyKeys => "application/json",
            Shape::TextPlain => "text/plain",
        }
    }

    pub fn description(self) -> String {
        match self {
            Shape::UrlencodedOneArg => format!(
                "one argument q= of repeated {URLENCODED_FRAGMENT:?} (urlencoded processor: ARGS:q)"
            ),
            Shape::JsonManyKeys => format!(
                "JSON object, keys k000000.., values of ~200 bytes cycling through {} attack fragments (JSON processor: ARGS)",
                JSON_FRAGMENTS.len()
            ),
            Shape::TextPlain => format!(
                "repeated {TEXT_FRAGMENT:?} (no body processor: REQUEST_BODY only)"
            ),
        }
    }

    /// A body of exactly `size` bytes (`size` >= 64).
    pub fn body(self, size: usize) -> Vec<u8> {
        match self {
            Shape::UrlencodedOneArg => {
                let mut b = b"q=".to_vec();
                fill(&mut b, URLENCODED_FRAGMENT.as_bytes(), size, b'x');
                b
            }
            Shape::TextPlain => {
                let mut b = Vec::with_capacity(size);
                fill(&mut b, TEXT_FRAGMENT.as_bytes(), size, b' ');
                b
            }
            Shape::JsonManyKeys => json_body(size),
        }
    }
}

/// Appends whole copies of `frag` while they fit in `size`, then pads with `pad`.
fn fill(b: &mut Vec<u8>, frag: &[u8], size: usize, pad: u8) {
    while b.len() + frag.len() <= size {
        b.extend_from_slice(frag);
    }
    b.resize(size.max(b.len()), pad);
}

/// `{"k000000":"<~200 bytes>",...}` padded with spaces before the `}` to exactly `size`.
fn json_body(size: usize) -> Vec<u8> {
    const VALUE_BYTES: usize = 200;
    let mut b = b"{".to_vec();
    let mut i = 0usize;
    loop {
        let mut value = String::new();
        let mut j = i;
        while value.len() < VALUE_BYTES {
            value.push_str(JSON_FRAGMENTS[j % JSON_FRAGMENTS.len()]);
            j += 1;
        }
        let entry = format!("{}\"k{i:06}\":\"{value}\"", if i == 0 { "" } else { "," });
        // Room for the closing brace.
        if b.len() + entry.len() + 1 > size {
            break;
        }
        b.extend_from_slice(entry.as_bytes());
        i += 1;
    }
    b.resize(size.saturating_sub(1).max(b.len()), b' ');
    b.push(b'}');
    b
}

/// The request head for a body of `shape` and `len` bytes.
pub fn head(shape: Shape, len: usize) -> RequestHead {
    let h = |k: &str, v: &str| (k.to_string(), v.as_bytes().to_vec());
    RequestHead {
        method: "POST".into(),
        uri: b"/api/upload?src=bench".to_vec(),
        protocol: "HTTP/1.1".into(),
        headers: vec![
            h("host", "localhost"),
            h(
                "user-agent",
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
            ),
            h("accept", "*/*"),
            h("content-type", shape.content_type()),
            h("content-length", &len.to_string()),
        ],
        remote_addr: "127.0.0.1".into(),
        request_id: "waap-bench-linear".into(),
        peer_cert_sha256: None,
    }
}

/// One timed transaction.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Seconds for `Transaction::new` + request headers + request body (wall clock).
    pub seconds: f64,
    /// The same, in CPU time of this thread.
    pub cpu_seconds: Option<f64>,
    /// The verdict: `None` allow, `Some((status, ids))` deny.
    pub deny: Option<(u16, Vec<u32>)>,
    /// Distinct rule ids that matched, sorted.
    pub matched_ids: Vec<u32>,
    /// Whether the body reached `on_request_body` (the engine wanted it and it fit).
    pub body_inspected: bool,
    /// What the engine would have denied with in block mode.
    pub would_deny: Option<(u16, u32)>,
    /// Evaluation errors the engine counted.
    pub errors: u32,
}

/// Runs one request with `body` through `engine`, timed.
pub fn run_once(engine: &Engine, shape: Shape, body: &[u8]) -> Outcome {
    let host = QuietHost;
    let head = head(shape, body.len());
    let body = body.to_vec();
    let c0 = thread_cpu_seconds();
    let t0 = Instant::now();
    let mut tx = engine.transaction(head);
    let mut body_inspected = false;
    let verdict = match tx.on_request_headers(&host) {
        Verdict::Allow if tx.wants_request_body() => {
            let limit = tx.request_body_limit();
            let truncated = body.len() > limit;
            let body = if truncated {
                body[..limit].to_vec()
            } else {
                body
            };
            body_inspected = !truncated;
            tx.on_request_body(body, truncated, &host)
        }
        v => v,
    };
    let seconds = t0.elapsed().as_secs_f64();
    let cpu_seconds = c0.zip(thread_cpu_seconds()).map(|(a, b)| b - a);
    let mut matched_ids: Vec<u32> = tx.matches().iter().map(|m| m.rule_id).collect();
    matched_ids.sort_unstable();
    matched_ids.dedup();
    Outcome {
        seconds,
        cpu_seconds,
        deny: match verdict {
            Verdict::Allow => None,
            Verdict::Deny { status, rule_ids } => Some((status, rule_ids)),
            Verdict::Reply(r) => Some((r.status, Vec::new())),
        },
        matched_ids,
        body_inspected,
        would_deny: tx.would_deny(),
        errors: tx.errors(),
    }
}

/// What `waap-bench linear` measures.
#[derive(Debug, Clone)]
pub struct LinearOptions {
    /// The base policy (`examples/crs/policy.yaml`).
    pub policy: PathBuf,
    /// Where the generated policy goes.
    pub out: PathBuf,
    /// Body sizes in bytes (default 64 KiB, 256 KiB, 1 MiB).
    pub sizes: Vec<usize>,
    /// Timed runs per (shape, size); the median is reported.
    pub runs: usize,
    /// A point whose run took longer than this (seconds) is not repeated: the run stays
    /// bounded even when a shape is super-linear.
    pub max_run_seconds: f64,
    /// CRS paranoia level (default 4).
    pub paranoia_level: u8,
}

/// Ratio above which time(largest)/time(smallest) counts as super-linear: 1.5 x the size
/// ratio (24 for 1 MiB / 64 KiB).
pub const SUPER_LINEAR_FACTOR: f64 = 1.5;

pub fn size_label(n: usize) -> String {
    if n >= 1 << 20 && n & ((1 << 20) - 1) == 0 {
        format!("{} MiB", n >> 20)
    } else if n >= 1024 && n & 1023 == 0 {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} B")
    }
}

fn ids_json(ids: &[u32]) -> Value {
    Value::Array(ids.iter().map(|&i| num(f64::from(i))).collect())
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (a > 0.0 && b > 0.0).then(|| b / a)
}

/// Named fields of a JSON object, in order.
pub type Fields = Vec<(&'static str, Value)>;

/// Compiles, loads and times; prints progress and a table; returns the results fields
/// (without date/machine/git, which the caller adds) and the largest time ratio.
pub fn run(o: &LinearOptions) -> Result<(Fields, f64), String> {
    let sizes = {
        let mut s = o.sizes.clone();
        s.sort_unstable();
        s.dedup();
        s
    };
    let (Some(&smallest), Some(&largest)) = (sizes.first(), sizes.last()) else {
        return Err("no body sizes".into());
    };
    if smallest < 64 || o.runs == 0 {
        return Err("body sizes must be at least 64 bytes and runs at least 1".into());
    }
    let limit = (2u64 << 20).max(2 * largest as u64);
    let policy_text = policy::variant(
        &o.policy,
        &Changes {
            paranoia_level: Some(o.paranoia_level),
            mode: Some("monitor"),
            body_limit: Some(limit),
            on_parse_error: None,
        },
    )?;
    std::fs::create_dir_all(&o.out).map_err(|e| format!("{}: {e}", o.out.display()))?;
    let policy_path = o
        .out
        .join(format!("crs-pl{}-linear.policy.yaml", o.paranoia_level));
    std::fs::write(&policy_path, &policy_text)
        .map_err(|e| format!("{}: {e}", policy_path.display()))?;
    eprintln!("waap-bench linear: compiling {}", policy_path.display());
    let t0 = Instant::now();
    let compiled = waap_policy_compiler::compile_file(&policy_path)
        .map_err(|e| format!("{}: {e}", policy_path.display()))?;
    let compile = CompileSummary::from_compiled(&compiled, t0.elapsed().as_secs_f64() * 1000.0);
    let diagnostics = compiled.diagnostics.len();
    let t1 = Instant::now();
    let engine = Engine::load(compiled.bundle).map_err(|e| format!("Engine::load: {e:?}"))?;
    let load_ms = t1.elapsed().as_secs_f64() * 1000.0;
    println!(
        "policy {} (CRS PL{}, monitor, body.limit {limit}): {}; Engine::load {load_ms:.1} ms",
        policy_path.display(),
        o.paranoia_level,
        compile.short()
    );
    println!(
        "{:<19} {:>8} {:>10} {:>10} {:>9} {:>7}  {:<13} runs wall ms (cpu ms)",
        "shape", "size", "median ms", "cpu ms", "ns/byte", "MB/s", "rules matched"
    );
    let expected = largest as f64 / smallest as f64;
    let threshold = expected * SUPER_LINEAR_FACTOR;
    let mut shapes_json = Vec::new();
    let mut max_ratio: f64 = 0.0;
    let mut summary = Vec::new();
    for shape in SHAPES {
        // One untimed run first: lazy DFA caches, allocator, page faults.
        let _ = run_once(&engine, shape, &shape.body(smallest));
        let mut points = Vec::new();
        let mut medians = Vec::new();
        for &size in &sizes {
            let body = shape.body(size);
            let mut outcomes: Vec<Outcome> = Vec::new();
            for _ in 0..o.runs {
                let r = run_once(&engine, shape, &body);
                let slow = r.seconds > o.max_run_seconds;
                outcomes.push(r);
                if slow {
                    break;
                }
            }
            let ms: Vec<f64> = outcomes.iter().map(|r| r.seconds * 1000.0).collect();
            let cpu_ms: Vec<f64> = outcomes
                .iter()
                .filter_map(|r| r.cpu_seconds.map(|c| c * 1000.0))
                .collect();
            let med = median(&ms);
            let med_cpu = (cpu_ms.len() == ms.len()).then(|| median(&cpu_ms));
            medians.push((med, med_cpu));
            let last = outcomes.last().cloned().ok_or("no runs")?;
            let ns_per_byte = med * 1e6 / size as f64;
            let mut notes = Vec::new();
            if outcomes.len() < o.runs {
                notes.push(format!(
                    "{} of {} runs (a run took over {} s)",
                    outcomes.len(),
                    o.runs,
                    o.max_run_seconds
                ));
            }
            if !last.body_inspected {
                notes.push("BODY NOT INSPECTED".to_string());
            }
            if let Some((s, ids)) = &last.deny {
                notes.push(format!("denied {s} {ids:?}"));
            }
            if last.matched_ids.contains(&200002) {
                notes.push("body parse error (200002)".into());
            }
            if last.errors > 0 {
                notes.push(format!("{} evaluation errors", last.errors));
            }
            println!(
                "{:<19} {:>8} {:>10.2} {:>10} {:>9.1} {:>7.2}  {:<13} {}{}",
                shape.name(),
                size_label(size),
                med,
                med_cpu
                    .map(|c| format!("{c:.2}"))
                    .unwrap_or_else(|| "?".into()),
                ns_per_byte,
                size as f64 / (med / 1000.0) / 1e6,
                last.matched_ids.len(),
                ms.iter()
                    .zip(cpu_ms.iter().map(Some).chain(std::iter::repeat(None)))
                    .map(|(m, c)| match c {
                        Some(c) => format!("{m:.1} ({c:.1})"),
                        None => format!("{m:.1}"),
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
                if notes.is_empty() {
                    String::new()
                } else {
                    format!("  {}", notes.join("; "))
                }
            );
            points.push(obj(vec![
                ("bytes", num(size as f64)),
                ("label", text(&size_label(size))),
                (
                    "runs_ms",
                    Value::Array(ms.iter().copied().map(num).collect()),
                ),
                (
                    "runs_cpu_ms",
                    Value::Array(cpu_ms.iter().copied().map(num).collect()),
                ),
                ("median_ms", num(med)),
                ("min_ms", num(min(&ms))),
                ("median_cpu_ms", med_cpu.map(num).unwrap_or(Value::Null)),
                ("ns_per_byte", num(ns_per_byte)),
                (
                    "cpu_ns_per_byte",
                    med_cpu
                        .map(|c| num(c * 1e6 / size as f64))
                        .unwrap_or(Value::Null),
                ),
                ("body_inspected", Value::Bool(last.body_inspected)),
                (
                    "deny",
                    match &last.deny {
                        None => Value::Null,
                        Some((s, ids)) => obj(vec![
                            ("status", num(f64::from(*s))),
                            ("rule_ids", ids_json(ids)),
                        ]),
                    },
                ),
                (
                    "would_deny",
                    match last.would_deny {
                        None => Value::Null,
                        Some((s, id)) => obj(vec![
                            ("status", num(f64::from(s))),
                            ("rule_id", num(f64::from(id))),
                        ]),
                    },
                ),
                ("evaluation_errors", num(f64::from(last.errors))),
                ("rules_matched", num(last.matched_ids.len() as f64)),
                ("rule_ids", ids_json(&last.matched_ids)),
            ]));
            println!(
                "{:<19} {:>8} rule ids: {}",
                "",
                "",
                last.matched_ids
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        let (first, last) = (
            medians.first().copied().unwrap_or((0.0, None)),
            medians.last().copied().unwrap_or((0.0, None)),
        );
        let wall_ratio = ratio(first.0, last.0);
        let cpu_ratio = first.1.zip(last.1).and_then(|(a, b)| ratio(a, b));
        // CPU time decides: wall time on a shared machine includes other processes' turns.
        let decisive = cpu_ratio.or(wall_ratio).unwrap_or(0.0);
        let super_linear = decisive > threshold;
        max_ratio = max_ratio.max(decisive);
        let f = |r: Option<f64>| r.map(|r| format!("{r:.2}")).unwrap_or_else(|| "?".into());
        summary.push(format!(
            "{}: time({})/time({}) = {} wall, {} cpu (linear {expected:.0}, super-linear > {threshold:.0}){}",
            shape.name(),
            size_label(largest),
            size_label(smallest),
            f(wall_ratio),
            f(cpu_ratio),
            if super_linear { "  SUPER-LINEAR" } else { "  linear" }
        ));
        shapes_json.push(obj(vec![
            ("name", text(shape.name())),
            ("content_type", text(shape.content_type())),
            ("description", text(&shape.description())),
            ("points", Value::Array(points)),
            (
                "ratio_largest_to_smallest",
                wall_ratio.map(num).unwrap_or(Value::Null),
            ),
            (
                "cpu_ratio_largest_to_smallest",
                cpu_ratio.map(num).unwrap_or(Value::Null),
            ),
            ("super_linear", Value::Bool(super_linear)),
        ]));
    }
    println!();
    for s in &summary {
        println!("{s}");
    }
    let fields = vec![
        ("policy", text(&policy_path.to_string_lossy())),
        ("paranoia_level", num(f64::from(o.paranoia_level))),
        ("mode", text("monitor")),
        ("body_limit", num(limit as f64)),
        ("compile", compile.to_json()),
        ("compile_diagnostics", num(diagnostics as f64)),
        ("engine_load_ms", num(load_ms)),
        ("runs", num(o.runs as f64)),
        ("max_run_seconds", num(o.max_run_seconds)),
        (
            "sizes",
            Value::Array(sizes.iter().map(|&s| num(s as f64)).collect()),
        ),
        ("expected_linear_ratio", num(expected)),
        ("super_linear_threshold", num(threshold)),
        ("shapes", Value::Array(shapes_json)),
    ];
    Ok((fields, max_ratio))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_have_the_exact_size_and_the_json_is_valid() {
        for shape in SHAPES {
            for size in [1000, 65536, 262144] {
                let b = shape.body(size);
                assert_eq!(b.len(), size, "{shape:?} {size}");
            }
        }
        let b = Shape::JsonManyKeys.body(1 << 20);
        assert_eq!(b.len(), 1 << 20);
        let v = waap_e2e::json::parse(&b).unwrap();
        let n = v.as_object().unwrap().len();
        // Keys + values stay far below the engine's 65,536-element JSON limit.
        assert!(n > 4000 && 2 * n < 65_536, "{n} keys");
        assert!(Shape::UrlencodedOneArg
            .body(100)
            .starts_with(b"q='/**/or/**/1=1;$(%27"));
    }
}
