//! The waap proxy-wasm HTTP filter: a thin adapter from Envoy onto `waap-engine`.
//!
//! The root context validates the bundle from the plugin configuration once per VM and
//! refuses the configuration (Envoy keeps the previous one) on any error. Each request gets
//! an HTTP context that feeds the engine's phases and turns a deny into a JSON local reply.

mod host;
mod timing;

use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType};
use waap_engine::host::Host;
use waap_engine::{Engine, PolicySet, RequestHead, Transaction, Verdict};

use crate::host::ProxyHost;
use crate::timing::{Part, Span};

proxy_wasm::main! {{
    // Also installs a panic hook that logs at critical level before the abort.
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(WaapRoot { policies: None }) });
}}

/// Owns the loaded policies of one VM (one, or a policy set picked per request).
struct WaapRoot {
    policies: Option<Rc<PolicySet>>,
}

impl Context for WaapRoot {}

impl RootContext for WaapRoot {
    fn on_configure(&mut self, size: usize) -> bool {
        let host = ProxyHost;
        let bytes = match hostcalls::get_buffer(BufferType::PluginConfiguration, 0, size) {
            Ok(Some(b)) => b,
            Ok(None) => {
                host.log(waap_engine::LogLevel::Error, "waap: no plugin configuration: the bundle must be given as configuration (google.protobuf.BytesValue)");
                host.counter_add("waap.bundle.load_failures", 1);
                return false;
            }
            Err(e) => {
                host.log(
                    waap_engine::LogLevel::Error,
                    &format!("waap: cannot read plugin configuration: {e:?}"),
                );
                host.counter_add("waap.bundle.load_failures", 1);
                return false;
            }
        };
        // Bot challenge keys may come in the JSON configuration instead of the bundle.
        let bot_keys = match waap_engine::bots::keys_from_plugin_config(&bytes) {
            Ok(k) => k,
            Err(e) => {
                host.log(
                    waap_engine::LogLevel::Error,
                    &format!("waap: bundle rejected, keeping the previous configuration: {e}"),
                );
                host.counter_add("waap.bundle.load_failures", 1);
                return false;
            }
        };
        let bytes = match waap_engine::bundle_from_plugin_config(bytes) {
            Ok(b) => b,
            Err(e) => {
                host.log(
                    waap_engine::LogLevel::Error,
                    &format!("waap: bundle rejected, keeping the previous configuration: {e}"),
                );
                host.counter_add("waap.bundle.load_failures", 1);
                return false;
            }
        };
        let start = host.now_nanos();
        match PolicySet::load(bytes).and_then(|e| e.with_bot_keys(bot_keys)) {
            Ok(engine) => {
                let us = host.now_nanos().saturating_sub(start) / 1000;
                host.log(
                    waap_engine::LogLevel::Info,
                    &format!(
                        "waap: bundle loaded in {us} us: {} revision_id={} filter={}",
                        engine.summary(),
                        engine.revision_id(),
                        env!("CARGO_PKG_VERSION")
                    ),
                );
                host.counter_add("waap.bundle.loads", 1);
                host::gauge_set("waap.bundle.revision", engine.revision_id());
                self.policies = Some(Rc::new(engine));
                true
            }
            Err(e) => {
                host.log(
                    waap_engine::LogLevel::Error,
                    &format!("waap: bundle rejected, keeping the previous configuration: {e}"),
                );
                host.counter_add("waap.bundle.load_failures", 1);
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(WaapHttp {
            policies: self.policies.clone(),
            tx: None,
            request_done: false,
            response_buffering: false,
            global_pending: false,
            audit_exported: false,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// One request.
struct WaapHttp {
    policies: Option<Rc<PolicySet>>,
    tx: Option<Transaction<Rc<Engine>>>,
    /// Phase 2 has run.
    request_done: bool,
    response_buffering: bool,
    /// The request is held for the rate-limit service's answer.
    global_pending: bool,
    /// The audit record is in the stream's filter state.
    audit_exported: bool,
}

impl Context for WaapHttp {
    /// The rate-limit service answered (or the call failed): the engine decides.
    fn on_http_call_response(
        &mut self,
        _token: u32,
        _headers: usize,
        body_size: usize,
        _trailers: usize,
    ) {
        if !self.global_pending {
            return;
        }
        self.global_pending = false;
        let host = ProxyHost;
        let Some(tx) = self.tx.as_mut() else {
            let _ = hostcalls::resume_http_request();
            return;
        };
        let headers = hostcalls::get_map(MapType::HttpCallResponseHeaders).unwrap_or_default();
        let trailers = hostcalls::get_map(MapType::HttpCallResponseTrailers).unwrap_or_default();
        let body = hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size)
            .ok()
            .flatten()
            .unwrap_or_default();
        let find = |name: &str| {
            trailers
                .iter()
                .chain(headers.iter())
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let answer = waap_engine::ratelimit::HttpAnswer {
            status: find(":status").and_then(|v| v.parse().ok()),
            grpc_status: find("grpc-status").and_then(|v| v.parse().ok()),
            grpc_message: find("grpc-message").unwrap_or_default(),
            body: &body,
        };
        let v = tx.on_global_response(&host, waap_engine::ratelimit::grpc_unary_message(&answer));
        if v.is_stop() {
            self.after(v);
        } else if hostcalls::resume_http_request().is_err() {
            host.log(
                waap_engine::LogLevel::Error,
                "waap: could not resume the request after the rate-limit call",
            );
        }
    }
}

/// The property the audit record is written to: Envoy keeps it as the filter state object
/// `wasm.waap_audit`, which access logs read with `%FILTER_STATE(wasm.waap_audit:PLAIN)%`.
const AUDIT_PROPERTY: &str = "waap_audit";

fn header_map(map: MapType) -> Vec<(String, Vec<u8>)> {
    hostcalls::get_map_bytes(map).unwrap_or_default()
}

fn property(path: &[&str]) -> Option<String> {
    let v = hostcalls::get_property(path.to_vec()).ok()??;
    String::from_utf8(v).ok()
}

/// `1.2.3.4:5678` or `[::1]:5678` to the address alone.
fn strip_port(addr: &str) -> String {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default().to_string();
    }
    match addr.rsplit_once(':') {
        Some((a, p)) if !a.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => a.to_string(),
        _ => addr.to_string(),
    }
}

fn request_head() -> RequestHead {
    let _t = Span::start(Part::RequestHead);
    let mut head = RequestHead::default();
    let headers = {
        let _t = Span::start(Part::HeaderMap);
        header_map(MapType::HttpRequestHeaders)
    };
    for (name, value) in headers {
        match name.as_str() {
            ":method" => head.method = String::from_utf8_lossy(&value).into_owned(),
            ":path" => head.uri = value,
            ":authority" => head.headers.push(("host".into(), value)),
            n if n.starts_with(':') => {}
            _ => {
                if name == "x-request-id" {
                    head.request_id = String::from_utf8_lossy(&value).into_owned();
                }
                head.headers.push((name, value));
            }
        }
    }
    let _t = Span::start(Part::Properties);
    head.protocol = property(&["request", "protocol"]).unwrap_or_else(|| "HTTP/1.1".into());
    head.remote_addr = property(&["source", "address"])
        .map(|a| strip_port(&a))
        .unwrap_or_default();
    head
}

impl WaapHttp {
    /// Writes the audit record of a denied or monitored request to the filter state as soon
    /// as the decision is known (before the local reply, so that every access log, whatever
    /// its order beside the filter's own log callback, sees it). A later phase that turns a
    /// monitored request into a denied one overwrites it.
    fn export_audit(&mut self) {
        let Some(json) = self.tx.as_ref().and_then(|tx| tx.audit_json(&ProxyHost)) else {
            return;
        };
        self.audit_exported = true;
        if hostcalls::set_property(vec![AUDIT_PROPERTY], Some(json.as_bytes())).is_err() {
            ProxyHost.log(
                waap_engine::LogLevel::Debug,
                "waap: could not write the audit record to the filter state",
            );
        }
    }

    /// Answers a deny with the JSON body; returns the action that stops the stream.
    fn deny(&mut self, status: u16, rule_ids: &[u32]) -> Action {
        let host = ProxyHost;
        host.counter_add("waap.requests.denied", 1);
        self.export_audit();
        let body = match &self.tx {
            Some(tx) => tx.deny_body(status, rule_ids),
            None => waap_engine::log::deny_body_for(status, rule_ids, ""),
        };
        if hostcalls::send_http_response(
            status as u32,
            vec![("content-type", "application/json")],
            Some(body.as_bytes()),
        )
        .is_err()
        {
            host.log(
                waap_engine::LogLevel::Error,
                "waap: could not send the deny response; resetting the stream",
            );
            let _ = hostcalls::reset_http_request();
        }
        Action::Pause
    }

    /// Sends a family's local reply (denial, challenge, rate-limit answer).
    fn reply(&mut self, r: &waap_engine::Reply) -> Action {
        let host = ProxyHost;
        host.counter_add("waap.requests.denied", 1);
        self.export_audit();
        let headers: Vec<(&str, &str)> = r
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        if hostcalls::send_http_response(r.status as u32, headers, Some(&r.body)).is_err() {
            host.log(
                waap_engine::LogLevel::Error,
                "waap: could not send the local reply; resetting the stream",
            );
            let _ = hostcalls::reset_http_request();
        }
        Action::Pause
    }

    /// The request phases allowed `v` or stopped it; when allowed and a global rate limit
    /// applies, sends the call to the rate-limit service and holds the request.
    fn finish_request(&mut self, v: Verdict) -> Action {
        if v.is_stop() {
            return self.after(v);
        }
        let Some(call) = self.tx.as_mut().and_then(|t| t.take_global_call()) else {
            return Action::Continue;
        };
        let headers: Vec<(&str, &str)> = call
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        match self.dispatch_http_call(
            &call.cluster,
            headers,
            Some(&call.body),
            vec![],
            std::time::Duration::from_millis(u64::from(call.timeout_ms)),
        ) {
            Ok(_) => {
                self.global_pending = true;
                Action::Pause
            }
            Err(e) => {
                let host = ProxyHost;
                let v = match self.tx.as_mut() {
                    Some(tx) => tx.on_global_response(
                        &host,
                        Err(waap_engine::ratelimit::GlobalError::Dispatch(format!(
                            "cluster {}: {e:?}",
                            call.cluster
                        ))),
                    ),
                    None => Verdict::Allow,
                };
                self.after(v)
            }
        }
    }

    fn after(&mut self, v: Verdict) -> Action {
        match v {
            Verdict::Allow => {
                // A monitored ("would deny") request goes on: record what would have happened.
                if self.tx.as_ref().is_some_and(|t| t.would_deny().is_some()) {
                    self.export_audit();
                }
                Action::Continue
            }
            Verdict::Deny { status, rule_ids } => self.deny(status, &rule_ids),
            Verdict::Reply(r) => self.reply(&r),
        }
    }
}

impl HttpContext for WaapHttp {
    fn on_http_request_headers(&mut self, _n: usize, end_of_stream: bool) -> Action {
        let _t = Span::start(Part::RequestHeaders);
        let host = ProxyHost;
        let Some(policies) = self.policies.clone() else {
            // No bundle in this VM (cannot happen after a successful on_configure): fail
            // closed, since an unconfigured WAF must not silently pass traffic.
            host.log(
                waap_engine::LogLevel::Error,
                "waap: no engine loaded; denying",
            );
            return self.deny(503, &[]);
        };
        host.counter_add("waap.requests.inspected", 1);
        let mut head = request_head();
        // The policy for this request; the route name is read only when a selector needs it.
        let host_header = head
            .headers
            .iter()
            .find(|(n, _)| n == "host")
            .map_or(&[][..], |(_, v)| v.as_slice());
        let Some((_, engine)) =
            policies.select(|| property(&["xds", "route_name"]), host_header, &head.uri)
        else {
            host.log(
                waap_engine::LogLevel::Error,
                "waap: policy set has no policy for this request; denying",
            );
            return self.deny(503, &[]);
        };
        let engine = engine.clone();
        if engine.needs_peer_certificate() {
            // Present only on mutual-TLS connections with a verified peer certificate.
            head.peer_cert_sha256 = property(&["connection", "sha256_peer_certificate_digest"])
                .filter(|d| !d.is_empty());
        }
        // Envoy's HTTP/1 codec consumes `Transfer-Encoding: chunked` before filters run.
        // A request with a body still to come and no Content-Length was chunked: say so,
        // or rules such as CRS 920180 take it for a body-less POST.
        if !end_of_stream
            && head.protocol.starts_with("HTTP/1")
            && !head
                .headers
                .iter()
                .any(|(n, _)| n == "content-length" || n == "transfer-encoding")
        {
            head.headers
                .push(("transfer-encoding".into(), b"chunked".to_vec()));
        }
        let mut tx = {
            let _t = Span::start(Part::NewTransaction);
            Transaction::new(engine, head)
        };
        let v = {
            let _t = Span::start(Part::EngineRequestHeaders);
            tx.on_request_headers(&host)
        };
        self.tx = Some(tx);
        if v.is_stop() {
            return self.after(v);
        }
        let wants_body = self.tx.as_ref().is_some_and(|t| t.wants_request_body());
        if end_of_stream || !wants_body {
            self.request_done = true;
            let v = {
                let _t = Span::start(Part::EngineRequestBody);
                match self.tx.as_mut() {
                    Some(tx) => tx.on_request_body(Vec::new(), false, &host),
                    None => Verdict::Allow,
                }
            };
            return self.finish_request(v);
        }
        // Hold the headers until the body is buffered and inspected.
        Action::Pause
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if self.global_pending {
            // Held for the rate-limit service: keep buffering until it answers.
            return Action::Pause;
        }
        if self.request_done {
            return Action::Continue;
        }
        let host = ProxyHost;
        let Some(tx) = self.tx.as_mut() else {
            return Action::Continue;
        };
        let limit = tx.request_body_limit();
        if !end_of_stream && body_size <= limit {
            return Action::Pause;
        }
        self.request_done = true;
        let truncated = body_size > limit;
        let body = hostcalls::get_buffer(BufferType::HttpRequestBody, 0, body_size.min(limit))
            .ok()
            .flatten()
            .unwrap_or_default();
        let v = {
            let _t = Span::start(Part::EngineRequestBody);
            tx.on_request_body(body, truncated, &host)
        };
        self.finish_request(v)
    }

    fn on_http_response_headers(&mut self, _n: usize, end_of_stream: bool) -> Action {
        let _t = Span::start(Part::ResponseHeaders);
        let host = ProxyHost;
        let Some(tx) = self.tx.as_mut() else {
            return Action::Continue;
        };
        if tx.is_denied() {
            return Action::Continue;
        }
        let mut status = 0;
        let mut headers = Vec::new();
        // Fetching the header map is a host call and a copy (~3 us): skipped when the
        // policy reads no response status or header.
        let head = if tx.wants_response_head() {
            header_map(MapType::HttpResponseHeaders)
        } else {
            Vec::new()
        };
        for (name, value) in head {
            if name == ":status" {
                status = String::from_utf8_lossy(&value).parse().unwrap_or(0);
            } else if !name.starts_with(':') {
                headers.push((name, value));
            }
        }
        let v = {
            let _t = Span::start(Part::EngineResponseHeaders);
            tx.on_response_headers(status, headers, &host)
        };
        if v.is_stop() {
            return self.after(v);
        }
        if !end_of_stream && tx.wants_response_body() {
            self.response_buffering = true;
            if tx.may_rewrite_response() {
                // Removing undeclared properties shortens the body: let Envoy reframe it.
                let _ =
                    hostcalls::set_map_value(MapType::HttpResponseHeaders, "content-length", None);
            }
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !self.response_buffering {
            return Action::Continue;
        }
        let host = ProxyHost;
        let Some(tx) = self.tx.as_mut() else {
            return Action::Continue;
        };
        let limit = tx.engine_response_limit();
        if !end_of_stream && body_size <= limit {
            return Action::Pause;
        }
        self.response_buffering = false;
        let truncated = body_size > limit;
        let body = hostcalls::get_buffer(BufferType::HttpResponseBody, 0, body_size.min(limit))
            .ok()
            .flatten()
            .unwrap_or_default();
        match tx.on_response_body_with(body, truncated, &host) {
            Verdict::Allow => {
                if let Some(new) = tx.take_response_rewrite() {
                    let _ = hostcalls::set_buffer(BufferType::HttpResponseBody, 0, body_size, &new);
                }
                Action::Continue
            }
            v => {
                let (status, msg) = match v {
                    Verdict::Deny { status, rule_ids } => (status, tx.deny_body(status, &rule_ids)),
                    Verdict::Reply(r) => (r.status, String::from_utf8_lossy(&r.body).into_owned()),
                    Verdict::Allow => (200, String::new()),
                };
                // Headers may be on the wire already: replace the body we still hold.
                let _ = hostcalls::set_buffer(
                    BufferType::HttpResponseBody,
                    0,
                    body_size,
                    msg.as_bytes(),
                );
                host.log(
                    waap_engine::LogLevel::Warn,
                    &format!("waap: response body denied with status {status}"),
                );
                host.counter_add("waap.responses.denied", 1);
                Action::Continue
            }
        }
    }

    fn on_log(&mut self) {
        timing::request_done();
        let _t = Span::start(Part::Log);
        let host = ProxyHost;
        if let Some(tx) = self.tx.as_mut() {
            let audit = {
                let _t = Span::start(Part::EngineLog);
                tx.on_log(&host)
            };
            if tx.would_deny().is_some() {
                host.counter_add("waap.requests.monitored", 1);
            }
            // Decisions taken after the request phases (response rules) are exported here;
            // access logs that run after the filter's log callback still see them.
            if audit.is_some() && !self.audit_exported {
                self.export_audit();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::strip_port;

    #[test]
    fn strip_port_handles_v4_v6_and_bare() {
        assert_eq!(strip_port("1.2.3.4:80"), "1.2.3.4");
        assert_eq!(strip_port("[::1]:80"), "::1");
        assert_eq!(strip_port("::1"), "::1");
        assert_eq!(strip_port("10.0.0.1"), "10.0.0.1");
    }
}
