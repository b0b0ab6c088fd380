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
  waapc explain BUNDLE --request FILE
                                   evaluate one request (raw HTTP or a case-file request in
                                   YAML) natively and show every rule that matched
  waapc test BUNDLE CASES          run a case file (or a directory of them) natively
  waapc token --key FILE --sub S [--scope S]... [--claim k=v]... [--exp SECONDS]
              [--alg none]         mint a test JWT with a private JWK (tests and examples
                                   only); --exp may be negative for an expired token
  waapc --version";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, msg)) => {
            if !msg.is_empty() {
                eprintln!("{msg}");
            }
            ExitCode::from(code)
        }
    }
}

/// Reads (exit 2) and loads (exit 1) a bundle.
fn load_bundle(path: &str) -> Result<waap_engine::Engine, (u8, String)> {
    let bytes = std::fs::read(path).map_err(|e| (2, format!("waapc: cannot read {path}: {e}")))?;
    let set = waap_engine::PolicySet::load(bytes).map_err(|e| (1, format!("{path}: {e}")))?;
    if set.is_set() {
        eprintln!(
            "waapc: {path} is a policy set: evaluating its default policy {}",
            set.default_name()
        );
    }
    set.into_member(None)
        .ok_or_else(|| (1, format!("{path}: policy set has no default policy")))
}

/// Reads (exit 2 on I/O errors) and compiles (exit 1 on policy errors) a policy file.
fn compile_path(policy: &std::path::Path) -> Result<Compiled, (u8, String)> {
    let name = policy.display().to_string();
    let src = std::fs::read_to_string(policy)
        .map_err(|e| (2, format!("waapc: cannot read {name}: {e}")))?;
    compile_str(&name, &src).map_err(|e| (1, e.to_string()))
}

fn usage(msg: &str) -> (u8, String) {
    (2, format!("waapc: {msg}\n{USAGE}"))
}

fn run(args: &[String]) -> Result<(), (u8, String)> {
    let Some(cmd) = args.first() else {
        return Err(usage("no command"));
    };
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
            let (Some(policy), Some(out)) = (policy, out) else {
                return Err(usage("compile needs POLICY and -o BUNDLE"));
            };
            let c = compile_path(&policy)?;
            for d in &c.diagnostics {
                eprintln!("{d}");
            }
            std::fs::write(&out, &c.bundle)
                .map_err(|e| (2, format!("waapc: cannot write {}: {e}", out.display())))?;
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
            let [_, policy] = args else {
                return Err(usage("check needs exactly one POLICY"));
            };
            let c = compile_path(&PathBuf::from(policy))?;
            for d in &c.diagnostics {
                println!("{d}");
            }
            println!(
                "{policy}: ok: {} rules, revision {}, bundle would be {} bytes",
                c.rules,
                c.revision,
                c.bundle.len()
            );
            Ok(())
        }
        "inspect" => {
            let [_, bundle] = args else {
                return Err(usage("inspect needs exactly one BUNDLE"));
            };
            let bytes = std::fs::read(bundle)
                .map_err(|e| (2, format!("waapc: cannot read {bundle}: {e}")))?;
            let r = inspect::report(&bytes).map_err(|e| (1, format!("{bundle}: {e}")))?;
            print!("{r}");
            Ok(())
        }
        "explain" => {
            let (Some(bundle), Some("--request"), Some(req)) =
                (args.get(1), args.get(2).map(String::as_str), args.get(3))
            else {
                return Err(usage("explain needs BUNDLE --request FILE"));
            };
            let engine = load_bundle(bundle)?;
            let bytes =
                std::fs::read(req).map_err(|e| (2, format!("waapc: cannot read {req}: {e}")))?;
            print!(
                "{}",
                waap_policy_compiler::explain::explain(&engine, &bytes)
                    .map_err(|e| (1, format!("{req}: {e}")))?
            );
            Ok(())
        }
        "test" => {
            let [_, bundle, cases] = args else {
                return Err(usage("test needs BUNDLE CASES"));
            };
            let engine = load_bundle(bundle)?;
            let path = PathBuf::from(cases);
            let files = if path.is_dir() {
                waap_policy_compiler::cases::case_files(&path)
                    .map_err(|e| (2, format!("waapc: {cases}: {e}")))?
            } else {
                vec![path]
            };
            let (mut passed, mut failed, mut skipped) = (0, 0, 0);
            for f in &files {
                let cf = waap_policy_compiler::cases::CaseFile::read(f)
                    .map_err(|e| (2, format!("waapc: {e}")))?;
                for c in &cf.cases {
                    if let Some(why) = c.skip_reason(engine.meta()) {
                        skipped += 1;
                        println!("SKIP {}: {}: {why}", f.display(), c.name);
                        continue;
                    }
                    match waap_policy_compiler::cases::run_native(&engine, c) {
                        Ok(()) => passed += 1,
                        Err(e) => {
                            failed += 1;
                            println!("FAIL {}: {}: {e}", f.display(), c.name);
                        }
                    }
                }
            }
            println!("{passed} passed, {failed} failed, {skipped} skipped");
            if failed > 0 {
                Err((1, String::new()))
            } else {
                Ok(())
            }
        }
        "token" => {
            let (mut key, mut sub, mut exp, mut alg) = (None, None, 3600i64, None);
            let (mut scopes, mut extra) = (Vec::new(), Vec::new());
            let mut it = args[1..].iter();
            while let Some(a) = it.next() {
                let mut val = || {
                    it.next()
                        .cloned()
                        .ok_or_else(|| usage(&format!("{a} needs a value")))
                };
                match a.as_str() {
                    "--key" => key = Some(val()?),
                    "--sub" => sub = Some(val()?),
                    "--scope" => scopes.push(val()?),
                    "--claim" => {
                        let v = val()?;
                        let (k, x) = v
                            .split_once('=')
                            .ok_or_else(|| usage(&format!("--claim {v}: expected k=v")))?;
                        extra.push((k.to_string(), x.to_string()));
                    }
                    "--exp" => {
                        let v = val()?;
                        exp = v
                            .parse()
                            .map_err(|_| usage(&format!("--exp {v}: not a number of seconds")))?;
                    }
                    "--alg" => alg = Some(val()?),
                    s => return Err(usage(&format!("unknown option {s}"))),
                }
            }
            let (Some(key), Some(sub)) = (key, sub) else {
                return Err(usage("token needs --key FILE and --sub S"));
            };
            let text = std::fs::read_to_string(&key)
                .map_err(|e| (2, format!("waapc: cannot read {key}: {e}")))?;
            let jwk: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| (1, format!("{key}: {e}")))?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            let claims = waap_policy_compiler::token::claims(&sub, &scopes, &extra, now, exp);
            let t = waap_policy_compiler::token::mint(&jwk, &claims, alg.as_deref())
                .map_err(|e| (1, format!("{key}: {e}")))?;
            println!("{t}");
            Ok(())
        }
        other => Err(usage(&format!("unknown command {other}"))),
    }
}
