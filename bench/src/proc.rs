//! Envoy processes for the benchmark: started (optionally pinned with taskset) on loopback,
//! awaited on admin `/ready`, measured through admin and /proc, killed by PID on drop.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use waap_e2e::client;

/// A running Envoy.
pub struct BenchEnvoy {
    pub name: String,
    child: Child,
    pub listen: SocketAddr,
    pub admin: SocketAddr,
    log: PathBuf,
    /// Time from spawn to admin `/ready`.
    pub startup: Duration,
}

/// How to start one Envoy.
pub struct Launch<'a> {
    pub name: &'a str,
    pub envoy: &'a Path,
    /// The rendered bootstrap, written into `dir`.
    pub bootstrap: &'a str,
    pub dir: &'a Path,
    pub listen_port: u16,
    pub admin_port: u16,
    /// CPU to pin to with taskset, if any.
    pub cpu: Option<u32>,
}

/// Is taskset on PATH?
pub fn taskset_available() -> bool {
    Command::new("taskset")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl BenchEnvoy {
    pub fn start(l: &Launch<'_>) -> Result<BenchEnvoy, String> {
        let config = l.dir.join(format!("{}.envoy.yaml", l.name));
        let log = l.dir.join(format!("{}.envoy.log", l.name));
        fs::write(&config, l.bootstrap).map_err(|e| format!("{}: {e}", config.display()))?;
        let out = fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let mut cmd = match l.cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu.to_string()).arg(l.envoy);
                c
            }
            None => Command::new(l.envoy),
        };
        // --disable-hot-restart: several Envoys run side by side. Concurrency 1: one worker.
        cmd.arg("-c")
            .arg(&config)
            .arg("--disable-hot-restart")
            .arg("--concurrency")
            .arg("1")
            .arg("-l")
            .arg("info")
            .current_dir(l.dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let started = Instant::now();
        let child = cmd
            .spawn()
            .map_err(|e| format!("starting {}: {e}", l.envoy.display()))?;
        let mut envoy = BenchEnvoy {
            name: l.name.to_string(),
            child,
            listen: SocketAddr::from(([127, 0, 0, 1], l.listen_port)),
            admin: SocketAddr::from(([127, 0, 0, 1], l.admin_port)),
            log,
            startup: Duration::ZERO,
        };
        envoy.wait_ready(Duration::from_secs(60))?;
        envoy.startup = started.elapsed();
        Ok(envoy)
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "envoy {} exited ({status}) before it was ready; log tail:\n{}",
                    self.name,
                    self.log_tail(30)
                ));
            }
            if self.admin_get("/ready").is_ok_and(|(s, _)| s == 200) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "envoy {} not ready after {timeout:?}; log tail:\n{}",
                    self.name,
                    self.log_tail(30)
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `GET path` on admin: status and body text.
    pub fn admin_get(&self, path: &str) -> Result<(u16, String), String> {
        let req = client::build_request("GET", path, &[("Connection", "close")], b"");
        let r = client::send(self.admin, &req).map_err(|e| format!("admin {path}: {e}"))?;
        Ok((r.status, r.text()))
    }

    /// VmRSS from /proc/PID/status, in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        let text = fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
    }

    /// CPU time (user + system, all threads) consumed so far, in seconds.
    pub fn cpu_seconds(&self) -> Option<f64> {
        cpu_seconds(self.pid())
    }

    pub fn log_text(&self) -> String {
        fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    pub fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// Clock ticks per second for /proc/PID/stat (`getconf CLK_TCK`; 100 on Linux if unknown).
fn clk_tck() -> f64 {
    static TCK: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TCK.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .filter(|t: &f64| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// utime + stime of process `pid` (all its threads), in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / clk_tck())
}

impl Drop for BenchEnvoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The upstream for every configuration: an Envoy listener answering 200 with a fixed small
/// body from a `direct_response` route. The buffer filter makes it read the whole request
/// body first, so a POST is answered after it was received (as a real upstream would) and
/// the upstream connection stays reusable.
pub fn sink_bootstrap(listen_port: u16, admin_port: u16) -> String {
    format!(
        r#"# waap-bench upstream: direct_response after buffering the request body.
admin:
  address:
    socket_address: {{ address: 127.0.0.1, port_value: {admin_port} }}
static_resources:
  listeners:
    - name: sink
      address:
        socket_address: {{ address: 127.0.0.1, port_value: {listen_port} }}
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: sink
                route_config:
                  name: sink
                  virtual_hosts:
                    - name: sink
                      domains: ["*"]
                      routes:
                        - match: {{ prefix: "/" }}
                          direct_response:
                            status: 200
                            body: {{ inline_string: "{{\"ok\":true}}\n" }}
                http_filters:
                  - name: envoy.filters.http.buffer
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer
                      max_request_bytes: 1048576
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
"#
    )
}
