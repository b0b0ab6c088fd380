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
}

/// Per-VM state built from [`ApiConfig`] at load: the key verifiers.
pub struct ApiRuntime {
    /// JWT verifiers (empty without `jwt`).
    pub verifiers: jwt::Verifiers,
}

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
        if let (Some(jcfg), true) = (&api.jwt, !api.routes.is_empty() || api.jwt.is_some()) {
            let token = jwt::token_from(&self.head.headers, &jcfg.source).map(<[u8]>::to_vec);
            let now = (host.now_nanos() / 1_000_000_000) as i64;
            let result = match &token {
                Some(t) => engine
                    .api_runtime
                    .as_ref()
                    .map(|rt| rt.verifiers.verify(jcfg, t, now))
                    .unwrap_or(Err(jwt::JwtError::UnknownKey)),
                None => Err(jwt::JwtError::Missing),
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

    /// API step 4, after rate limits and bots: function-level and object-level
    /// authorization, then parameters.
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
