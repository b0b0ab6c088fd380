//! `waapc`: compile, check and inspect waap policy bundles.
//!
//! Exit codes: 0 ok, 1 policy (or bundle) error, 2 usage or I/O error.

use std::path::PathBuf;
use std::process::ExitCode;

use waap_policy_compiler::{compile_str, inspect, Compiled};

const USAGE: &str = "usage:
  waapc compile POLICY -o BUNDLE   compile a policy into a bundle
  waapc check POLICY               check a policy, write nothing
  waapc inspect BUNDLE             show a bundle's header, sections, rules and sizes
  waapc --version";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, msg)) => {
            eprintln!("{msg}");
            ExitCode::from(code)
        }
    }
}

/// Reads (exit 2 on I/O errors) and compiles (exit 1 on policy errors) a policy file.
fn compile_path(policy: &std::path::Path) -> Result<Compiled, (u8, String)> {
    let name = policy.display().to_string();
    let src = std::fs::read_to_string(policy).map_err(|e| (2, format!("waapc: cannot read {name}: {e}")))?;
    compile_str(&name, &src).map_err(|e| (1, e.to_string()))
}

fn usage(msg: &str) -> (u8, String) {
    (2, format!("waapc: {msg}\n{USAGE}"))
}

fn run(args: &[String]) -> Result<(), (u8, String)> {
    let Some(cmd) = args.first() else { return Err(usage("no command")) };
    match cmd.as_str() {
        "--version" | "-V" => {
            println!("waapc {}", waap_policy_compiler::VERSION);
            Ok(())
        }
        "--help" | "-h" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        "compile" => {
            let (mut policy, mut out) = (None, None);
            let mut it = args[1..].iter();
            while let Some(a) = it.next() {
                match a.as_str() {
                    "-o" | "--output" => out = it.next().map(PathBuf::from),
                    s if s.starts_with('-') => return Err(usage(&format!("unknown option {s}"))),
                    s if policy.is_none() => policy = Some(PathBuf::from(s)),
                    s => return Err(usage(&format!("unexpected argument {s}"))),
                }
            }
            let (Some(policy), Some(out)) = (policy, out) else { return Err(usage("compile needs POLICY and -o BUNDLE")) };
            let c = compile_path(&policy)?;
            for d in &c.diagnostics {
                eprintln!("{d}");
            }
            std::fs::write(&out, &c.bundle).map_err(|e| (2, format!("waapc: cannot write {}: {e}", out.display())))?;
            println!(
                "compiled {} -> {}: revision {}, {} rules, {} regexes ({} DFAs, {} lazy fallbacks, {} prefilters), {} DFA bytes, bundle {} bytes, {} ms",
                policy.display(),
                out.display(),
                c.revision,
                c.rules,
                c.stats.dfas + c.stats.fallbacks,
                c.stats.dfas,
                c.stats.fallbacks,
                c.stats.prefilters,
                c.stats.dfa_bytes,
                c.bundle.len(),
                c.compile_ms
            );
            Ok(())
        }
        "check" => {
            let [_, policy] = args else { return Err(usage("check needs exactly one POLICY")) };
            let c = compile_path(&PathBuf::from(policy))?;
            for d in &c.diagnostics {
                println!("{d}");
            }
            println!("{policy}: ok: {} rules, revision {}, bundle would be {} bytes", c.rules, c.revision, c.bundle.len());
            Ok(())
        }
        "inspect" => {
            let [_, bundle] = args else { return Err(usage("inspect needs exactly one BUNDLE")) };
            let bytes = std::fs::read(bundle).map_err(|e| (2, format!("waapc: cannot read {bundle}: {e}")))?;
            let r = inspect::report(&bytes).map_err(|e| (1, format!("{bundle}: {e}")))?;
            print!("{r}");
            Ok(())
        }
        other => Err(usage(&format!("unknown command {other}"))),
    }
}
