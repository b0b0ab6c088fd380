//! `waap-echo [--addr 127.0.0.1:18080]`: the echo / albedo-style reflection upstream, in the
//! foreground. See `waap_e2e::echo` for what it answers.

use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

fn main() -> ExitCode {
    let mut addr = String::from("127.0.0.1:18080");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--addr", Some(v)) => addr = v,
            ("--port", Some(v)) => addr = format!("127.0.0.1:{v}"),
            _ => {
                eprintln!("usage: waap-echo [--addr HOST:PORT | --port PORT]");
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
    waap_e2e::echo::serve(listener, &AtomicBool::new(false));
    ExitCode::SUCCESS
}
