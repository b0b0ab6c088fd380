//! SecLang syntax tree: directives as written, with their source positions.
//!
//! The parser ([`super::parser`]) produces these; the lowering pass ([`super::lower`])
//! turns them into the engine IR. Nothing here is interpreted yet beyond splitting
//! variables, operator and actions into their parts.

use std::fmt;
use std::sync::Arc;

/// Where a directive starts: file and 1-based line of its first physical line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    /// The file as it was opened (Include paths are resolved against the including file).
    pub file: Arc<str>,
    /// Line of the directive's first line (1-based).
    pub line: u32,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// An error from parsing or lowering: `file:line: rule <id>: <reason>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// Where.
    pub span: Span,
    /// The rule id, when known.
    pub rule_id: Option<u32>,
    /// What is wrong.
    pub reason: String,
}

impl Error {
    /// An error at `span`.
    pub fn new(span: &Span, rule_id: Option<u32>, reason: impl Into<String>) -> Self {
        Error {
            span: span.clone(),
            rule_id,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rule_id {
            Some(id) => write!(f, "{}: rule {}: {}", self.span, id, self.reason),
            None => write!(f, "{}: {}", self.span, self.reason),
        }
    }
}

impl std::error::Error for Error {}

/// One directive with its position.
#[derive(Clone, Debug, PartialEq)]
pub struct Directive {
    /// Where it starts.
    pub span: Span,
    /// What it is.
    pub kind: DirectiveKind,
}

/// The directives the frontend understands.
#[derive(Clone, Debug, PartialEq)]
pub enum DirectiveKind {
    /// `SecRule VARIABLES OPERATOR [ACTIONS]`.
    Rule(SecRule),
    /// `SecAction ACTIONS`.
    Action(Vec<Action>),
    /// `SecMarker NAME`.
    Marker(String),
    /// `SecDefaultAction ACTIONS`.
    DefaultAction(Vec<Action>),
    /// `SecRuleUpdateTargetById IDS TARGETS [REPLACED]`.
    UpdateTargetById {
        /// Ids and ranges.
        ids: Vec<IdRange>,
        /// Targets to add, or `!` exclusions.
        targets: Vec<Variable>,
        /// Optional third argument: the target to replace.
        replace: Option<Variable>,
    },
    /// `SecRuleUpdateTargetByTag TAG TARGETS [REPLACED]`.
    UpdateTargetByTag {
        /// The tag (exact match).
        tag: String,
        /// Targets to add, or `!` exclusions.
        targets: Vec<Variable>,
        /// Optional third argument: the target to replace.
        replace: Option<Variable>,
    },
    /// `SecRuleRemoveById ID|RANGE ...`.
    RemoveById(Vec<IdRange>),
    /// `SecRuleRemoveByTag TAG`.
    RemoveByTag(String),
    /// `SecComponentSignature TEXT`.
    ComponentSignature(String),
    /// Any other known `Sec*` directive (engine settings), kept as name and arguments.
    /// `name` is in its canonical spelling (e.g. `SecRequestBodyLimit`).
    Setting {
        /// Canonical directive name.
        name: &'static str,
        /// Arguments, unquoted.
        args: Vec<String>,
    },
}

/// An inclusive id range (`5` is `5-5`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdRange {
    /// First id.
    pub start: u32,
    /// Last id (inclusive).
    pub end: u32,
}

impl IdRange {
    /// Whether `id` is in the range.
    pub fn contains(&self, id: u32) -> bool {
        self.start <= id && id <= self.end
    }
}

/// `SecRule` parts.
#[derive(Clone, Debug, PartialEq)]
pub struct SecRule {
    /// The variable list (`ARGS|!ARGS:foo|&TX:x`).
    pub variables: Vec<Variable>,
    /// The operator.
    pub operator: OperatorSpec,
    /// The actions (may be empty).
    pub actions: Vec<Action>,
}

/// One item of a variable list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variable {
    /// `!`: an exclusion.
    pub negated: bool,
    /// `&`: count of members.
    pub count: bool,
    /// Collection name as written (compare case-insensitively).
    pub collection: String,
    /// `:key` or `:/regex/`.
    pub selector: Option<VarSelector>,
}

/// The part after `:` in a variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VarSelector {
    /// A plain key (as written; XPath for `XML`).
    Key(String),
    /// `/regex/` (without the slashes).
    Regex(String),
}

/// `[!]@name argument`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorSpec {
    /// `!@op`.
    pub negated: bool,
    /// Operator name without `@`, as written (`rx` when none given).
    pub name: String,
    /// The argument, unquoted.
    pub argument: String,
}

/// One action: `name` or `name:value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Action {
    /// Name as written (compare case-insensitively).
    pub name: String,
    /// Value, with surrounding single quotes removed and `\'` unescaped.
    pub value: Option<String>,
}

impl Action {
    /// Whether the action's name is `name` (ASCII case-insensitive).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}
