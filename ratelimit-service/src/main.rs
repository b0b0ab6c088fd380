//! `waap-ratelimit --listen ADDR --redis URL [--prefix P]`: serves Envoy's rate-limit gRPC
//! protocol with counters in Redis. See the crate docs (`src/lib.rs`).

use std::net::SocketAddr;
use std::process::ExitCode;

use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_server::RateLimitServiceServer;

const USAGE: &str =
    "usage: waap-ratelimit --listen 127.0.0.1:8081 --redis redis://127.0.0.1:6379/ [--prefix waap]";

fn main() -> ExitCode {
    let mut listen: Option<String> = None;
    let mut redis_url: Option<String> = None;
    let mut prefix = "waap".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen = args.next(),
            "--redis" => redis_url = args.next(),
            "--prefix" => prefix = args.next().unwrap_or(prefix),
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("waap-ratelimit: unknown argument {other}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let (Some(listen), Some(redis_url)) = (listen, redis_url) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let addr: SocketAddr = match listen.parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("waap-ratelimit: --listen {listen}: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("waap-ratelimit: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(serve(addr, &redis_url, prefix)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("waap-ratelimit: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(addr: SocketAddr, redis_url: &str, prefix: String) -> Result<(), String> {
    let client = redis::Client::open(redis_url).map_err(|e| format!("--redis {redis_url}: {e}"))?;
    let conn = client
        .get_connection_manager()
        .await
        .map_err(|e| format!("cannot connect to redis at {redis_url}: {e}"))?;
    let svc = waap_ratelimit::Service::new(conn, prefix);
    println!("waap-ratelimit: listening on {addr}, counters in {redis_url}");
    tonic::transport::Server::builder()
        .add_service(RateLimitServiceServer::new(svc))
        .serve_with_shutdown(addr, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| format!("server on {addr}: {e}"))
}
