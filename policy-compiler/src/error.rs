//! Compile errors that name the file, line and rule.

use std::fmt;

/// A problem with a policy, located as precisely as the frontend can.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    /// The file it is in.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The rule it concerns, when known.
    pub rule_id: Option<u32>,
    /// What is wrong.
    pub msg: String,
}

impl PolicyError {
    /// An error in `file` with no position.
    pub fn new(file: &str, msg: impl Into<String>) -> Self {
        PolicyError {
            file: file.to_string(),
            line: None,
            rule_id: None,
            msg: msg.into(),
        }
    }

    /// Sets the line.
    pub fn at(mut self, line: Option<usize>) -> Self {
        self.line = line;
        self
    }

    /// Sets the rule id.
    pub fn rule(mut self, id: u32) -> Self {
        self.rule_id = Some(id);
        self
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        write!(f, ": ")?;
        if let Some(id) = self.rule_id {
            write!(f, "rule {id}: ")?;
        }
        f.write_str(&self.msg)
    }
}

impl std::error::Error for PolicyError {}

/// Several errors, reported together.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyErrors(pub Vec<PolicyError>);

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}

impl From<PolicyError> for PolicyErrors {
    fn from(e: PolicyError) -> Self {
        PolicyErrors(vec![e])
    }
}
