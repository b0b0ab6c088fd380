//! Results: statistics of the repeated runs, the stdout table, results.json, ratios.svg.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use waap_e2e::json::Value;

/// The median of `v` (mean of the two middle values for an even count); 0 when empty.
pub fn median(v: &[f64]) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return 0.0;
    }
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// (max - min) / median: the spread of repeated runs relative to their median.
pub fn spread(v: &[f64]) -> f64 {
    let m = median(v);
    if v.len() < 2 || m <= 0.0 {
        return 0.0;
    }
    let max = v.iter().copied().fold(f64::MIN, f64::max);
    let min = v.iter().copied().fold(f64::MAX, f64::min);
    (max - min) / m
}

/// One (configuration, request kind) cell.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    pub config: String,
    pub request: String,
    pub rps_runs: Vec<f64>,
    pub p50_us_runs: Vec<f64>,
    pub p99_us_runs: Vec<f64>,
    /// CPU used by the Envoy under test during each run, in cores (1.0 = one core busy).
    pub envoy_cpu_runs: Vec<f64>,
    /// CPU time of the Envoy under test per completed request, in microseconds: the cost
    /// per request whichever side was the bottleneck.
    pub envoy_cpu_us_per_request_runs: Vec<f64>,
    /// CPU used by the upstream sink during each run, in cores.
    pub upstream_cpu_runs: Vec<f64>,
    pub requests: u64,
    pub non_2xx: u64,
    pub socket_errors: u64,
    /// Status of the single pre-flight request.
    pub probe_status: Option<u16>,
    pub ratio_to_no_filter: Option<f64>,
    pub ratio_to_noop: Option<f64>,
    /// no-filter's CPU per request / this cell's: the req/s ratio if Envoy were the only
    /// bottleneck.
    pub cpu_ratio_to_no_filter: Option<f64>,
}

impl Cell {
    pub fn rps(&self) -> f64 {
        median(&self.rps_runs)
    }
    pub fn p50_us(&self) -> f64 {
        median(&self.p50_us_runs)
    }
    pub fn p99_us(&self) -> f64 {
        median(&self.p99_us_runs)
    }
    pub fn spread(&self) -> f64 {
        spread(&self.rps_runs)
    }
    pub fn cpu_us_per_request(&self) -> f64 {
        median(&self.envoy_cpu_us_per_request_runs)
    }
}

/// Fills in the ratios: each cell against `no-filter` and `noop-wasm` for the same request.
pub fn fill_ratios(cells: &mut [Cell], no_filter: &str, noop: &str) {
    let base: BTreeMap<(String, String), f64> = cells
        .iter()
        .map(|c| ((c.config.clone(), c.request.clone()), c.rps()))
        .collect();
    for c in cells.iter_mut() {
        let (rps, request) = (c.rps(), c.request.clone());
        let ratio = |cfg: &str| {
            base.get(&(cfg.to_string(), request.clone()))
                .filter(|b| **b > 0.0)
                .map(|b| rps / b)
        };
        c.ratio_to_no_filter = ratio(no_filter);
        c.ratio_to_noop = ratio(noop);
    }
    let cpu_base: BTreeMap<String, f64> = cells
        .iter()
        .filter(|c| c.config == no_filter)
        .map(|c| (c.request.clone(), c.cpu_us_per_request()))
        .collect();
    for c in cells.iter_mut() {
        let own = c.cpu_us_per_request();
        c.cpu_ratio_to_no_filter = cpu_base
            .get(&c.request)
            .filter(|b| **b > 0.0 && own > 0.0)
            .map(|b| b / own);
    }
}

fn fmt_us(us: f64) -> String {
    if us <= 0.0 {
        "-".into()
    } else if us >= 1000.0 {
        format!("{:.2}ms", us / 1000.0)
    } else {
        format!("{us:.0}us")
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map(|r| format!("{r:.3}")).unwrap_or_else(|| "-".into())
}

/// The stdout table.
pub fn table(cells: &[Cell], noise: f64) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<14} {:<11} {:>9} {:>7} {:>9} {:>9} {:>8} {:>8} {:>5} {:>7} {:>8} {:>6}  notes",
        "config",
        "request",
        "req/s",
        "spread",
        "p50",
        "p99",
        "/no-filt",
        "/noop",
        "cpu",
        "us/req",
        "cpu-rat",
        "status"
    );
    let _ = writeln!(s, "{}", "-".repeat(118));
    for c in cells {
        let mut notes = Vec::new();
        if c.spread() > noise {
            notes.push(format!("NOISY (spread > {:.0}%)", noise * 100.0));
        }
        if c.rps_runs.iter().any(|r| *r <= 0.0) {
            notes.push("NO RESPONSES in some runs (each request took longer than the run)".into());
        }
        if c.socket_errors > 0 {
            notes.push(format!("{} socket errors", c.socket_errors));
        }
        if c.non_2xx > 0 && c.non_2xx < c.requests {
            notes.push(format!("{} of {} non-2xx", c.non_2xx, c.requests));
        }
        let runs: Vec<String> = c.rps_runs.iter().map(|r| format!("{r:.0}")).collect();
        notes.push(format!("runs {}", runs.join("/")));
        let _ = writeln!(
            s,
            "{:<14} {:<11} {:>9.0} {:>6.1}% {:>9} {:>9} {:>8} {:>8} {:>5.2} {:>7.1} {:>8} {:>6}  {}",
            c.config,
            c.request,
            c.rps(),
            c.spread() * 100.0,
            fmt_us(c.p50_us()),
            fmt_us(c.p99_us()),
            fmt_ratio(c.ratio_to_no_filter),
            fmt_ratio(c.ratio_to_noop),
            median(&c.envoy_cpu_runs),
            c.cpu_us_per_request(),
            fmt_ratio(c.cpu_ratio_to_no_filter),
            c.probe_status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".into()),
            notes.join("; ")
        );
    }
    s
}

pub fn num(v: f64) -> Value {
    Value::Number(v)
}

pub fn text(v: &str) -> Value {
    Value::String(v.to_string())
}

pub fn opt_num(v: Option<f64>) -> Value {
    v.map(Value::Number).unwrap_or(Value::Null)
}

pub fn obj(fields: Vec<(&str, Value)>) -> Value {
    Value::Object(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

fn nums(v: &[f64]) -> Value {
    Value::Array(v.iter().map(|x| Value::Number(*x)).collect())
}

/// A cell as results.json stores it.
pub fn cell_json(c: &Cell, noise: f64) -> Value {
    obj(vec![
        ("config", text(&c.config)),
        ("request", text(&c.request)),
        ("rps_runs", nums(&c.rps_runs)),
        ("rps_median", num(c.rps())),
        ("rps_spread", num(c.spread())),
        ("noisy", Value::Bool(c.spread() > noise)),
        ("p50_us", num(c.p50_us())),
        ("p99_us", num(c.p99_us())),
        ("p50_us_runs", nums(&c.p50_us_runs)),
        ("p99_us_runs", nums(&c.p99_us_runs)),
        ("envoy_cpu_runs", nums(&c.envoy_cpu_runs)),
        ("envoy_cpu", num(median(&c.envoy_cpu_runs))),
        ("upstream_cpu", num(median(&c.upstream_cpu_runs))),
        (
            "envoy_cpu_us_per_request_runs",
            nums(&c.envoy_cpu_us_per_request_runs),
        ),
        ("envoy_cpu_us_per_request", num(c.cpu_us_per_request())),
        ("cpu_ratio_to_no_filter", opt_num(c.cpu_ratio_to_no_filter)),
        ("requests", num(c.requests as f64)),
        ("non_2xx", num(c.non_2xx as f64)),
        ("socket_errors", num(c.socket_errors as f64)),
        ("probe_status", opt_num(c.probe_status.map(f64::from))),
        ("ratio_to_no_filter", opt_num(c.ratio_to_no_filter)),
        ("ratio_to_noop", opt_num(c.ratio_to_noop)),
    ])
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const COLORS: &[&str] = &[
    "#7f7f7f", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
];

/// A grouped bar chart: one group per request kind, one bar per configuration (except the
/// baseline), bar height = req/s relative to `no-filter`; a dashed line marks 1.0.
pub fn svg(cells: &[Cell], configs: &[String], requests: &[String], title: &str) -> String {
    let shown: Vec<&String> = configs
        .iter()
        .filter(|c| c.as_str() != "no-filter")
        .collect();
    let (w, h) = (860.0_f64, 420.0_f64);
    let (left, right, top, bottom) = (60.0, 20.0, 50.0, 70.0);
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let max_ratio = cells
        .iter()
        .filter_map(|c| c.ratio_to_no_filter)
        .fold(1.0_f64, f64::max)
        .max(1.0)
        * 1.1;
    let y = |r: f64| top + plot_h - (r / max_ratio) * plot_h;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
        w / 2.0,
        xml_escape(title)
    );
    // Axis and grid.
    let mut tick = 0.0;
    while tick <= max_ratio + 1e-9 {
        let ty = y(tick);
        let _ = writeln!(
            s,
            r##"<line x1="{left}" y1="{ty:.1}" x2="{:.1}" y2="{ty:.1}" stroke="#e0e0e0"/><text x="{:.1}" y="{:.1}" text-anchor="end">{tick:.1}</text>"##,
            w - right,
            left - 6.0,
            ty + 4.0
        );
        tick += 0.2;
    }
    let _ = writeln!(
        s,
        r##"<line x1="{left}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#333" stroke-dasharray="6,4"/>"##,
        y(1.0),
        w - right,
        y(1.0)
    );
    let _ = writeln!(
        s,
        r#"<text x="16" y="{:.1}" transform="rotate(-90 16 {:.1})" text-anchor="middle">req/s relative to Envoy without a filter</text>"#,
        top + plot_h / 2.0,
        top + plot_h / 2.0
    );
    let group_w = plot_w / requests.len().max(1) as f64;
    let bar_w = (group_w * 0.8) / shown.len().max(1) as f64;
    for (gi, req) in requests.iter().enumerate() {
        let gx = left + gi as f64 * group_w + group_w * 0.1;
        for (bi, cfg) in shown.iter().enumerate() {
            let Some(r) = cells
                .iter()
                .find(|c| &c.config == *cfg && &c.request == req)
                .and_then(|c| c.ratio_to_no_filter)
            else {
                continue;
            };
            let x = gx + bi as f64 * bar_w;
            let color = COLORS[(bi + 1) % COLORS.len()];
            let _ = writeln!(
                s,
                r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{color}"><title>{} {}: {r:.3}</title></rect>"#,
                y(r),
                bar_w * 0.92,
                (top + plot_h - y(r)).max(0.0),
                xml_escape(cfg),
                xml_escape(req)
            );
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">{r:.2}</text>"#,
                x + bar_w * 0.46,
                y(r) - 3.0
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            left + gi as f64 * group_w + group_w / 2.0,
            top + plot_h + 18.0,
            xml_escape(req)
        );
    }
    // Legend.
    for (bi, cfg) in shown.iter().enumerate() {
        let lx = left + bi as f64 * 170.0;
        let ly = h - 22.0;
        let _ = writeln!(
            s,
            r#"<rect x="{lx:.1}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{ly:.1}">{}</text>"#,
            ly - 10.0,
            COLORS[(bi + 1) % COLORS.len()],
            lx + 18.0,
            xml_escape(cfg)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ` (UTC).
pub fn iso8601(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_spread() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
        assert!((spread(&[90.0, 100.0, 110.0]) - 0.2).abs() < 1e-9);
        assert_eq!(spread(&[5.0]), 0.0);
    }

    #[test]
    fn iso8601_formats_utc() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_798_329_600), "2026-12-27T00:00:00Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn ratios_are_per_request_kind() {
        let cell = |cfg: &str, req: &str, r: f64| Cell {
            config: cfg.into(),
            request: req.into(),
            rps_runs: vec![r],
            ..Cell::default()
        };
        let mut cells = vec![
            cell("no-filter", "get", 100.0),
            cell("noop-wasm", "get", 70.0),
            cell("waap-basic", "get", 35.0),
        ];
        fill_ratios(&mut cells, "no-filter", "noop-wasm");
        assert_eq!(cells[2].ratio_to_no_filter, Some(0.35));
        assert_eq!(cells[2].ratio_to_noop, Some(0.5));
        let svg = svg(
            &cells,
            &["no-filter".into(), "noop-wasm".into(), "waap-basic".into()],
            &["get".into()],
            "t",
        );
        assert!(svg.starts_with("<svg") && svg.contains("waap-basic get: 0.350"));
    }
}
