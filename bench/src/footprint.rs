//! Load time and memory of one idle Envoy (no traffic): the waap filter's cost per VM.
//!
//! An Envoy is started with a filter (or none), we wait until every VM has loaded the
//! bundle (the filter logs `waap: bundle loaded in N us` once per VM) and the process is
//! idle, then read: VmRSS, admin `/memory`, admin `/stats?filter=wasm`, and the V8 wasm
//! linear memories from `/proc/PID/smaps` (V8 reserves each wasm memory as one mapping of
//! several GiB with guard regions; its Rss is the memory that VM's instance touched).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};
use waap_e2e::json::{self, Value};
use waap_e2e::render::{self, Bootstrap};

use crate::proc::{BenchEnvoy, Launch};
use crate::report::{num, obj, opt_num};

/// Numeric lines of admin `/stats?filter=wasm` as an object.
pub fn wasm_stats(e: &BenchEnvoy) -> Value {
    let mut m = BTreeMap::new();
    if let Ok((200, body)) = e.admin_get("/stats?filter=wasm") {
        for l in body.lines() {
            if let Some((k, v)) = l.split_once(": ") {
                if let Ok(n) = v.trim().parse::<f64>() {
                    m.insert(k.to_string(), Value::Number(n));
                }
            }
        }
    }
    Value::Object(m)
}

/// admin `/memory`: Envoy's allocator view (bytes), as numbers.
pub fn memory(e: &BenchEnvoy) -> Value {
    let mut m = BTreeMap::new();
    if let Ok((200, body)) = e.admin_get("/memory") {
        if let Ok(Value::Object(o)) = json::parse(body.as_bytes()) {
            for (k, v) in o {
                let n = match &v {
                    Value::String(s) => s.parse::<f64>().ok(),
                    Value::Number(n) => Some(*n),
                    _ => None,
                };
                if let Some(n) = n {
                    m.insert(k, Value::Number(n));
                }
            }
        }
    }
    Value::Object(m)
}

/// Every `waap: bundle loaded in N us` in the log: one per VM that loaded the bundle.
pub fn bundle_load_us(log: &str) -> Vec<f64> {
    log.lines()
        .filter_map(|l| {
            let rest = &l[l.find("waap: bundle loaded in ")? + "waap: bundle loaded in ".len()..];
            rest.split_whitespace().next()?.parse::<f64>().ok()
        })
        .collect()
}

/// A guard mapping (`---p`) of at least this size is taken for a V8 wasm memory
/// reservation: V8 reserves 8 GiB per 32-bit wasm memory on 64-bit hosts, maps the pages
/// the instance may use read-write at its start and leaves the rest inaccessible.
pub const WASM_RESERVATION_MIN_KIB: u64 = 4 << 20;

/// One V8 wasm linear memory found in smaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WasmMemory {
    /// The whole reservation (accessible part + guard), KiB.
    pub reserved_kib: u64,
    /// The accessible (read-write) part: the instance's current memory size, KiB.
    pub accessible_kib: u64,
    /// Of that, resident, KiB.
    pub resident_kib: u64,
}

/// The wasm memories in the text of `/proc/PID/smaps`: every inaccessible mapping of at
/// least `min_kib`, with the read-write mapping that ends where it starts (if any).
pub fn wasm_memories(smaps: &str, min_kib: u64) -> Vec<WasmMemory> {
    struct Map {
        start: u64,
        end: u64,
        perms: String,
        size: u64,
        rss: u64,
    }
    let mut maps: Vec<Map> = Vec::new();
    let kib = |l: &str, k: &str| -> Option<u64> {
        l.strip_prefix(k)?.split_whitespace().next()?.parse().ok()
    };
    for l in smaps.lines() {
        let mut words = l.split_whitespace();
        let (Some(range), Some(perms)) = (words.next(), words.next()) else {
            continue;
        };
        if let Some((a, b)) = range.split_once('-') {
            if let (Ok(start), Ok(end)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) {
                if perms.len() == 4 {
                    maps.push(Map {
                        start,
                        end,
                        perms: perms.to_string(),
                        size: 0,
                        rss: 0,
                    });
                    continue;
                }
            }
        }
        if let Some(m) = maps.last_mut() {
            if let Some(v) = kib(l, "Size:") {
                m.size = v;
            } else if let Some(v) = kib(l, "Rss:") {
                m.rss = v;
            }
        }
    }
    let mut out = Vec::new();
    for (i, m) in maps.iter().enumerate() {
        if m.perms != "---p" || m.size < min_kib {
            continue;
        }
        let rw = i
            .checked_sub(1)
            .map(|j| &maps[j])
            .filter(|p| p.end == m.start && p.perms.starts_with("rw"));
        out.push(WasmMemory {
            reserved_kib: m.size + rw.map_or(0, |p| p.size),
            accessible_kib: rw.map_or(0, |p| p.size),
            resident_kib: rw.map_or(0, |p| p.rss),
        });
    }
    out
}

/// What one idle Envoy costs.
#[derive(Debug, Clone)]
pub struct Footprint {
    pub name: String,
    /// Spawn to admin `/ready`.
    pub startup_ms: f64,
    /// Spawn to every VM loaded and the process idle (when it was measured).
    pub settled_ms: f64,
    /// Per VM, from the filter's log line (the bundle decode + `Engine::load` in on_configure).
    pub bundle_load_us: Vec<f64>,
    pub rss_kib: Option<u64>,
    pub memory: Value,
    pub wasm_stats: Value,
    /// The V8 wasm memories found in smaps (one per VM instance).
    pub wasm_memories: Vec<WasmMemory>,
}

impl Footprint {
    /// VMs: the gauge `wasm.envoy.wasm.runtime.v8.active` when Envoy exposes it, else the
    /// number of wasm memories found, else the number of bundle loads.
    pub fn vms(&self) -> Option<f64> {
        self.wasm_stats
            .get("wasm.envoy.wasm.runtime.v8.active")
            .and_then(Value::as_f64)
            .filter(|v| *v > 0.0)
            .or_else(|| (!self.wasm_memories.is_empty()).then_some(self.wasm_memories.len() as f64))
            .or_else(|| {
                (!self.bundle_load_us.is_empty()).then_some(self.bundle_load_us.len() as f64)
            })
    }

    pub fn wasm_resident_kib(&self) -> u64 {
        self.wasm_memories.iter().map(|m| m.resident_kib).sum()
    }

    pub fn to_json(&self) -> Value {
        obj(vec![
            ("name", Value::String(self.name.clone())),
            ("startup_ms", num(self.startup_ms)),
            ("settled_ms", num(self.settled_ms)),
            ("bundle_loads", num(self.bundle_load_us.len() as f64)),
            (
                "bundle_load_us",
                Value::Array(self.bundle_load_us.iter().copied().map(num).collect()),
            ),
            ("rss_kib", opt_num(self.rss_kib.map(|v| v as f64))),
            ("memory", self.memory.clone()),
            ("wasm_stats", self.wasm_stats.clone()),
            ("vms", opt_num(self.vms())),
            (
                "wasm_memories",
                Value::Array(
                    self.wasm_memories
                        .iter()
                        .map(|m| {
                            obj(vec![
                                ("reserved_kib", num(m.reserved_kib as f64)),
                                ("accessible_kib", num(m.accessible_kib as f64)),
                                ("resident_kib", num(m.resident_kib as f64)),
                            ])
                        })
                        .collect(),
                ),
            ),
            ("wasm_resident_kib", num(self.wasm_resident_kib() as f64)),
            (
                "wasm_resident_kib_max",
                num(self
                    .wasm_memories
                    .iter()
                    .map(|m| m.resident_kib)
                    .max()
                    .unwrap_or(0) as f64),
            ),
        ])
    }
}

/// One idle Envoy to measure.
pub struct Spec<'a> {
    pub name: &'a str,
    pub envoy: &'a Path,
    /// The wasm module and its configuration (the bundle; empty for the no-op filter).
    pub wasm: Option<(&'a Path, &'a [u8])>,
    /// Bundle loads to wait for (0: none, e.g. the no-op filter).
    pub expect_loads: usize,
    pub dir: &'a Path,
    pub cpu: Option<u32>,
}

/// Starts the Envoy, waits (at most 120 s) for `expect_loads` bundle loads and then until it
/// is idle, measures, and stops it.
pub fn measure(s: &Spec<'_>) -> Result<Footprint, String> {
    let ports = waap_e2e::envoy::free_ports(3).map_err(|e| e.to_string())?;
    let ecds = s.dir.join(format!("{}.ecds.yaml", s.name));
    if let Some((w, bundle)) = s.wasm {
        let text =
            render::render_ecds(&w.to_string_lossy(), bundle, "1").map_err(|e| e.to_string())?;
        render::write_atomic(&ecds, text.as_bytes()).map_err(|e| e.to_string())?;
    }
    // No traffic is sent: the upstream port only has to be valid.
    let bootstrap = render::render_bootstrap(&Bootstrap {
        listen_port: ports[0],
        admin_port: ports[1],
        upstream_host: "127.0.0.1".into(),
        upstream_port: ports[2],
        ecds_path: s.wasm.map(|_| ecds.to_string_lossy().into_owned()),
        // Measured without access logs, as before they were added to the template.
        access_log: false,
    })
    .map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    let e = BenchEnvoy::start(&Launch {
        name: s.name,
        envoy: s.envoy,
        bootstrap: &bootstrap,
        dir: s.dir,
        listen_port: ports[0],
        admin_port: ports[1],
        cpu: s.cpu,
    })?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while bundle_load_us(&e.log_text()).len() < s.expect_loads {
        if Instant::now() > deadline {
            return Err(format!(
                "{}: {} of {} bundle loads after 120 s; log tail:\n{}",
                s.name,
                bundle_load_us(&e.log_text()).len(),
                s.expect_loads,
                e.log_tail(20)
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Idle: under 5% of a core over 300 ms (at most 30 s more), and at least 1 s after ready.
    std::thread::sleep(Duration::from_secs(1));
    let idle_deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < idle_deadline {
        let (Some(a), w) = (e.cpu_seconds(), Duration::from_millis(300)) else {
            break;
        };
        std::thread::sleep(w);
        match e.cpu_seconds() {
            Some(b) if (b - a) / w.as_secs_f64() < 0.05 => break,
            Some(_) => {}
            None => break,
        }
    }
    let settled_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let smaps = fs::read_to_string(format!("/proc/{}/smaps", e.pid())).unwrap_or_default();
    Ok(Footprint {
        name: s.name.to_string(),
        startup_ms: e.startup.as_secs_f64() * 1000.0,
        settled_ms,
        bundle_load_us: bundle_load_us(&e.log_text()),
        rss_kib: e.rss_kib(),
        memory: memory(&e),
        wasm_stats: wasm_stats(&e),
        wasm_memories: wasm_memories(&smaps, WASM_RESERVATION_MIN_KIB),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bundle_load_lines_from_the_envoy_log() {
        let log = "[info][wasm] wasm log waap waap: waap: bundle loaded in 412 us: rules=5 filter=0.1.0\nother\n[info] waap: bundle loaded in 98 us: x";
        assert_eq!(bundle_load_us(log), vec![412.0, 98.0]);
    }

    #[test]
    fn finds_wasm_memories_in_smaps() {
        let smaps = "7fd441410000-7fd444a50000 rw-p 00000000 00:00 0\nSize:              55552 kB\nRss:               54464 kB\n7fd444a50000-7fd641410000 ---p 00000000 00:00 0\nSize:            8333056 kB\nRss:                   0 kB\n5594c140a000-5594c5570000 r-xp 0207d000 fe:00 5310525  /bin/envoy\nSize:              66968 kB\nRss:               45000 kB\n7fd8a2570000-7fdaa2420000 ---p 00000000 00:00 0\nSize:            8387264 kB\nRss:                   0 kB\n";
        assert_eq!(
            wasm_memories(smaps, WASM_RESERVATION_MIN_KIB),
            vec![
                WasmMemory {
                    reserved_kib: 8388608,
                    accessible_kib: 55552,
                    resident_kib: 54464
                },
                WasmMemory {
                    reserved_kib: 8387264,
                    accessible_kib: 0,
                    resident_kib: 0
                },
            ]
        );
    }
}
