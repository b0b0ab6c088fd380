//! Runs wrk (bounded in time) and parses its report.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One wrk run, parsed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WrkRun {
    pub rps: f64,
    pub requests: u64,
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    /// "Non-2xx or 3xx responses".
    pub non_2xx: u64,
    /// connect + read + write + timeout errors.
    pub socket_errors: u64,
}

/// How wrk is run.
#[derive(Debug, Clone)]
pub struct WrkOptions {
    pub threads: u32,
    pub connections: u32,
    /// CPU to pin wrk to with taskset, if any.
    pub cpu: Option<u32>,
}

/// Is wrk on PATH?
pub fn available() -> bool {
    Command::new("wrk")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// A duration in wrk's notation (`245.12us`, `1.20ms`, `2.00s`, `1.5m`) in microseconds.
pub fn parse_duration_us(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = s.split_at(split);
    let v: f64 = num.parse().ok()?;
    let mul = match unit {
        "us" => 1.0,
        "ms" => 1_000.0,
        "s" => 1_000_000.0,
        "m" => 60_000_000.0,
        "h" => 3_600_000_000.0,
        _ => return None,
    };
    Some(v * mul)
}

/// Parses wrk's stdout (`--latency` output).
pub fn parse(out: &str) -> Result<WrkRun, String> {
    let mut run = WrkRun::default();
    let mut saw_rps = false;
    for line in out.lines() {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Requests/sec:") {
            run.rps = v
                .trim()
                .parse()
                .map_err(|_| format!("wrk: bad Requests/sec line {t:?}"))?;
            saw_rps = true;
        } else if let Some(v) = t.strip_prefix("Non-2xx or 3xx responses:") {
            run.non_2xx = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = t.strip_prefix("Socket errors:") {
            run.socket_errors = v
                .split(',')
                .filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok())
                .sum();
        } else if t.contains(" requests in ") {
            run.requests = t
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
        } else if let Some(v) = t.strip_prefix("50%") {
            run.p50_us = parse_duration_us(v);
        } else if let Some(v) = t.strip_prefix("99%") {
            run.p99_us = parse_duration_us(v);
        }
    }
    if !saw_rps {
        return Err(format!("wrk: no Requests/sec in its output:\n{out}"));
    }
    Ok(run)
}

/// Runs `wrk --latency -s SCRIPT URL` for `seconds`; kills it if it overruns by 15 s.
pub fn run(opts: &WrkOptions, script: &Path, url: &str, seconds: u32) -> Result<WrkRun, String> {
    let mut cmd = match opts.cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpu.to_string()).arg("wrk");
            c
        }
        None => Command::new("wrk"),
    };
    cmd.arg("-t")
        .arg(opts.threads.to_string())
        .arg("-c")
        .arg(opts.connections.to_string())
        .arg("-d")
        .arg(format!("{seconds}s"))
        .arg("--timeout")
        .arg("5s")
        .arg("--latency")
        .arg("-s")
        .arg(script)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("starting wrk: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(u64::from(seconds) + 15);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "wrk did not finish within {seconds} s + 15 s; killed"
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("waiting for wrk: {e}")),
        }
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("reading wrk output: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "wrk failed ({}): {}{}",
            output.status,
            stdout,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    parse(&stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Running 2s test @ http://127.0.0.1:1234
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   612.31us  201.55us   5.91ms   90.12%
    Req/Sec    26.30k     1.02k   27.80k    80.00%
  Latency Distribution
     50%  580.00us
     75%  650.00us
     90%  750.00us
     99%    1.52ms
  52345 requests in 2.00s, 7.89MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 52345
Requests/sec:  26172.50
Transfer/sec:      3.94MB
";

    #[test]
    fn parses_wrk_latency_report() {
        let r = parse(SAMPLE).unwrap();
        assert_eq!(r.rps, 26172.5);
        assert_eq!(r.requests, 52345);
        assert_eq!(r.p50_us, Some(580.0));
        assert_eq!(r.p99_us, Some(1520.0));
        assert_eq!(r.non_2xx, 52345);
        assert_eq!(r.socket_errors, 3);
    }

    #[test]
    fn rejects_output_without_rate() {
        assert!(parse("unable to connect to 127.0.0.1:1 Connection refused").is_err());
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration_us("2.00s"), Some(2_000_000.0));
        assert_eq!(parse_duration_us("15.3us"), Some(15.3));
        assert_eq!(parse_duration_us("x"), None);
    }
}
