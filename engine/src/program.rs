//! The compiled program: the engine's IR, written by `waapc` into the bundle's PROGRAM
//! section (postcard) and read once per VM.
//!
//! One IR serves both our YAML rules and SecLang (CRS): a rule reads targets, applies a
//! transformation chain to each value, runs one operator and, on a match, runs its actions.
//! Anything that must be built from bytes (DFAs) is referenced by index into the bundle's
//! DFA sections; aho-corasick sets are stored as their patterns and built at load.

use serde::{Deserialize, Serialize};

use crate::transform::Transform;

/// Version of this IR. Bumped on any incompatible change; the loader refuses others.
pub const PROGRAM_VERSION: u32 = 1;

/// Everything one policy bundle asks the engine to do.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Program {
    /// [`PROGRAM_VERSION`] at compile time.
    pub version: u32,
    /// Policy-wide mode: block, or only log what would be blocked.
    pub mode: Mode,
    /// Request body inspection settings.
    pub body: BodyConfig,
    /// Rules in evaluation order. Each phase runs the rules of that phase in this order.
    pub rules: Vec<Rule>,
    /// Regexes used by operators and selectors.
    pub regexes: Vec<RegexDef>,
    /// Literal sets for `@pm`-style operators, built into aho-corasick at load.
    pub literal_sets: Vec<LiteralSet>,
    /// Initial TX variables (name lowercased -> value), set before phase 1.
    pub tx_init: Vec<(String, String)>,
    /// What to do with an internal error while evaluating (a bad value, a limit hit).
    pub on_error: FailMode,
}

/// Block or monitor (dry run).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum Mode {
    /// Disruptive actions take effect.
    #[default]
    Block,
    /// Disruptive actions are logged as "would block" and the request passes.
    Monitor,
}

/// Fail open (let the request through) or closed (deny it) on internal errors.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum FailMode {
    /// Let the request through and log.
    #[default]
    Open,
    /// Deny the request (status 503) when evaluation cannot complete.
    Closed,
}

/// Request body inspection settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BodyConfig {
    /// Whether any rule reads the body (if not, the filter never buffers it).
    pub inspect: bool,
    /// Bytes buffered and inspected at most.
    pub limit: u32,
    /// What happens to a body over `limit`.
    pub over_limit: OverLimit,
    /// Whether response bodies are inspected (phase 4).
    pub inspect_response: bool,
    /// Response bytes inspected at most.
    pub response_limit: u32,
    /// Response content types whose body is inspected (lowercase, no parameters).
    pub response_mime_types: Vec<String>,
}

impl Default for BodyConfig {
    fn default() -> Self {
        BodyConfig {
            inspect: false,
            limit: 128 * 1024,
            over_limit: OverLimit::Block,
            inspect_response: false,
            response_limit: 512 * 1024,
            response_mime_types: Vec::new(),
        }
    }
}

/// What to do with a request body over the inspection limit.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum OverLimit {
    /// Deny with 413.
    #[default]
    Block,
    /// Inspect the first `limit` bytes and let the rest through.
    InspectPrefix,
}

/// One rule (a SecRule, possibly with a chain, or one of our YAML rules).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Rule {
    /// Rule id (CRS ids are kept).
    pub id: u32,
    /// Phase 1 (request headers) .. 5 (logging).
    pub phase: u8,
    /// The first link: targets, transforms, operator.
    pub cond: Condition,
    /// Further links that must all match for the rule to match (SecLang `chain`).
    pub chain: Vec<Condition>,
    /// What happens on a match.
    pub actions: Actions,
    /// Human message (may contain macros such as `%{MATCHED_VAR}`).
    pub msg: Option<MacroString>,
    /// Extra log data (macros allowed).
    pub logdata: Option<MacroString>,
    /// Tags (e.g. `attack-xss`, `paranoia-level/2`).
    pub tags: Vec<String>,
    /// Severity 0 (emergency) .. 7 (debug), if given.
    pub severity: Option<u8>,
    /// Family for logs and metrics: `waf`, `crs`, ...
    pub family: String,
}

/// One link of a rule: which values to look at, how to transform them, what to test.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Condition {
    /// Variables to read; the condition matches if any value matches.
    pub targets: Vec<Target>,
    /// Transformations applied to each value, in order.
    pub transforms: Vec<Transform>,
    /// The test.
    pub operator: Operator,
    /// `!@op`: the condition matches where the operator does not.
    pub negated: bool,
    /// Run the operator after every transformation step, not only the last.
    pub multi_match: bool,
    /// Store regex captures into TX:0..TX:9.
    pub capture: bool,
    /// Actions that run when this link matches (setvar in chained links).
    pub setvars: Vec<SetVar>,
}

/// A variable reference, e.g. `ARGS`, `REQUEST_HEADERS:User-Agent`, `&ARGS`, `!ARGS:foo`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Target {
    /// The collection read.
    pub collection: Collection,
    /// Which members.
    pub selector: Selector,
    /// `&COLL`: the value is the number of selected members.
    pub count: bool,
    /// Members excluded (`!COLL:key`, `ctl:ruleRemoveTargetById`, update-target exclusions).
    pub exclude: Vec<Selector>,
}

/// Which members of a collection a target selects.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub enum Selector {
    /// Every member.
    #[default]
    All,
    /// Members whose name equals this (compared case-insensitively for headers, cookies
    /// and TX; stored lowercased for those).
    Key(String),
    /// Members whose name matches this regex (index into [`Program::regexes`]).
    Regex(u32),
}

/// Request and response variables (SecLang names in comments).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub enum Collection {
    /// ARGS: query and body arguments (values).
    Args,
    /// ARGS_GET: query arguments.
    ArgsGet,
    /// ARGS_POST: body arguments.
    ArgsPost,
    /// ARGS_NAMES.
    ArgsNames,
    /// ARGS_GET_NAMES.
    ArgsGetNames,
    /// ARGS_POST_NAMES.
    ArgsPostNames,
    /// ARGS_COMBINED_SIZE.
    ArgsCombinedSize,
    /// REQUEST_COOKIES.
    RequestCookies,
    /// REQUEST_COOKIES_NAMES.
    RequestCookiesNames,
    /// REQUEST_HEADERS.
    RequestHeaders,
    /// REQUEST_HEADERS_NAMES.
    RequestHeadersNames,
    /// REQUEST_FILENAME: the URL-decoded path without query.
    RequestFilename,
    /// REQUEST_BASENAME: the last path segment of REQUEST_FILENAME.
    RequestBasename,
    /// REQUEST_URI: path and query, URL-decoded... (ModSecurity: as received, normalised).
    RequestUri,
    /// REQUEST_URI_RAW: path and query exactly as received.
    RequestUriRaw,
    /// REQUEST_LINE: `METHOD URI PROTOCOL`.
    RequestLine,
    /// REQUEST_METHOD.
    RequestMethod,
    /// REQUEST_PROTOCOL, e.g. `HTTP/1.1`.
    RequestProtocol,
    /// QUERY_STRING: raw query without `?`.
    QueryString,
    /// REQUEST_BODY: the raw body, for urlencoded bodies or when `ctl:forceRequestBodyVariable`
    /// is on (ModSecurity v2 semantics, which CRS's tests expect).
    RequestBody,
    /// REQUEST_BODY_LENGTH.
    RequestBodyLength,
    /// XML: text and attribute values of an XML body (`XML:/*`, `XML://@*`).
    Xml,
    /// FILES: multipart file names as sent.
    Files,
    /// FILES_NAMES: multipart field names of file parts.
    FilesNames,
    /// FILES_COMBINED_SIZE.
    FilesCombinedSize,
    /// MULTIPART_PART_HEADERS.
    MultipartPartHeaders,
    /// REQBODY_PROCESSOR: `URLENCODED`, `MULTIPART`, `JSON`, `XML` or empty.
    ReqbodyProcessor,
    /// REQBODY_ERROR: 1 when the body processor failed.
    ReqbodyError,
    /// RESPONSE_HEADERS.
    ResponseHeaders,
    /// RESPONSE_BODY.
    ResponseBody,
    /// RESPONSE_STATUS.
    ResponseStatus,
    /// REMOTE_ADDR.
    RemoteAddr,
    /// TX: transaction variables.
    Tx,
    /// MATCHED_VAR: the last matched value.
    MatchedVar,
    /// MATCHED_VAR_NAME.
    MatchedVarName,
    /// MATCHED_VARS: every value matched by the previous link of this rule.
    MatchedVars,
    /// MATCHED_VARS_NAMES.
    MatchedVarsNames,
    /// UNIQUE_ID: the request id.
    UniqueId,
    /// RULE: the current rule's `id`, `msg`, `severity`, `logdata` (macros only).
    Rule,
    /// The path without the query, exactly as received (YAML `raw_path`).
    RequestPathRaw,
    /// DURATION and other values we do not model are never selected; kept for errors.
    Env,
    /// The raw request body, whatever the body processor (YAML `body`). Unlike SecLang's
    /// REQUEST_BODY, which ModSecurity only fills for urlencoded bodies or when forced.
    RawBody,
}

/// An operator argument that may contain macros such as `%{tx.threshold}`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct MacroString {
    /// Literal and macro parts in order.
    pub parts: Vec<MacroPart>,
}

/// A piece of a [`MacroString`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum MacroPart {
    /// Literal bytes.
    Lit(Vec<u8>),
    /// `%{COLL.key}` or `%{VAR}`: the first value of that target.
    Var(Collection, Option<String>),
}

/// The test a condition runs on each transformed value.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub enum Operator {
    /// `@rx`: regex search (index into [`Program::regexes`]).
    Rx(u32),
    /// `@pm` / `@pmFromFile`: any of a literal set, case-insensitive (index into
    /// [`Program::literal_sets`]).
    Pm(u32),
    /// `@streq` / YAML `equals`.
    StrEq(MacroString),
    /// `@contains`.
    Contains(MacroString),
    /// `@beginsWith`.
    BeginsWith(MacroString),
    /// `@endsWith`.
    EndsWith(MacroString),
    /// `@within`: the value is a substring of the argument.
    Within(MacroString),
    /// `@eq`: integer equality.
    Eq(MacroString),
    /// `@ge`.
    Ge(MacroString),
    /// `@gt`.
    Gt(MacroString),
    /// `@lt`.
    Lt(MacroString),
    /// `@le`.
    Le(MacroString),
    /// `@validateByteRange`: matches when a byte is outside the allowed set (a 256-bit map).
    ValidateByteRange(Vec<u8>),
    /// `@validateUrlEncoding`: matches on invalid `%` encodings.
    ValidateUrlEncoding,
    /// `@validateUtf8Encoding`: matches on invalid UTF-8.
    ValidateUtf8Encoding,
    /// `@ipMatch`: the value is an IP inside one of these networks.
    IpMatch(Vec<IpNet>),
    /// `@detectSQLi`: libinjection-class SQL injection detector.
    DetectSqli,
    /// `@detectXSS`: libinjection-class XSS detector.
    DetectXss,
    /// `@unconditionalMatch`.
    #[default]
    Unconditional,
    /// Never matches (used for `@noMatch`).
    NoMatch,
    /// YAML `length_gt`: the value is longer than N bytes.
    LengthGt(u64),
}

/// An IPv4 or IPv6 network for `@ipMatch`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct IpNet {
    /// Address bytes; IPv4 is stored IPv4-mapped in IPv6.
    pub addr: [u8; 16],
    /// Prefix length over the 128-bit form.
    pub prefix: u8,
}

/// A regex, either a dense DFA section or (when its DFA would be too big) its pattern,
/// to be built as a lazy DFA at load.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RegexDef {
    /// The pattern as written (for logs and the lazy fallback).
    pub pattern: String,
    /// Forward DFA section index (an unanchored search DFA), if precompiled.
    pub dfa: Option<u32>,
    /// Case-insensitive, byte semantics, DOTALL/MULTILINE flags used to compile.
    pub flags: RegexFlags,
    /// Lowercased literals of which at least one must occur for a match (prefilter); empty
    /// means no prefilter. The empty literal among them marks a regex that may instead
    /// match through any rare byte ([`crate::prefilter::rare_byte`]).
    pub required_literals: Vec<Vec<u8>>,
}

/// Flags a regex was compiled with.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RegexFlags {
    /// `(?i)`.
    pub case_insensitive: bool,
    /// `.` matches `\n`.
    pub dot_all: bool,
    /// `^`/`$` match at line boundaries.
    pub multi_line: bool,
}

/// A literal set for `@pm`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct LiteralSet {
    /// The literals (matched ASCII case-insensitively).
    pub literals: Vec<Vec<u8>>,
}

/// What a matching rule does.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Actions {
    /// The disruptive action.
    pub disruptive: Disruptive,
    /// Status for a deny (default 403).
    pub status: Option<u16>,
    /// `setvar` on TX, run on a match of the whole rule (after the last link).
    pub setvars: Vec<SetVar>,
    /// `skipAfter`: continue after the marker with this index into the rule list
    /// (the index of the first rule after the marker).
    pub skip_after: Option<u32>,
    /// Whether a match is logged (`log`/`nolog`).
    pub log: bool,
    /// `ctl` actions.
    pub ctls: Vec<Ctl>,
}

/// The disruptive action of a rule.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum Disruptive {
    /// Continue.
    #[default]
    Pass,
    /// Stop and deny with the status.
    Deny,
    /// Stop processing rules and allow the request.
    Allow,
}

/// `setvar:tx.name=value`, `=+value`, `=-value`, `!tx.name`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SetVar {
    /// Variable name, lowercased (macros allowed, e.g. `%{rule.id}`).
    pub name: MacroString,
    /// The operation.
    pub op: SetVarOp,
    /// The value (macros allowed).
    pub value: MacroString,
}

/// A `setvar` operation.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum SetVarOp {
    /// `=`.
    Set,
    /// `=+`.
    Add,
    /// `=-`.
    Sub,
    /// `!name`.
    Delete,
}

/// `ctl:` actions CRS uses.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum Ctl {
    /// `ctl:ruleRemoveById=N` or a range.
    RuleRemoveById(u32, u32),
    /// `ctl:ruleRemoveByTag=T`.
    RuleRemoveByTag(String),
    /// `ctl:ruleRemoveTargetById=N;TARGET`.
    RuleRemoveTargetById(u32, Target),
    /// `ctl:ruleRemoveTargetByTag=T;TARGET`.
    RuleRemoveTargetByTag(String, Target),
    /// `ctl:requestBodyProcessor=JSON|XML|URLENCODED|MULTIPART`.
    RequestBodyProcessor(String),
    /// `ctl:forceRequestBodyVariable=On|Off`.
    ForceRequestBodyVariable(bool),
    /// `ctl:auditEngine=...` (accepted, no effect on verdicts).
    AuditEngine(String),
}

impl Rule {
    /// Whether the rule reads any of `colls`: as a target of any link, or in a macro of an
    /// operator argument, a `setvar`, its message or its log data.
    pub fn mentions(&self, colls: &[Collection]) -> bool {
        let in_macro = |m: &MacroString| {
            m.parts
                .iter()
                .any(|p| matches!(p, MacroPart::Var(c, _) if colls.contains(c)))
        };
        let in_setvars = |s: &[SetVar]| s.iter().any(|s| in_macro(&s.name) || in_macro(&s.value));
        core::iter::once(&self.cond).chain(&self.chain).any(|c| {
            c.targets.iter().any(|t| colls.contains(&t.collection))
                || c.operator.argument().is_some_and(in_macro)
                || in_setvars(&c.setvars)
        }) || in_setvars(&self.actions.setvars)
            || self.msg.as_ref().is_some_and(in_macro)
            || self.logdata.as_ref().is_some_and(in_macro)
    }
}

impl Operator {
    /// The operator's argument when it is a macro string (`@streq %{tx.x}`, `@within ...`).
    pub fn argument(&self) -> Option<&MacroString> {
        use Operator::*;
        match self {
            StrEq(m) | Contains(m) | BeginsWith(m) | EndsWith(m) | Within(m) | Eq(m) | Ge(m)
            | Gt(m) | Lt(m) | Le(m) => Some(m),
            Rx(_) | Pm(_) | ValidateByteRange(_) | ValidateUrlEncoding | ValidateUtf8Encoding
            | IpMatch(_) | DetectSqli | DetectXss | Unconditional | NoMatch | LengthGt(_) => None,
        }
    }
}
