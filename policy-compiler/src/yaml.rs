//! The YAML policy frontend (policy format v1): parses our policy file into the IR.
//!
//! Unknown keys are errors; every semantic error names the file, the line of the rule and
//! its id.

use serde::Deserialize;
use waap_engine::program::{
    Actions, BodyConfig, Collection, Condition, Disruptive, FailMode, LiteralSet, MacroPart,
    MacroString, Mode, Operator, OverLimit, Program, RegexDef, RegexFlags, Rule, Selector, Target,
    PROGRAM_VERSION,
};
use waap_engine::transform::Transform;

use crate::error::{PolicyError, PolicyErrors};

/// The policy file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// Policy format version; must be 1.
    pub version: u32,
    /// `block` or `monitor`: required, so a policy always states it.
    pub mode: ModeYaml,
    /// Revision id; defaults to a hash of the policy.
    #[serde(default)]
    pub revision: Option<String>,
    /// What to do when evaluation fails internally.
    #[serde(default)]
    pub on_error: Option<FailYaml>,
    /// Body inspection.
    #[serde(default)]
    pub body: Option<BodyYaml>,
    /// Regex compilation limits.
    #[serde(default)]
    pub regex: Option<RegexYaml>,
    /// Custom WAF rules.
    #[serde(default)]
    pub rules: Vec<RuleYaml>,
    /// Rule sets: the OWASP Core Rule Set.
    #[serde(default)]
    pub waf: Option<crate::crs::WafYaml>,
    /// How the client address is found (trusted `X-Forwarded-For` hops).
    #[serde(default)]
    pub client_ip: Option<ClientIpYaml>,
    /// API protection: OpenAPI positive model, JWT, authorization.
    #[serde(default)]
    pub api: Option<crate::api::ApiYaml>,
    /// Bot management.
    #[serde(default)]
    pub bots: Option<crate::bots::BotsYaml>,
    /// Rate limits (see [`crate::ratelimit`]).
    #[serde(default)]
    pub rate_limits: Option<crate::ratelimit::RateLimitsYaml>,
}

/// `client_ip:`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ClientIpYaml {
    /// Proxies in front of Envoy that append to `X-Forwarded-For` and are trusted.
    #[serde(default)]
    pub xff_trusted_hops: u8,
}

/// `mode:`.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ModeYaml {
    /// Enforce.
    Block,
    /// Dry run.
    Monitor,
}

/// `on_error:`.
#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum FailYaml {
    /// Let the request through.
    FailOpen,
    /// Deny it.
    FailClosed,
}

/// `body:`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BodyYaml {
    /// Bytes inspected at most (default 131072).
    #[serde(default)]
    pub limit: Option<u32>,
    /// `block` (413) or `inspect_prefix`.
    #[serde(default)]
    pub over_limit: Option<OverLimitYaml>,
    /// A JSON, XML, multipart or urlencoded body the parser cannot read: `block` (400,
    /// the default: an unparsed body would escape the argument rules) or `allow`.
    #[serde(default)]
    pub on_parse_error: Option<ParseErrorYaml>,
}

/// `body.on_parse_error:`.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ParseErrorYaml {
    /// Deny with 400 (rule 200002).
    Block,
    /// Let it through; argument rules see what could be parsed.
    Allow,
}

/// The id of the rule that denies unparsable bodies (ModSecurity's recommended id).
pub const BODY_PARSE_ERROR_RULE: u32 = 200002;

/// `body.over_limit:`.
#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum OverLimitYaml {
    /// Deny with 413.
    Block,
    /// Inspect the prefix.
    InspectPrefix,
}

/// `regex:`.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RegexYaml {
    /// Largest dense DFA shipped per regex, in bytes (default 1 MiB).
    #[serde(default)]
    pub dfa_size_limit: Option<usize>,
    /// `lazy` (build a lazy DFA at load) or `error`.
    #[serde(default)]
    pub fallback: Option<FallbackYaml>,
}

/// `regex.fallback:`.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FallbackYaml {
    /// Lazy DFA built at load: still linear time, bounded cache.
    Lazy,
    /// Refuse the policy.
    Error,
}

/// One custom rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleYaml {
    /// Unique id.
    pub id: u32,
    /// Message for logs.
    pub msg: String,
    /// `emergency`, `alert`, `critical`, `error`, `warning` or `notice`.
    #[serde(default)]
    pub severity: Option<String>,
    /// Variables to inspect, e.g. `query_args`, `headers:user-agent`.
    pub targets: Vec<String>,
    /// Transformations, in order.
    #[serde(default)]
    pub transforms: Vec<String>,
    /// The test.
    #[serde(rename = "match")]
    pub matcher: MatchYaml,
    /// Match where the test fails.
    #[serde(default)]
    pub negate: bool,
    /// `block` (default) or `log`.
    #[serde(default)]
    pub action: Option<ActionYaml>,
    /// Deny status (default 403).
    #[serde(default)]
    pub status: Option<u16>,
}

/// `match:`: exactly one operator.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MatchYaml {
    /// A regex (byte semantics, linear time).
    #[serde(default)]
    pub regex: Option<String>,
    /// Any of these literals, ASCII case-insensitive.
    #[serde(default)]
    pub literals: Option<Vec<String>>,
    /// Equal to.
    #[serde(default)]
    pub equals: Option<String>,
    /// Begins with.
    #[serde(default)]
    pub begins_with: Option<String>,
    /// Ends with.
    #[serde(default)]
    pub ends_with: Option<String>,
    /// Contains.
    #[serde(default)]
    pub contains: Option<String>,
    /// Longer than N bytes.
    #[serde(default)]
    pub length_gt: Option<u64>,
}

/// `action:`.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ActionYaml {
    /// Deny (in block mode).
    Block,
    /// Only log.
    Log,
}

/// Compiler settings the YAML gives the backend.
#[derive(Debug, Clone)]
pub struct BackendOptions {
    /// Largest dense DFA per regex.
    pub dfa_size_limit: usize,
    /// What to do beyond it.
    pub fallback: FallbackYaml,
}

impl Default for BackendOptions {
    fn default() -> Self {
        BackendOptions {
            dfa_size_limit: 1 << 20,
            fallback: FallbackYaml::Lazy,
        }
    }
}

/// The result of the YAML frontend.
pub struct Frontend {
    /// The program (regexes without DFAs yet).
    pub program: Program,
    /// Line of each rule id in the source, for later errors.
    pub rule_lines: Vec<(u32, usize)>,
    /// Backend settings.
    pub backend: BackendOptions,
    /// Revision given in the file, if any.
    pub revision: Option<String>,
    /// Warnings and disabled rules from the SecLang frontend.
    pub diagnostics: Vec<String>,
    /// SecLang files read.
    pub files: Vec<std::path::PathBuf>,
    /// Rate limits, bots, API protection and client identity.
    pub families: waap_engine::families::Families,
    /// `SecComponentSignature` values of the rule set (written into the bundle's META).
    pub components: Vec<String>,
}

/// Parses and lowers a YAML policy.
pub fn parse(file: &str, src: &str) -> Result<Frontend, PolicyErrors> {
    let pf: PolicyFile = serde_yaml::from_str(src).map_err(|e| {
        let line = e.location().map(|l| l.line());
        // serde_yaml appends " at line L column C"; we print the position up front.
        let msg = e.to_string();
        let msg = match msg.find(" at line ") {
            Some(i) => msg[..i].to_string(),
            None => msg,
        };
        PolicyError::new(file, msg).at(line)
    })?;
    let mut errors = Vec::new();
    if pf.version != 1 {
        errors.push(
            PolicyError::new(
                file,
                format!(
                    "policy version {} is not supported (this waapc reads version 1)",
                    pf.version
                ),
            )
            .at(find_key_line(src, "version")),
        );
    }
    let rule_lines = rule_lines(src);
    let line_of = |id: u32| rule_lines.iter().find(|(i, _)| *i == id).map(|(_, l)| *l);
    // CRS first: its tables come first, and our rules' regex indices follow them.
    let base = std::path::Path::new(file)
        .parent()
        .unwrap_or(std::path::Path::new("."));
    let crs_cfg = pf.waf.as_ref().and_then(|w| w.crs.clone());
    let crs = match &crs_cfg {
        Some(cfg) => match crate::crs::compile(file, base, cfg) {
            Ok(part) => Some(part),
            Err(mut es) => {
                for e in &mut es {
                    e.line = e.line.or(find_key_line(src, "waf"));
                }
                return Err(PolicyErrors(es));
            }
        },
        None => None,
    };
    let (crs_program, diagnostics, files, components) = match crs {
        Some(p) => (Some(p.program), p.diagnostics, p.files, p.components),
        None => (None, Vec::new(), Vec::new(), Vec::new()),
    };
    let crs_rules: Vec<Rule> = crs_program
        .as_ref()
        .map(|p| p.rules.clone())
        .unwrap_or_default();
    let mut program = Program {
        version: PROGRAM_VERSION,
        regexes: crs_program
            .as_ref()
            .map(|p| p.regexes.clone())
            .unwrap_or_default(),
        literal_sets: crs_program
            .as_ref()
            .map(|p| p.literal_sets.clone())
            .unwrap_or_default(),
        tx_init: crs_program
            .as_ref()
            .map(|p| p.tx_init.clone())
            .unwrap_or_default(),
        mode: match pf.mode {
            ModeYaml::Block => Mode::Block,
            ModeYaml::Monitor => Mode::Monitor,
        },
        on_error: match pf.on_error {
            Some(FailYaml::FailClosed) => FailMode::Closed,
            _ => FailMode::Open,
        },
        ..Program::default()
    };
    let body = pf.body.unwrap_or_default();
    program.body = BodyConfig {
        limit: body.limit.unwrap_or(128 * 1024),
        over_limit: match body.over_limit {
            Some(OverLimitYaml::InspectPrefix) => OverLimit::InspectPrefix,
            _ => OverLimit::Block,
        },
        ..BodyConfig::default()
    };
    if let Some(p) = &crs_program {
        program.body.inspect = true;
        program.body.inspect_response = p.body.inspect_response;
        program.body.response_mime_types = p.body.response_mime_types.clone();
    }
    let crs_ids: Vec<u32> = crs_rules.iter().map(|r| r.id).collect();
    let mut seen: Vec<u32> = crs_ids.clone();
    for r in &pf.rules {
        let line = line_of(r.id);
        let err = |msg: String| PolicyError::new(file, msg).at(line).rule(r.id);
        if seen.contains(&r.id) {
            let first = rule_lines.iter().find(|(i, _)| *i == r.id).map(|(_, l)| *l);
            let second = rule_lines
                .iter()
                .filter(|(i, _)| *i == r.id)
                .nth(1)
                .map(|(_, l)| *l);
            let where_ = if crs_ids.contains(&r.id) {
                "also a rule id of the rule set (waf.crs)".to_string()
            } else {
                match first {
                    Some(f) if second.is_some() => format!("first defined at line {f}"),
                    _ => "defined twice".to_string(),
                }
            };
            errors.push(
                PolicyError::new(file, format!("duplicate rule id {} ({where_})", r.id))
                    .at(second.or(line))
                    .rule(r.id),
            );
            continue;
        }
        seen.push(r.id);
        if let Some(f) = waap_engine::families::Family::of_reserved(r.id) {
            errors.push(err(format!(
                "rule id {} is in a range reserved for the {} family (see the policy reference)",
                r.id,
                f.name()
            )));
            continue;
        }
        match lower_rule(r, &mut program) {
            Ok(rule) => {
                if rule.phase == 2 {
                    program.body.inspect = true;
                }
                program.rules.push(rule);
            }
            Err(msg) => errors.push(err(msg)),
        }
    }
    if body.on_parse_error != Some(ParseErrorYaml::Allow) && program.body.inspect {
        if seen.contains(&BODY_PARSE_ERROR_RULE) {
            errors.push(PolicyError::new(
                file,
                format!("rule id {BODY_PARSE_ERROR_RULE} is reserved for body.on_parse_error: block; set body.on_parse_error: allow to define your own"),
            ).at(line_of(BODY_PARSE_ERROR_RULE)));
        } else {
            program.rules.push(body_parse_error_rule());
        }
    }
    // Header-only rules (phase 1) run before body rules, each group in file order.
    program.rules.sort_by_key(|r| r.phase);
    // Our rules run before the rule set's in each phase; shift its skipAfter targets.
    let shift = program.rules.len() as u32;
    for mut r in crs_rules {
        if let Some(t) = r.actions.skip_after.as_mut() {
            *t += shift;
        }
        program.rules.push(r);
    }
    let rate_limits = match &pf.rate_limits {
        Some(y) => {
            crate::ratelimit::lower(file, src, y, pf.mode == ModeYaml::Monitor, &mut program)
                .map_err(|es| errors.extend(es))
                .ok()
        }
        None => None,
    };
    if !errors.is_empty() {
        return Err(PolicyErrors(errors));
    }
    let api = match &pf.api {
        Some(a) => {
            let mut set = waap_engine::schema::SchemaSet::default();
            let strict = a.reject_unknown_properties;
            let regexes = &mut program.regexes;
            let mut schema_of = |doc: &serde_json::Value,
                                 schema: &serde_json::Value,
                                 ptr: &str,
                                 request_body: bool|
             -> Result<Option<u32>, String> {
                let opts = crate::schema::SchemaOptions {
                    openapi_30: doc
                        .get("openapi")
                        .and_then(serde_json::Value::as_str)
                        .is_some_and(|v| v.starts_with("3.0")),
                    strict_objects: strict && request_body,
                };
                crate::schema::compile_schema(doc, schema, ptr, &opts, &mut set, regexes).map(Some)
            };
            let lowered = crate::api::lower(a, base, &mut schema_of);
            match lowered {
                Ok(mut l) => {
                    l.config.schemas = set;
                    Some(l.config)
                }
                Err(msg) => {
                    return Err(PolicyErrors(vec![PolicyError::new(
                        file,
                        format!("api: {msg}"),
                    )
                    .at(find_key_line(src, "api"))]))
                }
            }
        }
        None => None,
    };
    let bots = match &pf.bots {
        Some(b) => Some(
            crate::bots::lower(b, pf.mode == ModeYaml::Monitor, base, &mut program).map_err(
                |m| {
                    let line = crate::bots::error_line(src, &m);
                    PolicyError::new(file, m).at(line)
                },
            )?,
        ),
        None => None,
    };
    let families = waap_engine::families::Families {
        rate_limits,
        version: waap_engine::families::FAMILIES_VERSION,
        client: waap_engine::families::ClientConfig {
            xff_trusted_hops: pf.client_ip.as_ref().map_or(0, |c| c.xff_trusted_hops),
        },
        api,
        bots,
    };
    let regex = pf.regex.unwrap_or_default();
    Ok(Frontend {
        program,
        rule_lines,
        backend: BackendOptions {
            dfa_size_limit: regex.dfa_size_limit.unwrap_or(1 << 20),
            fallback: regex.fallback.unwrap_or(FallbackYaml::Lazy),
        },
        revision: pf.revision,
        diagnostics,
        files,
        families,
        components,
    })
}

/// Denies (400) a request whose body the processor could not parse (REQBODY_ERROR).
fn body_parse_error_rule() -> Rule {
    let lit = |s: &str| MacroString {
        parts: vec![MacroPart::Lit(s.as_bytes().to_vec())],
    };
    Rule {
        id: BODY_PARSE_ERROR_RULE,
        phase: 2,
        cond: Condition {
            targets: vec![Target {
                collection: Collection::ReqbodyError,
                selector: Selector::All,
                count: false,
                exclude: vec![],
            }],
            operator: Operator::Eq(lit("0")),
            negated: true,
            ..Condition::default()
        },
        chain: vec![],
        actions: Actions {
            disruptive: Disruptive::Deny,
            status: Some(400),
            log: true,
            ..Actions::default()
        },
        msg: Some(lit(
            "Failed to parse request body (body.on_parse_error: block)",
        )),
        logdata: None,
        tags: vec![],
        severity: Some(2),
        family: "waf".into(),
    }
}

fn lower_rule(r: &RuleYaml, program: &mut Program) -> Result<Rule, String> {
    if r.targets.is_empty() {
        return Err("`targets` is empty: name at least one variable".into());
    }
    let mut targets = Vec::new();
    let mut phase = 1;
    for t in &r.targets {
        let target = parse_target(t)?;
        if matches!(
            target.collection,
            Collection::Args
                | Collection::ArgsNames
                | Collection::ArgsPost
                | Collection::ArgsPostNames
                | Collection::RawBody
        ) {
            phase = 2;
        }
        targets.push(target);
    }
    let mut transforms = Vec::new();
    for t in &r.transforms {
        transforms.push(parse_transform(t)?);
    }
    let lit = |s: &str| MacroString {
        parts: vec![MacroPart::Lit(s.as_bytes().to_vec())],
    };
    let m = &r.matcher;
    let given = [
        m.regex.is_some(),
        m.literals.is_some(),
        m.equals.is_some(),
        m.begins_with.is_some(),
        m.ends_with.is_some(),
        m.contains.is_some(),
        m.length_gt.is_some(),
    ]
    .iter()
    .filter(|&&b| b)
    .count();
    if given != 1 {
        return Err(format!(
            "`match` needs exactly one of regex, literals, equals, begins_with, ends_with, contains, length_gt ({given} given)"
        ));
    }
    let operator = if let Some(p) = &m.regex {
        check_regex(p)?;
        let idx = program.regexes.len() as u32;
        program.regexes.push(RegexDef {
            pattern: p.clone(),
            dfa: None,
            flags: RegexFlags {
                case_insensitive: false,
                dot_all: true,
                multi_line: false,
            },
            required_literals: vec![],
        });
        Operator::Rx(idx)
    } else if let Some(ls) = &m.literals {
        if ls.is_empty() || ls.iter().any(String::is_empty) {
            return Err(
                "`literals` is empty or contains an empty string (it would match everything)"
                    .into(),
            );
        }
        let idx = program.literal_sets.len() as u32;
        program.literal_sets.push(LiteralSet {
            literals: ls.iter().map(|s| s.as_bytes().to_vec()).collect(),
        });
        Operator::Pm(idx)
    } else if let Some(s) = &m.equals {
        Operator::StrEq(lit(s))
    } else if let Some(s) = &m.begins_with {
        Operator::BeginsWith(lit(s))
    } else if let Some(s) = &m.ends_with {
        Operator::EndsWith(lit(s))
    } else if let Some(s) = &m.contains {
        Operator::Contains(lit(s))
    } else {
        Operator::LengthGt(m.length_gt.unwrap_or(u64::MAX))
    };
    let severity = match r.severity.as_deref() {
        None => None,
        Some("emergency") => Some(0),
        Some("alert") => Some(1),
        Some("critical") => Some(2),
        Some("error") => Some(3),
        Some("warning") => Some(4),
        Some("notice") => Some(5),
        Some(s) => {
            return Err(format!(
                "unknown severity `{s}` (emergency, alert, critical, error, warning, notice)"
            ))
        }
    };
    let action = r.action.unwrap_or(ActionYaml::Block);
    if let Some(s) = r.status {
        if !(400..=599).contains(&s) {
            return Err(format!("status {s} is not a 4xx/5xx code"));
        }
    }
    Ok(Rule {
        id: r.id,
        phase,
        cond: Condition {
            targets,
            transforms,
            operator,
            negated: r.negate,
            ..Condition::default()
        },
        chain: vec![],
        actions: Actions {
            disruptive: if action == ActionYaml::Block {
                Disruptive::Deny
            } else {
                Disruptive::Pass
            },
            status: r.status,
            log: true,
            ..Actions::default()
        },
        msg: Some(lit(&r.msg)),
        logdata: None,
        tags: vec![],
        severity,
        family: "waf".into(),
    })
}

/// The target names of the YAML format and the collections they read.
pub const TARGETS: &[(&str, Collection)] = &[
    ("path", Collection::RequestFilename),
    ("raw_path", Collection::RequestPathRaw),
    ("uri", Collection::RequestUriRaw),
    ("query", Collection::QueryString),
    ("method", Collection::RequestMethod),
    ("query_args", Collection::ArgsGet),
    ("query_arg_names", Collection::ArgsGetNames),
    ("body_args", Collection::ArgsPost),
    ("body_arg_names", Collection::ArgsPostNames),
    ("args", Collection::Args),
    ("arg_names", Collection::ArgsNames),
    ("headers", Collection::RequestHeaders),
    ("header_names", Collection::RequestHeadersNames),
    ("cookies", Collection::RequestCookies),
    ("cookie_names", Collection::RequestCookiesNames),
    ("body", Collection::RawBody),
];

fn parse_target(t: &str) -> Result<Target, String> {
    let (name, key) = match t.split_once(':') {
        Some((n, k)) => (n, Some(k)),
        None => (t, None),
    };
    let Some(&(_, collection)) = TARGETS.iter().find(|(n, _)| *n == name) else {
        let names: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
        return Err(format!(
            "unknown target `{name}` (one of: {})",
            names.join(", ")
        ));
    };
    let keyed = matches!(
        collection,
        Collection::ArgsGet
            | Collection::ArgsPost
            | Collection::Args
            | Collection::RequestHeaders
            | Collection::RequestCookies
    );
    let selector = match key {
        None => Selector::All,
        Some(_) if !keyed => return Err(format!("target `{name}` takes no `:key`")),
        Some("") => return Err(format!("target `{t}` has an empty key")),
        Some(k) => Selector::Key(k.to_ascii_lowercase()),
    };
    Ok(Target {
        collection,
        selector,
        count: false,
        exclude: vec![],
    })
}

/// The transformation names of the YAML format (snake_case) and what they run.
pub const TRANSFORMS: &[(&str, Transform)] = &[
    // `url_decode` decodes `%uXXXX` too: the safer reading for a WAF.
    ("url_decode", Transform::UrlDecodeUni),
    ("url_decode_uni", Transform::UrlDecodeUni),
    ("lowercase", Transform::Lowercase),
    ("uppercase", Transform::Uppercase),
    ("html_entity_decode", Transform::HtmlEntityDecode),
    ("js_decode", Transform::JsDecode),
    ("css_decode", Transform::CssDecode),
    ("utf8_to_unicode", Transform::Utf8ToUnicode),
    ("remove_nulls", Transform::RemoveNulls),
    ("replace_nulls", Transform::ReplaceNulls),
    ("cmd_line", Transform::CmdLine),
    ("remove_whitespace", Transform::RemoveWhitespace),
    ("compress_whitespace", Transform::CompressWhitespace),
    ("replace_comments", Transform::ReplaceComments),
    ("remove_comments", Transform::RemoveComments),
    ("remove_comments_char", Transform::RemoveCommentsChar),
    ("normalize_path", Transform::NormalizePath),
    ("normalise_path", Transform::NormalizePath),
    ("normalize_path_win", Transform::NormalizePathWin),
    ("normalise_path_win", Transform::NormalizePathWin),
    ("escape_seq_decode", Transform::EscapeSeqDecode),
    ("length", Transform::Length),
    ("base64_decode", Transform::Base64Decode),
    ("base64_decode_ext", Transform::Base64DecodeExt),
    ("base64_encode", Transform::Base64Encode),
    ("sha1", Transform::Sha1),
    ("hex_encode", Transform::HexEncode),
    ("hex_decode", Transform::HexDecode),
    ("trim", Transform::Trim),
    ("trim_left", Transform::TrimLeft),
    ("trim_right", Transform::TrimRight),
];

fn parse_transform(t: &str) -> Result<Transform, String> {
    if let Some((_, tr)) = TRANSFORMS.iter().find(|(n, _)| *n == t) {
        return Ok(*tr);
    }
    if t.chars().any(|c| c.is_ascii_uppercase()) || Transform::from_name(t).is_some() {
        return Err(format!(
            "transform `{t}`: names are snake_case, e.g. `url_decode`, `html_entity_decode`"
        ));
    }
    Err(format!(
        "unknown transform `{t}` (e.g. url_decode, lowercase, html_entity_decode, normalize_path, remove_nulls, compress_whitespace, base64_decode, js_decode, css_decode)"
    ))
}

pub(crate) fn check_regex(p: &str) -> Result<(), String> {
    regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .dot_matches_new_line(true)
        .build()
        .parse(p)
        .map(|_| ())
        .map_err(|e| format!("invalid regex: {}", e.to_string().replace('\n', " ")))
}

/// The line of each `id: N` rule key, in order.
fn rule_lines(src: &str) -> Vec<(u32, usize)> {
    let mut out = Vec::new();
    for (i, line) in src.lines().enumerate() {
        let t = line.trim_start().trim_start_matches("- ").trim_start();
        if let Some(rest) = t.strip_prefix("id:") {
            let v = rest
                .split('#')
                .next()
                .unwrap_or_default()
                .trim()
                .trim_matches(|c| c == '"' || c == '\'');
            if let Ok(id) = v.parse() {
                out.push((id, i + 1));
            }
        }
    }
    out
}

fn find_key_line(src: &str, key: &str) -> Option<usize> {
    src.lines()
        .position(|l| l.starts_with(&format!("{key}:")))
        .map(|i| i + 1)
}
