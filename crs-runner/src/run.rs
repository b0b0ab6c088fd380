//! Running tests: stages in order, `retry_once` honoured, overrides applied, tests spread over
//! worker threads.

use crate::ftw::TestCase;
use crate::judge::{judge, Observed};
use crate::overrides::{Applied, OverridesFile};
use crate::proxy::LogIndex;
use crate::request;
use serde::Serialize;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use waap_engine::Engine;

/// How stages are executed.
#[derive(Clone)]
pub enum Driver {
    /// In process: each worker loads its own engine from the bundle (with load-time
    /// folding unless `fold` is false).
    Native { bundle: Arc<Vec<u8>>, fold: bool },
    /// Through Envoy's listener; log lines from the tailer.
    Envoy {
        addr: SocketAddr,
        index: Arc<LogIndex>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    Skip,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageResult {
    pub status: Option<u16>,
    pub error: Option<String>,
    pub ids: BTreeSet<u32>,
    pub reasons: Vec<String>,
    pub retried: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TestResult {
    pub name: String,
    pub rule_id: u32,
    pub test_id: u32,
    pub group: String,
    pub outcome: Outcome,
    /// Why it failed (the first failing stage's reasons, prefixed by stage when several).
    pub reasons: Vec<String>,
    /// The override that applied, if any.
    pub override_reason: Option<String>,
    pub stages: Vec<StageResult>,
}

enum Worker {
    Native(Box<Engine>),
    Envoy {
        addr: SocketAddr,
        index: Arc<LogIndex>,
    },
}

impl Worker {
    fn new(driver: &Driver) -> Result<Worker, String> {
        match driver {
            Driver::Native { bundle, fold } => if *fold {
                Engine::load(bundle.as_ref().clone())
            } else {
                Engine::load_unfolded(bundle.as_ref().clone())
            }
            .map(|e| Worker::Native(Box::new(e)))
            .map_err(|e| format!("the engine rejected the bundle: {e:?}")),
            Driver::Envoy { addr, index } => Ok(Worker::Envoy {
                addr: *addr,
                index: Arc::clone(index),
            }),
        }
    }

    fn send(&self, raw: &[u8], request_id: &str) -> Observed {
        match self {
            Worker::Native(engine) => crate::native::run(engine, raw, request_id),
            Worker::Envoy { addr, index } => crate::proxy::run(*addr, index, raw),
        }
    }
}

fn run_test(worker: &Worker, mut test: TestCase, overrides: &OverridesFile) -> TestResult {
    let name = test.name();
    let applied = overrides.apply(&mut test);
    let mut result = TestResult {
        name: name.clone(),
        rule_id: test.rule_id,
        test_id: test.test_id,
        group: test.group.clone(),
        outcome: Outcome::Pass,
        reasons: Vec::new(),
        override_reason: None,
        stages: Vec::new(),
    };
    match applied {
        Applied::Skip(reason) => {
            result.outcome = Outcome::Skip;
            result.reasons = vec![reason.clone()];
            result.override_reason = Some(reason);
            return result;
        }
        Applied::Replaced(reason) => result.override_reason = Some(reason),
        Applied::None => {}
    }
    let several = test.stages.len() > 1;
    for (i, stage) in test.stages.iter().enumerate() {
        let raw = match request::build(&stage.input) {
            Ok(r) => r,
            Err(e) => {
                let why = vec![format!("cannot build the request: {e}")];
                result.stages.push(StageResult {
                    status: None,
                    error: Some(e),
                    ids: BTreeSet::new(),
                    reasons: why.clone(),
                    retried: false,
                });
                result.outcome = Outcome::Fail;
                result.reasons = why;
                break;
            }
        };
        let rid = format!("waap-crs-{name}-{i}");
        let mut got = worker.send(&raw, &rid);
        let mut why = judge(&stage.output, &got);
        let mut retried = false;
        if !why.is_empty() && stage.output.retry_once {
            retried = true;
            got = worker.send(&raw, &format!("{rid}-retry"));
            why = judge(&stage.output, &got);
        }
        let failed = !why.is_empty();
        result.stages.push(StageResult {
            status: got.status,
            error: got.error.clone(),
            ids: got.ids.clone(),
            reasons: why.clone(),
            retried,
        });
        if failed {
            result.outcome = Outcome::Fail;
            result.reasons = if several {
                why.into_iter()
                    .map(|w| format!("stage {}: {w}", i + 1))
                    .collect()
            } else {
                why
            };
            break;
        }
    }
    result
}

/// Runs `tests` on `concurrency` workers; results in the order of `tests`. `progress` is
/// called after each test with (done, total).
pub fn run_all(
    driver: &Driver,
    tests: Vec<TestCase>,
    overrides: &OverridesFile,
    concurrency: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<TestResult>, String> {
    let total = tests.len();
    let tests: Vec<Mutex<Option<TestCase>>> =
        tests.into_iter().map(|t| Mutex::new(Some(t))).collect();
    let results: Vec<Mutex<Option<TestResult>>> = (0..total).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let errors: Mutex<Vec<String>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..concurrency.max(1) {
            s.spawn(|| {
                let worker = match Worker::new(driver) {
                    Ok(w) => w,
                    Err(e) => {
                        if let Ok(mut errs) = errors.lock() {
                            errs.push(e);
                        }
                        return;
                    }
                };
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= total {
                        break;
                    }
                    let Some(test) = tests[i].lock().ok().and_then(|mut t| t.take()) else {
                        continue;
                    };
                    let r = run_test(&worker, test, overrides);
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(r);
                    }
                    progress(done.fetch_add(1, Ordering::SeqCst) + 1, total);
                }
            });
        }
    });
    if let Some(e) = errors.lock().ok().and_then(|e| e.first().cloned()) {
        return Err(e);
    }
    results
        .into_iter()
        .map(|r| {
            r.into_inner()
                .ok()
                .flatten()
                .ok_or_else(|| "a worker stopped before finishing its test".to_string())
        })
        .collect()
}
