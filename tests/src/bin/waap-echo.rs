//! `waap-echo [--addr 127.0.0.1:18080] [--mock FILE]`: the echo / albedo-style reflection upstream, in the
//! foreground. See `waap_e2e::echo` for what it answers.

use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

fn main() -> ExitCode {
    let mut addr = String::from("127.0.0.1:18080");
    let mut mock = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--addr", Some(v)) => addr = v,
            ("--port", Some(v)) => addr = format!("127.0.0.1:{v}"),
            ("--mock", Some(v)) => {
                let parsed = std::fs::read(&v)
                    .map_err(|e| format!("waap-echo: cannot read {v}: {e}"))
                    .and_then(|t| waap_e2e::echo::Mock::parse(&t));
                match parsed {
                    Ok(m) => mock = Some(std::sync::Arc::new(m)),
                    Err(e) => {
                        eprintln!("{e}");
                        return ExitCode::from(2);
                    }
                }
            }
            _ => {
                eprintln!("usage: waap-echo [--addr HOST:PORT | --port PORT] [--mock FILE]");
                return ExitCode::from(2);
            }
        }
    }
    let listener = match TcpListener::bind(&addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("waap-echo: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("waap-echo: listening on http://{addr}");
    waap_e2e::echo::serve_with(listener, &AtomicBool::new(false), mock);
    ExitCode::SUCCESS
}
