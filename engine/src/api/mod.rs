//! API protection (OWASP API Top 10): the OpenAPI positive model (routes, parameters,
//! bodies), JWT authentication, certificate-bound tokens (RFC 8705), function- and
//! object-level authorization, and response inspection.
//!
//! Rule ids (all in the API range): 330001 unknown path, 330002 method not allowed,
//! 330010 parameter invalid, 330011 body invalid, 330012 body over the API limits,
//! 330013 mass assignment (readOnly or undeclared property), 330014 content type not
//! declared, 330020-330028 token failures (see [`jwt::JwtError::rule_id`]), 330030
//! missing scope or role, 330031 object-level authorization (BOLA), 330040 client
//! certificate missing, 330041 token not bound to the certificate, 330050 undeclared
//! response property, 330051 sensitive data in the response.

pub mod jwt;
pub mod router;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::families::{reply_json, Action, Decision, Family, Reply};
use crate::program::Mode;
use crate::Host;

/// What to do with a request outside the declared routes (shadow and zombie APIs).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UnknownRoutes {
    /// Deny with 404 (unknown path) or 405 (known path, other method).
    #[default]
    Deny,
    /// Log and count "would deny", let it through.
    Monitor,
    /// Let it through silently.
    Allow,
}

/// Where a parameter is.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamIn {
    /// A templated path segment.
    Path,
    /// A query argument.
    Query,
    /// A request header.
    Header,
    /// A cookie.
    Cookie,
}

impl ParamIn {
    /// The OpenAPI name.
    pub fn name(self) -> &'static str {
        match self {
            ParamIn::Path => "path",
            ParamIn::Query => "query",
            ParamIn::Header => "header",
            ParamIn::Cookie => "cookie",
        }
    }
}

/// A declared parameter.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Param {
    /// Its name (lower case for headers).
    pub name: String,
    /// Where it is.
    pub location: ParamIn,
    /// Whether it must be present.
    pub required: bool,
    /// Its schema in the API's schema set.
    pub schema: Option<u32>,
}

/// Binds a request parameter to a token claim (object-level authorization).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    /// Parameter name.
    pub param: String,
    /// Where the parameter is.
    pub location: ParamIn,
    /// Claim whose values may contain the parameter's value.
    pub claim: String,
    /// Also allow the value when it equals the token's `sub`.
    pub or_sub: bool,
}

/// Client-certificate requirement of a route (RFC 8705).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mtls {
    /// None.
    #[default]
    None,
    /// A verified client certificate must be presented.
    Certificate,
    /// And the token's `cnf.x5t#S256` must be that certificate's SHA-256 thumbprint.
    BoundToken,
}

/// A request body declaration.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct BodySpec {
    /// The body must be present.
    pub required: bool,
    /// Media types declared (lower case, without parameters).
    pub media_types: Vec<String>,
    /// Schema for JSON media types.
    pub schema: Option<u32>,
}

/// One operation: a method on a path template.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Upper-case method.
    pub method: String,
    /// The path template as written in the spec.
    pub template: String,
    /// Index of the template in the router.
    pub path_id: u32,
    /// The template's segments (to extract path parameters).
    pub segments: Vec<router::Segment>,
    /// Declared parameters.
    pub params: Vec<Param>,
    /// Declared request body.
    pub body: Option<BodySpec>,
    /// Response schemas by status (0: `default`), for JSON responses.
    pub responses: Vec<(u16, u32)>,
    /// A valid token is required.
    pub auth: bool,
    /// Scopes all required (function-level authorization).
    pub scopes: Vec<String>,
    /// Roles of which one is required.
    pub roles: Vec<String>,
    /// Object-level bindings.
    pub bindings: Vec<Binding>,
    /// Client certificate requirement.
    pub mtls: Mtls,
}

/// Body limits for API requests.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiLimits {
    /// Largest request body, bytes.
    pub max_body: u32,
    /// Deepest JSON nesting.
    pub max_depth: u32,
    /// Most JSON values in one document.
    pub max_elements: u32,
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits {
            max_body: 1 << 20,
            max_depth: 32,
            max_elements: 10_000,
        }
    }
}

/// What to do with response properties the response schema does not declare (API3).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Undeclared {
    /// Leave them.
    #[default]
    Allow,
    /// Remove them from the JSON body.
    Remove,
    /// Replace the body with a JSON error.
    Block,
}

/// What to do with sensitive data found in a response.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SensitiveAction {
    /// Overwrite it with `*` (same length).
    #[default]
    Mask,
    /// Replace the body with a JSON error.
    Block,
}

/// Response inspection.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ResponsePolicy {
    /// Undeclared properties.
    pub undeclared: Undeclared,
    /// Sensitive-data detectors to run.
    pub detectors: Vec<crate::sensitive::Detector>,
    /// What to do with their findings.
    pub sensitive_action: SensitiveAction,
    /// Largest response body inspected; larger ones pass unchanged (counted).
    pub limit: u32,
}

impl Default for ResponsePolicy {
    fn default() -> Self {
        ResponsePolicy {
            undeclared: Undeclared::Allow,
            detectors: Vec::new(),
            sensitive_action: SensitiveAction::Mask,
            limit: 1 << 20,
        }
    }
}

/// The API family's configuration (FAMILIES section).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ApiConfig {
    /// Block or monitor.
    pub mode: Mode,
    /// Requests outside the spec.
    pub unknown_routes: UnknownRoutes,
    /// Operations.
    pub routes: Vec<Route>,
    /// Path templates.
    pub router: router::Router,
    /// Token validation, if configured.
    pub jwt: Option<jwt::JwtConfig>,
    /// Claims holding scopes (`scope`, `scp`).
    pub scope_claims: Vec<String>,
    /// Claim holding roles.
    pub roles_claim: String,
    /// Body limits.
    pub limits: ApiLimits,
    /// Parameter, body and response schemas.
    pub schemas: crate::schema::SchemaSet,
    /// Response inspection.
    pub responses: ResponsePolicy,
}

/// Per-VM state built from [`ApiConfig`] at load: the key verifiers.
pub struct ApiRuntime {
    /// JWT verifiers (empty without `jwt`).
    pub verifiers: jwt::Verifiers,
    /// Tokens verified in this VM.
    pub cache: jwt::TokenCache,
    /// Some operation requires a client certificate (the filter only then asks the proxy
    /// for the certificate's digest).
    pub needs_peer_certificate: bool,
}

/// Tokens remembered per VM by [`jwt::TokenCache`].
pub const TOKEN_CACHE_ENTRIES: usize = 1024;

impl ApiRuntime {
    /// Builds the runtime; an unusable key is an error.
    pub fn build(cfg: &ApiConfig) -> Result<ApiRuntime, String> {
        let keys = cfg
            .jwt
            .as_ref()
            .map(|j| j.keys.as_slice())
            .unwrap_or_default();
        Ok(ApiRuntime {
            verifiers: jwt::Verifiers::build(keys)?,
            cache: jwt::TokenCache::new(TOKEN_CACHE_ENTRIES),
            needs_peer_certificate: cfg.routes.iter().any(|r| r.mtls != Mtls::None),
        })
    }
}

/// What the API family learnt about a request.
#[derive(Clone, Debug, Default)]
pub struct ApiState {
    /// The matched operation.
    pub route: Option<u32>,
    /// Path parameters of the matched operation.
    pub path_params: Vec<(String, String)>,
    /// The response body will be inspected.
    pub inspect_response: bool,
    /// The response's schema, if declared for its status.
    pub response_schema: Option<u32>,
    /// A replacement response body (masked or pruned).
    pub rewrite: Option<Vec<u8>>,
}

/// The SHA-256 thumbprint of a certificate, base64url without padding (`x5t#S256`), from
/// the hex digest Envoy reports.
pub fn x5t_s256_from_hex(hex: &str) -> Option<String> {
    let hex = hex.trim();
    if hex.len() != 64 {
        return None;
    }
    let mut bytes = Vec::with_capacity(32);
    for pair in hex.as_bytes().chunks(2) {
        let s = std::str::from_utf8(pair).ok()?;
        bytes.push(u8::from_str_radix(s, 16).ok()?);
    }
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The lower-case media type of a `Content-Type` header, without parameters ("" if none).
fn media_type(headers: &[(String, Vec<u8>)]) -> String {
    let ct = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| String::from_utf8_lossy(v).to_ascii_lowercase())
        .unwrap_or_default();
    ct.split(';').next().unwrap_or_default().trim().to_string()
}

/// `application/json` or a `+json` type.
fn is_json(mime: &str) -> bool {
    mime == "application/json" || mime.ends_with("+json")
}

fn deny(status: u16, rule_id: u32, reason: &str) -> (Decision, u16, u32, String) {
    (
        Decision {
            family: Family::Api,
            rule_id,
            action: Action::Deny,
            status,
            reason: reason.to_string(),
            monitored: false,
        },
        status,
        rule_id,
        reason.to_string(),
    )
}

impl<E: core::ops::Deref<Target = crate::Engine> + Clone> crate::Transaction<E> {
    fn api_deny(
        &mut self,
        host: &dyn Host,
        status: u16,
        rule_id: u32,
        reason: &str,
        extra_headers: Vec<(String, String)>,
    ) -> Option<crate::Verdict> {
        let monitored = self
            .engine
            .families
            .api
            .as_ref()
            .is_none_or(|a| a.mode == Mode::Monitor);
        let (mut d, status, rule_id, reason) = deny(status, rule_id, reason);
        d.monitored = monitored;
        let mut reply: Reply = reply_json(
            status,
            Family::Api,
            rule_id,
            &self.head.request_id,
            Some(&reason),
        );
        reply.headers.extend(extra_headers);
        self.decide(host, d, reply)
    }

    /// API step 1, before rate limits: route lookup, token validation (claims for every
    /// later family), client certificate binding.
    pub(crate) fn api_authenticate(&mut self, host: &dyn Host) -> Option<crate::Verdict> {
        let engine = self.engine.clone();
        let api = engine.families.api.as_ref()?;
        // Route.
        let segments = router::split_path(&self.head.uri);
        let paths = segments.as_ref().and_then(|s| api.router.find(s));
        let route = paths.and_then(|ids| {
            api.routes
                .iter()
                .position(|r| ids.contains(&r.path_id) && r.method == self.head.method)
        });
        match (paths, route) {
            (Some(_), Some(i)) => {
                let r = api.routes.get(i)?;
                let mut params = Vec::new();
                if let Some(segs) = &segments {
                    for (t, v) in r.segments.iter().zip(segs) {
                        if let router::Segment::Param(name) = t {
                            params.push((name.clone(), v.clone()));
                        }
                    }
                }
                self.ctx.api = ApiState {
                    route: Some(i as u32),
                    path_params: params,
                    ..ApiState::default()
                };
            }
            (found, _) => {
                let (status, id, reason) = if found.is_some() {
                    (405, 330_002, "method not declared for this path")
                } else {
                    (404, 330_001, "path not declared in the API")
                };
                match api.unknown_routes {
                    UnknownRoutes::Allow => {}
                    UnknownRoutes::Monitor => {
                        let (mut d, status, id, reason) = deny(status, id, reason);
                        d.monitored = true;
                        let r = reply_json(
                            status,
                            Family::Api,
                            id,
                            &self.head.request_id,
                            Some(&reason),
                        );
                        let _ = self.decide(host, d, r);
                    }
                    UnknownRoutes::Deny => {
                        if let Some(v) = self.api_deny(host, status, id, reason, Vec::new()) {
                            return Some(v);
                        }
                    }
                }
            }
        }
        let route = self.ctx.api.route.and_then(|i| api.routes.get(i as usize));
        // Token.
        if let Some(jcfg) = &api.jwt {
            let token = jwt::token_from(&self.head.headers, &jcfg.source).map(<[u8]>::to_vec);
            let now = (host.now_nanos() / 1_000_000_000) as i64;
            let result = match (&token, engine.api_runtime.as_ref()) {
                (Some(t), Some(rt)) => match rt.cache.get(t, now) {
                    Some(claims) => Ok(claims),
                    None => {
                        let r = rt.verifiers.verify(jcfg, t, now);
                        if let Ok(claims) = &r {
                            let (nbf, exp) = jwt::validity(claims, i64::from(jcfg.clock_skew_secs));
                            rt.cache.put(t, nbf, exp, claims);
                        }
                        r
                    }
                },
                (Some(_), None) => Err(jwt::JwtError::UnknownKey),
                (None, _) => Err(jwt::JwtError::Missing),
            };
            match result {
                Ok(claims) => self.ctx.claims = Some(claims),
                Err(e) => {
                    // A present but invalid token is refused everywhere; a missing one only
                    // where the route requires authentication.
                    let required = route.is_some_and(|r| r.auth);
                    if e != jwt::JwtError::Missing || required {
                        let www = format!(
                            "Bearer error=\"invalid_token\", error_description=\"{}\"",
                            e.reason()
                        );
                        if let Some(v) = self.api_deny(
                            host,
                            401,
                            e.rule_id(),
                            e.reason(),
                            vec![("www-authenticate".into(), www)],
                        ) {
                            return Some(v);
                        }
                    }
                }
            }
        }
        // Client certificate.
        if let Some(r) = route {
            if r.mtls != Mtls::None {
                let thumb = self
                    .head
                    .peer_cert_sha256
                    .as_deref()
                    .and_then(x5t_s256_from_hex);
                let Some(thumb) = thumb else {
                    return self.api_deny(
                        host,
                        401,
                        330_040,
                        "client certificate required",
                        Vec::new(),
                    );
                };
                if r.mtls == Mtls::BoundToken {
                    let bound = self
                        .ctx
                        .claims
                        .as_ref()
                        .and_then(|c| jwt::claim(c, "cnf.x5t#S256"))
                        .is_some_and(|v| v.iter().any(|x| x == &thumb));
                    if !bound {
                        let www = "Bearer error=\"invalid_token\", error_description=\"token not bound to the client certificate\"".to_string();
                        return self.api_deny(
                            host,
                            401,
                            330_041,
                            "token not bound to the client certificate",
                            vec![("www-authenticate".into(), www)],
                        );
                    }
                }
            }
        }
        None
    }

    /// API step 4, after rate limits and bots: function-level authorization (scopes,
    /// roles), parameters against their schemas, then object-level authorization.
    pub(crate) fn api_authorize(&mut self, host: &dyn Host) -> Option<crate::Verdict> {
        let engine = self.engine.clone();
        let api = engine.families.api.as_ref()?;
        let route = api.routes.get(self.ctx.api.route? as usize)?;
        let claims = self.ctx.claims.clone().unwrap_or_default();
        // Function level (API5).
        if !route.scopes.is_empty() || !route.roles.is_empty() {
            let scopes: Vec<&String> = api
                .scope_claims
                .iter()
                .filter_map(|c| jwt::claim(&claims, c))
                .flatten()
                .collect();
            let missing = route.scopes.iter().find(|s| !scopes.contains(s));
            let roles = jwt::claim(&claims, &api.roles_claim).unwrap_or_default();
            let role_ok = route.roles.is_empty() || route.roles.iter().any(|r| roles.contains(r));
            if let Some(s) = missing {
                let reason = format!("scope {s} required");
                return self.api_deny(host, 403, 330_030, &reason, Vec::new());
            }
            if !role_ok {
                return self.api_deny(host, 403, 330_030, "role required", Vec::new());
            }
        }
        // Parameters.
        for p in &route.params {
            let value = if p.location == ParamIn::Query {
                // Repeated query parameters are one comma-separated list.
                let all: Vec<String> = self
                    .hd
                    .args_get
                    .iter()
                    .filter(|(n, _)| n.as_slice() == p.name.as_bytes())
                    .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
                    .collect();
                (!all.is_empty()).then(|| all.join(","))
            } else {
                self.api_param(p.location, &p.name)
            };
            let Some(value) = value else {
                if p.required {
                    let reason = format!("{} parameter {} is required", p.location.name(), p.name);
                    return self.api_deny(host, 400, 330_010, &reason, Vec::new());
                }
                continue;
            };
            if let Some(id) = p.schema {
                let patterns = |i: u32, s: &str| engine.regex_is_match(i, s.as_bytes());
                if let Err(v) = api.schemas.validate_text(id, &value, &patterns) {
                    let reason = format!(
                        "{} parameter {}: {} at '/{}/{}{}': {}",
                        p.location.name(),
                        p.name,
                        v.keyword,
                        p.location.name(),
                        p.name,
                        v.pointer,
                        v.message
                    );
                    return self.api_deny(host, 400, 330_010, &reason, Vec::new());
                }
            }
        }
        // Object level (API1).
        for b in &route.bindings {
            let Some(value) = self.api_param(b.location, &b.param) else {
                continue;
            };
            let in_claim = jwt::claim(&claims, &b.claim).is_some_and(|v| v.contains(&value));
            let is_sub = b.or_sub && jwt::claim(&claims, "sub").is_some_and(|v| v.contains(&value));
            if !in_claim && !is_sub {
                let reason = format!(
                    "{} {} not granted to this principal",
                    b.location.name(),
                    b.param
                );
                return self.api_deny(host, 403, 330_031, &reason, Vec::new());
            }
        }
        None
    }

    /// The request body stage: media type, size and depth limits, schema (including
    /// mass assignment: `readOnly` and undeclared properties).
    pub(crate) fn api_validate_body(&mut self, host: &dyn Host) -> Option<crate::Verdict> {
        let engine = self.engine.clone();
        let api = engine.families.api.as_ref()?;
        let route = api.routes.get(self.ctx.api.route? as usize)?;
        let spec = route.body.as_ref()?;
        let (raw_len, truncated) = self
            .body
            .as_ref()
            .map(|b| (b.raw.len(), b.truncated))
            .unwrap_or((0, false));
        if raw_len == 0 {
            if spec.required {
                return self.api_deny(host, 400, 330_011, "request body is required", Vec::new());
            }
            return None;
        }
        if truncated || raw_len > api.limits.max_body as usize {
            let reason = format!("request body over {} bytes", api.limits.max_body);
            return self.api_deny(host, 413, 330_012, &reason, Vec::new());
        }
        let mime = media_type(&self.head.headers);
        if !spec.media_types.contains(&mime) {
            let reason = format!("content type {mime} not declared for this operation");
            return self.api_deny(host, 415, 330_014, &reason, Vec::new());
        }
        let (Some(id), true) = (spec.schema, is_json(&mime)) else {
            return None;
        };
        let limits = crate::schema::JsonLimits {
            max_depth: api.limits.max_depth,
            max_elements: api.limits.max_elements,
        };
        let parsed = self
            .body
            .as_ref()
            .map(|b| crate::schema::parse_json(&b.raw, limits));
        let doc = match parsed {
            Some(Ok(d)) => d,
            Some(Err(e)) => {
                let (status, id) = match e {
                    crate::schema::JsonError::Syntax { .. } => (400, 330_011),
                    _ => (413, 330_012),
                };
                return self.api_deny(host, status, id, &format!("request body: {e}"), Vec::new());
            }
            None => return None,
        };
        let patterns = |i: u32, s: &str| engine.regex_is_match(i, s.as_bytes());
        if let Err(v) = api
            .schemas
            .validate(id, &doc, crate::schema::Direction::Request, &patterns)
        {
            let mass = v.keyword == "readOnly"
                || v.keyword == "additionalProperties"
                || v.keyword == "unevaluatedProperties";
            let reason = format!("request body: {v}");
            let id = if mass { 330_013 } else { 330_011 };
            return self.api_deny(host, 400, id, &reason, Vec::new());
        }
        None
    }

    /// Response headers: decides whether the body is inspected (a JSON schema declared
    /// for the status, or sensitive-data detectors on a JSON or text response).
    pub(crate) fn api_response_headers(&mut self) {
        let engine = self.engine.clone();
        let Some(api) = engine.families.api.as_ref() else {
            return;
        };
        let mime = media_type(&self.resp.headers);
        let json = is_json(&mime);
        let status = self.resp.status;
        let schema = self
            .ctx
            .api
            .route
            .and_then(|i| api.routes.get(i as usize))
            .and_then(|r| {
                r.responses
                    .iter()
                    .find(|(s, _)| *s == status)
                    .or_else(|| r.responses.iter().find(|(s, _)| *s == 0))
                    .map(|(_, id)| *id)
            })
            .filter(|_| json && api.responses.undeclared != Undeclared::Allow);
        self.ctx.api.response_schema = schema;
        self.ctx.api.inspect_response = schema.is_some()
            || (!api.responses.detectors.is_empty() && (json || mime.starts_with("text/")));
    }

    /// Whether the filter must drop `Content-Length` because the body may change length.
    pub fn may_rewrite_response(&self) -> bool {
        let api = self.engine.families.api.as_ref();
        self.ctx.api.response_schema.is_some()
            && api.is_some_and(|a| {
                a.responses.undeclared == Undeclared::Remove && a.mode == Mode::Block
            })
    }

    /// The replacement response body, once: set when properties were removed or data masked.
    pub fn take_response_rewrite(&mut self) -> Option<Vec<u8>> {
        self.ctx.api.rewrite.take()
    }

    /// Response body: removes or blocks undeclared properties, masks or blocks sensitive
    /// data. `truncated`: the body was larger than the inspection limit (passed unchanged).
    pub(crate) fn api_response_body(
        &mut self,
        truncated: bool,
        host: &dyn Host,
    ) -> Option<crate::Verdict> {
        if !self.ctx.api.inspect_response {
            return None;
        }
        let engine = self.engine.clone();
        let api = engine.families.api.as_ref()?;
        if truncated || self.resp.body.len() > api.responses.limit as usize {
            host.counter_add("waap.api.response_over_limit", 1);
            return None;
        }
        let enforce = api.mode == Mode::Block;
        let mut body = self.resp.body.clone();
        let mut changed = false;
        if let Some(id) = self.ctx.api.response_schema {
            let limits = crate::schema::JsonLimits {
                max_depth: api.limits.max_depth,
                max_elements: api.limits.max_elements.saturating_mul(10),
            };
            if let Ok(mut doc) = crate::schema::parse_json(&body, limits) {
                let patterns = |i: u32, s: &str| engine.regex_is_match(i, s.as_bytes());
                let removed = api.schemas.prune(id, &mut doc, &patterns);
                if !removed.is_empty() {
                    let first = removed.first().cloned().unwrap_or_default();
                    match api.responses.undeclared {
                        Undeclared::Block => {
                            let reason = format!("response property {first} not declared");
                            if let Some(v) = self.api_deny(host, 502, 330_050, &reason, Vec::new())
                            {
                                return Some(v);
                            }
                        }
                        Undeclared::Remove if enforce => {
                            if let Ok(b) = serde_json::to_vec(&doc) {
                                body = b;
                                changed = true;
                            }
                            host.counter_add(
                                "waap.api.response_properties_removed",
                                removed.len() as u64,
                            );
                        }
                        _ => host.counter_add(
                            "waap.api.response_properties_undeclared",
                            removed.len() as u64,
                        ),
                    }
                }
            }
        }
        if !api.responses.detectors.is_empty() {
            let found = crate::sensitive::scan(&body, &api.responses.detectors);
            if !found.is_empty() {
                let mut kinds: Vec<&str> = found.iter().map(|f| f.detector.name()).collect();
                kinds.sort_unstable();
                kinds.dedup();
                match api.responses.sensitive_action {
                    SensitiveAction::Block => {
                        let reason =
                            format!("sensitive data in the response: {}", kinds.join(", "));
                        if let Some(v) = self.api_deny(host, 502, 330_051, &reason, Vec::new()) {
                            return Some(v);
                        }
                    }
                    SensitiveAction::Mask if enforce => {
                        crate::sensitive::mask_json(&mut body, &found);
                        changed = true;
                        host.counter_add("waap.api.sensitive_masked", found.len() as u64);
                    }
                    SensitiveAction::Mask => {
                        host.counter_add("waap.api.sensitive_found", found.len() as u64)
                    }
                }
                host.log(
                    crate::LogLevel::Info,
                    &format!(
                        "{{\"waap\":\"sensitive\",\"request_id\":\"{}\",\"family\":\"api\",\"id\":330051,\"action\":\"{}\",\"kinds\":\"{}\",\"count\":{}}}",
                        crate::log::json_escape(&self.head.request_id),
                        if enforce { "mask" } else { "would_mask" },
                        kinds.join(","),
                        found.len()
                    ),
                );
            }
        }
        if changed {
            self.ctx.api.rewrite = Some(body);
        }
        None
    }

    /// The value of a request parameter (first occurrence), decoded.
    pub(crate) fn api_param(&self, at: ParamIn, name: &str) -> Option<String> {
        match at {
            ParamIn::Path => self
                .ctx
                .api
                .path_params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone()),
            ParamIn::Query => self
                .hd
                .args_get
                .iter()
                .find(|(n, _)| n.as_slice() == name.as_bytes())
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned()),
            ParamIn::Header => self
                .head
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned()),
            ParamIn::Cookie => self
                .hd
                .cookies
                .iter()
                .find(|(n, _)| n.as_slice() == name.as_bytes())
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_from_envoy_hex() {
        // SHA-256 of the empty string.
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            x5t_s256_from_hex(hex).as_deref(),
            Some("47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU")
        );
        assert_eq!(x5t_s256_from_hex("zz"), None);
    }
}
