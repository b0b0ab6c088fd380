//! The global rate-limit stack for tests: `redis-server` (Debian's) and the `waap-ratelimit`
//! service as processes on free loopback ports, stopped by PID on drop; plus helpers to
//! start Envoys for a policy given as text and to read the filter's metrics.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::envoy::{self, Envoy, EnvoyOptions, TempDir, WasmFilter};
use crate::{Error, Result};

/// A child process killed (by PID) and reaped on drop.
pub struct Proc {
    child: Child,
    /// Its loopback port.
    pub port: u16,
    /// What it is (for errors).
    pub name: &'static str,
}

impl Proc {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process now (by PID) and waits for it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

fn wait_port(p: &mut Proc, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let addr = SocketAddr::from(([127, 0, 0, 1], p.port));
    loop {
        if let Some(status) = p.child.try_wait()? {
            return Err(Error::new(format!(
                "{} exited ({status}) before listening on {addr}",
                p.name
            )));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::new(format!(
                "{} not listening on {addr} after {timeout:?}",
                p.name
            )));
        }
        std::thread::sleep(Duration::from_millis(30));
    }
}

/// `redis-server` on a free loopback port, without persistence.
pub fn start_redis() -> Result<Proc> {
    let bin = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
    let port = envoy::free_ports(1)?[0];
    let child = Command::new(&bin)
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            Error::new(format!(
                "starting {bin}: {e} (Debian: apt-get install redis-server; .ci/run installs it)"
            ))
        })?;
    let mut p = Proc {
        child,
        port,
        name: "redis-server",
    };
    wait_port(&mut p, Duration::from_secs(10))?;
    Ok(p)
}

/// The service binary: `$WAAP_RATELIMIT`, else `target/release/waap-ratelimit`.
pub fn service_bin() -> Result<PathBuf> {
    let p = match std::env::var_os("WAAP_RATELIMIT") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => envoy::workspace_root().join("target/release/waap-ratelimit"),
    };
    if p.is_file() {
        Ok(p)
    } else {
        Err(Error::new(format!(
            "{} not found; run `make build` (cargo build --release -p waap-ratelimit) or set WAAP_RATELIMIT",
            p.display()
        )))
    }
}

/// `waap-ratelimit` on a free loopback port, counting in the Redis on `redis_port`.
pub fn start_service(redis_port: u16) -> Result<Proc> {
    let bin = service_bin()?;
    let port = envoy::free_ports(1)?[0];
    let child = Command::new(&bin)
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--redis",
            &format!("redis://127.0.0.1:{redis_port}/"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::new(format!("starting {}: {e}", bin.display())))?;
    let mut p = Proc {
        child,
        port,
        name: "waap-ratelimit",
    };
    wait_port(&mut p, Duration::from_secs(10))?;
    Ok(p)
}

/// An Envoy enforcing `policy` (YAML text), with `concurrency` workers and the given gRPC
/// clusters, in front of `upstream_port`.
pub fn start_envoy(
    policy: &str,
    upstream_port: u16,
    concurrency: u32,
    grpc_clusters: &[(&str, u16)],
) -> Result<(Envoy, TempDir)> {
    let scratch = TempDir::new("waap-rl-policy")?;
    let path = scratch.path().join("policy.yaml");
    std::fs::write(&path, policy)?;
    let bundle = envoy::compile_policy(&path, &scratch.path().join("policy.waapb"))?;
    let filter = WasmFilter {
        wasm: envoy::wasm_path()?,
        bundle,
    };
    let mut opts = EnvoyOptions::new(upstream_port, Some(filter));
    opts.concurrency = concurrency;
    opts.grpc_clusters = grpc_clusters
        .iter()
        .map(|(n, p)| (n.to_string(), *p))
        .collect();
    Ok((Envoy::start(&opts)?, scratch))
}

/// A filter metric (`waap.…`), whatever prefix Envoy gives custom wasm metrics; 0 if unset.
pub fn metric(envoy: &Envoy, name: &str) -> Result<u64> {
    let text = envoy
        .admin_get(&format!("/stats?filter={}$", name.replace('.', "\\.")))?
        .text();
    Ok(text
        .lines()
        .filter_map(|l| {
            let (n, v) = l.split_once(": ")?;
            (n == name || n.ends_with(&format!(".{name}"))).then(|| v.trim().parse::<u64>().ok())?
        })
        .sum())
}
