//! The `api:` block of a policy and the OpenAPI 3.0/3.1 frontend: routes, parameters,
//! bodies, security requirements, JWKS. Lowered into [`waap_engine::api::ApiConfig`].

use std::path::Path;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;
use waap_engine::api::jwt::{Alg, Jwk, JwtConfig, KeyMaterial, TokenSource};
use waap_engine::api::router::{parse_template, Router, Segment};
use waap_engine::api::{
    ApiConfig, ApiLimits, Binding, BodySpec, Mtls, Param, ParamIn, Route, UnknownRoutes,
};
use waap_engine::program::Mode;

use crate::yaml::ModeYaml;

/// `api:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiYaml {
    /// `block` or `monitor` (required: a family states its mode).
    pub mode: ModeYaml,
    /// The OpenAPI 3.0/3.1 document (YAML or JSON), relative to the policy file.
    pub openapi: String,
    /// `deny` (default), `monitor` or `allow` for requests outside the spec.
    #[serde(default)]
    pub unknown_routes: Option<UnknownYaml>,
    /// Token validation.
    #[serde(default)]
    pub jwt: Option<JwtYaml>,
    /// Body limits.
    #[serde(default)]
    pub limits: Option<LimitsYaml>,
    /// Per-operation additions: scopes, roles, object bindings, client certificates.
    #[serde(default)]
    pub routes: Vec<RouteYaml>,
    /// Mass assignment: reject properties a request-body schema does not declare even
    /// where it does not say `additionalProperties: false`.
    #[serde(default)]
    pub reject_unknown_properties: bool,
    /// Response inspection.
    #[serde(default)]
    pub responses: Option<ResponsesYaml>,
}

/// `api.responses`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponsesYaml {
    /// `allow` (default), `remove` or `block` properties the response schema lacks.
    #[serde(default)]
    pub undeclared_properties: Option<String>,
    /// Detectors: `card`, `kr_rrn`, `email`, `phone`, `api_key`.
    #[serde(default)]
    pub sensitive_data: Vec<String>,
    /// `mask` (default) or `block`.
    #[serde(default)]
    pub sensitive_action: Option<String>,
    /// Largest response body inspected, bytes (default 1 MiB).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// `api.unknown_routes`.
#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum UnknownYaml {
    /// 404/405.
    Deny,
    /// Log "would deny".
    Monitor,
    /// Let through.
    Allow,
}

/// `api.jwt`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtYaml {
    /// JWKS file (relative to the policy) with public keys (and HS256 secrets).
    pub jwks: String,
    /// Accepted issuers.
    #[serde(default)]
    pub issuers: Vec<String>,
    /// Accepted audiences.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Clock skew in seconds (default 30).
    #[serde(default)]
    pub clock_skew: Option<u32>,
    /// `header: NAME` (a `Bearer` value; default `authorization`) or `cookie: NAME`.
    #[serde(default)]
    pub token: Option<TokenYaml>,
    /// Claims holding scopes (default `[scope, scp]`).
    #[serde(default)]
    pub scope_claims: Option<Vec<String>>,
    /// Claim holding roles (default `roles`).
    #[serde(default)]
    pub roles_claim: Option<String>,
}

/// `api.jwt.token`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenYaml {
    /// Header carrying `Bearer <token>`.
    #[serde(default)]
    pub header: Option<String>,
    /// Cookie carrying the token.
    #[serde(default)]
    pub cookie: Option<String>,
}

/// `api.limits`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsYaml {
    /// Largest request body, bytes.
    #[serde(default)]
    pub max_body: Option<u32>,
    /// Deepest JSON nesting.
    #[serde(default)]
    pub max_depth: Option<u32>,
    /// Most JSON values per document.
    #[serde(default)]
    pub max_elements: Option<u32>,
}

/// `api.routes[]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteYaml {
    /// Path template as in the spec.
    pub path: String,
    /// Methods (default: all operations of the path).
    #[serde(default)]
    pub methods: Vec<String>,
    /// Scopes required in addition to the spec's.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// One of these roles is required.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Object-level bindings.
    #[serde(default)]
    pub bind: Vec<BindYaml>,
    /// `certificate` or `bound_token`.
    #[serde(default)]
    pub mtls: Option<MtlsYaml>,
    /// Require a valid token even if the spec does not.
    #[serde(default)]
    pub auth: Option<bool>,
}

/// `api.routes[].bind[]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindYaml {
    /// Parameter name.
    pub param: String,
    /// `path` (default), `query`, `header` or `cookie`.
    #[serde(default, rename = "in")]
    pub location: Option<String>,
    /// The claim listing allowed values.
    pub claim: String,
    /// Also allow the token's own `sub`.
    #[serde(default)]
    pub or_sub: bool,
}

/// `api.routes[].mtls`.
#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum MtlsYaml {
    /// A verified client certificate.
    Certificate,
    /// And a token bound to it (`cnf.x5t#S256`).
    BoundToken,
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn param_in(s: &str) -> Option<ParamIn> {
    match s {
        "path" => Some(ParamIn::Path),
        "query" => Some(ParamIn::Query),
        "header" => Some(ParamIn::Header),
        "cookie" => Some(ParamIn::Cookie),
        _ => None,
    }
}

/// Reads a YAML or JSON document into a JSON value.
pub fn read_doc(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_yaml::from_str::<Value>(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Follows a local `$ref` (`#/components/...`).
pub fn resolve<'a>(doc: &'a Value, v: &'a Value) -> Result<&'a Value, String> {
    let mut v = v;
    for _ in 0..16 {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let ptr = r.strip_prefix('#').ok_or_else(|| {
                    format!("$ref {r}: only local references (#/...) are supported")
                })?;
                v = doc
                    .pointer(ptr)
                    .ok_or_else(|| format!("$ref {r} does not resolve"))?;
            }
            None => return Ok(v),
        }
    }
    Err("$ref chain longer than 16".into())
}

/// What the OpenAPI frontend gives back besides the config: schemas to compile.
pub struct Lowered {
    /// The API config (schema ids filled by the caller through `schema_of`).
    pub config: ApiConfig,
}

/// Compiles one schema (whole document, schema value, JSON pointer, "is a request body")
/// to its id in the API's schema set.
pub type SchemaOf<'a> = dyn FnMut(&Value, &Value, &str, bool) -> Result<Option<u32>, String> + 'a;

/// Lowers `api:`; `base` is the policy's directory.
pub fn lower(y: &ApiYaml, base: &Path, schema_of: &mut SchemaOf) -> Result<Lowered, String> {
    let spec_path = base.join(&y.openapi);
    let doc = read_doc(&spec_path)?;
    let version = doc.get("openapi").and_then(Value::as_str).unwrap_or("");
    if !(version.starts_with("3.0") || version.starts_with("3.1")) {
        return Err(format!(
            "{}: `openapi: {version}` is not 3.0 or 3.1",
            spec_path.display()
        ));
    }
    let global_security = doc.get("security").cloned();
    let mut cfg = ApiConfig {
        mode: match y.mode {
            ModeYaml::Block => Mode::Block,
            ModeYaml::Monitor => Mode::Monitor,
        },
        unknown_routes: match y.unknown_routes {
            Some(UnknownYaml::Monitor) => UnknownRoutes::Monitor,
            Some(UnknownYaml::Allow) => UnknownRoutes::Allow,
            _ => UnknownRoutes::Deny,
        },
        router: Router::default(),
        scope_claims: vec!["scope".into(), "scp".into()],
        roles_claim: "roles".into(),
        ..ApiConfig::default()
    };
    if let Some(l) = &y.limits {
        let d = ApiLimits::default();
        cfg.limits = ApiLimits {
            max_body: l.max_body.unwrap_or(d.max_body),
            max_depth: l.max_depth.unwrap_or(d.max_depth),
            max_elements: l.max_elements.unwrap_or(d.max_elements),
        };
    }
    let paths = doc
        .get("paths")
        .and_then(Value::as_object)
        .ok_or_else(|| format!("{}: no `paths`", spec_path.display()))?;
    let mut templates: Vec<Vec<Segment>> = Vec::new();
    for (template, item) in paths {
        if !template.starts_with('/') {
            return Err(format!("paths: `{template}` does not start with /"));
        }
        let item = resolve(&doc, item)?;
        let segments = parse_template(template);
        // `/a/{x}` and `/a/{y}` are the same path for matching.
        let shape: Vec<Segment> = segments
            .iter()
            .map(|s| match s {
                Segment::Param(_) => Segment::Param(String::new()),
                l => l.clone(),
            })
            .collect();
        let path_id = match templates.iter().position(|t| *t == shape) {
            Some(i) => i as u32,
            None => {
                templates.push(shape);
                (templates.len() - 1) as u32
            }
        };
        cfg.router.insert(&segments, path_id);
        let shared_params = item.get("parameters").cloned().unwrap_or(Value::Null);
        for m in METHODS {
            let Some(op) = item.get(m) else { continue };
            let ptr = format!(
                "/paths/{}/{m}",
                template.replace('~', "~0").replace('/', "~1")
            );
            let mut params: Vec<Param> = Vec::new();
            for list in [&shared_params, op.get("parameters").unwrap_or(&Value::Null)] {
                for (i, p) in list.as_array().into_iter().flatten().enumerate() {
                    let p = resolve(&doc, p)?;
                    let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
                    let loc = p
                        .get("in")
                        .and_then(Value::as_str)
                        .and_then(param_in)
                        .ok_or_else(|| {
                            format!(
                                "{ptr}/parameters/{i}: `in` must be path, query, header or cookie"
                            )
                        })?;
                    let name = if loc == ParamIn::Header {
                        name.to_ascii_lowercase()
                    } else {
                        name.to_string()
                    };
                    let schema = match p.get("schema") {
                        Some(s) => {
                            schema_of(&doc, s, &format!("{ptr}/parameters/{i}/schema"), false)?
                        }
                        None => None,
                    };
                    let required = loc == ParamIn::Path
                        || p.get("required").and_then(Value::as_bool).unwrap_or(false);
                    // Operation-level parameters override path-level ones.
                    params.retain(|q| !(q.name == name && q.location == loc));
                    params.push(Param {
                        name,
                        location: loc,
                        required,
                        schema,
                    });
                }
            }
            let body = match op.get("requestBody") {
                Some(rb) => {
                    let rb = resolve(&doc, rb)?;
                    let content = rb.get("content").and_then(Value::as_object);
                    let mut media_types = Vec::new();
                    let mut schema = None;
                    for (mt, media) in content.into_iter().flatten() {
                        let mt = mt.to_ascii_lowercase();
                        if (mt == "application/json" || mt.ends_with("+json")) && schema.is_none() {
                            if let Some(s) = media.get("schema") {
                                let p = format!(
                                    "{ptr}/requestBody/content/{}/schema",
                                    mt.replace('/', "~1")
                                );
                                schema = schema_of(&doc, s, &p, true)?;
                            }
                        }
                        media_types.push(mt);
                    }
                    Some(BodySpec {
                        required: rb.get("required").and_then(Value::as_bool).unwrap_or(false),
                        media_types,
                        schema,
                    })
                }
                None => None,
            };
            let mut responses = Vec::new();
            for (code, resp) in op
                .get("responses")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let resp = resolve(&doc, resp)?;
                let status = if code == "default" {
                    0
                } else {
                    match code.parse::<u16>() {
                        Ok(c) => c,
                        Err(_) => continue, // 2XX-style ranges: not inspected
                    }
                };
                if let Some(s) = resp.pointer("/content/application~1json/schema") {
                    let p = format!("{ptr}/responses/{code}/content/application~1json/schema");
                    if let Some(id) = schema_of(&doc, s, &p, false)? {
                        responses.push((status, id));
                    }
                }
            }
            // Security: the operation's requirement, else the document's. A requirement
            // list containing `{}` makes the token optional.
            let security = op.get("security").or(global_security.as_ref());
            let (auth, scopes) = match security.and_then(Value::as_array) {
                Some(reqs) if !reqs.is_empty() => {
                    let optional = reqs
                        .iter()
                        .any(|r| r.as_object().is_some_and(|o| o.is_empty()));
                    let mut scopes: Vec<String> = Vec::new();
                    if let Some(first) = reqs
                        .iter()
                        .find_map(Value::as_object)
                        .filter(|o| !o.is_empty())
                    {
                        for v in first.values() {
                            for s in v.as_array().into_iter().flatten().filter_map(Value::as_str) {
                                scopes.push(s.to_string());
                            }
                        }
                    }
                    (!optional, scopes)
                }
                _ => (false, Vec::new()),
            };
            cfg.routes.push(Route {
                method: m.to_ascii_uppercase(),
                template: template.clone(),
                path_id,
                segments: segments.clone(),
                params,
                body,
                responses,
                auth,
                scopes,
                roles: Vec::new(),
                bindings: Vec::new(),
                mtls: Mtls::None,
            });
        }
    }
    // Policy additions per operation.
    for (i, r) in y.routes.iter().enumerate() {
        let methods: Vec<String> = r.methods.iter().map(|m| m.to_ascii_uppercase()).collect();
        let mut hit = false;
        for route in cfg
            .routes
            .iter_mut()
            .filter(|x| x.template == r.path && (methods.is_empty() || methods.contains(&x.method)))
        {
            hit = true;
            route.scopes.extend(r.scopes.iter().cloned());
            route.roles.extend(r.roles.iter().cloned());
            if let Some(a) = r.auth {
                route.auth = a;
            }
            route.mtls = match r.mtls {
                Some(MtlsYaml::Certificate) => Mtls::Certificate,
                Some(MtlsYaml::BoundToken) => Mtls::BoundToken,
                None => route.mtls,
            };
            for b in &r.bind {
                let location = match b.location.as_deref() {
                    None => ParamIn::Path,
                    Some(s) => param_in(s).ok_or_else(|| {
                        format!("api.routes[{i}] ({}): bind `in: {s}` must be path, query, header or cookie", r.path)
                    })?,
                };
                if location == ParamIn::Path
                    && !route.segments.contains(&Segment::Param(b.param.clone()))
                {
                    return Err(format!(
                        "api.routes[{i}] ({}): bind param `{}` is not a path parameter of the template",
                        r.path, b.param
                    ));
                }
                route.bindings.push(Binding {
                    param: b.param.clone(),
                    location,
                    claim: b.claim.clone(),
                    or_sub: b.or_sub,
                });
            }
            if route.mtls == Mtls::BoundToken
                || !route.scopes.is_empty()
                || !route.roles.is_empty()
                || !route.bindings.is_empty()
            {
                route.auth = route.auth || y.jwt.is_some();
            }
        }
        if !hit {
            return Err(format!(
                "api.routes[{i}]: no operation `{} {}` in {}",
                if methods.is_empty() {
                    "*".to_string()
                } else {
                    methods.join(",")
                },
                r.path,
                spec_path.display()
            ));
        }
    }
    if let Some(r) = &y.responses {
        use waap_engine::api::{ResponsePolicy, SensitiveAction, Undeclared};
        use waap_engine::sensitive::Detector;
        let mut detectors = Vec::new();
        for d in &r.sensitive_data {
            let det = Detector::ALL
                .iter()
                .find(|x| x.name() == d)
                .ok_or_else(|| {
                    format!("api.responses.sensitive_data: unknown detector `{d}` (card, kr_rrn, email, phone, api_key)")
                })?;
            detectors.push(*det);
        }
        cfg.responses = ResponsePolicy {
            undeclared: match r.undeclared_properties.as_deref() {
                None | Some("allow") => Undeclared::Allow,
                Some("remove") => Undeclared::Remove,
                Some("block") => Undeclared::Block,
                Some(o) => {
                    return Err(format!(
                        "api.responses.undeclared_properties: `{o}` is not allow, remove or block"
                    ))
                }
            },
            detectors,
            sensitive_action: match r.sensitive_action.as_deref() {
                None | Some("mask") => SensitiveAction::Mask,
                Some("block") => SensitiveAction::Block,
                Some(o) => {
                    return Err(format!(
                        "api.responses.sensitive_action: `{o}` is not mask or block"
                    ))
                }
            },
            limit: r.limit.unwrap_or(1 << 20),
        };
    }
    if let Some(j) = &y.jwt {
        cfg.jwt = Some(lower_jwt(j, base)?);
        if let Some(s) = &j.scope_claims {
            cfg.scope_claims = s.clone();
        }
        if let Some(r) = &j.roles_claim {
            cfg.roles_claim = r.clone();
        }
    } else if cfg.routes.iter().any(|r| r.auth) {
        return Err("the OpenAPI document requires security on some operations but `api.jwt` is not configured".into());
    }
    Ok(Lowered { config: cfg })
}

fn lower_jwt(j: &JwtYaml, base: &Path) -> Result<JwtConfig, String> {
    let path = base.join(&j.jwks);
    let doc = read_doc(&path)?;
    let keys = parse_jwks(&doc).map_err(|e| format!("{}: {e}", path.display()))?;
    let source = match &j.token {
        Some(TokenYaml {
            cookie: Some(c),
            header: None,
        }) => TokenSource::Cookie { name: c.clone() },
        Some(TokenYaml {
            header: Some(h),
            cookie: None,
        }) => TokenSource::Header {
            name: h.to_ascii_lowercase(),
            bearer: true,
        },
        Some(_) => return Err("api.jwt.token: give exactly one of `header` or `cookie`".into()),
        None => TokenSource::default(),
    };
    // Refuse keys that cannot be used, now rather than in every Envoy.
    waap_engine::api::jwt::Verifiers::build(&keys)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(JwtConfig {
        keys,
        issuers: j.issuers.clone(),
        audiences: j.audiences.clone(),
        clock_skew_secs: j.clock_skew.unwrap_or(30),
        source,
    })
}

fn b64u(v: &Value, field: &str, i: usize) -> Result<Vec<u8>, String> {
    let s = v
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("keys[{i}]: missing `{field}`"))?;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| format!("keys[{i}]: `{field}` is not base64url"))
}

/// Reads a JWKS (`{"keys": [...]}`) into keys; the algorithm comes from `alg` or, when
/// absent, from the key type. Private members (`d`) are ignored.
pub fn parse_jwks(doc: &Value) -> Result<Vec<Jwk>, String> {
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("not a JWKS: no `keys` array")?;
    let mut out = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let kty = k.get("kty").and_then(Value::as_str).unwrap_or_default();
        let alg = k.get("alg").and_then(Value::as_str);
        let (material, default_alg) = match kty {
            "RSA" => (
                KeyMaterial::Rsa {
                    n: b64u(k, "n", i)?,
                    e: b64u(k, "e", i)?,
                },
                Alg::Rs256,
            ),
            "EC" => {
                if k.get("crv").and_then(Value::as_str) != Some("P-256") {
                    return Err(format!("keys[{i}]: only EC keys on P-256 are supported"));
                }
                (
                    KeyMaterial::Ec {
                        x: b64u(k, "x", i)?,
                        y: b64u(k, "y", i)?,
                    },
                    Alg::Es256,
                )
            }
            "OKP" => {
                if k.get("crv").and_then(Value::as_str) != Some("Ed25519") {
                    return Err(format!("keys[{i}]: only OKP keys on Ed25519 are supported"));
                }
                (
                    KeyMaterial::Ed {
                        x: b64u(k, "x", i)?,
                    },
                    Alg::EdDsa,
                )
            }
            "oct" => (
                KeyMaterial::Oct {
                    k: b64u(k, "k", i)?,
                },
                Alg::Hs256,
            ),
            other => return Err(format!("keys[{i}]: key type `{other}` is not supported")),
        };
        let alg = match alg {
            None => default_alg,
            Some(a) => Alg::from_name(a).ok_or_else(|| {
                format!("keys[{i}]: algorithm `{a}` is not accepted (RS256, ES256, EdDSA, HS256)")
            })?,
        };
        out.push(Jwk {
            kid: k.get("kid").and_then(Value::as_str).map(String::from),
            alg,
            key: material,
        });
    }
    Ok(out)
}
