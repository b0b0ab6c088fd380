//! `waapc inspect`: what a bundle holds, without secrets.

use std::fmt::Write;

use waap_bundle::{Bundle, FORMAT_MAJOR};
use waap_engine::Engine;

/// A human-readable report of a bundle: header, sections, rules and sizes. Fails with the
/// same message the filter would log.
pub fn report(bytes: &[u8]) -> Result<String, String> {
    let b = Bundle::parse(bytes).map_err(|e| format!("invalid bundle: {e}"))?;
    if b.policy_set().is_some() {
        return report_set(bytes, &b);
    }
    let engine = Engine::load(bytes.to_vec()).map_err(|e| e.to_string())?;
    let p = engine.program();
    let mut s = String::new();
    let _ = writeln!(s, "format        {FORMAT_MAJOR}.{}", b.minor);
    let _ = writeln!(s, "revision      {}", b.meta.revision);
    let _ = writeln!(
        s,
        "compiler      {} {}",
        b.meta.compiler, b.meta.compiler_version
    );
    for (k, v) in &b.meta.extra {
        let _ = writeln!(s, "{k:<14}{v}");
    }
    let _ = writeln!(s, "bytes         {}", bytes.len());
    let _ = writeln!(s, "mode          {:?}", p.mode);
    let _ = writeln!(s, "rules         {}", p.rules.len());
    let dfas = p.regexes.iter().filter(|r| r.dfa.is_some()).count();
    let _ = writeln!(
        s,
        "regexes       {} ({} dense DFAs, {} lazy fallbacks)",
        p.regexes.len(),
        dfas,
        p.regexes.len() - dfas
    );
    let _ = writeln!(s, "literal sets  {}", p.literal_sets.len());
    if let Some(bots) = &engine.families().bots {
        // Key material is never printed: only how many keys there are.
        let _ = writeln!(
            s,
            "bots          monitor={} signatures={} good_bots={} routes={} difficulty={} keys={} (values not shown)",
            bots.monitor,
            bots.signatures.len(),
            bots.good_bots.len(),
            bots.routes.len(),
            bots.challenge.difficulty,
            bots.challenge.keys.len()
        );
    }
    let _ = writeln!(
        s,
        "body          inspect={} limit={} over_limit={:?}",
        p.body.inspect, p.body.limit, p.body.over_limit
    );
    if let Some(rl) = &engine.families().rate_limits {
        s.push_str(&crate::ratelimit::inspect(rl));
    }
    let _ = writeln!(s, "sections      {}", b.sections.len());
    for (i, sec) in b.sections.iter().enumerate() {
        let _ = writeln!(
            s,
            "  #{i:<4} {:<8} offset {:>9}  bytes {:>9}{}",
            sec.kind.name(),
            sec.offset,
            sec.len,
            if sec.flags & 1 != 0 { "  required" } else { "" }
        );
    }
    Ok(s)
}

/// The report of a policy-set bundle: the set, its selectors, then each member's report.
fn report_set(bytes: &[u8], b: &Bundle<'_>) -> Result<String, String> {
    use waap_engine::policy_set::{PolicySetSpec, Selector};
    // Loads every member exactly as the filter would (fails with the filter's message).
    let set = waap_engine::PolicySet::load(bytes.to_vec()).map_err(|e| e.to_string())?;
    let spec: PolicySetSpec = postcard::from_bytes(b.policy_set().unwrap_or_default())
        .map_err(|e| format!("section POLICY_SET: {e}"))?;
    let mut s = String::new();
    let _ = writeln!(s, "format        {FORMAT_MAJOR}.{}", b.minor);
    let _ = writeln!(s, "policy set    {} policies", spec.members.len());
    let _ = writeln!(s, "revision      {}", b.meta.revision);
    let _ = writeln!(
        s,
        "compiler      {} {}",
        b.meta.compiler, b.meta.compiler_version
    );
    let _ = writeln!(s, "bytes         {}", bytes.len());
    let _ = writeln!(s, "default       {}", set.default_name());
    let _ = writeln!(
        s,
        "selectors     {} (first match wins)",
        spec.selectors.len()
    );
    for (sel, name) in set.selectors() {
        let what = match sel {
            Selector::Route(r) => format!("route {r}"),
            Selector::HostPath { host, path_prefix } => {
                let mut w = Vec::new();
                if let Some(h) = host {
                    w.push(format!("host {h}"));
                }
                if let Some(p) = path_prefix {
                    w.push(format!("path_prefix {p}"));
                }
                w.join(" ")
            }
        };
        let _ = writeln!(s, "  {what:<40} -> {name}");
    }
    let _ = writeln!(s, "sections      {}", b.sections.len());
    for (i, sec) in b.sections.iter().enumerate() {
        let _ = writeln!(
            s,
            "  #{i:<4} {:<10} offset {:>9}  bytes {:>9}{}",
            sec.kind.name(),
            sec.offset,
            sec.len,
            if sec.flags & 1 != 0 { "  required" } else { "" }
        );
    }
    for m in &spec.members {
        let _ = writeln!(s, "policy {} ({} bytes)", m.name, m.bundle.len());
        for line in report(&m.bundle)?.lines() {
            let _ = writeln!(s, "  {line}");
        }
    }
    Ok(s)
}
