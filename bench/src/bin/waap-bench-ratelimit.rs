//! `waap-bench-ratelimit` (`make bench-ratelimit`): how exact the local rate limiter is, and
//! how much shared data it holds.
//!
//! 1. Accuracy through Envoy: one Envoy with `--concurrency 2` enforcing 1,000/minute per
//!    client on `POST /login`, driven by `RL_THREADS` (default 4) client threads on keep-alive
//!    connections (renewed every 50 requests) for `RL_SECONDS` (default 10 s), all as one client. GCRA admits the burst
//!    (1,000) at once and then one request per 60 ms, so the allowance of a run is
//!    `1000 + floor(span / 60 ms)` where `span` runs from the first to the last request sent;
//!    the report compares what Envoy admitted with it. Both workers must have served
//!    connections.
//! 2. Memory natively: 1,000,000 distinct keys through the limiter on the in-memory host with
//!    `max_keys` 16,384: shared-data entries and bytes at the end, evictions, ns per decision.
//!
//! 3. Memory through Envoy: `RL_ENVOY_KEYS` (default 100,000) distinct client addresses
//!    through one Envoy with `max_keys` 4,096; Envoy's heap (admin `/memory`, `allocated`)
//!    after the first 8,192 keys (table full) and at the end.
//!
//! Environment: `ENVOY`, `WAAPC`, `WAAP_WASM` as for the e2e tests.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use waap_e2e::client::{build_request, HttpConnection};
use waap_e2e::echo::EchoServer;
use waap_e2e::ratelimit::{metric, start_envoy};
use waap_engine::host::NativeHost;
use waap_engine::ratelimit::{gcra, hash64, Check, Limit};

const POLICY: &str = r#"version: 1
mode: block
client_ip:
  xff_trusted_hops: 1
rate_limits:
  failure_mode: fail_open
  limits:
    - name: login
      match: {methods: [POST], path_prefix: /login}
      key: client_ip
      limit: 1000/minute
"#;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Drive {
    sent: u64,
    admitted: u64,
    other: u64,
    first: Option<Instant>,
    last: Option<Instant>,
}

fn drive(addr: SocketAddr, stop: &AtomicBool) -> Drive {
    let req = build_request(
        "POST",
        "/login",
        &[("x-forwarded-for", "198.51.100.1"), ("content-length", "0")],
        b"",
    );
    let mut d = Drive {
        sent: 0,
        admitted: 0,
        other: 0,
        first: None,
        last: None,
    };
    let mut conn: Option<HttpConnection> = None;
    while !stop.load(Ordering::Relaxed) {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match HttpConnection::connect(addr) {
                Ok(c) => conn.insert(c),
                Err(_) => continue,
            },
        };
        let t = Instant::now();
        match c.request(&req) {
            Ok(r) => {
                d.sent += 1;
                d.first.get_or_insert(t);
                d.last = Some(t);
                match r.status {
                    200 => d.admitted += 1,
                    429 => {}
                    _ => d.other += 1,
                }
            }
            Err(_) => conn = None,
        }
        // New connections now and then, so the kernel spreads them over both workers.
        if d.sent.is_multiple_of(50) {
            conn = None;
        }
    }
    d
}

fn accuracy() -> Result<bool, String> {
    let seconds = env_u64("RL_SECONDS", 10);
    let threads = env_u64("RL_THREADS", 4) as usize;
    let echo = EchoServer::start("127.0.0.1:0").map_err(|e| e.to_string())?;
    let (envoy, _scratch) = start_envoy(POLICY, echo.port(), 2, &[]).map_err(|e| e.to_string())?;
    let stop = AtomicBool::new(false);
    let addr = envoy.addr();
    let runs: Vec<Drive> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|_| s.spawn(|| drive(addr, &stop)))
            .collect();
        std::thread::sleep(Duration::from_secs(seconds));
        stop.store(true, Ordering::Relaxed);
        hs.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let sent: u64 = runs.iter().map(|d| d.sent).sum();
    let admitted: u64 = runs.iter().map(|d| d.admitted).sum();
    let other: u64 = runs.iter().map(|d| d.other).sum();
    let first = runs.iter().filter_map(|d| d.first).min();
    let last = runs.iter().filter_map(|d| d.last).max();
    let span = match (first, last) {
        (Some(f), Some(l)) => l.duration_since(f),
        _ => Duration::ZERO,
    };
    let allowance = 1000 + (span.as_millis() / 60) as u64;
    let err = (admitted as f64 - allowance as f64) / allowance as f64 * 100.0;
    let text = envoy
        .admin_get("/stats?filter=downstream_cx_total")
        .map(|r| r.text())
        .unwrap_or_default();
    let workers: Vec<u64> = (0..2)
        .map(|w| {
            text.lines()
                .filter(|l| {
                    l.starts_with("listener.127.0.0.1_")
                        && l.contains(&format!(".worker_{w}.downstream_cx_total: "))
                })
                .filter_map(|l| l.rsplit(": ").next()?.trim().parse::<u64>().ok())
                .sum()
        })
        .collect();
    let limited = metric(&envoy, "waap.ratelimit.rate_limited").map_err(|e| e.to_string())?;
    println!("accuracy: 1000/minute per client, Envoy --concurrency 2, {threads} client threads, {seconds} s");
    println!(
        "  sent {sent} ({:.0} req/s), admitted {admitted}, rate_limited metric {limited}, other statuses {other}",
        sent as f64 / span.as_secs_f64().max(0.001)
    );
    println!("  span {:.3} s, GCRA allowance 1000 + span/60ms = {allowance}, admitted - allowance = {:+} ({err:+.2}%)", span.as_secs_f64(), admitted as i64 - allowance as i64);
    println!("  connections per worker: {workers:?}");
    let ok = err.abs() <= 2.0
        && workers.iter().all(|&c| c > 0)
        && other == 0
        && limited + admitted == sent;
    println!(
        "  {}",
        if ok {
            "PASS: within 2% of the allowance, both workers used"
        } else {
            "FAIL"
        }
    );
    Ok(ok)
}

fn memory() -> bool {
    let host = NativeHost::default();
    let l = Limit {
        count: 100,
        period_ms: 60_000,
        burst: 100,
    };
    let max_keys = 16_384u32;
    let now = 1_700_000_000_000_000_000u64;
    let n = 1_000_000u32;
    let t0 = Instant::now();
    let mut passed = 0u32;
    for i in 0..n {
        let ip = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
        let h = hash64(&[ip.as_bytes()]);
        if let Check::Pass { .. } =
            gcra(&host, 310_000, max_keys, &l, h, now + u64::from(i) * 1_000)
        {
            passed += 1;
        }
    }
    let dt = t0.elapsed();
    let (entries, bytes) = host.shared_usage();
    let evictions = host
        .counters
        .borrow()
        .get("waap.ratelimit.evictions")
        .copied()
        .unwrap_or(0);
    println!("memory: {n} distinct client keys, max_keys {max_keys}, natively");
    println!(
        "  admitted {passed}, shared-data entries {entries}, key+value bytes {bytes} ({:.1} bytes/entry), evictions {evictions}, {:.0} ns/decision",
        bytes as f64 / entries.max(1) as f64,
        dt.as_nanos() as f64 / f64::from(n)
    );
    let ok = entries <= max_keys as usize && passed == n;
    println!(
        "  {}",
        if ok {
            "PASS: bounded by max_keys"
        } else {
            "FAIL"
        }
    );
    ok
}

const MEMORY_POLICY: &str = r#"version: 1
mode: block
client_ip:
  xff_trusted_hops: 1
rate_limits:
  failure_mode: fail_open
  max_keys: 4096
  limits:
    - name: login
      match: {methods: [POST], path_prefix: /login}
      key: client_ip
      limit: 10/minute
"#;

fn allocated(envoy: &waap_e2e::envoy::Envoy) -> Option<u64> {
    let text = envoy.admin_get("/memory").ok()?.text();
    let rest = &text[text.find("\"allocated\"")? + 11..];
    let digits: String = rest
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn envoy_memory() -> Result<bool, String> {
    let keys = env_u64("RL_ENVOY_KEYS", 100_000);
    let threads = env_u64("RL_THREADS", 4);
    let echo = EchoServer::start("127.0.0.1:0").map_err(|e| e.to_string())?;
    let (envoy, _scratch) =
        start_envoy(MEMORY_POLICY, echo.port(), 2, &[]).map_err(|e| e.to_string())?;
    let addr = envoy.addr();
    let send_range = |from: u64, to: u64| {
        std::thread::scope(|s| {
            for t in 0..threads {
                s.spawn(move || {
                    let mut conn: Option<HttpConnection> = None;
                    let mut i = from + t;
                    while i < to {
                        let ip = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
                        let req = build_request(
                            "POST",
                            "/login",
                            &[("x-forwarded-for", ip.as_str()), ("content-length", "0")],
                            b"",
                        );
                        let c = match conn.as_mut() {
                            Some(c) => c,
                            None => match HttpConnection::connect(addr) {
                                Ok(c) => conn.insert(c),
                                Err(_) => continue,
                            },
                        };
                        if c.request(&req).is_err() {
                            conn = None;
                            continue;
                        }
                        i += threads;
                    }
                });
            }
        });
    };
    let warm = 8_192.min(keys);
    send_range(0, warm);
    let after_warm = allocated(&envoy).unwrap_or(0);
    let t0 = Instant::now();
    send_range(warm, keys);
    let dt = t0.elapsed();
    let end = allocated(&envoy).unwrap_or(0);
    let evictions = metric(&envoy, "waap.ratelimit.evictions").map_err(|e| e.to_string())?;
    let growth = end as f64 - after_warm as f64;
    println!(
        "envoy memory: {keys} distinct client keys through Envoy --concurrency 2, max_keys 4096"
    );
    println!(
        "  heap allocated after {warm} keys {:.1} MiB, after {keys} keys {:.1} MiB ({:+.1} MiB), evictions {evictions}, {:.0} req/s",
        after_warm as f64 / 1_048_576.0,
        end as f64 / 1_048_576.0,
        growth / 1_048_576.0,
        (keys - warm) as f64 / dt.as_secs_f64().max(0.001)
    );
    // Bounded: the heap does not grow with the keys beyond the table (1 MiB of slack for
    // allocator and stats noise).
    let ok = after_warm > 0 && growth < 1_048_576.0 && evictions > 0;
    println!(
        "  {}",
        if ok {
            "PASS: no growth with the number of keys"
        } else {
            "FAIL"
        }
    );
    Ok(ok)
}

fn main() -> std::process::ExitCode {
    let mem = memory();
    let envoy_mem = match envoy_memory() {
        Ok(ok) => ok,
        Err(e) => {
            eprintln!("envoy memory: {e}");
            false
        }
    };
    let acc = match accuracy() {
        Ok(ok) => ok,
        Err(e) => {
            eprintln!("accuracy: {e}");
            false
        }
    };
    if mem && envoy_mem && acc {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
