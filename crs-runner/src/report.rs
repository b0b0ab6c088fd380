//! The text report: one line per failing or skipped test, a per-rule-file table, the top
//! failing rules and failure causes, the pass rate (skips count as failures), and last
//! `N passed, N failed, N skipped`.

use crate::run::{Outcome, TestResult};
use std::collections::BTreeMap;
use std::fmt::Write;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Counts {
    pub fn of<'a>(results: impl IntoIterator<Item = &'a TestResult>) -> Counts {
        let mut c = Counts::default();
        for r in results {
            match r.outcome {
                Outcome::Pass => c.passed += 1,
                Outcome::Fail => c.failed += 1,
                Outcome::Skip => c.skipped += 1,
            }
        }
        c
    }
    pub fn total(&self) -> usize {
        self.passed + self.failed + self.skipped
    }
    /// Passed over all tests, in percent; skips count as failures.
    pub fn pass_rate(&self) -> f64 {
        if self.total() == 0 {
            0.0
        } else {
            100.0 * self.passed as f64 / self.total() as f64
        }
    }
}

/// The kind of a failure reason, for the causes table.
pub fn cause(reason: &str) -> String {
    let r = reason
        .strip_prefix("stage ")
        .and_then(|r| r.split_once(": ").map(|(_, x)| x))
        .unwrap_or(reason);
    for (prefix, kind) in [
        ("missing ids", "missing ids (expected rule did not fire)"),
        ("unexpected ids", "unexpected ids (false positive)"),
        ("status", "status"),
        ("log does not match", "log match_regex not matched"),
        ("log matches", "log no_match_regex matched"),
        ("expected an error", "expected an error"),
        ("error:", "transport error"),
        ("cannot build", "request not buildable"),
        ("response does not match", "response_contains"),
        ("invalid regex", "invalid regex in test"),
    ] {
        if r.starts_with(prefix) {
            return kind.to_string();
        }
    }
    r.to_string()
}

/// The whole report; its last line is `N passed, N failed, N skipped`.
pub fn render(results: &[TestResult], mode: &str, top: usize) -> String {
    let mut out = String::new();
    for r in results.iter().filter(|r| r.outcome != Outcome::Pass) {
        let tag = if r.outcome == Outcome::Skip {
            "SKIP"
        } else {
            "FAIL"
        };
        let _ = writeln!(out, "{tag} {}: {}", r.name, r.reasons.join("; "));
    }
    let mut groups: BTreeMap<&str, Vec<&TestResult>> = BTreeMap::new();
    for r in results {
        groups.entry(r.group.as_str()).or_default().push(r);
    }
    let width = groups.keys().map(|g| g.len()).max().unwrap_or(10).max(10);
    let _ = writeln!(
        out,
        "\n{:<width$} {:>6} {:>6} {:>6} {:>6} {:>7}",
        "rule file", "tests", "pass", "fail", "skip", "pass%"
    );
    for (g, rs) in &groups {
        let c = Counts::of(rs.iter().copied());
        let _ = writeln!(
            out,
            "{:<width$} {:>6} {:>6} {:>6} {:>6} {:>6.1}%",
            g,
            c.total(),
            c.passed,
            c.failed,
            c.skipped,
            c.pass_rate()
        );
    }
    let failing: Vec<&TestResult> = results
        .iter()
        .filter(|r| r.outcome == Outcome::Fail)
        .collect();
    if !failing.is_empty() {
        let mut by_rule: BTreeMap<u32, usize> = BTreeMap::new();
        let mut by_cause: BTreeMap<String, usize> = BTreeMap::new();
        for r in &failing {
            *by_rule.entry(r.rule_id).or_default() += 1;
            for reason in &r.reasons {
                *by_cause.entry(cause(reason)).or_default() += 1;
            }
        }
        let mut rules: Vec<(u32, usize)> = by_rule.into_iter().collect();
        rules.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let list: Vec<String> = rules
            .iter()
            .take(top)
            .map(|(id, n)| format!("{id} ({n})"))
            .collect();
        let _ = writeln!(out, "\nrules with most failing tests: {}", list.join(", "));
        let mut causes: Vec<(String, usize)> = by_cause.into_iter().collect();
        causes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let _ = writeln!(out, "failure causes (a test can have several):");
        for (c, n) in causes.iter().take(top) {
            let _ = writeln!(out, "  {n:>5}  {c}");
        }
    }
    let c = Counts::of(results);
    let _ = writeln!(
        out,
        "\n{mode}: pass rate: {:.1}% of {} (skips count as failures)",
        c.pass_rate(),
        c.total()
    );
    let _ = write!(
        out,
        "{} passed, {} failed, {} skipped",
        c.passed, c.failed, c.skipped
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(name: &str, group: &str, outcome: Outcome, reasons: &[&str]) -> TestResult {
        let (rule, test) = name.split_once('-').unwrap();
        TestResult {
            name: name.into(),
            rule_id: rule.parse().unwrap(),
            test_id: test.parse().unwrap(),
            group: group.into(),
            outcome,
            reasons: reasons.iter().map(|s| s.to_string()).collect(),
            override_reason: None,
            stages: Vec::new(),
        }
    }

    #[test]
    fn report_ends_with_the_counts_and_counts_skips_as_failures() {
        let results = vec![
            r("942100-1", "REQUEST-942", Outcome::Pass, &[]),
            r(
                "942100-2",
                "REQUEST-942",
                Outcome::Fail,
                &["missing ids [942100]"],
            ),
            r(
                "920100-1",
                "REQUEST-920",
                Outcome::Skip,
                &["Envoy answers 400"],
            ),
            r(
                "920100-2",
                "REQUEST-920",
                Outcome::Fail,
                &["stage 2: status 200, want 400"],
            ),
        ];
        let text = render(&results, "envoy", 10);
        assert!(text.ends_with("\n1 passed, 2 failed, 1 skipped"), "{text}");
        assert!(text.contains("FAIL 942100-2: missing ids [942100]\n"));
        assert!(text.contains("SKIP 920100-1: Envoy answers 400\n"));
        assert!(text.contains("envoy: pass rate: 25.0% of 4 (skips count as failures)"));
        assert!(
            text.contains("REQUEST-942      2      1      1      0   50.0%"),
            "{text}"
        );
        assert!(text.contains("      1  status\n"));
        assert_eq!(
            cause("stage 2: missing ids [1]"),
            "missing ids (expected rule did not fire)"
        );
    }

    #[test]
    fn empty_runs_have_a_zero_pass_rate() {
        assert_eq!(Counts::default().pass_rate(), 0.0);
        assert!(render(&[], "native", 5).ends_with("0 passed, 0 failed, 0 skipped"));
    }
}
