//! Envoy mode: Envoy with the filter (the compiled bundle) in front of the echo server; each
//! stage is sent byte-exact on a fresh connection. The filter's JSON log lines are collected
//! from Envoy's log by a tailer thread and matched to the request by `x-request-id` (Envoy
//! sets it in every response it proxies). The end-of-transaction marker (rule
//! [`MARKER_ID`], phase 5) says all of a request's lines are in the log.

use crate::judge::{match_id, Observed};
use crate::policy::MARKER_ID;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use waap_e2e::client::HttpConnection;

/// How long to wait for a response.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait for a request's end marker once markers are known to work.
const MARKER_TIMEOUT: Duration = Duration::from_secs(3);
/// Until a first marker is seen (the engine may not log phase 5): how long lines may take.
const SETTLE: Duration = Duration::from_millis(300);

/// Log lines by request id, filled by the tailer.
#[derive(Default)]
pub struct LogIndex {
    lines: Mutex<HashMap<String, Vec<String>>>,
    changed: Condvar,
    marker_seen: AtomicBool,
    stop: AtomicBool,
}

fn request_id_of(json: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    v.get("request_id")?.as_str().map(str::to_string)
}

impl LogIndex {
    /// Follows `path` (Envoy's log) on a background thread until [`LogIndex::stop`].
    pub fn follow(self: &Arc<Self>, path: PathBuf) -> std::thread::JoinHandle<()> {
        let me = Arc::clone(self);
        std::thread::spawn(move || {
            let mut pos = 0u64;
            let mut partial = String::new();
            while !me.stop.load(Ordering::SeqCst) {
                let mut got = false;
                if let Ok(mut f) = std::fs::File::open(&path) {
                    if f.seek(SeekFrom::Start(pos)).is_ok() {
                        let mut r = BufReader::new(f);
                        let mut buf = Vec::new();
                        while let Ok(n) = r.read_until(b'\n', &mut buf) {
                            if n == 0 {
                                break;
                            }
                            pos += n as u64;
                            partial.push_str(&String::from_utf8_lossy(&buf));
                            buf.clear();
                            if partial.ends_with('\n') {
                                me.add(partial.trim_end());
                                partial.clear();
                                got = true;
                            }
                        }
                    }
                }
                if got {
                    me.changed.notify_all();
                } else {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        })
    }

    /// Indexes the filter JSON record a log line carries. Envoy's access log (stdout) and
    /// its own log (stderr) share the file and can interleave mid-line: a cut access-log
    /// line (`... waap={"waap":"audit",...,"method":"P`) may run straight into a filter
    /// record, so every `{"waap":` in the line is tried and the one that parses to the end
    /// of the line is taken. (Taking only the first lost such records: a rule that fired
    /// showed up as "missing ids" in about one full run in three.)
    pub fn add(&self, line: &str) {
        let mut rest = line;
        let (json, id) = loop {
            let Some(start) = rest.find("{\"waap\":") else {
                return;
            };
            let candidate = &rest[start..];
            if let Some(id) = request_id_of(candidate) {
                break (candidate, id);
            }
            rest = &candidate[1..];
        };
        if match_id(json) == Some(MARKER_ID) {
            self.marker_seen.store(true, Ordering::SeqCst);
        }
        if let Ok(mut m) = self.lines.lock() {
            m.entry(id).or_default().push(json.to_string());
        }
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Waits for the request's end marker (or a settle time while no marker was ever seen)
    /// and takes its lines. The bool says whether the marker came.
    pub fn take(&self, request_id: &str) -> (Vec<String>, bool) {
        let start = Instant::now();
        let Ok(mut m) = self.lines.lock() else {
            return (Vec::new(), false);
        };
        loop {
            let done = m
                .get(request_id)
                .is_some_and(|ls| ls.iter().any(|l| match_id(l) == Some(MARKER_ID)));
            let limit = if self.marker_seen.load(Ordering::SeqCst) {
                MARKER_TIMEOUT
            } else {
                SETTLE
            };
            let elapsed = start.elapsed();
            if done || elapsed >= limit {
                return (m.remove(request_id).unwrap_or_default(), done);
            }
            m = match self.changed.wait_timeout(m, limit - elapsed) {
                Ok((g, _)) => g,
                Err(_) => return (Vec::new(), false),
            };
        }
    }
}

fn response_text(r: &waap_e2e::client::HttpResponse) -> String {
    let mut s = format!("HTTP/1.1 {} {}\r\n", r.status, r.reason);
    for (n, v) in &r.headers {
        s.push_str(&format!("{n}: {v}\r\n"));
    }
    s.push_str("\r\n");
    s.push_str(&r.text());
    s
}

/// Sends one raw request to Envoy and collects what the filter logged for it.
pub fn run(addr: SocketAddr, index: &LogIndex, raw: &[u8]) -> Observed {
    let head_request = raw.starts_with(b"HEAD ");
    let result = HttpConnection::connect_timeout(addr, REQUEST_TIMEOUT).and_then(|mut c| {
        c.send_raw(raw)?;
        c.read_response(head_request)
    });
    let resp = match result {
        Ok(r) => r,
        Err(e) => {
            return Observed {
                error: Some(e.to_string()),
                note: Some("no response from Envoy".into()),
                ..Observed::default()
            }
        }
    };
    let mut obs = Observed {
        status: Some(resp.status),
        response_text: response_text(&resp),
        ..Observed::default()
    };
    match resp.header("x-request-id") {
        Some(id) => {
            let (lines, marker) = index.take(id);
            for l in lines {
                match match_id(&l) {
                    Some(MARKER_ID) => {}
                    Some(id) => {
                        obs.ids.insert(id);
                        obs.log_lines.push(l);
                    }
                    None => obs.log_lines.push(l),
                }
            }
            if !marker && index.marker_seen.load(Ordering::SeqCst) {
                obs.note = Some(format!(
                    "the filter's end-of-transaction marker for {id} never appeared in the log"
                ));
            }
        }
        None => {
            obs.note = Some(format!(
                "Envoy answered {} without x-request-id: the request never reached the filter",
                resp.status
            ))
        }
    }
    obs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_after_a_cut_access_log_line_is_still_indexed() {
        // As seen in a kept Envoy log: the access log's audit field cut off, then the
        // filter's match record on the same line.
        let idx = LogIndex::default();
        idx.add(concat!(
            "[2026-11-27T16:20:04.657Z] \"POST /post HTTP/1.1\" 200 734d waap={\"waap\":\"audit\",",
            "\"request_id\":\"734d\",\"method\":\"P[2026-11-27 16:20:04.743][23911][info][wasm] ",
            "wasm log waap: {\"waap\":\"match\",\"request_id\":\"c799\",\"id\":932370}"
        ));
        let (lines, _) = idx.take("c799");
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("932370"));
        assert!(idx.take("734d").0.is_empty());
    }

    #[test]
    fn index_groups_lines_by_request_and_waits_for_the_marker() {
        let idx = LogIndex::default();
        idx.add(
            "[info][wasm] wasm log waap: {\"waap\":\"match\",\"request_id\":\"a\",\"id\":942100}",
        );
        idx.add("unrelated envoy line");
        idx.add("{\"waap\":\"match\",\"request_id\":\"b\",\"id\":1}");
        idx.add(&format!(
            "{{\"waap\":\"match\",\"request_id\":\"a\",\"id\":{MARKER_ID}}}"
        ));
        let (lines, marker) = idx.take("a");
        assert!(marker);
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("{\"waap\""));
        // b has no marker: waits MARKER_TIMEOUT, then returns what it has.
        let t = Instant::now();
        let (lines, marker) = idx.take("b");
        assert!(!marker && lines.len() == 1 && t.elapsed() >= MARKER_TIMEOUT);
    }
}
