//! Per-request engine time for one policy, natively, with the CPU caches warm or cold.
//!
//! ```text
//! cargo run --release -p waap-bench --example reqtime -- POLICY [KIND|all]
//! ```
//!
//! POLICY is a policy file (compiled first) or a `.waapb` bundle; KIND one of the request
//! kinds of `make bench` (default `get`). Prints, per kind, the best and the median of 7
//! rounds of the mean time per transaction, the allocations of one transaction, and what
//! the load-time folding left out. `THRASH_MB=16` touches that much other memory before
//! every request, so that each starts with cold caches as it does behind Envoy's own work
//! (the CRS GET takes about 1.7x its warm time so). `N` sets the requests per round.
//! Compare two builds by alternating their binaries: the VM drifts by 10% over minutes.

// A measuring tool, not the data plane: a broken setup should stop loudly.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use waap_bench::host::QuietHost;
use waap_bench::requests::{self, run_transaction};
use waap_engine::Engine;

/// The system allocator, counting allocations and their bytes.
struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(l.size(), Ordering::Relaxed);
        // SAFETY: the caller's layout, as GlobalAlloc requires.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: `p` came from `alloc`/`realloc` above with this layout.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(n, Ordering::Relaxed);
        // SAFETY: as for `dealloc`.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn env(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let policy = args.next().expect("usage: reqtime POLICY [KIND|all]");
    let only = args.next().unwrap_or_else(|| "get".into());
    let bytes = if policy.ends_with(".waapb") {
        std::fs::read(&policy).expect("bundle readable")
    } else {
        waap_policy_compiler::compile_file(std::path::Path::new(&policy))
            .unwrap_or_else(|e| panic!("{e}"))
            .bundle
    };
    let engine = Engine::load(bytes).expect("bundle loads");
    println!("folded at load: {:?}", engine.folded());
    let host = QuietHost;
    let mut other = vec![0u8; env("THRASH_MB").unwrap_or(0) << 20];
    for kind in requests::kinds()
        .into_iter()
        .filter(|k| only == "all" || k.name == only)
    {
        let n = env("N").unwrap_or(if kind.body.len() > 10_000 { 20 } else { 300 });
        let mut rounds = Vec::new();
        for _ in 0..7 {
            let mut total = 0.0;
            for i in 0..n {
                for j in (0..other.len()).step_by(64) {
                    other[j] = other[j].wrapping_add(i as u8);
                }
                std::hint::black_box(&other);
                let t = Instant::now();
                std::hint::black_box(run_transaction(&engine, &kind, &host));
                total += t.elapsed().as_secs_f64();
            }
            rounds.push(total / n as f64 * 1e6);
        }
        rounds.sort_by(f64::total_cmp);
        let (a0, b0) = (
            ALLOCS.load(Ordering::Relaxed),
            BYTES.load(Ordering::Relaxed),
        );
        run_transaction(&engine, &kind, &host);
        let (a1, b1) = (
            ALLOCS.load(Ordering::Relaxed),
            BYTES.load(Ordering::Relaxed),
        );
        println!(
            "{:10} best {:8.1} us  median {:8.1} us  {} allocations, {} bytes per transaction",
            kind.name,
            rounds[0],
            rounds[rounds.len() / 2],
            a1 - a0,
            b1 - b0
        );
    }
}
