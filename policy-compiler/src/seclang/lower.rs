//! Lowering: SecLang directives -> engine IR ([`waap_engine::program`]).
//!
//! Semantics chosen (and where they differ from ModSecurity, why):
//! - Directives are applied in order. `SecRuleRemoveById/ByTag` and
//!   `SecRuleUpdateTargetById/ByTag` affect rules defined *before* them (as in CRS usage).
//!   Tags compare exactly (libmodsecurity3), not as regexes (ModSecurity v2).
//! - `SecDefaultAction` is per phase: a rule of that phase starts from its disruptive
//!   action, status, `log`/`nolog` and transformations; `block` means "the default
//!   disruptive action of the rule's phase" (CRS sets `pass`), without one it is `pass`.
//! - A `chain` rule's following `SecRule`s become [`Rule::chain`] links. Head-only actions
//!   (disruptive, msg, logdata, tags, severity, skipAfter, status) come from the head;
//!   a link's `t:`, `capture`, `multiMatch` and `setvar` go to its [`Condition`]; its
//!   `ctl`s are appended to the rule's. The head's `setvar`s are [`Actions::setvars`].
//! - `SecAction` is a rule whose condition has no targets and `Operator::Unconditional`:
//!   "no targets + unconditional" means "matches once".
//! - `SecMarker` produces no rule: `skipAfter:NAME` resolves to the index (in the final rule
//!   list, after removals) of the first rule after the first marker `NAME` that follows the
//!   skipping rule; a marker at the end resolves to `rules.len()`.
//! - `setvar` names are stored without the `tx.` prefix, lowercased (macros allowed);
//!   `setvar` on other collections (ip, session, global) is diagnosed and dropped.
//! - `@rx` patterns are compiled ahead of time, so `%{tx.NAME}` macros in them are
//!   substituted at compile time when the value is a constant (see [`tx_constants`]; CRS
//!   3's 920480 uses `!@rx ^%{tx.allowed_request_content_type_charset}$`); other macros
//!   are an error diagnostic and the pattern is used literally.
//! - `%{rule.id}`, `%{rule.msg}`, `%{rule.severity}`, `%{rule.ver}`, `%{rule.rev}` and
//!   `%{rule.phase}` are substituted at compile time. Other macro keys are lowercased.
//! - Regexes: `@rx` patterns use DOTALL | MULTILINE (libmodsecurity3); `COLL:/re/`
//!   selectors are also case-insensitive (libmodsecurity3 `VariableRegex`). Both are
//!   deduplicated into one table, with `\x{HH}` (HH > 0x7F) rewritten as `\xHH`, and
//!   must parse with `regex-syntax` in byte mode. `dfa` and `required_literals` are left
//!   for the backend pass.
//! - `@validateByteRange`: 32-byte map, byte `b` allowed iff bit `b % 8` of `map[b / 8]`.
//! - Anything not supported becomes a [`Diagnostic`]; structural problems (missing id,
//!   duplicate id, unknown marker, unreadable data file, unterminated chain) are
//!   [`LowerError`]s. A regex that does not parse is a [`Level::Error`] diagnostic and its
//!   condition becomes `NoMatch` (never negated), so the rule never fires.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use waap_engine::program::{
    Actions, BodyConfig, Collection, Condition, Ctl, Disruptive, IpNet, LiteralSet, MacroPart,
    MacroString, Mode, Operator, OverLimit, Program, RegexDef, RegexFlags, Rule, Selector, SetVar,
    SetVarOp, Target, PROGRAM_VERSION,
};
use waap_engine::transform::Transform;

use super::ast::{
    Action, Directive, DirectiveKind, Error, OperatorSpec, SecRule, Span, VarSelector, Variable,
};
use super::parser::{action_id, parse_id_list, parse_variables};

/// A lowering error (same shape as parse errors: `file:line: rule <id>: <reason>`).
pub type LowerError = Error;

/// How serious a [`Diagnostic`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Semantics lost: a rule will not behave as written.
    Error,
    /// Approximated or dropped, probably harmless.
    Warning,
    /// Accepted and ignored on purpose (logging, audit, persistence settings).
    Info,
}

/// Something not (fully) supported, reported instead of silently dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Severity.
    pub level: Level,
    /// Where.
    pub span: Span,
    /// The rule id, when known.
    pub rule_id: Option<u32>,
    /// The directive (e.g. `SecRule`, `SecRequestBodyNoFilesLimit`).
    pub directive: String,
    /// What was not supported and what was done instead.
    pub reason: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Info => "info",
        };
        write!(f, "{}: ", self.span)?;
        if let Some(id) = self.rule_id {
            write!(f, "rule {id}: ")?;
        }
        write!(f, "{level}: {}: {}", self.directive, self.reason)
    }
}

/// Lowering options.
#[derive(Clone, Debug, Default)]
pub struct LowerOptions {
    /// Turn [`Level::Error`] diagnostics into errors.
    pub strict: bool,
    /// Initial TX variables (e.g. `blocking_paranoia_level`), copied to
    /// [`Lowered::tx_init`] with names lowercased.
    pub tx_init: Vec<(String, String)>,
}

/// `SecRuleEngine`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleEngine {
    /// `On`.
    On,
    /// `Off`.
    Off,
    /// `DetectionOnly`.
    DetectionOnly,
}

/// The result of lowering.
#[derive(Clone, Debug, Default)]
pub struct Lowered {
    /// Rules in evaluation order (`family = "crs"`).
    pub rules: Vec<Rule>,
    /// Regex table (operators and selectors), `dfa: None`.
    pub regexes: Vec<RegexDef>,
    /// Literal sets for `@pm` / `@pmFromFile`.
    pub literal_sets: Vec<LiteralSet>,
    /// Initial TX variables (from [`LowerOptions::tx_init`]).
    pub tx_init: Vec<(String, String)>,
    /// Body settings (`SecRequestBody*`, `SecResponseBody*`).
    pub body: BodyConfig,
    /// `SecRuleEngine`, if set.
    pub rule_engine: Option<RuleEngine>,
    /// `SecComponentSignature` values.
    pub component_signatures: Vec<String>,
    /// What was not supported.
    pub diagnostics: Vec<Diagnostic>,
}

impl Lowered {
    /// Builds a [`Program`] (`SecRuleEngine DetectionOnly` becomes [`Mode::Monitor`]).
    /// `SecRuleEngine Off` yields a program without rules.
    pub fn into_program(self) -> (Program, Vec<Diagnostic>) {
        let mode = match self.rule_engine {
            Some(RuleEngine::DetectionOnly) => Mode::Monitor,
            _ => Mode::Block,
        };
        let rules = if self.rule_engine == Some(RuleEngine::Off) {
            Vec::new()
        } else {
            self.rules
        };
        let program = Program {
            version: PROGRAM_VERSION,
            mode,
            body: self.body,
            rules,
            regexes: self.regexes,
            literal_sets: self.literal_sets,
            tx_init: self.tx_init,
            ..Program::default()
        };
        (program, self.diagnostics)
    }
}

/// Lowers parsed directives (see the module documentation for the semantics).
pub fn lower(directives: &[Directive], opts: &LowerOptions) -> Result<Lowered, Vec<LowerError>> {
    let mut l = Lowerer::default();
    l.out.tx_init = opts
        .tx_init
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    l.tx_consts = tx_constants(directives, &l.out.tx_init);
    for d in directives {
        l.directive(d);
    }
    l.finish(opts.strict)
}

/// `SecRule &TX:name "@eq 0"` without `chain`: CRS's "set a default" rule. Returns `name`.
fn default_guard(r: &SecRule) -> Option<String> {
    let [v] = r.variables.as_slice() else {
        return None;
    };
    let op = &r.operator;
    if !v.count
        || v.negated
        || !v.collection.eq_ignore_ascii_case("tx")
        || op.negated
        || !op.name.eq_ignore_ascii_case("eq")
        || op.argument.trim() != "0"
        || r.actions.iter().any(|a| a.is("chain"))
    {
        return None;
    }
    match &v.selector {
        Some(VarSelector::Key(k)) => Some(k.to_ascii_lowercase()),
        _ => None,
    }
}

/// TX variables whose value is known at compile time (lowercased names). A variable
/// qualifies when every `setvar` of it assigns a value without macros and either
/// - it is set by `SecAction`s (e.g. crs-setup.conf) that agree: they run on every request
///   and overwrite `tx_init` and defaults; or
/// - it is in `tx_init` and otherwise only set by default rules ([`default_guard`]); or
/// - it is only set by default rules that agree.
///
/// Any other setter (a conditional rule, a chain link, `=+`, `=-`, `!`) makes it unknown.
fn tx_constants(directives: &[Directive], tx_init: &[(String, String)]) -> HashMap<String, String> {
    #[derive(Default)]
    struct Seen {
        unconditional: Vec<String>,
        defaults: Vec<String>,
        unknown: bool,
    }
    let mut seen: HashMap<String, Seen> = HashMap::new();
    for d in directives {
        let (actions, guard) = match &d.kind {
            DirectiveKind::Action(a) => (a, None),
            DirectiveKind::Rule(r) => (&r.actions, default_guard(r)),
            _ => continue,
        };
        for v in actions
            .iter()
            .filter(|a| a.is("setvar"))
            .filter_map(|a| a.value.as_deref())
        {
            let (target, value) = match v.strip_prefix('!') {
                Some(n) => (n, None),
                None => match v.split_once('=') {
                    Some((n, val)) => (n, Some(val)),
                    None => (v, Some("1")),
                },
            };
            let Some((coll, name)) = target.trim().split_once('.') else {
                continue;
            };
            if !coll.eq_ignore_ascii_case("tx") {
                continue;
            }
            let name = name.to_ascii_lowercase();
            let s = seen.entry(name.clone()).or_default();
            match value {
                Some(val) if !val.contains("%{") && !val.starts_with(['+', '-']) => {
                    if matches!(d.kind, DirectiveKind::Action(_)) {
                        s.unconditional.push(val.to_string());
                    } else if guard.as_deref() == Some(name.as_str()) {
                        s.defaults.push(val.to_string());
                    } else {
                        s.unknown = true;
                    }
                }
                _ => s.unknown = true,
            }
        }
    }
    let agreed = |vals: &[String]| match vals.split_first() {
        Some((first, rest)) if rest.iter().all(|v| v == first) => Some(first.clone()),
        _ => None,
    };
    let mut out = HashMap::new();
    for (name, value) in tx_init {
        out.insert(name.clone(), value.clone());
    }
    for (name, s) in seen {
        if s.unknown {
            out.remove(&name);
            continue;
        }
        let value = if !s.unconditional.is_empty() {
            agreed(&s.unconditional)
        } else if let Some(v) = out.get(&name) {
            Some(v.clone())
        } else {
            agreed(&s.defaults)
        };
        match value {
            Some(v) => out.insert(name, v),
            None => out.remove(&name),
        };
    }
    out
}

/// Substitutes `%{tx.NAME}` macros from `consts`; `Err(macro)` names the first that is not
/// a known constant.
fn expand_tx_constants(s: &str, consts: &HashMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("%{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(end) = after.find('}') else {
            return Err(rest[i..].to_string());
        };
        let key = &after[..end];
        let value = key
            .split_once('.')
            .filter(|(c, _)| c.eq_ignore_ascii_case("tx"))
            .and_then(|(_, n)| consts.get(&n.to_ascii_lowercase()));
        match value {
            Some(v) => out.push_str(v),
            None => return Err(format!("%{{{key}}}")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Per-phase defaults from `SecDefaultAction`.
#[derive(Clone, Debug)]
struct Defaults {
    disruptive: Disruptive,
    status: Option<u16>,
    log: bool,
    transforms: Vec<Transform>,
}

impl Default for Defaults {
    fn default() -> Self {
        // ModSecurity's built-in default: "phase:2,log,auditlog,pass".
        Defaults {
            disruptive: Disruptive::Pass,
            status: None,
            log: true,
            transforms: Vec::new(),
        }
    }
}

struct Pending {
    rule: Rule,
    span: Span,
    removed: bool,
    skip_marker: Option<String>,
    chain_open: bool,
}

enum Item {
    Rule(Box<Pending>),
    Marker(String),
}

/// Values `%{rule.*}` macros resolve to.
#[derive(Clone, Default)]
struct RuleInfo {
    id: Option<u32>,
    phase: u8,
    msg: Option<String>,
    severity: Option<u8>,
    ver: Option<String>,
    rev: Option<String>,
}

/// Where a diagnostic is reported.
#[derive(Clone)]
struct Ctx {
    span: Span,
    id: Option<u32>,
    directive: &'static str,
}

/// What the action list of one SecRule / SecAction says.
#[derive(Default)]
struct ActionSet {
    id: Option<u32>,
    phase: Option<u8>,
    msg: Option<MacroString>,
    logdata: Option<MacroString>,
    tags: Vec<String>,
    severity: Option<u8>,
    /// `t:none` seen: the default transformations are dropped.
    t_reset: bool,
    /// Transformations after the last `t:none`.
    t_list: Vec<Transform>,
    capture: bool,
    multi_match: bool,
    setvars: Vec<SetVar>,
    status: Option<u16>,
    log: Option<bool>,
    disruptive: Option<DisruptiveSpec>,
    skip_after: Option<String>,
    ctls: Vec<Ctl>,
    chain: bool,
    /// Head-only actions seen (for diagnosing them in chain links).
    head_only: Vec<String>,
}

#[derive(Clone, Copy)]
enum DisruptiveSpec {
    Explicit(Disruptive),
    Block,
}

#[derive(Default)]
struct Lowerer {
    out: Lowered,
    items: Vec<Item>,
    errors: Vec<Error>,
    regex_index: HashMap<(String, [bool; 3]), u32>,
    literal_index: HashMap<Vec<Vec<u8>>, u32>,
    defaults: [Defaults; 6],
    ids: HashSet<u32>,
    /// Index in `items` of the rule waiting for a chain link.
    open_chain: Option<usize>,
    /// TX variables with a compile-time value (for macros in `@rx`).
    tx_consts: HashMap<String, String>,
}

const OPERATOR_FLAGS: RegexFlags = RegexFlags {
    case_insensitive: false,
    dot_all: true,
    multi_line: true,
};

const SELECTOR_FLAGS: RegexFlags = RegexFlags {
    case_insensitive: true,
    dot_all: true,
    multi_line: true,
};

impl Lowerer {
    fn diag(&mut self, level: Level, ctx: &Ctx, reason: impl Into<String>) {
        self.out.diagnostics.push(Diagnostic {
            level,
            span: ctx.span.clone(),
            rule_id: ctx.id,
            directive: ctx.directive.to_string(),
            reason: reason.into(),
        });
    }

    fn error(&mut self, ctx: &Ctx, reason: impl Into<String>) {
        self.errors.push(Error::new(&ctx.span, ctx.id, reason));
    }

    fn finish(mut self, strict: bool) -> Result<Lowered, Vec<LowerError>> {
        if let Some(i) = self.open_chain {
            if let Some(Item::Rule(p)) = self.items.get(i) {
                let e = Error::new(
                    &p.span,
                    Some(p.rule.id),
                    "chain without a following SecRule",
                );
                self.errors.push(e);
            }
        }
        self.resolve();
        if strict {
            for d in &self.out.diagnostics {
                if d.level == Level::Error {
                    self.errors.push(Error::new(
                        &d.span,
                        d.rule_id,
                        format!("{}: {}", d.directive, d.reason),
                    ));
                }
            }
        }
        if self.errors.is_empty() {
            Ok(self.out)
        } else {
            Err(self.errors)
        }
    }

    /// Drops removed rules and resolves `skipAfter` markers.
    fn resolve(&mut self) {
        // (item position, marker name, final index of the next rule)
        let mut markers: Vec<(usize, &str, u32)> = Vec::new();
        let mut count = 0u32;
        for (pos, item) in self.items.iter().enumerate() {
            match item {
                Item::Rule(p) if !p.removed => count += 1,
                Item::Rule(_) => {}
                Item::Marker(name) => markers.push((pos, name.as_str(), count)),
            }
        }
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        for (pos, item) in self.items.iter().enumerate() {
            let Item::Rule(p) = item else { continue };
            if p.removed {
                continue;
            }
            let mut rule = p.rule.clone();
            if let Some(name) = &p.skip_marker {
                let found = markers
                    .iter()
                    .find(|(mpos, mname, _)| *mpos > pos && *mname == name.as_str());
                match found {
                    Some((_, _, idx)) => rule.actions.skip_after = Some(*idx),
                    None => {
                        let before = markers.iter().any(|(_, m, _)| *m == name.as_str());
                        let why = if before {
                            "is only defined before this rule"
                        } else {
                            "is not defined"
                        };
                        errors.push(Error::new(
                            &p.span,
                            Some(p.rule.id),
                            format!("skipAfter: marker {name:?} {why}"),
                        ));
                    }
                }
            }
            rules.push(rule);
        }
        self.errors.extend(errors);
        self.out.rules = rules;
    }

    fn directive(&mut self, d: &Directive) {
        let span = &d.span;
        match &d.kind {
            DirectiveKind::Rule(r) => self.sec_rule(span, r),
            DirectiveKind::Action(actions) => self.sec_action(span, actions),
            DirectiveKind::Marker(name) => {
                self.check_no_open_chain(span, "SecMarker");
                self.items.push(Item::Marker(name.clone()));
            }
            DirectiveKind::DefaultAction(actions) => self.default_action(span, actions),
            DirectiveKind::UpdateTargetById {
                ids,
                targets,
                replace,
            } => {
                let ctx = Ctx {
                    span: span.clone(),
                    id: ids.first().map(|r| r.start),
                    directive: "SecRuleUpdateTargetById",
                };
                let sel = |p: &Pending| ids.iter().any(|r| r.contains(p.rule.id));
                self.update_targets(&ctx, sel, targets, replace.as_ref());
            }
            DirectiveKind::UpdateTargetByTag {
                tag,
                targets,
                replace,
            } => {
                let ctx = Ctx {
                    span: span.clone(),
                    id: None,
                    directive: "SecRuleUpdateTargetByTag",
                };
                let sel = |p: &Pending| p.rule.tags.iter().any(|t| t == tag);
                self.update_targets(&ctx, sel, targets, replace.as_ref());
            }
            DirectiveKind::RemoveById(ids) => {
                let n = self.remove(|p| ids.iter().any(|r| r.contains(p.rule.id)));
                if n == 0 {
                    let ctx = Ctx {
                        span: span.clone(),
                        id: None,
                        directive: "SecRuleRemoveById",
                    };
                    self.diag(Level::Info, &ctx, "no rule defined so far matches");
                }
            }
            DirectiveKind::RemoveByTag(tag) => {
                let n = self.remove(|p| p.rule.tags.iter().any(|t| t == tag));
                if n == 0 {
                    let ctx = Ctx {
                        span: span.clone(),
                        id: None,
                        directive: "SecRuleRemoveByTag",
                    };
                    self.diag(
                        Level::Info,
                        &ctx,
                        format!("no rule defined so far has tag {tag:?}"),
                    );
                }
            }
            DirectiveKind::ComponentSignature(s) => self.out.component_signatures.push(s.clone()),
            DirectiveKind::Setting { name, args } => self.setting(span, name, args),
        }
    }

    fn check_no_open_chain(&mut self, span: &Span, what: &str) {
        if let Some(i) = self.open_chain.take() {
            let id = match self.items.get(i) {
                Some(Item::Rule(p)) => Some(p.rule.id),
                _ => None,
            };
            self.errors.push(Error::new(
                span,
                id,
                format!("chain must be followed by a SecRule, found {what}"),
            ));
        }
    }

    fn remove(&mut self, sel: impl Fn(&Pending) -> bool) -> usize {
        let mut n = 0;
        for item in &mut self.items {
            if let Item::Rule(p) = item {
                if !p.removed && sel(p) {
                    p.removed = true;
                    self.ids.remove(&p.rule.id);
                    n += 1;
                }
            }
        }
        n
    }

    fn update_targets(
        &mut self,
        ctx: &Ctx,
        sel: impl Fn(&Pending) -> bool,
        targets: &[Variable],
        replace: Option<&Variable>,
    ) {
        let positions: Vec<usize> = self
            .items
            .iter()
            .enumerate()
            .filter_map(|(i, it)| match it {
                Item::Rule(p) if !p.removed && sel(p) => Some(i),
                _ => None,
            })
            .collect();
        if positions.is_empty() {
            self.diag(
                Level::Warning,
                ctx,
                "no rule defined so far matches; ignored",
            );
            return;
        }
        for pos in positions {
            let Some(Item::Rule(p)) = self.items.get(pos) else {
                continue;
            };
            let rctx = Ctx {
                id: Some(p.rule.id),
                ..ctx.clone()
            };
            let mut cond_targets = p.rule.cond.targets.clone();
            if let Some(old) = replace {
                let Some(old_t) = self.lower_target(&rctx, old) else {
                    continue;
                };
                let before = cond_targets.len();
                cond_targets.retain(|t| !same_target(t, &old_t));
                if cond_targets.len() == before {
                    self.diag(
                        Level::Warning,
                        &rctx,
                        "replaced target not found; adding anyway",
                    );
                }
            }
            self.merge_targets(&rctx, &mut cond_targets, targets);
            if let Some(Item::Rule(p)) = self.items.get_mut(pos) {
                p.rule.cond.targets = cond_targets;
            }
        }
    }

    /// Adds positive variables to `into` (deduplicated) and applies `!` exclusions.
    fn merge_targets(&mut self, ctx: &Ctx, into: &mut Vec<Target>, vars: &[Variable]) {
        for v in vars.iter().filter(|v| !v.negated) {
            if let Some(t) = self.lower_target(ctx, v) {
                if !into.iter().any(|x| same_target(x, &t)) {
                    into.push(t);
                }
            }
        }
        for v in vars.iter().filter(|v| v.negated) {
            let Some(t) = self.lower_target(ctx, v) else {
                continue;
            };
            if v.count || t.count {
                self.diag(
                    Level::Warning,
                    ctx,
                    format!("exclusion of a count (!&{}) ignored", v.collection),
                );
                continue;
            }
            if matches!(t.selector, Selector::All) {
                let before = into.len();
                into.retain(|x| x.collection != t.collection);
                if before == into.len() {
                    self.diag(
                        Level::Warning,
                        ctx,
                        format!("exclusion !{} matches no target", v.collection),
                    );
                }
                continue;
            }
            let mut hit = false;
            for x in into.iter_mut() {
                if x.collection == t.collection && !x.count {
                    hit = true;
                    if !x.exclude.contains(&t.selector) {
                        x.exclude.push(t.selector.clone());
                    }
                }
            }
            if !hit {
                self.diag(
                    Level::Warning,
                    ctx,
                    format!(
                        "exclusion !{}:... matches no target of the rule",
                        v.collection
                    ),
                );
            }
        }
    }

    fn default_action(&mut self, span: &Span, actions: &[Action]) {
        let ctx = Ctx {
            span: span.clone(),
            id: None,
            directive: "SecDefaultAction",
        };
        let mut d = Defaults::default();
        let mut phase = None;
        for a in actions {
            let name = a.name.to_ascii_lowercase();
            let v = a.value.as_deref().unwrap_or("");
            match name.as_str() {
                "phase" => phase = parse_phase(v),
                "pass" => d.disruptive = Disruptive::Pass,
                "deny" => d.disruptive = Disruptive::Deny,
                "allow" => d.disruptive = Disruptive::Allow,
                "block" => self.diag(Level::Warning, &ctx, "block as a default action means pass"),
                "status" => d.status = v.trim().parse().ok(),
                "log" => d.log = true,
                "nolog" => d.log = false,
                "auditlog" | "noauditlog" => {}
                "t" => {
                    if v.eq_ignore_ascii_case("none") {
                        d.transforms.clear();
                    } else if let Some(t) = Transform::from_name(v) {
                        d.transforms.push(t);
                    } else {
                        self.diag(Level::Error, &ctx, format!("unknown transformation t:{v}"));
                    }
                }
                _ => self.diag(Level::Warning, &ctx, format!("action {} ignored", a.name)),
            }
        }
        match phase {
            Some(p) => {
                if let Some(slot) = self.defaults.get_mut(usize::from(p)) {
                    *slot = d;
                }
            }
            None => self.error(&ctx, "SecDefaultAction needs a phase (1-5)"),
        }
    }

    fn sec_action(&mut self, span: &Span, actions: &[Action]) {
        let ctx = Ctx {
            span: span.clone(),
            id: action_id(actions),
            directive: "SecAction",
        };
        if self.open_chain.is_some() {
            self.check_no_open_chain(span, "SecAction");
        }
        let cond = Condition {
            operator: Operator::Unconditional,
            ..Condition::default()
        };
        self.head_rule(&ctx, cond, actions);
    }

    fn sec_rule(&mut self, span: &Span, r: &SecRule) {
        let mut ctx = Ctx {
            span: span.clone(),
            id: action_id(&r.actions),
            directive: "SecRule",
        };
        let mut targets = Vec::new();
        if let Some(i) = self.open_chain {
            // A chain link.
            let Some(Item::Rule(head)) = self.items.get(i) else {
                return;
            };
            ctx.id = Some(head.rule.id);
            let info = rule_info_of(&head.rule, head.rule.phase);
            let mut ctx_link = ctx.clone();
            ctx_link.directive = "SecRule (chain link)";
            self.merge_targets(&ctx_link, &mut targets, &r.variables);
            let (operator, negated) = self.operator(&ctx_link, &r.operator);
            let set = self.actions(&ctx_link, &r.actions, &info);
            let defaults = self.defaults_for(info.phase).clone();
            for h in &set.head_only {
                self.diag(
                    Level::Warning,
                    &ctx_link,
                    format!("action {h} in a chained rule ignored (only the chain head's counts)"),
                );
            }
            let cond = Condition {
                targets,
                transforms: set.transforms_or(&defaults),
                operator,
                negated,
                multi_match: set.multi_match,
                capture: set.capture,
                setvars: set.setvars,
            };
            if let Some(Item::Rule(head)) = self.items.get_mut(i) {
                head.rule.chain.push(cond);
                head.rule.actions.ctls.extend(set.ctls);
                head.chain_open = set.chain;
            }
            if !set.chain {
                self.open_chain = None;
            }
            return;
        }
        self.merge_targets(&ctx, &mut targets, &r.variables);
        let (operator, negated) = self.operator(&ctx, &r.operator);
        let cond = Condition {
            targets,
            operator,
            negated,
            ..Condition::default()
        };
        self.head_rule(&ctx, cond, &r.actions);
    }

    fn defaults_for(&self, phase: u8) -> &Defaults {
        &self.defaults[usize::from(phase.min(5))]
    }

    /// Lowers the actions of a head rule (SecRule or SecAction) and records it.
    fn head_rule(&mut self, ctx: &Ctx, mut cond: Condition, actions: &[Action]) {
        let Some(id) = ctx.id else {
            let what = if actions.iter().any(|a| a.is("id")) {
                "bad id"
            } else {
                "missing id"
            };
            self.error(ctx, format!("{}: {what}", ctx.directive));
            return;
        };
        if id == 0 {
            self.error(ctx, "id 0 is not allowed");
            return;
        }
        if !self.ids.insert(id) {
            self.error(ctx, format!("duplicate rule id {id}"));
            return;
        }
        let info = rule_info(actions);
        let set = self.actions(ctx, actions, &info);
        let phase = set.phase.unwrap_or(2);
        let defaults = self.defaults_for(phase).clone();
        let (disruptive, status) = match set.disruptive {
            Some(DisruptiveSpec::Explicit(d)) => (d, set.status.or(defaults.status)),
            Some(DisruptiveSpec::Block) | None => {
                (defaults.disruptive, set.status.or(defaults.status))
            }
        };
        cond.transforms = set.transforms_or(&defaults);
        cond.capture = set.capture;
        cond.multi_match = set.multi_match;
        let rule = Rule {
            id,
            phase,
            cond,
            chain: Vec::new(),
            actions: Actions {
                disruptive,
                status,
                setvars: set.setvars,
                skip_after: None,
                log: set.log.unwrap_or(defaults.log),
                ctls: set.ctls,
            },
            msg: set.msg,
            logdata: set.logdata,
            tags: set.tags,
            severity: set.severity,
            family: "crs".to_string(),
        };
        self.items.push(Item::Rule(Box::new(Pending {
            rule,
            span: ctx.span.clone(),
            removed: false,
            skip_marker: set.skip_after,
            chain_open: set.chain,
        })));
        if set.chain {
            self.open_chain = Some(self.items.len() - 1);
        }
    }

    fn actions(&mut self, ctx: &Ctx, actions: &[Action], info: &RuleInfo) -> ActionSet {
        let mut s = ActionSet::default();
        for a in actions {
            let name = a.name.to_ascii_lowercase();
            let raw = a.value.as_deref();
            let v = raw.unwrap_or("");
            let mut head_only = true;
            match name.as_str() {
                "id" => s.id = v.trim().parse().ok(),
                "phase" => match parse_phase(v) {
                    Some(p) => s.phase = Some(p),
                    None => self.error(ctx, format!("bad phase {v:?}")),
                },
                "msg" => s.msg = Some(self.macro_string(ctx, v, info)),
                "logdata" => s.logdata = Some(self.macro_string(ctx, v, info)),
                "tag" => s.tags.push(v.to_string()),
                "severity" => match parse_severity(v) {
                    Some(n) => s.severity = Some(n),
                    None => self.diag(Level::Warning, ctx, format!("bad severity {v:?} ignored")),
                },
                "status" => match v.trim().parse::<u16>() {
                    Ok(n) => s.status = Some(n),
                    Err(_) => self.error(ctx, format!("bad status {v:?}")),
                },
                "log" => s.log = Some(true),
                "nolog" => s.log = Some(false),
                "deny" => s.disruptive = Some(DisruptiveSpec::Explicit(Disruptive::Deny)),
                "pass" => s.disruptive = Some(DisruptiveSpec::Explicit(Disruptive::Pass)),
                "block" => s.disruptive = Some(DisruptiveSpec::Block),
                "allow" => {
                    if raw.is_some() {
                        self.diag(
                            Level::Warning,
                            ctx,
                            format!("allow:{v} treated as allow (stops all further rules)"),
                        );
                    }
                    s.disruptive = Some(DisruptiveSpec::Explicit(Disruptive::Allow));
                }
                "drop" => {
                    self.diag(Level::Warning, ctx, "drop treated as deny");
                    s.disruptive = Some(DisruptiveSpec::Explicit(Disruptive::Deny));
                }
                "redirect" | "proxy" => {
                    self.diag(
                        Level::Error,
                        ctx,
                        format!("{name} not supported; treated as deny"),
                    );
                    s.disruptive = Some(DisruptiveSpec::Explicit(Disruptive::Deny));
                }
                "skipafter" => s.skip_after = Some(v.trim().to_string()),
                "skip" => self.diag(
                    Level::Error,
                    ctx,
                    format!("skip:{v} not supported; ignored"),
                ),
                "chain" => {
                    s.chain = true;
                    head_only = false;
                }
                "t" => {
                    head_only = false;
                    if v.trim().eq_ignore_ascii_case("none") {
                        s.t_reset = true;
                        s.t_list.clear();
                    } else if let Some(t) = Transform::from_name(v.trim()) {
                        s.t_list.push(t);
                    } else {
                        self.diag(
                            Level::Error,
                            ctx,
                            format!("unknown transformation t:{v}; dropped"),
                        );
                    }
                }
                "capture" => {
                    s.capture = true;
                    head_only = false;
                }
                "multimatch" => {
                    s.multi_match = true;
                    head_only = false;
                }
                "setvar" => {
                    head_only = false;
                    if let Some(sv) = self.setvar(ctx, v, info) {
                        s.setvars.push(sv);
                    }
                }
                "ctl" => {
                    head_only = false;
                    self.ctl(ctx, v, &mut s.ctls);
                }
                "ver" | "rev" | "maturity" | "accuracy" | "auditlog" | "noauditlog" => {
                    head_only = false;
                }
                "initcol" | "expirevar" | "deprecatevar" | "setuid" | "setsid" | "setrsc" => {
                    head_only = false;
                    self.diag(
                        Level::Warning,
                        ctx,
                        format!("{name}:{v}: persistent collections are not supported; ignored"),
                    );
                }
                "sanitisearg"
                | "sanitisematched"
                | "sanitisematchedbytes"
                | "sanitiserequestheader"
                | "sanitiseresponseheader"
                | "xmlns" => {
                    head_only = false;
                    self.diag(Level::Info, ctx, format!("{name} ignored (logging only)"));
                }
                _ => {
                    head_only = false;
                    self.diag(
                        Level::Error,
                        ctx,
                        format!("action {} not supported; ignored", a.name),
                    );
                }
            }
            if head_only {
                s.head_only.push(a.name.clone());
            }
        }
        s
    }

    fn setvar(&mut self, ctx: &Ctx, v: &str, info: &RuleInfo) -> Option<SetVar> {
        let (name, op, value) = if let Some(n) = v.strip_prefix('!') {
            (n, SetVarOp::Delete, "")
        } else {
            match v.split_once('=') {
                Some((n, rest)) => {
                    if let Some(r) = rest.strip_prefix('+') {
                        (n, SetVarOp::Add, r)
                    } else if let Some(r) = rest.strip_prefix('-') {
                        (n, SetVarOp::Sub, r)
                    } else {
                        (n, SetVarOp::Set, rest)
                    }
                }
                None => (v, SetVarOp::Set, "1"),
            }
        };
        let name = name.trim();
        let Some((coll, var)) = name.split_once('.') else {
            self.diag(
                Level::Error,
                ctx,
                format!("setvar:{v}: no collection; ignored"),
            );
            return None;
        };
        if !coll.eq_ignore_ascii_case("tx") {
            self.diag(
                Level::Warning,
                ctx,
                format!("setvar:{v}: only TX is supported; ignored"),
            );
            return None;
        }
        let mut name = self.macro_string(ctx, var, info);
        for p in &mut name.parts {
            if let MacroPart::Lit(b) = p {
                b.make_ascii_lowercase();
            }
        }
        let value = self.macro_string(ctx, value, info);
        Some(SetVar { name, op, value })
    }

    fn ctl(&mut self, ctx: &Ctx, v: &str, out: &mut Vec<Ctl>) {
        let Some((name, value)) = v.split_once('=') else {
            self.diag(
                Level::Error,
                ctx,
                format!("ctl:{v}: expected name=value; ignored"),
            );
            return;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "ruleremovebyid" => match parse_id_list(value) {
                Ok(ids) => out.extend(ids.iter().map(|r| Ctl::RuleRemoveById(r.start, r.end))),
                Err(e) => self.error(ctx, format!("ctl:{v}: {e}")),
            },
            "ruleremovebytag" => out.push(Ctl::RuleRemoveByTag(value.to_string())),
            "ruleremovetargetbyid" | "ruleremovetargetbytag" => {
                let Some((what, target)) = value.split_once(';') else {
                    self.error(ctx, format!("ctl:{v}: expected ID;TARGET"));
                    return;
                };
                let vars = match parse_variables(target) {
                    Ok(vars) => vars,
                    Err(e) => {
                        self.error(ctx, format!("ctl:{v}: {e}"));
                        return;
                    }
                };
                for var in &vars {
                    let Some(t) = self.lower_target(ctx, var) else {
                        continue;
                    };
                    if name.trim().eq_ignore_ascii_case("ruleremovetargetbytag") {
                        out.push(Ctl::RuleRemoveTargetByTag(what.to_string(), t));
                    } else {
                        match parse_id_list(what) {
                            Ok(ids) => {
                                for r in ids {
                                    if r.start == r.end {
                                        out.push(Ctl::RuleRemoveTargetById(r.start, t.clone()));
                                    } else {
                                        self.diag(
                                            Level::Error,
                                            ctx,
                                            format!("ctl:{v}: id ranges not supported; ignored"),
                                        );
                                    }
                                }
                            }
                            Err(e) => self.error(ctx, format!("ctl:{v}: {e}")),
                        }
                    }
                }
            }
            "requestbodyprocessor" => {
                out.push(Ctl::RequestBodyProcessor(value.to_ascii_uppercase()))
            }
            "forcerequestbodyvariable" => match on_off(value) {
                Some(b) => out.push(Ctl::ForceRequestBodyVariable(b)),
                None => self.error(ctx, format!("ctl:{v}: expected On or Off")),
            },
            "auditengine" => out.push(Ctl::AuditEngine(value.to_string())),
            "auditlogparts" | "debugloglevel" => {
                self.diag(Level::Info, ctx, format!("ctl:{v} ignored (logging only)"));
            }
            _ => self.diag(Level::Error, ctx, format!("ctl:{v} not supported; ignored")),
        }
    }

    /// `%{...}` macro expansion into parts.
    fn macro_string(&mut self, ctx: &Ctx, s: &str, info: &RuleInfo) -> MacroString {
        let mut parts: Vec<MacroPart> = Vec::new();
        let mut lit: Vec<u8> = Vec::new();
        let mut rest = s;
        while let Some(start) = rest.find("%{") {
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else { break };
            lit.extend_from_slice(&rest.as_bytes()[..start]);
            let inner = after[..end].trim();
            rest = &after[end + 1..];
            let (coll, key) = match inner.split_once(['.', ':']) {
                Some((c, k)) => (c, Some(k)),
                None => (inner, None),
            };
            if coll.eq_ignore_ascii_case("rule") {
                let k = key.unwrap_or("").to_ascii_lowercase();
                let sub = match k.as_str() {
                    "id" => info.id.map(|i| i.to_string()),
                    "phase" => Some(info.phase.to_string()),
                    "severity" => info.severity.map(|s| s.to_string()),
                    "ver" => info.ver.clone(),
                    "rev" => info.rev.clone(),
                    "msg" => {
                        if let Some(m) = info.msg.clone() {
                            let inner_info = RuleInfo {
                                msg: None,
                                ..info.clone()
                            };
                            let ms = self.macro_string(ctx, &m, &inner_info);
                            for p in ms.parts {
                                match p {
                                    MacroPart::Lit(b) => lit.extend(b),
                                    other => {
                                        flush(&mut parts, &mut lit);
                                        parts.push(other);
                                    }
                                }
                            }
                        }
                        Some(String::new())
                    }
                    _ => None,
                };
                match sub {
                    Some(t) => lit.extend_from_slice(t.as_bytes()),
                    None => self.diag(
                        Level::Warning,
                        ctx,
                        format!("macro %{{{inner}}} has no value; expands to empty"),
                    ),
                }
                continue;
            }
            flush(&mut parts, &mut lit);
            match collection_by_name(coll) {
                Some(c) => parts.push(MacroPart::Var(c, key.map(str::to_ascii_lowercase))),
                None => {
                    self.diag(
                        Level::Error,
                        ctx,
                        format!("macro %{{{inner}}}: unknown variable; never has a value"),
                    );
                    parts.push(MacroPart::Var(
                        Collection::Env,
                        Some(inner.to_ascii_lowercase()),
                    ));
                }
            }
        }
        lit.extend_from_slice(rest.as_bytes());
        flush(&mut parts, &mut lit);
        MacroString { parts }
    }

    fn lower_target(&mut self, ctx: &Ctx, v: &Variable) -> Option<Target> {
        let Some(collection) = collection_by_name(&v.collection) else {
            self.diag(
                Level::Error,
                ctx,
                format!(
                    "variable {} not supported; it never has a value",
                    v.collection
                ),
            );
            let key = match &v.selector {
                Some(VarSelector::Key(k)) | Some(VarSelector::Regex(k)) => {
                    format!("{}:{}", v.collection, k)
                }
                None => v.collection.clone(),
            };
            return Some(Target {
                collection: Collection::Env,
                selector: Selector::Key(key.to_ascii_lowercase()),
                count: v.count,
                exclude: Vec::new(),
            });
        };
        let selector = match &v.selector {
            None => Selector::All,
            Some(VarSelector::Key(k)) => {
                if lowercase_keys(collection) {
                    Selector::Key(k.to_ascii_lowercase())
                } else {
                    Selector::Key(k.clone())
                }
            }
            Some(VarSelector::Regex(re)) => {
                let idx = self.regex(ctx, re, SELECTOR_FLAGS)?;
                Selector::Regex(idx)
            }
        };
        Some(Target {
            collection,
            selector,
            count: v.count,
            exclude: Vec::new(),
        })
    }

    /// Adds a regex to the table (deduplicated) after rewriting and checking it.
    fn regex(&mut self, ctx: &Ctx, pattern: &str, flags: RegexFlags) -> Option<u32> {
        let pattern = trailing_negative_lookahead(pattern).unwrap_or_else(|| pattern.to_string());
        let (pattern, notes) = pcre_to_rust(&pattern);
        for n in notes {
            self.diag(Level::Warning, ctx, format!("regex: {n}"));
        }
        if let Some(&i) = self.regex_index.get(&(pattern.clone(), flag_key(flags))) {
            return Some(i);
        }
        if let Err(e) = check_regex(&pattern, flags) {
            self.diag(
                Level::Error,
                ctx,
                format!("regex does not parse in byte mode ({e}); never matches: {pattern}"),
            );
            return None;
        }
        let idx = u32::try_from(self.out.regexes.len()).ok()?;
        self.out.regexes.push(RegexDef {
            pattern: pattern.clone(),
            dfa: None,
            flags,
            required_literals: Vec::new(),
        });
        self.regex_index.insert((pattern, flag_key(flags)), idx);
        Some(idx)
    }

    fn literal_set(&mut self, literals: Vec<Vec<u8>>) -> Option<u32> {
        if let Some(&i) = self.literal_index.get(&literals) {
            return Some(i);
        }
        let idx = u32::try_from(self.out.literal_sets.len()).ok()?;
        self.out.literal_sets.push(LiteralSet {
            literals: literals.clone(),
        });
        self.literal_index.insert(literals, idx);
        Some(idx)
    }

    /// Lowers an operator; returns it and whether it is negated.
    fn operator(&mut self, ctx: &Ctx, op: &OperatorSpec) -> (Operator, bool) {
        let name = op.name.to_ascii_lowercase();
        let arg = op.argument.as_str();
        let info = RuleInfo {
            id: ctx.id,
            ..RuleInfo::default()
        };
        let unsupported = |l: &mut Self, why: String| {
            l.diag(Level::Error, ctx, why);
            (Operator::NoMatch, false)
        };
        let op_out = match name.as_str() {
            "rx" => {
                let mut pattern = arg.to_string();
                if arg.contains("%{") {
                    match expand_tx_constants(arg, &self.tx_consts) {
                        Ok(p) => {
                            self.diag(
                                Level::Warning,
                                ctx,
                                format!("@rx macros substituted at compile time (the values are constants): {p}"),
                            );
                            pattern = p;
                        }
                        Err(m) => self.diag(
                            Level::Error,
                            ctx,
                            format!("@rx with macro {m} (not a compile-time constant) not supported; pattern used literally"),
                        ),
                    }
                }
                match self.regex(ctx, &pattern, OPERATOR_FLAGS) {
                    Some(i) => Operator::Rx(i),
                    None => Operator::NoMatch,
                }
            }
            "pm" => {
                let lits: Vec<Vec<u8>> = arg
                    .split_whitespace()
                    .map(|w| w.as_bytes().to_vec())
                    .collect();
                if lits.is_empty() {
                    self.error(ctx, "@pm without phrases");
                }
                match self.literal_set(lits) {
                    Some(i) => Operator::Pm(i),
                    None => Operator::NoMatch,
                }
            }
            "pmfromfile" | "pmf" => match self.read_data_files(ctx, arg) {
                Some(lines) => {
                    let lits = lines.into_iter().map(String::into_bytes).collect();
                    match self.literal_set(lits) {
                        Some(i) => Operator::Pm(i),
                        None => Operator::NoMatch,
                    }
                }
                None => Operator::NoMatch,
            },
            "streq" => Operator::StrEq(self.macro_string(ctx, arg, &info)),
            "contains" | "strmatch" => Operator::Contains(self.macro_string(ctx, arg, &info)),
            "beginswith" => Operator::BeginsWith(self.macro_string(ctx, arg, &info)),
            "endswith" => Operator::EndsWith(self.macro_string(ctx, arg, &info)),
            "within" => Operator::Within(self.macro_string(ctx, arg, &info)),
            "eq" => Operator::Eq(self.macro_string(ctx, arg.trim(), &info)),
            "ge" => Operator::Ge(self.macro_string(ctx, arg.trim(), &info)),
            "gt" => Operator::Gt(self.macro_string(ctx, arg.trim(), &info)),
            "lt" => Operator::Lt(self.macro_string(ctx, arg.trim(), &info)),
            "le" => Operator::Le(self.macro_string(ctx, arg.trim(), &info)),
            "validatebyterange" => match byte_range_map(arg) {
                Ok(m) => Operator::ValidateByteRange(m),
                Err(e) => {
                    self.error(ctx, format!("@validateByteRange: {e}"));
                    Operator::NoMatch
                }
            },
            "validateurlencoding" => Operator::ValidateUrlEncoding,
            "validateutf8encoding" => Operator::ValidateUtf8Encoding,
            "ipmatch" => match parse_ip_list(arg.split([',', ' ', '\t'])) {
                Ok(nets) => Operator::IpMatch(nets),
                Err(e) => {
                    self.error(ctx, format!("@ipMatch: {e}"));
                    Operator::NoMatch
                }
            },
            "ipmatchfromfile" | "ipmatchf" => match self.read_data_files(ctx, arg) {
                Some(lines) => match parse_ip_list(lines.iter().map(String::as_str)) {
                    Ok(nets) => Operator::IpMatch(nets),
                    Err(e) => {
                        self.error(ctx, format!("@{}: {e}", op.name));
                        Operator::NoMatch
                    }
                },
                None => Operator::NoMatch,
            },
            "detectsqli" => Operator::DetectSqli,
            "detectxss" => Operator::DetectXss,
            "unconditionalmatch" => Operator::Unconditional,
            "nomatch" => Operator::NoMatch,
            _ => {
                return unsupported(
                    self,
                    format!(
                        "operator @{} not supported; the condition never matches",
                        op.name
                    ),
                )
            }
        };
        if matches!(op_out, Operator::NoMatch) && name != "nomatch" {
            // Lowering failed (diagnosed): never match, even when negated.
            return (op_out, false);
        }
        (op_out, op.negated)
    }

    /// Reads `@pmFromFile` data files (space-separated, relative to the rule's file):
    /// one phrase per line, trimmed; blank lines and `#` comments skipped.
    fn read_data_files(&mut self, ctx: &Ctx, arg: &str) -> Option<Vec<String>> {
        let base = Path::new(&*ctx.span.file)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut out = Vec::new();
        for f in arg.split_whitespace() {
            if f.starts_with("http://") || f.starts_with("https://") {
                self.diag(
                    Level::Error,
                    ctx,
                    format!("remote data file {f} not supported"),
                );
                return None;
            }
            let p = Path::new(f);
            let full = if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            };
            match std::fs::read(&full) {
                Ok(bytes) => {
                    let text = String::from_utf8_lossy(&bytes);
                    for line in text.lines() {
                        let t = line.trim();
                        if !t.is_empty() && !t.starts_with('#') {
                            out.push(t.to_string());
                        }
                    }
                }
                Err(e) => {
                    self.error(
                        ctx,
                        format!("cannot read data file {}: {e}", full.display()),
                    );
                    return None;
                }
            }
        }
        if out.is_empty() {
            self.diag(
                Level::Warning,
                ctx,
                format!("data file(s) {arg} hold no phrases"),
            );
        }
        Some(out)
    }

    fn setting(&mut self, span: &Span, name: &'static str, args: &[String]) {
        let ctx = Ctx {
            span: span.clone(),
            id: None,
            directive: name,
        };
        let first = args.first().map(String::as_str).unwrap_or("");
        let num = |l: &mut Self| -> Option<u32> {
            match first.trim().parse::<u64>() {
                Ok(n) => Some(u32::try_from(n).unwrap_or(u32::MAX)),
                Err(_) => {
                    l.error(&ctx, format!("{name}: expected a number, got {first:?}"));
                    None
                }
            }
        };
        match name {
            "SecRuleEngine" => match first.to_ascii_lowercase().as_str() {
                "on" => self.out.rule_engine = Some(RuleEngine::On),
                "off" => self.out.rule_engine = Some(RuleEngine::Off),
                "detectiononly" => self.out.rule_engine = Some(RuleEngine::DetectionOnly),
                _ => self.error(&ctx, format!("{name}: expected On, Off or DetectionOnly")),
            },
            "SecRequestBodyAccess" => match on_off(first) {
                Some(b) => self.out.body.inspect = b,
                None => self.error(&ctx, format!("{name}: expected On or Off")),
            },
            "SecResponseBodyAccess" => match on_off(first) {
                Some(b) => self.out.body.inspect_response = b,
                None => self.error(&ctx, format!("{name}: expected On or Off")),
            },
            "SecRequestBodyLimit" => {
                if let Some(n) = num(self) {
                    self.out.body.limit = n;
                }
            }
            "SecResponseBodyLimit" => {
                if let Some(n) = num(self) {
                    self.out.body.response_limit = n;
                }
            }
            "SecRequestBodyLimitAction" => match first.to_ascii_lowercase().as_str() {
                "reject" => self.out.body.over_limit = OverLimit::Block,
                "processpartial" => self.out.body.over_limit = OverLimit::InspectPrefix,
                _ => self.error(&ctx, format!("{name}: expected Reject or ProcessPartial")),
            },
            "SecResponseBodyMimeType" => {
                for a in args {
                    for m in a.split_whitespace() {
                        let m = m.to_ascii_lowercase();
                        if !self.out.body.response_mime_types.contains(&m) {
                            self.out.body.response_mime_types.push(m);
                        }
                    }
                }
            }
            "SecResponseBodyMimeTypesClear" => self.out.body.response_mime_types.clear(),
            "SecArgumentSeparator" => {
                if first != "&" {
                    self.diag(
                        Level::Error,
                        &ctx,
                        format!("argument separator {first:?} not supported; & is used"),
                    );
                }
            }
            "SecRequestBodyNoFilesLimit"
            | "SecRequestBodyInMemoryLimit"
            | "SecResponseBodyLimitAction"
            | "SecRequestBodyJsonDepthLimit"
            | "SecArgumentsLimit"
            | "SecUploadFileLimit"
            | "SecPcreMatchLimit"
            | "SecPcreMatchLimitRecursion" => {
                self.diag(
                    Level::Info,
                    &ctx,
                    format!("{name} {} not modeled; ignored", args.join(" ")),
                );
            }
            "SecRuleUpdateActionById"
            | "SecRuleScript"
            | "SecRuleRemoveByMsg"
            | "SecRuleUpdateTargetByMsg"
            | "SecRemoteRules"
            | "SecContentInjection"
            | "SecStreamOutBodyInspection"
            | "SecXmlExternalEntity"
            | "SecRuleInheritance" => {
                self.diag(Level::Error, &ctx, format!("{name} not supported; ignored"));
            }
            _ => self.diag(
                Level::Info,
                &ctx,
                format!("{name} ignored (no effect on verdicts)"),
            ),
        }
    }
}

impl ActionSet {
    fn transforms_or(&self, defaults: &Defaults) -> Vec<Transform> {
        // `t:none` resets; without it, the rule's list extends the default one.
        if self.t_reset {
            self.t_list.clone()
        } else {
            let mut t = defaults.transforms.clone();
            t.extend(self.t_list.iter().copied());
            t
        }
    }
}

fn flag_key(f: RegexFlags) -> [bool; 3] {
    [f.case_insensitive, f.dot_all, f.multi_line]
}

fn flush(parts: &mut Vec<MacroPart>, lit: &mut Vec<u8>) {
    if lit.is_empty() {
        return;
    }
    let bytes = std::mem::take(lit);
    if let Some(MacroPart::Lit(prev)) = parts.last_mut() {
        prev.extend(bytes);
    } else {
        parts.push(MacroPart::Lit(bytes));
    }
}

fn rule_info(actions: &[Action]) -> RuleInfo {
    let mut info = RuleInfo {
        phase: 2,
        ..RuleInfo::default()
    };
    for a in actions {
        let v = a.value.as_deref().unwrap_or("");
        match a.name.to_ascii_lowercase().as_str() {
            "id" => info.id = v.trim().parse().ok(),
            "phase" => info.phase = parse_phase(v).unwrap_or(2),
            "msg" => info.msg = Some(v.to_string()),
            "severity" => info.severity = parse_severity(v),
            "ver" => info.ver = Some(v.to_string()),
            "rev" => info.rev = Some(v.to_string()),
            _ => {}
        }
    }
    info
}

/// `%{rule.*}` values for chain links: taken from the lowered head (msg as text is not
/// available there, so `%{rule.msg}` in a link expands to its literal parts only).
fn rule_info_of(rule: &Rule, phase: u8) -> RuleInfo {
    let msg = rule.msg.as_ref().map(|m| {
        m.parts
            .iter()
            .map(|p| match p {
                MacroPart::Lit(b) => String::from_utf8_lossy(b).into_owned(),
                MacroPart::Var(..) => String::new(),
            })
            .collect()
    });
    RuleInfo {
        id: Some(rule.id),
        phase,
        msg,
        severity: rule.severity,
        ver: None,
        rev: None,
    }
}

fn parse_phase(v: &str) -> Option<u8> {
    match v.trim().to_ascii_lowercase().as_str() {
        "request" => Some(2),
        "response" => Some(4),
        "logging" => Some(5),
        s => s.parse::<u8>().ok().filter(|p| (1..=5).contains(p)),
    }
}

/// Severity names or digits -> 0..7.
pub fn parse_severity(v: &str) -> Option<u8> {
    let v = v.trim();
    let n = match v.to_ascii_uppercase().as_str() {
        "EMERGENCY" => 0,
        "ALERT" => 1,
        "CRITICAL" => 2,
        "ERROR" => 3,
        "WARNING" => 4,
        "NOTICE" => 5,
        "INFO" => 6,
        "DEBUG" => 7,
        s => s.parse::<u8>().ok()?,
    };
    (n <= 7).then_some(n)
}

fn on_off(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "on" => Some(true),
        "off" => Some(false),
        _ => None,
    }
}

fn same_target(a: &Target, b: &Target) -> bool {
    a.collection == b.collection && a.selector == b.selector && a.count == b.count
}

/// Whether keys of this collection compare case-insensitively (stored lowercased).
fn lowercase_keys(c: Collection) -> bool {
    matches!(
        c,
        Collection::RequestHeaders
            | Collection::RequestHeadersNames
            | Collection::ResponseHeaders
            | Collection::RequestCookies
            | Collection::RequestCookiesNames
            | Collection::Tx
    )
}

/// SecLang variable name (case-insensitive) -> collection.
pub fn collection_by_name(name: &str) -> Option<Collection> {
    use Collection::*;
    let c = match name.to_ascii_uppercase().as_str() {
        "ARGS" => Args,
        "ARGS_GET" => ArgsGet,
        "ARGS_POST" => ArgsPost,
        "ARGS_NAMES" => ArgsNames,
        "ARGS_GET_NAMES" => ArgsGetNames,
        "ARGS_POST_NAMES" => ArgsPostNames,
        "ARGS_COMBINED_SIZE" => ArgsCombinedSize,
        "REQUEST_COOKIES" => RequestCookies,
        "REQUEST_COOKIES_NAMES" => RequestCookiesNames,
        "REQUEST_HEADERS" => RequestHeaders,
        "REQUEST_HEADERS_NAMES" => RequestHeadersNames,
        "REQUEST_FILENAME" => RequestFilename,
        "REQUEST_BASENAME" => RequestBasename,
        "REQUEST_URI" => RequestUri,
        "REQUEST_URI_RAW" => RequestUriRaw,
        "REQUEST_LINE" => RequestLine,
        "REQUEST_METHOD" => RequestMethod,
        "REQUEST_PROTOCOL" => RequestProtocol,
        "QUERY_STRING" => QueryString,
        "REQUEST_BODY" => RequestBody,
        "REQUEST_BODY_LENGTH" => RequestBodyLength,
        "XML" => Xml,
        "FILES" => Files,
        "FILES_NAMES" => FilesNames,
        "FILES_COMBINED_SIZE" => FilesCombinedSize,
        "MULTIPART_PART_HEADERS" => MultipartPartHeaders,
        "REQBODY_PROCESSOR" => ReqbodyProcessor,
        "REQBODY_ERROR" | "REQBODY_PROCESSOR_ERROR" => ReqbodyError,
        "RESPONSE_HEADERS" => ResponseHeaders,
        "RESPONSE_BODY" => ResponseBody,
        "RESPONSE_STATUS" => ResponseStatus,
        "REMOTE_ADDR" => RemoteAddr,
        "TX" => Tx,
        "MATCHED_VAR" => MatchedVar,
        "MATCHED_VAR_NAME" => MatchedVarName,
        "MATCHED_VARS" => MatchedVars,
        "MATCHED_VARS_NAMES" => MatchedVarsNames,
        "UNIQUE_ID" => UniqueId,
        _ => return None,
    };
    Some(c)
}

/// A pattern ending in a negative lookahead of a plain word, `P(?!abc)` (CRS 3.3.4's 953120
/// `<\?(?!xml)`), rewritten without look-around (which `regex-syntax` lacks) into the
/// equivalent `P(?:\z|[^a]|a\z|a[^b]|ab\z|ab[^c])`: the same inputs match (the match
/// may extend one byte further). `None` for any other pattern.
fn trailing_negative_lookahead(p: &str) -> Option<String> {
    let body = p.strip_suffix(')')?;
    let start = body.rfind("(?!")?;
    let word = &body[start + 3..];
    let escapes = p[..start].chars().rev().take_while(|&c| c == '\\').count();
    if word.is_empty() || !word.bytes().all(|b| b.is_ascii_alphanumeric()) || escapes % 2 == 1 {
        return None;
    }
    let mut alts = Vec::new();
    for (i, c) in word.char_indices() {
        let prefix = &word[..i];
        alts.push(format!("{prefix}\\z"));
        alts.push(format!("{prefix}[^{c}]"));
    }
    Some(format!("{}(?:{})", &p[..start], alts.join("|")))
}

/// Rewrites a PCRE pattern (as libmodsecurity3 compiles it: bytes, no UTF mode) into an
/// equivalent `regex-syntax` byte-mode pattern. Only spellings whose meaning differs or
/// that `regex-syntax` rejects are touched:
/// - `\x{HH}` with HH > 0x7F becomes `\xHH` (byte-mode `regex-syntax` rejects the braced
///   form above 0x7F inside classes);
/// - non-ASCII characters (and `\` + non-ASCII) become one `\xHH` per UTF-8 byte;
/// - `\<` and `\>` (literals in PCRE, word boundaries in `regex-syntax`) become `<` / `>`;
/// - inside a class, `[` (not `[:`), `&`, `~` and a `-` followed by `-` are escaped
///   (literals in PCRE, nesting / set operations in `regex-syntax`);
/// - `{` that does not start a valid quantifier and a stray `}` are escaped (PCRE literals).
///
/// Returns the pattern and notes on approximations (possessive quantifiers made greedy).
pub fn pcre_to_rust(p: &str) -> (String, Vec<String>) {
    let c: Vec<char> = p.chars().collect();
    let mut out = String::with_capacity(p.len());
    let mut notes = Vec::new();
    let mut in_class = false;
    // Position in `out` terms is not needed; track whether we are at a class's first item.
    let mut class_start = false;
    let mut i = 0;
    let push_bytes = |out: &mut String, ch: char| {
        let mut buf = [0u8; 4];
        for b in ch.encode_utf8(&mut buf).bytes() {
            out.push_str(&format!("\\x{b:02X}"));
        }
    };
    while i < c.len() {
        let ch = c[i];
        let first_in_class = class_start;
        class_start = false;
        if ch == '\\' {
            let Some(&n) = c.get(i + 1) else {
                out.push('\\');
                i += 1;
                continue;
            };
            if n == 'x' && c.get(i + 2) == Some(&'{') {
                if let Some(close) = c[i + 3..].iter().position(|&x| x == '}') {
                    let hex: String = c[i + 3..i + 3 + close].iter().collect();
                    if let Ok(v) = u32::from_str_radix(&hex, 16) {
                        if (0x80..=0xFF).contains(&v) {
                            out.push_str(&format!("\\x{v:02X}"));
                            i += 3 + close + 1;
                            continue;
                        }
                    }
                }
            }
            if !n.is_ascii() {
                push_bytes(&mut out, n);
            } else if n == '<' || n == '>' {
                out.push(n);
            } else {
                out.push('\\');
                out.push(n);
            }
            i += 2;
            continue;
        }
        if !ch.is_ascii() {
            push_bytes(&mut out, ch);
            i += 1;
            continue;
        }
        if in_class {
            match ch {
                ']' if !first_in_class => {
                    in_class = false;
                    out.push(']');
                }
                ']' => out.push_str("\\]"),
                '^' if first_in_class && out.ends_with('[') => {
                    out.push('^');
                    class_start = true;
                }
                '[' if c.get(i + 1) == Some(&':') => {
                    // POSIX class `[:alpha:]`: copy through `:]`.
                    let rest: String = c[i..].iter().collect();
                    match rest.find(":]") {
                        Some(end) if end > 1 => {
                            out.push_str(&rest[..end + 2]);
                            i += rest[..end + 2].chars().count();
                            continue;
                        }
                        _ => out.push_str("\\["),
                    }
                }
                '[' => out.push_str("\\["),
                '&' => out.push_str("\\&"),
                '~' => out.push_str("\\~"),
                '-' if c.get(i + 1) == Some(&'-') => out.push_str("\\-"),
                _ => out.push(ch),
            }
            i += 1;
            continue;
        }
        match ch {
            '[' => {
                in_class = true;
                class_start = true;
                out.push('[');
            }
            '{' => {
                let rest: String = c[i..].iter().take(32).collect();
                match quantifier_len(&rest) {
                    Some(len) => {
                        out.push_str(&rest[..len]);
                        i += len;
                        if c.get(i) == Some(&'+') {
                            notes.push("possessive quantifier treated as greedy".to_string());
                            i += 1;
                        }
                        continue;
                    }
                    None => out.push_str("\\{"),
                }
            }
            '}' => out.push_str("\\}"),
            '*' | '+' | '?' if c.get(i + 1) == Some(&'+') && !prev_is_quantifiable_start(&out) => {
                out.push(ch);
                notes.push("possessive quantifier treated as greedy".to_string());
                i += 2;
                continue;
            }
            _ => out.push(ch),
        }
        i += 1;
    }
    notes.dedup();
    (out, notes)
}

/// Length of a valid `{n}`, `{n,}` or `{n,m}` quantifier at the start of `s`.
fn quantifier_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 1;
    let digits = |i: &mut usize| {
        let st = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > st
    };
    if !digits(&mut i) {
        return None;
    }
    if b.get(i) == Some(&b',') {
        i += 1;
        digits(&mut i);
    }
    (b.get(i) == Some(&b'}')).then_some(i + 1)
}

/// Whether the output so far ends where a `*`/`+`/`?` would not be a quantifier (`(` or
/// `|` or nothing), so a following `+` is not possessive.
fn prev_is_quantifiable_start(out: &str) -> bool {
    out.is_empty() || out.ends_with('(') || out.ends_with('|')
}

/// Checks that a pattern parses in byte mode with the given flags.
pub fn check_regex(pattern: &str, flags: RegexFlags) -> Result<(), String> {
    regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .case_insensitive(flags.case_insensitive)
        .dot_matches_new_line(flags.dot_all)
        .multi_line(flags.multi_line)
        .build()
        .parse(pattern)
        .map(|_| ())
        .map_err(|e| e.to_string().lines().last().unwrap_or("").to_string())
}

/// `@validateByteRange` argument (`1-255`, `9,10,13,32-126`) -> 32-byte allowed map.
pub fn byte_range_map(arg: &str) -> Result<Vec<u8>, String> {
    let mut map = vec![0u8; 32];
    let num = |t: &str| {
        t.trim()
            .parse::<u8>()
            .map_err(|_| format!("bad byte value {t:?}"))
    };
    let mut any = false;
    for part in arg.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => {
                let v = num(part)?;
                (v, v)
            }
        };
        if a > b {
            return Err(format!("bad range {part:?}"));
        }
        for v in a..=b {
            map[usize::from(v / 8)] |= 1 << (v % 8);
        }
        any = true;
    }
    if !any {
        return Err("empty range list".into());
    }
    Ok(map)
}

/// Parses IPs / CIDRs; IPv4 becomes IPv4-mapped IPv6 (`::ffff:a.b.c.d`, prefix + 96).
/// Host bits are cleared.
pub fn parse_ip_list<'a>(items: impl Iterator<Item = &'a str>) -> Result<Vec<IpNet>, String> {
    let mut out = Vec::new();
    for item in items {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let (addr, prefix) = match item.split_once('/') {
            Some((a, p)) => (
                a,
                Some(
                    p.parse::<u8>()
                        .map_err(|_| format!("bad prefix in {item:?}"))?,
                ),
            ),
            None => (item, None),
        };
        let ip: IpAddr = addr.parse().map_err(|_| format!("bad address {item:?}"))?;
        let (bytes, prefix) = match ip {
            IpAddr::V4(v4) => {
                let p = prefix.unwrap_or(32);
                if p > 32 {
                    return Err(format!("prefix too long in {item:?}"));
                }
                (v4.to_ipv6_mapped().octets(), p + 96)
            }
            IpAddr::V6(v6) => {
                let p = prefix.unwrap_or(128);
                if p > 128 {
                    return Err(format!("prefix too long in {item:?}"));
                }
                (v6.octets(), p)
            }
        };
        let mut addr = bytes;
        for (i, byte) in addr.iter_mut().enumerate() {
            let bit = i * 8;
            let keep = usize::from(prefix).saturating_sub(bit).min(8);
            let mask: u8 = if keep == 0 { 0 } else { 0xFFu8 << (8 - keep) };
            *byte &= mask;
        }
        out.push(IpNet { addr, prefix });
    }
    if out.is_empty() {
        return Err("no addresses".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::{expand_tx_constants, tx_constants};
    use crate::seclang::parse_str;

    fn consts(text: &str, tx_init: &[(&str, &str)]) -> std::collections::HashMap<String, String> {
        let dirs = parse_str(text, "t.conf").unwrap();
        let init: Vec<(String, String)> = tx_init
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        tx_constants(&dirs, &init)
    }

    const DEFAULT: &str =
        r#"SecRule &TX:cs "@eq 0" "id:1,phase:1,pass,nolog,setvar:'tx.cs=utf-8|latin1'""#;

    #[test]
    fn tx_constants_follow_crs_default_setup_and_tx_init_precedence() {
        assert_eq!(consts(DEFAULT, &[]).get("cs").unwrap(), "utf-8|latin1");
        // waf.crs.tx wins over CRS's default rule ...
        assert_eq!(
            consts(DEFAULT, &[("cs", "ascii")]).get("cs").unwrap(),
            "ascii"
        );
        // ... and a setup-file SecAction (runs on every request) over both.
        let setup = format!("SecAction \"id:2,phase:1,pass,nolog,setvar:tx.CS=koi8-r\"\n{DEFAULT}");
        assert_eq!(
            consts(&setup, &[("cs", "ascii")]).get("cs").unwrap(),
            "koi8-r"
        );
        // A conditional or computed setter makes the value unknown.
        let cond =
            format!("{DEFAULT}\nSecRule ARGS:x \"@eq 1\" \"id:3,phase:1,pass,setvar:tx.cs=x\"");
        assert!(!consts(&cond, &[]).contains_key("cs"));
        let add = "SecAction \"id:4,phase:1,pass,setvar:tx.n=+1\"";
        assert!(!consts(add, &[("n", "0")]).contains_key("n"));
    }

    #[test]
    fn trailing_negative_lookahead_is_rewritten_exactly() {
        let re = super::trailing_negative_lookahead(r"<\?(?!xml)").unwrap();
        assert_eq!(re, r"<\?(?:\z|[^x]|x\z|x[^m]|xm\z|xm[^l])");
        let re = regex_automata::meta::Regex::new(&re).unwrap();
        for (text, hit) in [
            ("<?php", true),
            ("<?xml v", false),
            ("<?", true),
            ("<?xm", true),
            ("<?xmx", true),
            ("a<?xml<?=", true),
        ] {
            assert_eq!(re.is_match(text.as_bytes()), hit, "{text}");
        }
        assert!(super::trailing_negative_lookahead(r"a\(?!x)").is_none());
        assert!(super::trailing_negative_lookahead(r"a(?!x.)").is_none());
        assert!(super::trailing_negative_lookahead(r"a(?!x)b").is_none());
    }

    #[test]
    fn expand_tx_constants_substitutes_or_names_the_unknown_macro() {
        let c = consts(DEFAULT, &[]);
        assert_eq!(
            expand_tx_constants("^%{TX.cs}$", &c).unwrap(),
            "^utf-8|latin1$"
        );
        assert_eq!(
            expand_tx_constants("^%{tx.other}$", &c).unwrap_err(),
            "%{tx.other}"
        );
        assert_eq!(expand_tx_constants("%{ip.x}", &c).unwrap_err(), "%{ip.x}");
    }
}
