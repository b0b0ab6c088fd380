//! Evaluating a program over one request: phases, rules, chains, actions, verdicts.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{btree_map, BTreeMap, HashMap};
use std::hash::BuildHasherDefault;
use std::ops::Deref;
use std::rc::Rc;

use crate::engine::Engine;
use crate::host::{Host, LogLevel};
use crate::log::{self, MatchRecord};
use crate::operator;
use crate::program::{
    Collection, Condition, Ctl, Disruptive, MacroPart, MacroString, Mode, Rule, Selector, SetVarOp,
    Target,
};
use crate::request::{BodyData, BodyProcessor, FactCell, HeadData, RequestHead, ResponseData};

/// The outcome of a phase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Let the request (or response) through.
    Allow,
    /// Stop it with this status; the ids of the rules that caused it, denying rule first.
    Deny {
        /// HTTP status to answer with.
        status: u16,
        /// Rule ids, the denying rule first.
        rule_ids: Vec<u32>,
    },
    /// Answer with this local reply (a family's denial, challenge or rate-limit answer,
    /// with its own headers and body).
    Reply(crate::families::Reply),
}

impl Verdict {
    /// True unless the request (or response) may go on.
    pub fn is_stop(&self) -> bool {
        !matches!(self, Verdict::Allow)
    }
}

/// A value read from a collection: its key (empty for scalars) and bytes. The name
/// `COLL:key` is only built when the value matches.
struct Val<'a> {
    key: Cow<'a, [u8]>,
    value: Cow<'a, [u8]>,
    /// The bytes live in request/response data that does not change during the
    /// transaction, so their transformations may be cached by address.
    stable: bool,
    /// The value's [`crate::transform::facts`], 0 until computed: a request value's cell
    /// lives in the transaction ([`FactCell`]), so they are computed once for every rule
    /// and chain that reads the value; other values get a cell of their own.
    facts: Facts<'a>,
}

/// Where a [`Val`] keeps its facts.
enum Facts<'a> {
    Shared(&'a FactCell),
    Own(FactCell),
}

impl<'a> Val<'a> {
    fn keyed(key: &'a [u8], value: &'a [u8]) -> Self {
        Self::keyed_in(key, value, None)
    }
    /// A member of request data, with its fact cell if there is one.
    fn keyed_in(key: &'a [u8], value: &'a [u8], facts: Option<&'a FactCell>) -> Self {
        Val {
            key: Cow::Borrowed(key),
            value: Cow::Borrowed(value),
            stable: true,
            facts: facts.map_or(Facts::Own(FactCell::new(0)), Facts::Shared),
        }
    }
    fn scalar(value: Cow<'a, [u8]>) -> Self {
        let stable = matches!(value, Cow::Borrowed(_));
        Val {
            key: Cow::Borrowed(b""),
            value,
            stable,
            facts: Facts::Own(FactCell::new(0)),
        }
    }
    /// A scalar of request data with its fact cell.
    fn scalar_in(value: &'a [u8], facts: &'a FactCell) -> Self {
        Val {
            facts: Facts::Shared(facts),
            ..Self::scalar(Cow::Borrowed(value))
        }
    }
    /// A `&COLLECTION` count.
    fn count(n: usize) -> Self {
        Val {
            key: Cow::Borrowed(b""),
            value: number(n),
            stable: false,
            facts: Facts::Own(FactCell::new(0)),
        }
    }
    /// [`crate::transform::facts`] of the value, computed on first use.
    fn facts(&self) -> u32 {
        let cell = match &self.facts {
            Facts::Shared(c) => *c,
            Facts::Own(c) => c,
        };
        match cell.get() {
            0 => {
                let f = crate::transform::facts(&self.value);
                cell.set(f);
                f
            }
            f => f,
        }
    }
    /// [`crate::transform::features`] of the value.
    fn features(&self) -> u32 {
        crate::transform::facts_features(self.facts())
    }
    /// [`crate::transform::plain_class`] of the value.
    fn class(&self) -> u8 {
        crate::transform::facts_class(self.facts())
    }
    /// Writes the value's name (`COLLECTION` or `COLLECTION:key`) into `out`, replacing
    /// what it held.
    fn write_name(&self, c: Collection, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(collection_name(c).as_bytes());
        if self.key.is_empty() && !matches!(c, Collection::Tx) && is_scalar(c) {
            return;
        }
        out.push(b':');
        out.extend_from_slice(&self.key);
    }
}

/// The names (`names`) or values of request-data pairs, each with its fact cell from
/// `facts` ([`crate::request::pair_cells`]: the name's at `2 * i`, the value's after it).
fn members_with<'a, K: AsRef<[u8]>>(
    pairs: &'a [(K, Vec<u8>)],
    facts: &'a [FactCell],
    names: bool,
) -> impl Iterator<Item = Val<'a>> {
    pairs.iter().enumerate().map(move |(i, (k, v))| {
        let k = k.as_ref();
        let (value, cell) = if names {
            (k, 2 * i)
        } else {
            (&v[..], 2 * i + 1)
        };
        Val::keyed_in(k, value, facts.get(cell))
    })
}

fn is_scalar(c: Collection) -> bool {
    use Collection::*;
    !matches!(
        c,
        Args | ArgsGet
            | ArgsPost
            | ArgsNames
            | ArgsGetNames
            | ArgsPostNames
            | RequestCookies
            | RequestCookiesNames
            | RequestHeaders
            | RequestHeadersNames
            | Xml
            | Files
            | FilesNames
            | MultipartPartHeaders
            | ResponseHeaders
            | Tx
            | MatchedVars
            | MatchedVarsNames
    )
}

/// What a rule's first condition may skip value by value: see `Transaction::value_filter`.
#[derive(Clone, Copy)]
struct ValueFilter {
    slot: u32,
    min_class: u8,
}

/// A transformed value: the original, a fresh transformation, or a cached one.
enum Tv<'a> {
    B(&'a [u8]),
    O(Vec<u8>),
    R(Rc<[u8]>),
}

impl core::ops::Deref for Tv<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Tv::B(b) => b,
            Tv::O(o) => o,
            Tv::R(r) => r,
        }
    }
}

/// The bytes the prefilter scans for `tv`, a transformation of `val` (`stable`: whether
/// its bytes may be cached by address): `val` itself when the transformation changed
/// nothing but letter case (`t:lowercase`), since the scan ignores ASCII case; the two
/// forms then share one cached scan.
fn scan_form<'v>(val: &'v Val<'_>, tv: &'v [u8], stable: bool) -> (&'v [u8], bool) {
    if tv.len() == val.value.len() && tv.eq_ignore_ascii_case(&val.value) {
        (&val.value, val.stable)
    } else {
        (tv, stable)
    }
}

/// FxHash-style hasher for the evaluator's caches (keys are addresses and small ints)
/// and the `@detectSQLi` keyword set (short words, taken 8 bytes at a time).
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl core::hash::Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(a));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut a = [0u8; 8];
            if let Some(d) = a.get_mut(..rest.len()) {
                d.copy_from_slice(rest);
            }
            self.write_u64(u64::from_le_bytes(a));
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
}

/// An empty vector of values with `v`'s allocation (the element types differ only in the
/// lifetime they borrow, so the standard library collects in place): how a transaction
/// keeps one buffer of borrowed values across conditions without holding a borrow.
// `filter` cannot change the element type (here its lifetime); `filter_map` can.
#[allow(clippy::unnecessary_filter_map)]
fn recycle<'a, 'b>(mut v: Vec<(Collection, Val<'a>)>) -> Vec<(Collection, Val<'b>)> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}

/// `n` in decimal: counts and sizes under 10 (most) borrow their digit.
fn number(n: usize) -> Cow<'static, [u8]> {
    const DIGITS: [&[u8]; 10] = [b"0", b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"8", b"9"];
    match DIGITS.get(n) {
        Some(d) => Cow::Borrowed(*d),
        None => Cow::Owned(n.to_string().into_bytes()),
    }
}

/// A matched (name, transformed value) pair.
type Hit = (Vec<u8>, Vec<u8>);

/// The matching (name, value) pairs of one condition. The pairs' buffers outlive a
/// `clear` and are refilled in place: a CRS GET has about 25 matches (the bookkeeping
/// rules' TX checks, 920450's header names), which each allocated a name and a value.
#[derive(Default)]
pub(crate) struct Hits {
    items: Vec<Hit>,
    len: usize,
}

impl Hits {
    fn clear(&mut self) {
        self.len = 0;
    }
    fn is_empty(&self) -> bool {
        self.len == 0
    }
    fn as_slice(&self) -> &[Hit] {
        self.items.get(..self.len).unwrap_or_default()
    }
    /// Appends `val` (named in collection `c`) with the bytes `value`.
    fn push(&mut self, c: Collection, val: &Val<'_>, value: &[u8]) {
        if self.items.len() == self.len {
            self.items.push(Default::default());
        }
        if let Some((n, v)) = self.items.get_mut(self.len) {
            val.write_name(c, n);
            v.clear();
            v.extend_from_slice(value);
            self.len += 1;
        }
    }
}

/// Selector regex results by (regex, key address, key length).
type SCache = HashMap<(usize, usize, u64), bool, BuildHasherDefault<FxHasher>>;

/// Value-scan results: (address, length) -> offset into the word arena.
type SCacheMap = HashMap<(usize, u64), u32, BuildHasherDefault<FxHasher>>;

/// `n` in decimal, written into `buf` (20 bytes hold every `i64`), without allocating.
fn decimal(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    let mut m = n.unsigned_abs();
    loop {
        at -= 1;
        if let Some(d) = buf.get_mut(at) {
            *d = b'0' + (m % 10) as u8;
        }
        m /= 10;
        if m == 0 {
            break;
        }
    }
    if n < 0 {
        at -= 1;
        if let Some(d) = buf.get_mut(at) {
            *d = b'-';
        }
    }
    buf.get(at..).unwrap_or_default()
}

/// The value-scan cache key of `value` scanned by scanner `sc`: its address, and its
/// length with the scanner in the top byte (scanners are fewer than 256).
fn scan_key(value: &[u8], sc: usize) -> (usize, u64) {
    (
        value.as_ptr() as usize,
        value.len() as u64 | ((sc as u64) << 56),
    )
}

type TCache = HashMap<(usize, usize, u64), Option<Rc<[u8]>>, BuildHasherDefault<FxHasher>>;

/// A TX variable's value and what the reset between transactions needs to know of it.
#[derive(Clone, Debug)]
pub(crate) struct TxVal {
    v: Vec<u8>,
    /// Index of the initial variable of this name in `Engine::tx_init`, or [`NOT_INIT`]
    /// for a name the transaction added.
    init: u32,
    /// Written since the transaction started: an initial variable's value is put back.
    dirty: bool,
}

/// [`TxVal::init`] of a variable the transaction added.
const NOT_INIT: u32 = u32::MAX;

impl TxVal {
    /// A variable the transaction adds.
    fn added(v: Vec<u8>) -> TxVal {
        TxVal {
            v,
            init: NOT_INIT,
            dirty: true,
        }
    }

    /// Overwrites the value in place (its buffer is reused).
    fn set(&mut self, value: &[u8]) {
        self.v.clear();
        self.v.extend_from_slice(value);
        self.dirty = true;
    }
}

/// TX variables by lower-case name.
type TxMap = BTreeMap<String, TxVal>;

/// Sets TX variable `name` (a capture's `0`..`9`): in place when it exists, else added.
fn set_tx(tx: &mut TxMap, name: &str, value: &[u8]) {
    match tx.get_mut(name) {
        Some(t) => t.set(value),
        None => {
            tx.insert(name.to_string(), TxVal::added(value.to_vec()));
        }
    }
}

/// A finished transaction's TX map and caches, emptied, for the next transaction on the
/// same engine: their memory is reused (and likely still in the CPU cache) instead of
/// allocated, grown and freed per request (a CRS GET allocated 226 KB in 927 allocations,
/// 84 KB of it the transformation cache).
#[derive(Default)]
pub(crate) struct Scratch {
    tx: TxMap,
    tcache: TCache,
    scache: SCache,
    pbits: (Vec<u64>, Vec<bool>),
    vbits: (SCacheMap, Vec<u64>),
    pbase: (Vec<u64>, Vec<u8>),
    values: Vec<(Collection, Val<'static>)>,
    matched_vars: Hits,
    spare_hits: Hits,
    empty: Rc<[u8]>,
}

/// Scratch sets kept per engine (one per request in flight is enough; more are freed).
const SCRATCH_POOL: usize = 8;
/// A transformation cache that grew past this many entries (a large body) is freed, not
/// kept: a pooled set must not pin one outsized request's memory.
const TCACHE_KEEP: usize = 4096;

impl Scratch {
    /// A pooled set for `engine` (or a new one), with TX set to the initial variables.
    fn take(engine: &Engine) -> Scratch {
        let mut s = engine
            .scratch
            .try_borrow_mut()
            .ok()
            .and_then(|mut p| p.pop())
            .unwrap_or_else(|| Scratch {
                tcache: TCache::with_capacity_and_hasher(1024, Default::default()),
                ..Default::default()
            });
        let init = &engine.tx_init;
        // Keep the initial names, putting back only the values the last request wrote
        // (their buffers are reused; copying every initial value was most of a CRS
        // request's memmove), and drop what it added. An initial variable it deleted (or
        // replaced by a new entry) is put back.
        let mut kept = 0usize;
        s.tx.retain(|_, t| {
            let Some((_, iv)) = init.get(t.init as usize) else {
                return false;
            };
            if t.dirty {
                t.v.clear();
                t.v.extend_from_slice(iv);
                t.dirty = false;
            }
            kept += 1;
            true
        });
        if kept < init.len() {
            for (i, (k, v)) in init.iter().enumerate() {
                if !s.tx.contains_key(k) {
                    s.tx.insert(
                        k.clone(),
                        TxVal {
                            v: v.clone(),
                            init: i as u32,
                            dirty: false,
                        },
                    );
                }
            }
        }
        s
    }
}

/// One request's evaluation state. `E` is how the transaction holds the engine: `&Engine`
/// natively, `Rc<Engine>` in the filter (so a request outlives no borrow).
pub struct Transaction<E: Deref<Target = Engine> + Clone> {
    pub(crate) engine: E,
    pub(crate) head: RequestHead,
    pub(crate) hd: HeadData,
    pub(crate) body: Option<BodyData>,
    pub(crate) resp: ResponseData,
    tx: TxMap,
    /// Whether a TX name holds a line feed: then a multi-line `^prefix` key selector may
    /// match inside a name, and the sorted range of names starting with the prefix is not
    /// the whole answer (see `tx_prefix`).
    tx_newline: bool,
    matched_var: (Vec<u8>, Vec<u8>),
    matched_vars: Hits,
    /// The buffers `eval_cond` fills next (the previous `matched_vars`).
    spare_hits: Hits,
    /// The one empty transformation result every empty step result shares (a strict
    /// `base64Decode` of most values is empty).
    empty: Rc<[u8]>,
    removed_ids: Vec<(u32, u32)>,
    removed_tags: Vec<String>,
    removed_targets: Vec<(RuleRef, Target)>,
    processor_override: Option<BodyProcessor>,
    force_body_var: bool,
    matches: Vec<MatchRecord>,
    pub(crate) denied: Option<(u16, u32)>,
    pub(crate) would_deny: Option<(u16, u32)>,
    allowed: bool,
    errors: u32,
    /// Transformation results by (value address, length, chain hash).
    tcache: RefCell<TCache>,
    /// Key-selector regex results by (regex, key address, key length).
    scache: RefCell<SCache>,
    /// Work counters: (rules evaluated, operator runs).
    stats: core::cell::Cell<(u32, u32)>,
    /// Prefilter view bits (`words` per view, see [`crate::prefilter`]) and which views
    /// are computed; cleared when the request body or the response arrives.
    pbits: RefCell<(Vec<u64>, Vec<bool>)>,
    /// Prefilter bits of each scanned value by (address, length) of its transformed bytes
    /// (many chains leave a value unchanged), as offsets into an arena of words.
    vbits: RefCell<(SCacheMap, Vec<u64>)>,
    /// Per prefilter base (a view's target): the bits of its class-2 values and of its
    /// class-1-or-2 values ([`crate::transform::plain_class`]), and a state (0 not
    /// computed; else bit 0 set, bit 1 a value below class 2, bit 2 a value below class 1).
    pbase: RefCell<(Vec<u64>, Vec<u8>)>,
    /// Facts and decisions shared by the families beside the WAF.
    pub(crate) ctx: crate::families::RequestContext,
    /// The values buffer of `eval_cond`, empty between conditions (see [`recycle`]).
    values: RefCell<Vec<(Collection, Val<'static>)>>,
}

impl<E: Deref<Target = Engine> + Clone> Drop for Transaction<E> {
    /// Empties the caches and returns them, with the TX map, to the engine's pool (unless
    /// the transformation cache outgrew [`TCACHE_KEEP`] or the pool is full).
    fn drop(&mut self) {
        if self.tcache.get_mut().len() > TCACHE_KEEP {
            return;
        }
        self.clear_views();
        self.tcache.get_mut().clear();
        self.scache.get_mut().clear();
        let sc = Scratch {
            tx: core::mem::take(&mut self.tx),
            tcache: core::mem::take(self.tcache.get_mut()),
            scache: core::mem::take(self.scache.get_mut()),
            pbits: core::mem::take(self.pbits.get_mut()),
            vbits: core::mem::take(self.vbits.get_mut()),
            pbase: core::mem::take(self.pbase.get_mut()),
            values: recycle(core::mem::take(self.values.get_mut())),
            matched_vars: pooled_hits(core::mem::take(&mut self.matched_vars)),
            spare_hits: pooled_hits(core::mem::take(&mut self.spare_hits)),
            empty: self.empty.clone(),
        };
        if let Ok(mut pool) = self.engine.scratch.try_borrow_mut() {
            if pool.len() < SCRATCH_POOL {
                pool.push(sc);
            }
        }
    }
}

/// `h` emptied for the scratch pool, or nothing if it holds many or large buffers (a
/// request that matched many or long values must not pin its memory).
fn pooled_hits(mut h: Hits) -> Hits {
    const KEEP_ITEMS: usize = 64;
    const KEEP_BYTES: usize = 4096;
    if h.items.len() > KEEP_ITEMS
        || h.items
            .iter()
            .any(|(n, v)| n.capacity() > KEEP_BYTES || v.capacity() > KEEP_BYTES)
    {
        return Hits::default();
    }
    h.clear();
    h
}

#[derive(Clone, Debug)]
enum RuleRef {
    Id(u32),
    Tag(String),
}

impl Engine {
    /// Starts a transaction for a request, borrowing the engine.
    pub fn transaction(&self, head: RequestHead) -> Transaction<&Engine> {
        Transaction::new(self, head)
    }
}

impl<E: Deref<Target = Engine> + Clone> Transaction<E> {
    /// Starts a transaction for a request on `engine`.
    pub fn new(engine: E, head: RequestHead) -> Self {
        let hd = HeadData::new(&head);
        let ctx = crate::families::RequestContext {
            client_ip: crate::families::client_ip(&head, &engine.families.client),
            ..Default::default()
        };
        let sc = Scratch::take(&engine);
        let tx_newline = engine.tx_init_newline;
        Transaction {
            engine,
            head,
            hd,
            body: None,
            resp: ResponseData::default(),
            tx: sc.tx,
            tx_newline,
            matched_var: Default::default(),
            matched_vars: sc.matched_vars,
            spare_hits: sc.spare_hits,
            empty: sc.empty,
            removed_ids: Vec::new(),
            removed_tags: Vec::new(),
            removed_targets: Vec::new(),
            processor_override: None,
            force_body_var: false,
            matches: Vec::new(),
            denied: None,
            would_deny: None,
            allowed: false,
            errors: 0,
            tcache: RefCell::new(sc.tcache),
            scache: RefCell::new(sc.scache),
            stats: core::cell::Cell::new((0, 0)),
            pbits: RefCell::new(sc.pbits),
            vbits: RefCell::new(sc.vbits),
            pbase: RefCell::new(sc.pbase),
            ctx,
            values: RefCell::new(recycle(sc.values)),
        }
    }

    /// Request headers: the families in their fixed order (see
    /// [`Transaction::families_request_headers`]), then WAF phase 1.
    pub fn on_request_headers(&mut self, host: &dyn Host) -> Verdict {
        if let Some(v) = self.families_request_headers(host) {
            return v;
        }
        self.run_phase(1, host)
    }

    /// Whether the filter should buffer the request body for phase 2.
    pub fn wants_request_body(&self) -> bool {
        (self.engine.program.body.inspect || self.api_wants_body())
            && self.denied.is_none()
            && !self.allowed
    }

    /// The matched API operation declares a request body.
    fn api_wants_body(&self) -> bool {
        self.engine.families.api.as_ref().is_some_and(|a| {
            self.ctx
                .api
                .route
                .and_then(|i| a.routes.get(i as usize))
                .is_some_and(|r| r.body.is_some())
        })
    }

    /// The request body limit in bytes.
    pub fn request_body_limit(&self) -> usize {
        let waf = self.engine.program.body.limit as usize;
        match &self.engine.families.api {
            // One byte over the API limit tells the API stage the body is too large.
            Some(a) if self.api_wants_body() => waf.max(a.limits.max_body as usize + 1),
            _ => waf,
        }
    }

    /// Phase 2: the request body (empty when there is none). `truncated` says `body` is only
    /// the first `request_body_limit()` bytes; the policy decides what that means.
    pub fn on_request_body(&mut self, body: Vec<u8>, truncated: bool, host: &dyn Host) -> Verdict {
        use crate::program::OverLimit;
        if truncated && self.engine.program.body.over_limit == OverLimit::Block {
            let status = 413;
            if self.engine.program.mode == Mode::Block {
                self.denied = Some((status, 0));
                log::emit_limit(
                    host,
                    &self.head,
                    status,
                    "request body over the inspection limit",
                );
                return Verdict::Deny {
                    status,
                    rule_ids: vec![],
                };
            }
            log::emit_limit(
                host,
                &self.head,
                status,
                "request body over the inspection limit (monitor)",
            );
        }
        let ct = self.header(b"content-type").unwrap_or_default().to_vec();
        let processor = self
            .processor_override
            .unwrap_or_else(|| BodyProcessor::for_content_type(&ct));
        if !body.is_empty() {
            self.clear_views();
        }
        self.body = Some(BodyData::new(body, truncated, processor, &ct));
        if let Some(v) = self.families_request_body(host) {
            return v;
        }
        self.run_phase(2, host)
    }

    /// Phases 1 and 2 for a request whose whole body is at hand, the way the filter runs
    /// them: headers, then the body when the policy inspects bodies (cut at the limit and
    /// flagged truncated), else an empty body. For native tools and tests.
    pub fn run_request(&mut self, body: &[u8], host: &dyn Host) -> Verdict {
        let v = self.on_request_headers(host);
        if v.is_stop() {
            return v;
        }
        if !self.wants_request_body() {
            return self.on_request_body(Vec::new(), false, host);
        }
        let limit = self.request_body_limit();
        let truncated = body.len() > limit;
        let inspected = body
            .get(..limit.min(body.len()))
            .unwrap_or_default()
            .to_vec();
        self.on_request_body(inspected, truncated, host)
    }

    /// Whether [`Transaction::on_response_headers`] needs the real status and headers: the
    /// request is not denied and the policy reads them ([`Engine::reads_response_head`]).
    /// If not, the proxy may pass status 0 and no headers; phase 3 still runs.
    pub fn wants_response_head(&self) -> bool {
        self.denied.is_none() && self.engine.reads_response_head()
    }

    /// Phase 3: response headers.
    pub fn on_response_headers(
        &mut self,
        status: u16,
        headers: Vec<(String, Vec<u8>)>,
        host: &dyn Host,
    ) -> Verdict {
        self.resp.status = status;
        self.resp.headers = headers;
        self.clear_views();
        if self.denied.is_none() {
            self.api_response_headers();
        }
        self.run_phase(3, host)
    }

    /// The response body limit in bytes.
    pub fn engine_response_limit(&self) -> usize {
        let waf = self.engine.program.body.response_limit as usize;
        match &self.engine.families.api {
            // One byte over the API limit tells the API stage the body is too large.
            Some(a) if self.ctx.api.inspect_response => waf.max(a.responses.limit as usize + 1),
            _ => waf,
        }
    }

    /// Whether the filter should buffer the response body for phase 4.
    pub fn wants_response_body(&self) -> bool {
        let b = &self.engine.program.body;
        if self.denied.is_some() {
            return false;
        }
        if self.ctx.api.inspect_response {
            return true;
        }
        if !b.inspect_response || self.allowed {
            return false;
        }
        let ct = self
            .resp
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.to_ascii_lowercase())
            .unwrap_or_default();
        let mime = ct
            .split(|&c| c == b';')
            .next()
            .unwrap_or_default()
            .trim_ascii();
        b.response_mime_types.iter().any(|m| m.as_bytes() == mime)
    }

    /// Phase 4: the response body (a prefix up to the response limit).
    pub fn on_response_body(&mut self, body: Vec<u8>, host: &dyn Host) -> Verdict {
        self.on_response_body_with(body, false, host)
    }

    /// Phase 4 with `truncated` saying `body` is only the first `engine_response_limit()`
    /// bytes: WAF rules, then API response inspection (which may leave a replacement body
    /// in [`Transaction::take_response_rewrite`]).
    pub fn on_response_body_with(
        &mut self,
        body: Vec<u8>,
        truncated: bool,
        host: &dyn Host,
    ) -> Verdict {
        self.resp.body = body;
        self.clear_views();
        let v = self.run_phase(4, host);
        if v.is_stop() {
            return v;
        }
        self.api_response_body(truncated, host).unwrap_or(v)
    }

    /// Phase 5: logging. Call once at the end: runs the phase-5 rules, counts the outcome
    /// (`waap.requests.allowed` for a request that was let through; for a WAF or limit
    /// decision `waap.<waf|limits>.<denied|monitored>` and `waap.rule.<deciding id>`, the
    /// families having counted theirs in [`Transaction::decide`]), then logs the audit
    /// record of a denied or monitored request and returns it.
    pub fn on_log(&mut self, host: &dyn Host) -> Option<String> {
        let _ = self.run_phase(5, host);
        if self.denied.is_none() {
            host.counter_add("waap.requests.allowed", 1);
        }
        let (word, (_, id)) = match (self.denied, self.would_deny) {
            (Some(d), _) => ("denied", d),
            (None, Some(d)) => ("monitored", d),
            (None, None) => return None,
        };
        if !self.ctx.decisions.iter().any(|d| d.rule_id == id) {
            let family = if id == 0 { "limits" } else { "waf" };
            host.counter_add(&format!("waap.{family}.{word}"), 1);
            if id != 0 {
                host.counter_add(&format!("waap.rule.{id}"), 1);
            }
        }
        let audit = self.audit_json(host)?;
        host.log(LogLevel::Warn, &audit);
        Some(audit)
    }

    /// The audit record (one compact JSON object, see [`log::Audit`]) of a request denied
    /// or monitored so far, `None` while neither. No header values, no matched data, the
    /// path truncated: safe for access logs (the filter exports it as filter state).
    pub fn audit_json(&self, host: &dyn Host) -> Option<String> {
        let (action, decision) = match (self.denied, self.would_deny) {
            (Some(d), _) => ("deny", d),
            (None, Some(d)) => ("would_deny", d),
            (None, None) => return None,
        };
        let (status, id) = decision;
        let ids = self.deny_ids(id);
        let family = self
            .ctx
            .decisions
            .iter()
            .find(|d| d.rule_id == id)
            .map(|d| d.family.name())
            .or_else(|| {
                self.engine
                    .program
                    .rules
                    .iter()
                    .find(|r| r.id == id)
                    .map(|r| r.family.as_str())
            })
            .unwrap_or(if id == 0 { "limits" } else { "waf" });
        let score = [
            "blocking_inbound_anomaly_score",
            "inbound_anomaly_score_pl1",
            "anomaly_score",
        ]
        .iter()
        .find_map(|k| self.tx.get(*k).map(|t| &t.v))
        .map(|v| operator::atoi(v))
        .unwrap_or(0);
        let audit = log::Audit {
            now_nanos: host.now_nanos(),
            head: &self.head,
            action,
            status,
            rule_ids: &ids,
            family,
            score,
        };
        Some(audit.to_json())
    }

    /// The rule matches recorded so far.
    pub fn matches(&self) -> &[MatchRecord] {
        &self.matches
    }

    /// Whether the request was denied (in block mode).
    pub fn is_denied(&self) -> bool {
        self.denied.is_some()
    }

    /// In monitor mode, the deny that would have happened: (status, rule id).
    pub fn would_deny(&self) -> Option<(u16, u32)> {
        self.would_deny
    }

    /// Evaluation errors seen (regex engine errors and the like).
    pub fn errors(&self) -> u32 {
        self.errors
    }

    /// The request head.
    pub fn head(&self) -> &RequestHead {
        &self.head
    }

    /// Every TX variable, for explain.
    pub fn tx_vars(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.tx.iter().map(|(k, t)| (k.as_str(), t.v.as_slice()))
    }

    /// A TX variable (lowercase name), for tests and explain.
    pub fn tx_var(&self, name: &str) -> Option<&[u8]> {
        self.tx
            .get(&name.to_ascii_lowercase())
            .map(|t| t.v.as_slice())
    }

    /// The JSON body of a denial with `status`.
    pub fn deny_body(&self, status: u16, rule_ids: &[u32]) -> String {
        log::deny_body_for(status, rule_ids, &self.head.request_id)
    }

    fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.head
            .headers
            .iter()
            .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    fn run_phase(&mut self, phase: u8, host: &dyn Host) -> Verdict {
        if self.allowed {
            return Verdict::Allow;
        }
        if let Some((status, id)) = self.denied {
            return Verdict::Deny {
                status,
                rule_ids: self.deny_ids(id),
            };
        }
        let engine_handle = self.engine.clone();
        let engine: &Engine = &engine_handle;
        let rules = match engine.phase_rules.get(phase as usize) {
            Some(r) => r,
            None => return Verdict::Allow,
        };
        let mut skip_to: Option<u32> = None;
        for &ri in rules {
            if let Some(t) = skip_to {
                if ri < t {
                    continue;
                }
                skip_to = None;
            }
            // Rules removed at run time (`ctl:ruleRemoveById/ByTag`) are rare: a rule's id
            // and tags are read only when there are some. Then the prefilter, which reads
            // only its own compact arrays: most rules a request visits stop there, and
            // behind a proxy reading a rule only to skip it costs a cache miss per rule
            // (the compiler used to load every rule's id ahead of the removal check).
            if !(self.removed_ids.is_empty() && self.removed_tags.is_empty()) {
                match engine.program.rules.get(ri as usize) {
                    Some(rule) if !self.is_removed(rule) => {}
                    _ => continue,
                }
            }
            let (r, o) = self.stats.get();
            self.stats.set((r + 1, o));
            if !self.may_match(ri) {
                continue;
            }
            let Some(rule) = engine.program.rules.get(ri as usize) else {
                continue;
            };
            let errors_before = self.errors;
            let matched = self.eval_rule(rule, ri, host);
            if self.errors > errors_before
                && engine.program.on_error == crate::program::FailMode::Closed
            {
                // Fail closed: a rule that could not be evaluated denies the request.
                let status = 503;
                log::emit_limit(
                    host,
                    &self.head,
                    status,
                    &format!(
                        "rule {} could not be evaluated (on_error: fail_closed)",
                        rule.id
                    ),
                );
                if engine.program.mode == Mode::Block {
                    self.denied = Some((status, rule.id));
                    return Verdict::Deny {
                        status,
                        rule_ids: vec![rule.id],
                    };
                }
            }
            if !matched {
                continue;
            }
            // The whole rule matched: the remaining actions.
            for ctl in &rule.actions.ctls {
                self.apply_ctl(ctl);
            }
            let disruptive = rule.actions.disruptive;
            if rule.actions.log || disruptive == Disruptive::Deny {
                let rec = self.record(rule, disruptive == Disruptive::Deny);
                log::emit_match(host, &self.head, &rec, engine.program.mode);
                self.matches.push(rec);
            }
            match disruptive {
                Disruptive::Deny => {
                    let status = rule.actions.status.unwrap_or(403);
                    match engine.program.mode {
                        Mode::Block => {
                            self.denied = Some((status, rule.id));
                            return Verdict::Deny {
                                status,
                                rule_ids: self.deny_ids(rule.id),
                            };
                        }
                        Mode::Monitor => {
                            if self.would_deny.is_none() {
                                self.would_deny = Some((status, rule.id));
                            }
                        }
                    }
                }
                Disruptive::Allow => {
                    self.allowed = true;
                    return Verdict::Allow;
                }
                Disruptive::Pass => {}
            }
            if let Some(t) = rule.actions.skip_after {
                skip_to = Some(t);
            }
        }
        Verdict::Allow
    }

    fn deny_ids(&self, first: u32) -> Vec<u32> {
        let mut ids = vec![first];
        for m in &self.matches {
            if !ids.contains(&m.rule_id) {
                ids.push(m.rule_id);
            }
        }
        ids.retain(|&i| i != 0);
        ids
    }

    fn is_removed(&self, rule: &Rule) -> bool {
        self.removed_ids
            .iter()
            .any(|&(a, b)| (a..=b).contains(&rule.id))
            || self
                .removed_tags
                .iter()
                .any(|t| rule.tags.iter().any(|rt| rt == t))
    }

    /// Evaluates every link in order. As in ModSecurity v3, a link's captures and `setvar`s
    /// take effect as soon as that link matches (the next link may read them, as CRS's
    /// 920420 does); the disruptive action waits for the whole chain.
    fn eval_rule(&mut self, rule: &Rule, ri: u32, host: &dyn Host) -> bool {
        // The caller has asked the prefilter (`may_match`).
        for (i, cond) in core::iter::once(&rule.cond).chain(&rule.chain).enumerate() {
            let filter = if i == 0 { self.value_filter(ri) } else { None };
            let mut hits = core::mem::take(&mut self.spare_hits);
            let errors = self.eval_cond(rule, cond, filter, &mut hits);
            self.errors += errors;
            if errors > 0 {
                host.log(
                    LogLevel::Warn,
                    &format!("waap: rule {}: {errors} regex evaluation errors", rule.id),
                );
            }
            if hits.is_empty() {
                self.spare_hits = hits;
                return false;
            }
            // Per matching value, as ModSecurity v3 does: MATCHED_VAR, captures, setvars
            // (so an anomaly score grows once per matching variable).
            for hit in hits.as_slice() {
                // Field by field: `clone_from` reuses the buffers of the previous match.
                self.matched_var.0.clone_from(&hit.0);
                self.matched_var.1.clone_from(&hit.1);
                if cond.capture {
                    self.capture(cond, &hit.1);
                }
                let setvars = if i == 0 {
                    &rule.actions.setvars
                } else {
                    &cond.setvars
                };
                for sv in setvars {
                    self.setvar(rule, sv);
                }
                if i == 0 {
                    for sv in &cond.setvars {
                        self.setvar(rule, sv);
                    }
                }
            }
            // The previous matches' buffers are the next condition's.
            self.spare_hits = core::mem::replace(&mut self.matched_vars, hits);
        }
        true
    }

    /// `capture`: TX:0 is the whole match, TX:1..TX:9 the groups.
    fn capture(&mut self, cond: &Condition, value: &[u8]) {
        let crate::program::Operator::Rx(i) = cond.operator else {
            set_tx(&mut self.tx, "0", value);
            return;
        };
        if cond.negated {
            return;
        }
        let Some(cm) = self.engine.capture_matcher(i) else {
            return;
        };
        const NAMES: [&str; crate::matcher::MAX_CAPTURES] =
            ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
        let tx = &mut self.tx;
        cm.captures_with(value, &mut |n, g| {
            let Some(&name) = NAMES.get(n) else {
                return;
            };
            // An existing variable is overwritten in place: no allocation for the name or
            // the value.
            match g {
                Some(g) => set_tx(tx, name, g),
                None => {
                    tx.remove(name);
                }
            }
        });
    }

    /// Runs one condition over its targets, leaving the matching (name, value) pairs in
    /// `hits` (cleared first); returns the number of regex evaluation errors. With a
    /// `filter` (see [`Self::value_filter`]), values the prefilter scanned without finding
    /// the rule's literal are not tested.
    fn eval_cond<'s>(
        &'s self,
        rule: &Rule,
        cond: &'s Condition,
        filter: Option<ValueFilter>,
        hits: &mut Hits,
    ) -> u32 {
        hits.clear();
        // Fast path: one TX variable by name, untransformed (CRS's paranoia-level and
        // anomaly-score checks, a third of the rules a request runs).
        if let ([t], [], false) = (
            cond.targets.as_slice(),
            cond.transforms.as_slice(),
            cond.multi_match,
        ) {
            if let (Collection::Tx, Selector::Key(k), false, true, true) = (
                t.collection,
                &t.selector,
                t.count,
                t.exclude.is_empty(),
                self.removed_targets.is_empty(),
            ) {
                let Some(v) = self.tx.get(k.as_str()).map(|t| &t.v) else {
                    return 0;
                };
                let (m, e) = self.test(cond, v);
                if m {
                    hits.push(Collection::Tx, &Val::keyed(k.as_bytes(), v), v);
                }
                return e;
            }
        }
        // The buffer of the last condition, reused: most rules read a handful of values,
        // and a fresh vector per condition was a third of a CRS GET's allocated bytes.
        let mut values: Vec<(Collection, Val<'_>)> = recycle(self.values.take());
        if cond.targets.is_empty() {
            values.push((Collection::Env, Val::scalar(Cow::Borrowed(b""))));
        }
        for t in &cond.targets {
            self.gather(rule, t, &mut values);
        }
        let mut errors = 0;
        let chain = chain_hash(&cond.transforms);
        for (coll, val) in values.drain(..) {
            // A plain value was scanned as its raw bytes (as `compute_view` does).
            let plain = filter.is_some_and(|f| f.min_class > 0 && val.class() >= f.min_class);
            if let (Some(f), true, true) = (filter, plain, val.stable) {
                if !self.value_has_slot(&val.value, f.slot) {
                    continue;
                }
            }
            let mut matched = false;
            let cur: Tv<'_> = if cond.multi_match {
                // The value, then every transformation step that changed it.
                let mut test = |v: &[u8]| {
                    let (m, e) = self.test(cond, v);
                    errors += e;
                    matched |= m;
                };
                test(&val.value);
                self.walk_chain(&val, &cond.transforms, &mut |v, _| test(v))
            } else {
                let cur = self.transformed(&val, &cond.transforms, chain);
                // Bytes the prefilter scanned for a view of this rule: request data or a
                // cached transformation (a fresh `Tv::O` was never scanned into the cache).
                if let (Some(f), false) = (filter, plain) {
                    let (bytes, stable) =
                        scan_form(&val, &cur, val.stable && !matches!(cur, Tv::O(_)));
                    if stable && !self.value_has_slot(bytes, f.slot) {
                        continue;
                    }
                }
                let (m, e) = self.test(cond, &cur);
                errors += e;
                matched |= m;
                cur
            };
            if matched {
                hits.push(coll, &val, &cur);
            }
        }
        self.values.replace(recycle(values));
        errors
    }

    /// Applies `transforms` to a value, through the cache when the value is stable.
    fn transformed<'v>(
        &self,
        val: &'v Val<'_>,
        transforms: &[crate::transform::Transform],
        chain: u64,
    ) -> Tv<'v> {
        // No step acts on the value (as `walk_chain` would find, step by step): neither
        // the cache nor the chain is needed.
        if transforms.is_empty() || {
            let features = val.features();
            transforms.iter().all(|t| features & t.trigger() == 0)
        } {
            return Tv::B(&val.value);
        }
        let key = (val.value.as_ptr() as usize, val.value.len(), chain);
        if val.stable {
            if let Ok(c) = self.tcache.try_borrow() {
                if let Some(hit) = c.get(&key) {
                    return match hit {
                        Some(rc) => Tv::R(rc.clone()),
                        None => Tv::B(&val.value),
                    };
                }
            }
        }
        let tv = self.walk_chain(val, transforms, &mut |_, _| {});
        if val.stable {
            let cached = match &tv {
                Tv::R(rc) => Some(rc.clone()),
                _ => None,
            };
            if let Ok(mut c) = self.tcache.try_borrow_mut() {
                c.insert(key, cached);
            }
        }
        tv
    }

    /// Applies `transforms` to `val` one step at a time and calls `changed` with every
    /// intermediate result that differs from its input (and whether its bytes are stable).
    /// Stable values go through the step cache: chains share prefixes (CRS applies
    /// utf8toUnicode,urlDecodeUni,... in dozens of combinations) and most steps leave a
    /// benign value unchanged; equal results then share one address, so the prefilter
    /// scans them once.
    fn walk_chain<'v>(
        &self,
        val: &'v Val<'_>,
        transforms: &[crate::transform::Transform],
        changed: &mut dyn FnMut(&[u8], bool),
    ) -> Tv<'v> {
        // A step whose trigger the current bytes lack leaves them unchanged: skipped
        // without running it or touching the cache (most steps on benign values).
        let mut features = val.features();
        if !val.stable {
            let mut cur: Cow<'_, [u8]> = Cow::Borrowed(&val.value);
            for t in transforms {
                if features & t.trigger() == 0 {
                    continue;
                }
                if let Cow::Owned(o) = t.apply(&cur) {
                    changed(&o, false);
                    features = crate::transform::features(&o);
                    cur = Cow::Owned(o);
                }
            }
            return match cur {
                Cow::Borrowed(b) => Tv::B(b),
                Cow::Owned(o) => Tv::O(o),
            };
        }
        let mut cur: Option<Rc<[u8]>> = None;
        for &t in transforms {
            if features & t.trigger() == 0 {
                continue;
            }
            let next = match &cur {
                Some(rc) => self.step(rc, t),
                None => self.step(&val.value, t),
            };
            if let Some(rc) = next {
                changed(&rc, true);
                features = crate::transform::features(&rc);
                cur = Some(rc);
            }
        }
        match cur {
            Some(rc) => Tv::R(rc),
            None => Tv::B(&val.value),
        }
    }

    /// One transformation of stable bytes (request data or an earlier cached result),
    /// remembered by the bytes' address: `None` when it leaves them unchanged.
    fn step(&self, bytes: &[u8], t: crate::transform::Transform) -> Option<Rc<[u8]>> {
        const STEP: u64 = 0xffff_ffff_0000_0000;
        let key = (bytes.as_ptr() as usize, bytes.len(), STEP | t as u64);
        if let Some(hit) = self
            .tcache
            .try_borrow()
            .ok()
            .and_then(|c| c.get(&key).cloned())
        {
            return hit;
        }
        let out: Option<Rc<[u8]>> = match t.apply(bytes) {
            Cow::Borrowed(_) => None,
            Cow::Owned(o) if o.is_empty() => Some(self.empty.clone()),
            Cow::Owned(o) => Some(o.into()),
        };
        if let Ok(mut c) = self.tcache.try_borrow_mut() {
            c.insert(key, out.clone());
        }
        out
    }

    /// Forgets the prefilter views (the data they were computed from changed). Only the
    /// done flags and base states are reset: a view's or base's bits are written whole
    /// before its flag is set, so the arrays keep their size and are not reallocated (a
    /// CRS request cleared them twice, each time a 10 KB allocation and zeroing).
    fn clear_views(&mut self) {
        let pb = self.pbits.get_mut();
        pb.1.fill(false);
        let vb = self.vbits.get_mut();
        vb.0.clear();
        vb.1.clear();
        let pb = self.pbase.get_mut();
        pb.1.fill(0);
    }

    /// False when rule `ri`'s first condition cannot match: its regex's required literals
    /// occur in none of the values it reads (see [`crate::prefilter`]).
    fn may_match(&self, ri: u32) -> bool {
        let pf = &self.engine.prefilter;
        let Some(Some(plan)) = pf.plans.get(ri as usize) else {
            return true;
        };
        let (word, bit) = (plan.slot as usize / 64, 1u64 << (plan.slot % 64));
        for &v in pf.views_of(plan) {
            let v = v as usize;
            let done = self
                .pbits
                .try_borrow()
                .ok()
                .map(|pb| pb.1.get(v).copied().unwrap_or(false));
            let Some(done) = done else {
                return true;
            };
            if !done && !self.compute_view(v) {
                return true;
            }
            let Ok(pb) = self.pbits.try_borrow() else {
                return true;
            };
            if pb.0.get(v * pf.words + word).is_none_or(|w| w & bit != 0) {
                return true;
            }
        }
        false
    }

    /// The per-value prefilter of rule `ri`'s first condition: its regex's bit and the
    /// least plain class of a value scanned as its raw bytes (the same for every view of
    /// the rule: they share the transformation chain).
    fn value_filter(&self, ri: u32) -> Option<ValueFilter> {
        let pf = &self.engine.prefilter;
        let plan = pf.plans.get(ri as usize)?.as_ref()?;
        Some(ValueFilter {
            slot: plan.slot,
            min_class: plan.min_class,
        })
    }

    /// False only when `bytes` were scanned into the value-scan cache (at this address) by
    /// a scanner holding `slot`'s literals and lack them: then the regex cannot match them.
    /// Anything not in the cache may match.
    fn value_has_slot(&self, bytes: &[u8], slot: u32) -> bool {
        let Ok(vb) = self.vbits.try_borrow() else {
            return true;
        };
        let (map, arena) = &*vb;
        let mut scanners = self
            .engine
            .prefilter
            .slot_scanners
            .get(slot as usize)
            .copied()
            .unwrap_or(0);
        while scanners != 0 {
            let sc = scanners.trailing_zeros() as usize;
            scanners &= scanners - 1;
            if let Some(&off) = map.get(&scan_key(bytes, sc)) {
                return arena
                    .get(off as usize + slot as usize / 64)
                    .is_none_or(|w| w & (1 << (slot % 64)) != 0);
            }
        }
        true
    }

    /// Scans view `v`'s values into its bits; false if that could not be done.
    fn compute_view(&self, v: usize) -> bool {
        let pf = &self.engine.prefilter;
        let Some(&hot) = pf.hot.get(v) else {
            return false;
        };
        let mut small = [0u64; 8];
        let mut big = Vec::new();
        let bits: &mut [u64] = if pf.words <= small.len() {
            small.get_mut(..pf.words).unwrap_or_default()
        } else {
            big.resize(pf.words, 0);
            &mut big
        };
        // Plain values come from the base, computed once per target.
        let min_class = hot.min_class;
        let state = if min_class > 0 {
            self.base_bits(hot.base as usize, min_class, bits)
        } else {
            None
        };
        let from_base = state.is_some();
        // State bit 1: a value below class 2; bit 2: a value below class 1.
        let below = if min_class == 2 { 2 } else { 4 };
        let done_by_base = state.is_some_and(|st| st & below == 0);
        // Unless every value came from the base: a walk over the collection.
        if !done_by_base {
            let Some(view) = pf.views.get(v) else {
                return false;
            };
            self.walk_view(view, from_base, bits);
        }
        let Ok(mut pb) = self.pbits.try_borrow_mut() else {
            return false;
        };
        let n = pf.views.len();
        if pb.1.len() != n {
            pb.0 = vec![0; n * pf.words];
            pb.1 = vec![false; n];
        }
        let (store, done) = &mut *pb;
        if let Some(dst) = store.get_mut(v * pf.words..(v + 1) * pf.words) {
            dst.copy_from_slice(bits);
        } else {
            return false;
        }
        if let Some(d) = done.get_mut(v) {
            *d = true;
        }
        true
    }

    /// ORs into `bits` view `view`'s values that did not come from its base (all of them
    /// unless `from_base`): the plain ones as their raw bytes, the others transformed.
    fn walk_view(&self, view: &crate::prefilter::View, from_base: bool, bits: &mut [u64]) {
        let min_class = view.min_class;
        let c = view.target.collection;
        let keyed = !is_scalar(c);
        let sc = self.engine.prefilter.scanner_of(usize::from(view.base));
        let mut walk = |val: Val<'_>| {
            if keyed && !self.selects_in(&view.target.selector, &val.key, true) {
                return;
            }
            // The AC scan ignores case, so a plain value's raw bytes stand for every stage
            // of a plain chain.
            if min_class > 0 && val.class() >= min_class {
                if !from_base {
                    self.scan_value(sc, &val.value, val.stable, bits);
                }
                return;
            }
            // No step of the chain acts on the value but to change its case, and the scan
            // ignores case: the raw bytes stand for every form (multi-match too).
            if val.features() & view.scan_trigger == 0 {
                self.scan_value(sc, &val.value, val.stable, bits);
                return;
            }
            if view.multi {
                // As `eval_cond` tests a multi-match condition: the value, then every
                // transformation step that changed it.
                self.scan_value(sc, &val.value, val.stable, bits);
                self.walk_chain(&val, &view.transforms, &mut |v, stable| {
                    let (v, stable) = scan_form(&val, v, stable);
                    self.scan_value(sc, v, stable, bits)
                });
                return;
            }
            let tv = self.transformed(&val, &view.transforms, view.chain);
            let (v, stable) = scan_form(&val, &tv, val.stable && !matches!(tv, Tv::O(_)));
            self.scan_value(sc, v, stable, bits);
        };
        self.collection(c, &mut walk);
    }

    /// ORs into `bits` the bits of base `b`'s values of at least `min_class` (scanning the
    /// base the first time) and returns the base's state (see `pbase`); `None` if that
    /// could not be done.
    fn base_bits(&self, b: usize, min_class: u8, bits: &mut [u64]) -> Option<u8> {
        let pf = &self.engine.prefilter;
        let words = pf.words;
        let state = self
            .pbase
            .try_borrow()
            .ok()
            .map(|pb| pb.1.get(b).copied().unwrap_or(0))?;
        if state == 0 {
            let target = pf.bases.get(b)?;
            // acc[..words]: class-2 values; acc[words..]: class 1 and 2.
            let mut small = [0u64; 16];
            let mut big = Vec::new();
            let acc: &mut [u64] = if 2 * words <= small.len() {
                small.get_mut(..2 * words).unwrap_or_default()
            } else {
                big.resize(2 * words, 0);
                &mut big
            };
            let mut st = 1u8;
            let keyed = !is_scalar(target.collection);
            let sc = pf.scanner_of(b);
            self.collection(target.collection, &mut |val: Val<'_>| {
                if keyed && !self.selects_in(&target.selector, &val.key, true) {
                    return;
                }
                let (plain, spaced) = acc.split_at_mut(words);
                match val.class() {
                    2 => self.scan_value(sc, &val.value, val.stable, plain),
                    1 => {
                        st |= 2;
                        self.scan_value(sc, &val.value, val.stable, spaced);
                    }
                    _ => st |= 2 | 4,
                }
            });
            // Class 1-or-2 = the class-1 values' bits and the class-2 values' bits.
            let (plain, spaced) = acc.split_at_mut(words);
            for (s, p) in spaced.iter_mut().zip(plain.iter()) {
                *s |= p;
            }
            let mut pb = self.pbase.try_borrow_mut().ok()?;
            let n = pf.bases.len();
            if pb.1.len() != n {
                pb.0 = vec![0; 2 * n * words];
                pb.1 = vec![0; n];
            }
            let (store, states) = &mut *pb;
            store
                .get_mut(2 * b * words..2 * (b + 1) * words)?
                .copy_from_slice(acc);
            *states.get_mut(b)? = st;
        }
        let pb = self.pbase.try_borrow().ok()?;
        let off = 2 * b * words + if min_class == 2 { 0 } else { words };
        for (d, s) in bits.iter_mut().zip(pb.0.get(off..off + words)?) {
            *d |= s;
        }
        pb.1.get(b).copied()
    }

    /// ORs the prefilter bits of `value` under scanner `sc` into `bits`, through the
    /// value-scan cache when the bytes are `stable` (request data or a cached
    /// transformation).
    fn scan_value(&self, sc: usize, value: &[u8], stable: bool, bits: &mut [u64]) {
        let pf = &self.engine.prefilter;
        if value.is_empty() {
            return;
        }
        let key = scan_key(value, sc);
        let Ok(mut vb) = self.vbits.try_borrow_mut().map_err(|_| ()).and_then(|vb| {
            if stable {
                Ok(vb)
            } else {
                Err(())
            }
        }) else {
            pf.scan(sc, value, bits);
            return;
        };
        let (map, arena) = &mut *vb;
        let off = match map.get(&key) {
            Some(&off) => off as usize,
            None => {
                let off = arena.len();
                arena.resize(off + pf.words, 0);
                if let Some(dst) = arena.get_mut(off..) {
                    pf.scan(sc, value, dst);
                }
                map.insert(key, off as u32);
                off
            }
        };
        if let Some(src) = arena.get(off..off + pf.words) {
            for (b, s) in bits.iter_mut().zip(src) {
                *b |= s;
            }
        }
    }

    /// Work done so far: (rules evaluated, operator runs).
    pub fn work(&self) -> (u32, u32) {
        self.stats.get()
    }

    fn test(&self, cond: &Condition, value: &[u8]) -> (bool, u32) {
        let (r, o) = self.stats.get();
        self.stats.set((r, o + 1));
        match operator::run(self, &cond.operator, value) {
            Ok(m) => (m != cond.negated, 0),
            Err(()) => (false, 1),
        }
    }

    /// Appends the values `t` selects.
    fn gather<'a>(&'a self, rule: &Rule, t: &'a Target, out: &mut Vec<(Collection, Val<'a>)>) {
        let c = t.collection;
        let removed: Vec<&Target> = if self.removed_targets.is_empty() {
            Vec::new()
        } else {
            self.removed_targets
                .iter()
                .filter(|(r, rt)| {
                    rt.collection == c
                        && match r {
                            RuleRef::Id(id) => *id == rule.id,
                            RuleRef::Tag(tag) => rule.tags.iter().any(|x| x == tag),
                        }
                })
                .map(|(_, rt)| rt)
                .collect()
        };
        let keyed = !is_scalar(c);
        let stable = !matches!(
            c,
            Collection::Tx | Collection::MatchedVars | Collection::MatchedVarsNames
        );
        let keep = |key: &[u8]| {
            // A target removed at run time (ctl:ruleRemoveTarget*) goes for scalars too, e.g.
            // CRS 941010 removing REQUEST_FILENAME from the 941 rules.
            if removed
                .iter()
                .any(|rt| self.selects_in(&rt.selector, key, stable))
            {
                return false;
            }
            !keyed
                || (self.selects_in(&t.selector, key, stable)
                    && !t.exclude.iter().any(|s| self.selects_in(s, key, stable)))
        };
        // One TX variable by name: a lookup, not a scan of every TX variable (TX names
        // and selector keys are both stored lowercase). CRS counts its settings this way
        // (`&TX:crs_setup_version`) in thirty rules per request.
        if let (Collection::Tx, Selector::Key(k)) = (c, &t.selector) {
            let found = self
                .tx
                .get_key_value(k.as_str())
                .map(|(name, t)| (name, &t.v))
                .filter(|(name, _)| keep(name.as_bytes()));
            if t.count {
                let n = usize::from(found.is_some());
                out.push((c, Val::count(n)));
            } else if let Some((name, v)) = found {
                let mut val = Val::keyed(name.as_bytes(), v);
                val.stable = false;
                out.push((c, val));
            }
            return;
        }
        let start = out.len();
        if let Some(prefix) = self.tx_prefix(c, &t.selector) {
            // A range of the sorted TX names instead of a pass over all of them.
            for (name, TxVal { v, .. }) in self.tx.range::<str, _>((
                core::ops::Bound::Included(prefix),
                core::ops::Bound::Unbounded,
            )) {
                if !name.starts_with(prefix) {
                    break;
                }
                if keep(name.as_bytes()) {
                    // TX values change in place during the transaction: never cached by
                    // address (as `collection` marks them).
                    let mut val = Val::keyed(name.as_bytes(), v);
                    val.stable = false;
                    out.push((c, val));
                }
            }
        } else {
            self.collection(c, &mut |v: Val<'a>| {
                if keep(&v.key) {
                    out.push((c, v));
                }
            });
        }
        if t.count {
            let n = out.len() - start;
            out.truncate(start);
            out.push((c, Val::count(n)));
        }
    }

    /// For a TX key regex that is a literal prefix (CRS's `TX:/^header_name_920450_/`):
    /// the prefix every selected TX name starts with, as stored (names are lower case, so a
    /// case-insensitive prefix with upper-case letters is not given). A multi-line `^` may
    /// also match after a line feed, so then only while no TX name holds one.
    fn tx_prefix(&self, c: Collection, s: &Selector) -> Option<&str> {
        let (Collection::Tx, Selector::Regex(i)) = (c, s) else {
            return None;
        };
        let f = self.engine.key_forms.get(*i as usize)?.as_ref()?;
        if !f.anchored
            || (f.ci && f.literal.iter().any(u8::is_ascii_uppercase))
            || (f.multi_line && self.tx_newline)
        {
            return None;
        }
        core::str::from_utf8(&f.literal).ok()
    }

    fn selects(&self, s: &Selector, key: &[u8]) -> bool {
        self.selects_in(s, key, false)
    }

    /// `selects`, remembering regex results when `stable_key` says the key's bytes cannot
    /// change during the transaction (request data, not TX or MATCHED_*).
    fn selects_in(&self, s: &Selector, key: &[u8], stable_key: bool) -> bool {
        match s {
            Selector::All => true,
            Selector::Key(k) => key.eq_ignore_ascii_case(k.as_bytes()),
            Selector::Regex(i)
                if matches!(self.engine.key_forms.get(*i as usize), Some(Some(_))) =>
            {
                matches!(self.engine.key_forms.get(*i as usize), Some(Some(f)) if f.is_match(key))
            }
            Selector::Regex(i) if !stable_key => self
                .engine
                .matchers
                .get(*i as usize)
                .and_then(|m| m.is_match(key).ok())
                .unwrap_or(false),
            Selector::Regex(i) => {
                // Keys live in request data that does not change, and CRS asks the same
                // question (e.g. `!REQUEST_COOKIES:/__utm/`) in a hundred rules: remember it.
                let k = (*i as usize, key.as_ptr() as usize, key.len() as u64);
                if let Some(hit) = self
                    .scache
                    .try_borrow()
                    .ok()
                    .and_then(|c| c.get(&k).copied())
                {
                    return hit;
                }
                let hit = self
                    .engine
                    .matchers
                    .get(*i as usize)
                    .and_then(|m| m.is_match(key).ok())
                    .unwrap_or(false);
                if let Ok(mut c) = self.scache.try_borrow_mut() {
                    c.insert(k, hit);
                }
                hit
            }
        }
    }

    /// Every member of a collection, named `COLL:key` (or `COLL` for scalars). Members of
    /// TX and MATCHED_* change during the transaction (and their buffers are freed and
    /// reused), so they are never `stable`: no cache may remember them by address.
    fn collection<'a>(&'a self, c: Collection, emit: &mut dyn FnMut(Val<'a>)) {
        use Collection::*;
        if matches!(
            c,
            Tx | MatchedVar | MatchedVarName | MatchedVars | MatchedVarsNames
        ) {
            self.members(c, &mut |mut v: Val<'a>| {
                v.stable = false;
                emit(v)
            });
        } else {
            self.members(c, emit);
        }
    }

    fn members<'a>(&'a self, c: Collection, emit: &mut dyn FnMut(Val<'a>)) {
        use Collection::*;
        let scalar = Val::scalar;
        let body = self.body.as_ref();
        let post: &[(Vec<u8>, Vec<u8>)] = body.map(|b| b.args_post.as_slice()).unwrap_or_default();
        let post_facts: &[FactCell] = body
            .map(|b| b.args_post_facts.as_slice())
            .unwrap_or_default();
        let hf = &self.hd.facts;
        let own = Val::scalar_in;
        match c {
            Args | ArgsGet | ArgsPost => {
                if c != ArgsPost {
                    members_with(&self.hd.args_get, &hf.args_get, false).for_each(&mut *emit);
                }
                if c != ArgsGet {
                    members_with(post, post_facts, false).for_each(&mut *emit);
                }
            }
            ArgsNames | ArgsGetNames | ArgsPostNames => {
                if c != ArgsPostNames {
                    members_with(&self.hd.args_get, &hf.args_get, true).for_each(&mut *emit);
                }
                if c != ArgsGetNames {
                    members_with(post, post_facts, true).for_each(&mut *emit);
                }
            }
            ArgsCombinedSize => {
                let n: usize = self
                    .hd
                    .args_get
                    .iter()
                    .chain(post)
                    .map(|(k, v)| k.len() + v.len())
                    .sum();
                emit(scalar(number(n)));
            }
            RequestCookies => {
                members_with(&self.hd.cookies, &hf.cookies, false).for_each(&mut *emit)
            }
            RequestCookiesNames => {
                members_with(&self.hd.cookies, &hf.cookies, true).for_each(&mut *emit)
            }
            RequestHeaders => {
                members_with(&self.head.headers, &hf.headers, false).for_each(&mut *emit)
            }
            RequestHeadersNames => {
                members_with(&self.head.headers, &hf.headers, true).for_each(&mut *emit)
            }
            RequestFilename => emit(own(&self.hd.filename, &hf.filename)),
            RequestBasename => emit(own(&self.hd.basename, &hf.basename)),
            RequestUri => emit(own(&self.hd.uri_decoded, &hf.uri_decoded)),
            RequestUriRaw => emit(own(&self.head.uri, &hf.uri_raw)),
            RequestPathRaw => emit(own(&self.hd.path_raw, &hf.path_raw)),
            RequestLine => emit(own(&self.hd.request_line, &hf.request_line)),
            RequestMethod => emit(scalar(Cow::Borrowed(self.head.method.as_bytes()))),
            RequestProtocol => emit(scalar(Cow::Borrowed(self.head.protocol.as_bytes()))),
            QueryString => emit(own(&self.hd.query, &hf.query)),
            RequestBody => {
                if let Some(b) = body {
                    if b.processor == BodyProcessor::UrlEncoded || self.force_body_var {
                        emit(scalar(Cow::Borrowed(&b.raw)));
                    }
                }
            }
            RawBody => {
                if let Some(b) = body {
                    emit(scalar(Cow::Borrowed(&b.raw)));
                }
            }
            RequestBodyLength => {
                let n = body.map(|b| b.raw.len()).unwrap_or(0);
                emit(scalar(number(n)));
            }
            Xml => {
                if let Some(b) = body {
                    (b.xml_texts.iter().map(|v| Val::keyed(b"/*", v.as_slice())))
                        .for_each(&mut *emit);
                    (b.xml_attrs
                        .iter()
                        .map(|v| Val::keyed(b"//@*", v.as_slice())))
                    .for_each(&mut *emit);
                }
            }
            Files => {
                if let Some(b) = body {
                    (b.files.iter().map(|(f, n, _)| Val::keyed(f, n.as_slice())))
                        .for_each(&mut *emit);
                }
            }
            FilesNames => {
                if let Some(b) = body {
                    (b.files.iter().map(|(f, _, _)| Val::keyed(f, f.as_slice())))
                        .for_each(&mut *emit);
                }
            }
            FilesCombinedSize => {
                let n: usize = body.map(|b| b.files.iter().map(|f| f.2).sum()).unwrap_or(0);
                emit(scalar(number(n)));
            }
            MultipartPartHeaders => {
                if let Some(b) = body {
                    (b.part_headers
                        .iter()
                        .map(|(k, v)| Val::keyed(k, v.as_slice())))
                    .for_each(&mut *emit);
                }
            }
            ReqbodyProcessor => {
                let p = body
                    .map(|b| b.processor)
                    .or(self.processor_override)
                    .unwrap_or_else(|| {
                        BodyProcessor::for_content_type(
                            self.header(b"content-type").unwrap_or_default(),
                        )
                    });
                emit(scalar(Cow::Borrowed(p.name().as_bytes())));
            }
            ReqbodyError => {
                let e = body.is_some_and(|b| b.error);
                emit(scalar(Cow::Borrowed(if e { b"1" } else { b"0" })));
            }
            ResponseHeaders => (self
                .resp
                .headers
                .iter()
                .map(|(k, v)| Val::keyed(k.as_bytes(), v.as_slice())))
            .for_each(&mut *emit),
            ResponseBody => emit(scalar(Cow::Borrowed(&self.resp.body))),
            ResponseStatus => emit(scalar(Cow::Owned(
                self.resp.status.to_string().into_bytes(),
            ))),
            RemoteAddr => emit(scalar(Cow::Borrowed(self.head.remote_addr.as_bytes()))),
            Tx => (self
                .tx
                .iter()
                .map(|(k, t)| Val::keyed(k.as_bytes(), t.v.as_slice())))
            .for_each(&mut *emit),
            MatchedVar => emit(scalar(Cow::Borrowed(&self.matched_var.1))),
            MatchedVarName => emit(scalar(Cow::Borrowed(&self.matched_var.0))),
            MatchedVars => (self
                .matched_vars
                .as_slice()
                .iter()
                .map(|(k, v)| Val::keyed(k, v.as_slice())))
            .for_each(&mut *emit),
            MatchedVarsNames => (self
                .matched_vars
                .as_slice()
                .iter()
                .map(|(k, _)| Val::keyed(k, k.as_slice())))
            .for_each(&mut *emit),
            UniqueId => emit(scalar(Cow::Borrowed(self.head.request_id.as_bytes()))),
            Rule | Env => {}
        }
    }

    /// Expands `%{...}` macros.
    pub(crate) fn expand<'a>(&'a self, m: &'a MacroString, rule: Option<&Rule>) -> Cow<'a, [u8]> {
        match m.parts.as_slice() {
            [MacroPart::Lit(l)] => return Cow::Borrowed(l),
            // A lone TX variable (`@within %{tx.restricted_headers_basic}`): no copy.
            [MacroPart::Var(Collection::Tx, Some(k))] => {
                return Cow::Borrowed(self.tx.get(k.as_str()).map_or(&[][..], |t| &t.v))
            }
            _ => {}
        }
        // Sized for the literals and a short value per variable: one allocation for most
        // macros (`tx.header_name_920450_%{tx.0}`, ten per CRS request).
        let mut out = Vec::with_capacity(
            m.parts
                .iter()
                .map(|p| match p {
                    MacroPart::Lit(l) => l.len(),
                    MacroPart::Var(..) => 24,
                })
                .sum(),
        );
        for p in &m.parts {
            match p {
                MacroPart::Lit(l) => out.extend_from_slice(l),
                MacroPart::Var(Collection::Rule, key) => {
                    if let Some(r) = rule {
                        match key.as_deref() {
                            Some("id") => out.extend_from_slice(r.id.to_string().as_bytes()),
                            Some("msg") => {
                                if let Some(msg) = &r.msg {
                                    out.extend_from_slice(&self.expand(msg, None));
                                }
                            }
                            Some("severity") => out.extend_from_slice(
                                r.severity
                                    .map(|s| s.to_string())
                                    .unwrap_or_default()
                                    .as_bytes(),
                            ),
                            _ => {}
                        }
                    }
                }
                MacroPart::Var(c, key) => match (c, key.as_deref()) {
                    // Direct lookups: a macro is expanded once per match, so it must not
                    // cost a pass over a collection that grows with the request.
                    (Collection::Tx, Some(k)) => {
                        if let Some(t) = self.tx.get(k) {
                            out.extend_from_slice(&t.v);
                        }
                    }
                    (Collection::MatchedVar, _) => out.extend_from_slice(&self.matched_var.1),
                    (Collection::MatchedVarName, _) => out.extend_from_slice(&self.matched_var.0),
                    _ => {
                        let sel = key.clone().map(Selector::Key).unwrap_or_default();
                        let mut found: Option<Vec<u8>> = None;
                        self.collection(*c, &mut |v| {
                            if found.is_none() && self.selects(&sel, &v.key) {
                                found = Some(v.value.into_owned());
                            }
                        });
                        if let Some(v) = found {
                            out.extend_from_slice(&v);
                        }
                    }
                },
            }
        }
        Cow::Owned(out)
    }

    fn setvar(&mut self, rule: &Rule, sv: &crate::program::SetVar) {
        // Literal names and values (most of CRS's) are used in place: waapc stores names
        // lower case; an expanded one (or an upper-case literal) is folded.
        fn literal(m: &MacroString) -> Option<&[u8]> {
            match m.parts.as_slice() {
                [MacroPart::Lit(l)] => Some(l.as_slice()),
                [] => Some(&[]),
                _ => None,
            }
        }
        // Each form allocates at most once: an expanded name is folded and stripped in its
        // own buffer, and a new variable takes that buffer and the expanded value's.
        let name: Cow<'_, str> = match literal(&sv.name) {
            Some(l) if !l.iter().any(u8::is_ascii_uppercase) => {
                String::from_utf8_lossy(l.strip_prefix(b"tx.").unwrap_or(l))
            }
            _ => {
                let mut v = self.expand(&sv.name, Some(rule)).into_owned();
                v.make_ascii_lowercase();
                if v.starts_with(b"tx.") {
                    v.drain(..3);
                }
                Cow::Owned(
                    String::from_utf8(v)
                        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
                )
            }
        };
        let mut digits = [0u8; 20];
        let new: Cow<'_, [u8]> = match sv.op {
            SetVarOp::Set => match literal(&sv.value) {
                Some(l) => Cow::Borrowed(l),
                None => Cow::Owned(self.expand(&sv.value, Some(rule)).into_owned()),
            },
            SetVarOp::Add | SetVarOp::Sub => {
                // Only the number is needed: the operand is read where `expand` leaves
                // it (a literal or a lone TX variable, as CRS's
                // `%{tx.critical_anomaly_score}`, is not copied).
                let d = operator::atoi(&self.expand(&sv.value, Some(rule)));
                let old = self
                    .tx
                    .get(&*name)
                    .map(|t| operator::atoi(&t.v))
                    .unwrap_or(0);
                let n = if sv.op == SetVarOp::Add {
                    old.saturating_add(d)
                } else {
                    old.saturating_sub(d)
                };
                Cow::Borrowed(decimal(n, &mut digits))
            }
            SetVarOp::Delete => {
                self.tx.remove(&*name);
                return;
            }
        };
        // An existing variable is overwritten in place (CRS updates its scores and
        // counters in most requests): the value's buffer is reused. An expanded name is
        // owned already: one search of the map, not a lookup and then an insert.
        let newline = name.contains('\n');
        match name {
            Cow::Owned(name) => match self.tx.entry(name) {
                btree_map::Entry::Occupied(mut e) => e.get_mut().set(&new),
                btree_map::Entry::Vacant(e) => {
                    self.tx_newline |= newline;
                    e.insert(TxVal::added(new.into_owned()));
                }
            },
            Cow::Borrowed(name) => match self.tx.get_mut(name) {
                Some(slot) => slot.set(&new),
                None => {
                    self.tx_newline |= newline;
                    self.tx
                        .insert(name.to_string(), TxVal::added(new.into_owned()));
                }
            },
        }
    }

    fn apply_ctl(&mut self, ctl: &Ctl) {
        match ctl {
            Ctl::RuleRemoveById(a, b) => self.removed_ids.push((*a, *b)),
            Ctl::RuleRemoveByTag(t) => self.removed_tags.push(t.clone()),
            Ctl::RuleRemoveTargetById(id, t) => {
                self.removed_targets.push((RuleRef::Id(*id), t.clone()))
            }
            Ctl::RuleRemoveTargetByTag(tag, t) => self
                .removed_targets
                .push((RuleRef::Tag(tag.clone()), t.clone())),
            Ctl::RequestBodyProcessor(p) => self.processor_override = BodyProcessor::from_name(p),
            Ctl::ForceRequestBodyVariable(on) => self.force_body_var = *on,
            Ctl::AuditEngine(_) => {}
        }
    }

    fn record(&self, rule: &Rule, disruptive: bool) -> MatchRecord {
        let msg = rule
            .msg
            .as_ref()
            .map(|m| String::from_utf8_lossy(&self.expand(m, Some(rule))).into_owned());
        let logdata = rule
            .logdata
            .as_ref()
            .map(|m| self.expand(m, Some(rule)).into_owned());
        MatchRecord {
            rule_id: rule.id,
            phase: rule.phase,
            family: rule.family.clone(),
            msg: msg.unwrap_or_default(),
            var: String::from_utf8_lossy(&self.matched_var.0).into_owned(),
            data: log::mask(
                &self.matched_var.0,
                logdata.as_deref().unwrap_or(&self.matched_var.1),
            ),
            value: log::mask(&self.matched_var.0, &self.matched_var.1),
            severity: rule.severity,
            disruptive,
        }
    }
}

/// The key part of a `COLL:key` value name.
#[allow(dead_code)]
fn key_of(name: &[u8]) -> &[u8] {
    match name.iter().position(|&b| b == b':') {
        Some(i) => name.get(i + 1..).unwrap_or_default(),
        None => name,
    }
}

pub(crate) fn chain_hash(ts: &[crate::transform::Transform]) -> u64 {
    ts.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, t| {
        (h ^ (*t as u64 + 1)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The SecLang name of a collection.
pub fn collection_name(c: Collection) -> &'static str {
    use Collection::*;
    match c {
        Args => "ARGS",
        ArgsGet => "ARGS_GET",
        ArgsPost => "ARGS_POST",
        ArgsNames => "ARGS_NAMES",
        ArgsGetNames => "ARGS_GET_NAMES",
        ArgsPostNames => "ARGS_POST_NAMES",
        ArgsCombinedSize => "ARGS_COMBINED_SIZE",
        RequestCookies => "REQUEST_COOKIES",
        RequestCookiesNames => "REQUEST_COOKIES_NAMES",
        RequestHeaders => "REQUEST_HEADERS",
        RequestHeadersNames => "REQUEST_HEADERS_NAMES",
        RequestFilename => "REQUEST_FILENAME",
        RequestBasename => "REQUEST_BASENAME",
        RequestUri => "REQUEST_URI",
        RequestUriRaw => "REQUEST_URI_RAW",
        RequestPathRaw => "REQUEST_PATH_RAW",
        RequestLine => "REQUEST_LINE",
        RequestMethod => "REQUEST_METHOD",
        RequestProtocol => "REQUEST_PROTOCOL",
        QueryString => "QUERY_STRING",
        RequestBody => "REQUEST_BODY",
        RawBody => "REQUEST_BODY",
        RequestBodyLength => "REQUEST_BODY_LENGTH",
        Xml => "XML",
        Files => "FILES",
        FilesNames => "FILES_NAMES",
        FilesCombinedSize => "FILES_COMBINED_SIZE",
        MultipartPartHeaders => "MULTIPART_PART_HEADERS",
        ReqbodyProcessor => "REQBODY_PROCESSOR",
        ReqbodyError => "REQBODY_ERROR",
        ResponseHeaders => "RESPONSE_HEADERS",
        ResponseBody => "RESPONSE_BODY",
        ResponseStatus => "RESPONSE_STATUS",
        RemoteAddr => "REMOTE_ADDR",
        Tx => "TX",
        MatchedVar => "MATCHED_VAR",
        MatchedVarName => "MATCHED_VAR_NAME",
        MatchedVars => "MATCHED_VARS",
        MatchedVarsNames => "MATCHED_VARS_NAMES",
        UniqueId => "UNIQUE_ID",
        Rule => "RULE",
        Env => "ENV",
    }
}

impl<E: Deref<Target = Engine> + Clone> Transaction<E> {
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn decimal_writes_every_i64_as_to_string_does() {
        let mut buf = [0u8; 20];
        for n in [
            0,
            1,
            -1,
            9,
            10,
            -10,
            42,
            1_000_000,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
        ] {
            assert_eq!(super::decimal(n, &mut buf), n.to_string().as_bytes(), "{n}");
        }
    }
}
