//! A compact JSON Schema validator for API protection: schemas are compiled by `waapc`
//! (`policy-compiler/src/schema.rs`) into a [`SchemaSet`] of nodes addressed by
//! [`SchemaId`], stored in the postcard-encoded FAMILIES section, and run here without a
//! regex engine or a JSON Schema library inside the filter.
//!
//! Supported keywords: `type` (with `integer`, `null` and OpenAPI 3.0 `nullable`), `enum`,
//! `const`, `properties`, `required`, `additionalProperties` (bool or schema),
//! `patternProperties`, `propertyNames`, `items`, `prefixItems` (and draft-4 array `items` +
//! `additionalItems`), `contains`/`minContains`/`maxContains`, `minItems`, `maxItems`,
//! `uniqueItems`, `minLength`/`maxLength` (in characters), `minimum`/`maximum`/
//! `exclusiveMinimum`/`exclusiveMaximum` (3.0 boolean and 3.1 numeric styles), `multipleOf`,
//! `minProperties`/`maxProperties`, `dependentRequired`, `pattern`, `allOf`/`anyOf`/`oneOf`/
//! `not`, `if`/`then`/`else`, `readOnly`/`writeOnly`, and `$ref` (resolved at compile time
//! into node ids; recursion allowed). `format` is an annotation, as in JSON Schema 2020-12.
//!
//! `pattern` and `patternProperties` are regexes in the program (`program.regexes`, built
//! into DFAs by the backend): the validator asks its caller "does regex `i` match somewhere
//! in `s`" through the `patterns` callback. The regexes use byte semantics (see
//! [`crate::matcher::syntax_config`]): `.` and classes match bytes, not characters, which
//! differs from ECMA-262 only on non-ASCII text.
//!
//! Error messages never contain the document's values (they may be secrets): a
//! [`Violation`] names the JSON Pointer of the failing value, the keyword and a message built
//! from the schema alone.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Index of a node in a [`SchemaSet`].
pub type SchemaId = u32;

/// All compiled schemas of a policy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct SchemaSet {
    /// The nodes; a schema is the id of its root node.
    pub nodes: Vec<SchemaNode>,
}

/// JSON types, as bits of [`SchemaNode::types`].
pub mod types {
    /// `null`.
    pub const NULL: u8 = 1;
    /// `boolean`.
    pub const BOOLEAN: u8 = 2;
    /// `integer` (a number with no fractional part).
    pub const INTEGER: u8 = 4;
    /// `number` (includes integers).
    pub const NUMBER: u8 = 8;
    /// `string`.
    pub const STRING: u8 = 16;
    /// `array`.
    pub const ARRAY: u8 = 32;
    /// `object`.
    pub const OBJECT: u8 = 64;
    /// Modifier (OpenAPI 3.0 / draft 4): `integer` excludes numbers written with a
    /// fraction or exponent (`1.0`).
    pub const STRICT_INTEGER: u8 = 128;
}

/// A JSON number as written: exact integers are kept exact.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub enum Num {
    /// A non-negative integer.
    U(u64),
    /// A negative integer.
    I(i64),
    /// Any other number.
    F(f64),
}

impl Num {
    /// The number of a JSON value, if it is one.
    pub fn of(n: &serde_json::Number) -> Num {
        if let Some(u) = n.as_u64() {
            Num::U(u)
        } else if let Some(i) = n.as_i64() {
            Num::I(i)
        } else {
            Num::F(n.as_f64().unwrap_or(f64::NAN))
        }
    }

    fn as_i128(self) -> Option<i128> {
        match self {
            Num::U(u) => Some(u as i128),
            Num::I(i) => Some(i as i128),
            Num::F(_) => None,
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            Num::U(u) => u as f64,
            Num::I(i) => i as f64,
            Num::F(f) => f,
        }
    }

    /// Mathematical comparison (exact between integers).
    pub fn cmp_num(self, other: Num) -> Option<Ordering> {
        match (self.as_i128(), other.as_i128()) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => self.as_f64().partial_cmp(&other.as_f64()),
        }
    }

    fn is_integer(self) -> bool {
        match self {
            Num::U(_) | Num::I(_) => true,
            Num::F(f) => f.is_finite() && f.fract() == 0.0,
        }
    }
}

/// A JSON literal held by `enum` and `const` (no `serde_json::Value`: postcard cannot
/// encode it).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum Lit {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number.
    Num(Num),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Lit>),
    /// An object, members in document order.
    Obj(Vec<(String, Lit)>),
}

impl Lit {
    /// The literal of a JSON value.
    pub fn from_value(v: &Value) -> Lit {
        match v {
            Value::Null => Lit::Null,
            Value::Bool(b) => Lit::Bool(*b),
            Value::Number(n) => Lit::Num(Num::of(n)),
            Value::String(s) => Lit::Str(s.clone()),
            Value::Array(a) => Lit::Arr(a.iter().map(Lit::from_value).collect()),
            Value::Object(o) => Lit::Obj(
                o.iter()
                    .map(|(k, v)| (k.clone(), Lit::from_value(v)))
                    .collect(),
            ),
        }
    }

    /// JSON Schema equality with a value: numbers compare mathematically, objects ignore
    /// member order.
    pub fn equals(&self, v: &Value) -> bool {
        match (self, v) {
            (Lit::Null, Value::Null) => true,
            (Lit::Bool(a), Value::Bool(b)) => a == b,
            (Lit::Num(a), Value::Number(b)) => a.cmp_num(Num::of(b)) == Some(Ordering::Equal),
            (Lit::Str(a), Value::String(b)) => a == b,
            (Lit::Arr(a), Value::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.equals(y))
            }
            (Lit::Obj(a), Value::Object(b)) => {
                a.len() == b.len() && a.iter().all(|(k, x)| b.get(k).is_some_and(|y| x.equals(y)))
            }
            _ => false,
        }
    }
}

/// JSON Schema equality of two values (for `uniqueItems`).
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            Num::of(x).cmp_num(Num::of(y)) == Some(Ordering::Equal)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, p)| y.get(k).is_some_and(|q| json_equal(p, q)))
        }
        _ => a == b,
    }
}

/// What `additionalProperties` says about properties not named by `properties` or
/// `patternProperties`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Additional {
    /// Not given: allowed (and removed by [`SchemaSet::prune`]).
    #[default]
    Unspecified,
    /// `true`: allowed and kept by `prune`.
    Any,
    /// `false` (or the policy's strict-objects switch): rejected.
    Deny,
    /// Each must validate against this schema (kept by `prune`).
    Schema(SchemaId),
}

/// One compiled schema node. Absent keywords are `None`/empty.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct SchemaNode {
    /// The `false` schema: nothing validates.
    pub never: bool,
    /// Allowed types as [`types`] bits; 0 allows every type.
    pub types: u8,
    /// `enum`.
    pub enum_values: Option<Vec<Lit>>,
    /// `const`.
    pub const_value: Option<Lit>,
    /// `properties`, in schema order.
    pub properties: Vec<(String, SchemaId)>,
    /// `patternProperties`: (regex index, schema).
    pub pattern_properties: Vec<(u32, SchemaId)>,
    /// `additionalProperties`.
    pub additional: Additional,
    /// `propertyNames`.
    pub property_names: Option<SchemaId>,
    /// `required`.
    pub required: Vec<String>,
    /// `dependentRequired`: when the first property is present, the others must be.
    pub dependent_required: Vec<(String, Vec<String>)>,
    /// `minProperties`.
    pub min_properties: Option<u64>,
    /// `maxProperties`.
    pub max_properties: Option<u64>,
    /// `prefixItems` (or draft-4 array-form `items`).
    pub prefix_items: Vec<SchemaId>,
    /// `items` for the elements after `prefix_items` (draft-4 `additionalItems`).
    pub items: Option<SchemaId>,
    /// `contains`, with `minContains` (default 1) and `maxContains`.
    pub contains: Option<(SchemaId, u64, Option<u64>)>,
    /// `minItems`.
    pub min_items: Option<u64>,
    /// `maxItems`.
    pub max_items: Option<u64>,
    /// `uniqueItems`.
    pub unique_items: bool,
    /// `minLength`, in characters.
    pub min_length: Option<u64>,
    /// `maxLength`, in characters.
    pub max_length: Option<u64>,
    /// `pattern`: regex index.
    pub pattern: Option<u32>,
    /// `minimum`.
    pub minimum: Option<Num>,
    /// `maximum`.
    pub maximum: Option<Num>,
    /// `exclusiveMinimum` (3.1 number, or 3.0 `minimum` with `exclusiveMinimum: true`).
    pub exclusive_minimum: Option<Num>,
    /// `exclusiveMaximum`.
    pub exclusive_maximum: Option<Num>,
    /// `multipleOf` (> 0).
    pub multiple_of: Option<f64>,
    /// `allOf` (also a `$ref` with sibling keywords).
    pub all_of: Vec<SchemaId>,
    /// `anyOf`.
    pub any_of: Vec<SchemaId>,
    /// `oneOf`.
    pub one_of: Vec<SchemaId>,
    /// `not`.
    pub not: Option<SchemaId>,
    /// `if`, `then`, `else`.
    pub if_then_else: Option<(SchemaId, Option<SchemaId>, Option<SchemaId>)>,
    /// `readOnly`: rejected when present in a request.
    pub read_only: bool,
    /// `writeOnly`: rejected when present in a response.
    pub write_only: bool,
}

/// Which way a document travels: decides whether `readOnly` or `writeOnly` is enforced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client to server: `readOnly` values are rejected.
    Request,
    /// Server to client: `writeOnly` values are rejected.
    Response,
}

/// The first reason a document failed. Never contains the document's values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// JSON Pointer (RFC 6901) of the failing value, e.g. `/items/0/amount`; "" is the root.
    pub pointer: String,
    /// The JSON Schema keyword that failed (`type`, `required`, `readOnly`, ...).
    pub keyword: String,
    /// What was expected, built from the schema only.
    pub message: String,
}

impl core::fmt::Display for Violation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{} at '{}': {}",
            self.keyword, self.pointer, self.message
        )
    }
}

/// Longest pointer reported; longer ones are cut (keys come from the client).
pub const MAX_POINTER_LEN: usize = 256;
/// Nesting of schema applications at most (guards recursive `$ref` on deep documents).
pub const MAX_SCHEMA_DEPTH: usize = 256;

/// Regex callback: does regex `i` of the program match somewhere in `s`?
pub type Patterns<'a> = &'a dyn Fn(u32, &str) -> bool;

struct Ctx<'a> {
    set: &'a SchemaSet,
    dir: Direction,
    patterns: Patterns<'a>,
}

/// A JSON Pointer under construction (segments escaped per RFC 6901).
#[derive(Clone, Copy)]
enum Path<'p> {
    Root,
    Key(&'p Path<'p>, &'p str),
    Index(&'p Path<'p>, usize),
}

impl Path<'_> {
    fn render(&self) -> String {
        let mut segs = Vec::new();
        let mut p = self;
        loop {
            match p {
                Path::Root => break,
                Path::Key(parent, k) => {
                    segs.push(k.replace('~', "~0").replace('/', "~1"));
                    p = parent;
                }
                Path::Index(parent, i) => {
                    segs.push(i.to_string());
                    p = parent;
                }
            }
        }
        let mut out = String::new();
        for s in segs.iter().rev() {
            out.push('/');
            out.push_str(s);
        }
        if out.len() > MAX_POINTER_LEN {
            let mut cut = MAX_POINTER_LEN;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push_str("...");
        }
        out
    }
}

fn fail(path: &Path, keyword: &str, message: String) -> Result<(), Violation> {
    Err(Violation {
        pointer: path.render(),
        keyword: keyword.to_string(),
        message,
    })
}

fn type_names(t: u8) -> String {
    let names = [
        (types::NULL, "null"),
        (types::BOOLEAN, "boolean"),
        (types::INTEGER, "integer"),
        (types::NUMBER, "number"),
        (types::STRING, "string"),
        (types::ARRAY, "array"),
        (types::OBJECT, "object"),
    ];
    names
        .iter()
        .filter(|(b, _)| t & b != 0)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(" or ")
}

fn type_ok(t: u8, v: &Value) -> bool {
    if t == 0 {
        return true;
    }
    match v {
        Value::Null => t & types::NULL != 0,
        Value::Bool(_) => t & types::BOOLEAN != 0,
        Value::Number(n) => {
            t & types::NUMBER != 0
                || (t & types::INTEGER != 0
                    && Num::of(n).is_integer()
                    && !(t & types::STRICT_INTEGER != 0 && n.is_f64()))
        }
        Value::String(_) => t & types::STRING != 0,
        Value::Array(_) => t & types::ARRAY != 0,
        Value::Object(_) => t & types::OBJECT != 0,
    }
}

fn fmt_num(n: Num) -> String {
    match n {
        Num::U(u) => u.to_string(),
        Num::I(i) => i.to_string(),
        Num::F(f) => f.to_string(),
    }
}

/// A small text buffer on the stack for number formatting.
struct StackText {
    buf: [u8; 48],
    len: usize,
}

impl Default for StackText {
    fn default() -> Self {
        StackText {
            buf: [0; 48],
            len: 0,
        }
    }
}

impl StackText {
    fn as_str(&self) -> &str {
        core::str::from_utf8(self.buf.get(..self.len).unwrap_or(&[])).unwrap_or("")
    }
}

impl core::fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len + s.len();
        let slot = self.buf.get_mut(self.len..end).ok_or(core::fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Shortest decimal digits of a finite float: (mantissa, decimals) with value = m / 10^d.
fn decimal_parts(f: f64) -> Option<(i128, i32)> {
    if !f.is_finite() {
        return None;
    }
    // Shortest round-trip digits, formatted on the stack (no allocation per number).
    let mut buf = StackText::default();
    core::fmt::write(&mut buf, format_args!("{f:e}")).ok()?;
    let s = buf.as_str();
    let (mant, exp) = s.split_once('e')?;
    let exp: i32 = exp.parse().ok()?;
    let neg = mant.starts_with('-');
    let mant = mant.trim_start_matches('-');
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    let mut m: i128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        m = m
            .checked_mul(10)?
            .checked_add(i128::from(b.checked_sub(b'0')?))?;
    }
    let decimals = frac.len() as i32 - exp;
    let m = if neg { -m } else { m };
    if decimals < 0 {
        let scaled = m.checked_mul(10_i128.checked_pow(u32::try_from(-decimals).ok()?)?)?;
        Some((scaled, 0))
    } else {
        Some((m, decimals))
    }
}

/// `multipleOf`: exact on integers and on decimal fractions (0.07 is a multiple of 0.01).
pub fn is_multiple_of(v: Num, m: f64) -> bool {
    if m <= 0.0 || !m.is_finite() {
        return false;
    }
    if m.fract() == 0.0 && m <= (1u64 << 53) as f64 {
        match v {
            Num::U(u) => return u % (m as u64) == 0,
            Num::I(i) => return i % (m as i64) == 0,
            // Exact in binary floating point for a whole divisor.
            Num::F(f) => return f.is_finite() && f.fract() == 0.0 && f % m == 0.0,
        }
    }
    let f = v.as_f64();
    if f == 0.0 {
        return true;
    }
    if f.abs() < m {
        return false;
    }
    if let (Some((vm, vd)), Some((mm, md))) = (decimal_parts(f), decimal_parts(m)) {
        if mm != 0 {
            let shared = vd.min(md);
            let scale = |mant: i128, d: i32| -> Option<i128> {
                mant.checked_mul(10_i128.checked_pow(u32::try_from(d - shared).ok()?)?)
            };
            if let (Some(a), Some(b)) = (scale(vm, md), scale(mm, vd)) {
                if b != 0 {
                    return a % b == 0;
                }
            }
        }
    }
    let q = f / m;
    q.is_finite() && q.fract() == 0.0
}

impl SchemaSet {
    /// The node `id`, if it exists.
    pub fn node(&self, id: SchemaId) -> Option<&SchemaNode> {
        self.nodes.get(id as usize)
    }

    /// Adds a node and returns its id.
    pub fn push(&mut self, node: SchemaNode) -> SchemaId {
        self.nodes.push(node);
        (self.nodes.len() - 1) as SchemaId
    }

    /// Validates `doc` against schema `id`. Returns the first violation.
    pub fn validate(
        &self,
        id: SchemaId,
        doc: &Value,
        dir: Direction,
        patterns: Patterns<'_>,
    ) -> Result<(), Violation> {
        let cx = Ctx {
            set: self,
            dir,
            patterns,
        };
        cx.check(id, doc, &Path::Root, 0)
    }

    /// Whether `doc` is valid against schema `id` (no error built).
    pub fn is_valid(
        &self,
        id: SchemaId,
        doc: &Value,
        dir: Direction,
        patterns: Patterns<'_>,
    ) -> bool {
        self.validate(id, doc, dir, patterns).is_ok()
    }

    /// Validates a parameter given as text (path, query, header or cookie value): the text
    /// is converted by the schema's type (integer, number, boolean, string; `null` from
    /// an empty text only when the schema allows null and not string), then validated as
    /// JSON. Arrays are comma-separated (OpenAPI `style: form, explode: false` / `simple`):
    /// `1,2,3`; each element is converted by the `items` schema. A caller with repeated
    /// parameters (`?a=1&a=2`) joins them with commas first.
    pub fn validate_text(
        &self,
        id: SchemaId,
        raw: &str,
        patterns: Patterns<'_>,
    ) -> Result<(), Violation> {
        let v = match self.coerce(id, raw, 0) {
            Some(v) => v,
            None => {
                let t = self.effective_types(id, 0);
                return fail(&Path::Root, "type", format!("expected {}", type_names(t)));
            }
        };
        self.validate(id, &v, Direction::Request, patterns)
    }

    /// The types a node allows, looking through `allOf` members (for `$ref` wrappers).
    fn effective_types(&self, id: SchemaId, depth: usize) -> u8 {
        let Some(n) = self.node(id) else { return 0 };
        if n.types != 0 || depth > 16 {
            return n.types;
        }
        let mut t = 0xff;
        let mut any = false;
        for &m in &n.all_of {
            let mt = self.effective_types(m, depth + 1);
            if mt != 0 {
                t &= mt;
                any = true;
            }
        }
        if any {
            t
        } else {
            0
        }
    }

    fn items_schema(&self, id: SchemaId, depth: usize) -> Option<SchemaId> {
        let n = self.node(id)?;
        if let Some(i) = n.items {
            return Some(i);
        }
        if depth > 16 {
            return None;
        }
        n.all_of
            .iter()
            .find_map(|&m| self.items_schema(m, depth + 1))
    }

    fn coerce(&self, id: SchemaId, raw: &str, depth: usize) -> Option<Value> {
        let t = self.effective_types(id, 0) & !types::STRICT_INTEGER;
        if t & !(types::STRING | types::NULL) == 0 {
            return Some(Value::String(raw.to_string()));
        }
        if t & types::ARRAY != 0 && depth == 0 {
            let item = self.items_schema(id, 0);
            let parts: Vec<&str> = if raw.is_empty() {
                Vec::new()
            } else {
                raw.split(',').collect()
            };
            let mut out = Vec::with_capacity(parts.len());
            for p in parts {
                out.push(match item {
                    Some(i) => self.coerce(i, p, depth + 1)?,
                    None => Value::String(p.to_string()),
                });
            }
            return Some(Value::Array(out));
        }
        if t & (types::INTEGER | types::NUMBER) != 0 {
            if let Ok(v) = serde_json::from_str::<Value>(raw.trim()) {
                if v.is_number() {
                    return Some(v);
                }
            }
        }
        if t & types::BOOLEAN != 0 {
            match raw {
                "true" => return Some(Value::Bool(true)),
                "false" => return Some(Value::Bool(false)),
                _ => {}
            }
        }
        if t & types::NULL != 0 && raw.is_empty() {
            return Some(Value::Null);
        }
        if t & types::STRING != 0 {
            return Some(Value::String(raw.to_string()));
        }
        None
    }

    /// Removes from `doc` the object properties schema `id` does not declare (response
    /// filtering against excessive data exposure) and returns their pointers.
    ///
    /// A property is declared when a schema applying to its object (the node, its
    /// `allOf`/`anyOf`/`oneOf` members and `if`/`then`/`else` branches, followed
    /// recursively) names it in `properties`, matches it by `patternProperties`, or gives an
    /// explicit `additionalProperties` (`true` or a schema). Objects whose schemas say
    /// nothing about properties at all (free-form `{"type": "object"}`) are left alone.
    pub fn prune(&self, id: SchemaId, doc: &mut Value, patterns: Patterns<'_>) -> Vec<String> {
        let mut out = Vec::new();
        self.prune_at(&[id], doc, &Path::Root, patterns, &mut out, 0);
        out
    }

    fn expand(&self, ids: &[SchemaId], out: &mut Vec<SchemaId>) {
        let mut stack: Vec<SchemaId> = ids.to_vec();
        while let Some(id) = stack.pop() {
            if out.contains(&id) || out.len() > 1024 {
                continue;
            }
            let Some(n) = self.node(id) else { continue };
            out.push(id);
            stack.extend(&n.all_of);
            stack.extend(&n.any_of);
            stack.extend(&n.one_of);
            if let Some((_, t, e)) = n.if_then_else {
                stack.extend(t);
                stack.extend(e);
            }
        }
    }

    fn prune_at(
        &self,
        ids: &[SchemaId],
        doc: &mut Value,
        path: &Path,
        patterns: Patterns<'_>,
        out: &mut Vec<String>,
        depth: usize,
    ) {
        if depth > MAX_SCHEMA_DEPTH {
            return;
        }
        let mut all = Vec::new();
        self.expand(ids, &mut all);
        let nodes: Vec<&SchemaNode> = all.iter().filter_map(|&i| self.node(i)).collect();
        match doc {
            Value::Object(map) => {
                let describes = nodes.iter().any(|n| {
                    !n.properties.is_empty()
                        || !n.pattern_properties.is_empty()
                        || n.additional != Additional::Unspecified
                });
                let keep_all = nodes.iter().any(|n| n.additional == Additional::Any);
                let keys: Vec<String> = map.keys().cloned().collect();
                for k in keys {
                    let mut child: Vec<SchemaId> = Vec::new();
                    let mut declared = keep_all;
                    for n in &nodes {
                        let mut named = false;
                        for (name, s) in &n.properties {
                            if *name == k {
                                child.push(*s);
                                named = true;
                            }
                        }
                        for (re, s) in &n.pattern_properties {
                            if patterns(*re, &k) {
                                child.push(*s);
                                named = true;
                            }
                        }
                        if !named {
                            if let Additional::Schema(s) = n.additional {
                                child.push(s);
                                named = true;
                            }
                        }
                        declared |= named;
                    }
                    let p = Path::Key(path, &k);
                    if describes && !declared {
                        map.remove(&k);
                        out.push(p.render());
                    } else if !child.is_empty() {
                        if let Some(v) = map.get_mut(&k) {
                            self.prune_at(&child, v, &p, patterns, out, depth + 1);
                        }
                    }
                }
            }
            Value::Array(arr) => {
                for (i, v) in arr.iter_mut().enumerate() {
                    let mut child = Vec::new();
                    for n in &nodes {
                        match n.prefix_items.get(i) {
                            Some(s) => child.push(*s),
                            None => child.extend(n.items),
                        }
                    }
                    if !child.is_empty() {
                        self.prune_at(&child, v, &Path::Index(path, i), patterns, out, depth + 1);
                    }
                }
            }
            _ => {}
        }
    }
}

impl Ctx<'_> {
    fn ok(&self, id: SchemaId, v: &Value, path: &Path, depth: usize) -> bool {
        self.check(id, v, path, depth).is_ok()
    }

    fn check(&self, id: SchemaId, v: &Value, path: &Path, depth: usize) -> Result<(), Violation> {
        let Some(n) = self.set.node(id) else {
            return fail(path, "$ref", "schema node missing".into());
        };
        if depth > MAX_SCHEMA_DEPTH {
            return fail(path, "$ref", "schema nesting too deep".into());
        }
        if n.never {
            return fail(path, "false", "no value is allowed here".into());
        }
        if n.read_only && self.dir == Direction::Request && !path_is_root(path) {
            return fail(path, "readOnly", "read-only property in a request".into());
        }
        if n.write_only && self.dir == Direction::Response && !path_is_root(path) {
            return fail(
                path,
                "writeOnly",
                "write-only property in a response".into(),
            );
        }
        if !type_ok(n.types, v) {
            return fail(path, "type", format!("expected {}", type_names(n.types)));
        }
        if let Some(c) = &n.const_value {
            if !c.equals(v) {
                return fail(path, "const", "value differs from the constant".into());
            }
        }
        if let Some(e) = &n.enum_values {
            if !e.iter().any(|l| l.equals(v)) {
                return fail(
                    path,
                    "enum",
                    format!("value not one of {} allowed", e.len()),
                );
            }
        }
        match v {
            Value::Number(num) => self.check_number(n, Num::of(num), path)?,
            Value::String(s) => self.check_string(n, s, path)?,
            Value::Array(a) => self.check_array(n, a, path, depth)?,
            Value::Object(o) => self.check_object(n, o, path, depth)?,
            _ => {}
        }
        for &s in &n.all_of {
            self.check(s, v, path, depth + 1)?;
        }
        if !n.any_of.is_empty() && !n.any_of.iter().any(|&s| self.ok(s, v, path, depth + 1)) {
            return fail(path, "anyOf", "matches none of the alternatives".into());
        }
        if !n.one_of.is_empty() {
            let mut count = 0;
            for &s in &n.one_of {
                if self.ok(s, v, path, depth + 1) {
                    count += 1;
                    if count > 1 {
                        break;
                    }
                }
            }
            if count != 1 {
                return fail(
                    path,
                    "oneOf",
                    if count == 0 {
                        "matches none of the alternatives".into()
                    } else {
                        "matches more than one alternative".into()
                    },
                );
            }
        }
        if let Some(s) = n.not {
            if self.ok(s, v, path, depth + 1) {
                return fail(path, "not", "matches a forbidden schema".into());
            }
        }
        if let Some((i, t, e)) = n.if_then_else {
            let branch = if self.ok(i, v, path, depth + 1) { t } else { e };
            if let Some(b) = branch {
                self.check(b, v, path, depth + 1)?;
            }
        }
        Ok(())
    }

    fn check_number(&self, n: &SchemaNode, x: Num, path: &Path) -> Result<(), Violation> {
        let lt = |b: Num| x.cmp_num(b) == Some(Ordering::Less);
        let gt = |b: Num| x.cmp_num(b) == Some(Ordering::Greater);
        if let Some(m) = n.minimum {
            if lt(m) {
                return fail(path, "minimum", format!("must be >= {}", fmt_num(m)));
            }
        }
        if let Some(m) = n.maximum {
            if gt(m) {
                return fail(path, "maximum", format!("must be <= {}", fmt_num(m)));
            }
        }
        if let Some(m) = n.exclusive_minimum {
            if !gt(m) {
                return fail(
                    path,
                    "exclusiveMinimum",
                    format!("must be > {}", fmt_num(m)),
                );
            }
        }
        if let Some(m) = n.exclusive_maximum {
            if !lt(m) {
                return fail(
                    path,
                    "exclusiveMaximum",
                    format!("must be < {}", fmt_num(m)),
                );
            }
        }
        if let Some(m) = n.multiple_of {
            if !is_multiple_of(x, m) {
                return fail(path, "multipleOf", format!("must be a multiple of {m}"));
            }
        }
        Ok(())
    }

    fn check_string(&self, n: &SchemaNode, s: &str, path: &Path) -> Result<(), Violation> {
        if n.min_length.is_some() || n.max_length.is_some() {
            let len = s.chars().count() as u64;
            if let Some(m) = n.min_length {
                if len < m {
                    return fail(path, "minLength", format!("shorter than {m} characters"));
                }
            }
            if let Some(m) = n.max_length {
                if len > m {
                    return fail(path, "maxLength", format!("longer than {m} characters"));
                }
            }
        }
        if let Some(re) = n.pattern {
            if !(self.patterns)(re, s) {
                return fail(path, "pattern", format!("does not match pattern #{re}"));
            }
        }
        Ok(())
    }

    fn check_array(
        &self,
        n: &SchemaNode,
        a: &[Value],
        path: &Path,
        depth: usize,
    ) -> Result<(), Violation> {
        let len = a.len() as u64;
        if let Some(m) = n.min_items {
            if len < m {
                return fail(path, "minItems", format!("fewer than {m} items"));
            }
        }
        if let Some(m) = n.max_items {
            if len > m {
                return fail(path, "maxItems", format!("more than {m} items"));
            }
        }
        for (i, v) in a.iter().enumerate() {
            let s = match n.prefix_items.get(i) {
                Some(s) => Some(*s),
                None => n.items,
            };
            if let Some(s) = s {
                self.check(s, v, &Path::Index(path, i), depth + 1)?;
            }
        }
        if let Some((s, min, max)) = n.contains {
            let count = a
                .iter()
                .enumerate()
                .filter(|(i, v)| self.ok(s, v, &Path::Index(path, *i), depth + 1))
                .count() as u64;
            if count < min {
                return fail(path, "contains", format!("fewer than {min} matching items"));
            }
            if let Some(max) = max {
                if count > max {
                    return fail(
                        path,
                        "maxContains",
                        format!("more than {max} matching items"),
                    );
                }
            }
        }
        if n.unique_items {
            for i in 0..a.len() {
                for j in i + 1..a.len() {
                    if json_equal(&a[i], &a[j]) {
                        return fail(
                            &Path::Index(path, j),
                            "uniqueItems",
                            format!("duplicates item {i}"),
                        );
                    }
                }
            }
        }
        Ok(())
    }

    fn check_object(
        &self,
        n: &SchemaNode,
        o: &serde_json::Map<String, Value>,
        path: &Path,
        depth: usize,
    ) -> Result<(), Violation> {
        let len = o.len() as u64;
        if let Some(m) = n.min_properties {
            if len < m {
                return fail(path, "minProperties", format!("fewer than {m} properties"));
            }
        }
        if let Some(m) = n.max_properties {
            if len > m {
                return fail(path, "maxProperties", format!("more than {m} properties"));
            }
        }
        for r in &n.required {
            if !o.contains_key(r) {
                return fail(
                    &Path::Key(path, r),
                    "required",
                    "required property missing".into(),
                );
            }
        }
        for (k, deps) in &n.dependent_required {
            if o.contains_key(k) {
                for d in deps {
                    if !o.contains_key(d) {
                        return fail(
                            &Path::Key(path, d),
                            "dependentRequired",
                            "property required by another one is missing".into(),
                        );
                    }
                }
            }
        }
        for (k, v) in o {
            let p = Path::Key(path, k);
            if let Some(s) = n.property_names {
                if !self.ok(s, &Value::String(k.clone()), &p, depth + 1) {
                    return fail(&p, "propertyNames", "property name not allowed".into());
                }
            }
            let mut named = false;
            for (name, s) in &n.properties {
                if name == k {
                    named = true;
                    self.check(*s, v, &p, depth + 1)?;
                }
            }
            for (re, s) in &n.pattern_properties {
                if (self.patterns)(*re, k) {
                    named = true;
                    self.check(*s, v, &p, depth + 1)?;
                }
            }
            if !named {
                match n.additional {
                    Additional::Deny => {
                        return fail(
                            &p,
                            "additionalProperties",
                            "property not allowed by the schema".into(),
                        )
                    }
                    Additional::Schema(s) => self.check(s, v, &p, depth + 1)?,
                    Additional::Unspecified | Additional::Any => {}
                }
            }
        }
        Ok(())
    }
}

fn path_is_root(p: &Path) -> bool {
    matches!(p, Path::Root)
}

/// Limits on a JSON document, checked before it is parsed.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct JsonLimits {
    /// Deepest nesting of arrays and objects (at most [`MAX_JSON_DEPTH`]).
    pub max_depth: u32,
    /// Most values (scalars, arrays, objects, object keys included).
    pub max_elements: u32,
}

/// serde_json's own recursion limit; deeper limits are clamped to it.
pub const MAX_JSON_DEPTH: u32 = 120;

impl Default for JsonLimits {
    fn default() -> Self {
        JsonLimits {
            max_depth: 32,
            max_elements: 10_000,
        }
    }
}

/// Why a JSON document was refused. Never contains the document's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JsonError {
    /// Nested deeper than the limit.
    TooDeep {
        /// The limit.
        max: u32,
    },
    /// More values than the limit.
    TooManyElements {
        /// The limit.
        max: u32,
    },
    /// Not JSON (or not UTF-8).
    Syntax {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column.
        column: usize,
    },
}

impl core::fmt::Display for JsonError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            JsonError::TooDeep { max } => write!(f, "JSON nested deeper than {max}"),
            JsonError::TooManyElements { max } => write!(f, "JSON has more than {max} values"),
            JsonError::Syntax { line, column } => {
                write!(f, "invalid JSON at line {line} column {column}")
            }
        }
    }
}

/// Parses a JSON document after a linear pre-scan that enforces `limits`, so the
/// recursive parser never goes deeper than `max_depth` (the stack is small in wasm).
pub fn parse_json(bytes: &[u8], limits: JsonLimits) -> Result<Value, JsonError> {
    let max_depth = limits.max_depth.min(MAX_JSON_DEPTH);
    let mut depth: u32 = 0;
    let mut elements: u32 = 0;
    let mut in_string = false;
    let mut escape = false;
    let mut in_scalar = false;
    for &b in bytes {
        if in_string {
            if escape {
                escape = false;
            } else if b == b'\\' {
                escape = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        let scalar_byte = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.');
        if scalar_byte {
            if !in_scalar {
                in_scalar = true;
                elements = elements.saturating_add(1);
            }
        } else {
            in_scalar = false;
            match b {
                b'"' => {
                    in_string = true;
                    elements = elements.saturating_add(1);
                }
                b'[' | b'{' => {
                    depth += 1;
                    if depth > max_depth {
                        return Err(JsonError::TooDeep { max: max_depth });
                    }
                    elements = elements.saturating_add(1);
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        if elements > limits.max_elements {
            return Err(JsonError::TooManyElements {
                max: limits.max_elements,
            });
        }
    }
    serde_json::from_slice(bytes).map_err(|e| JsonError::Syntax {
        line: e.line(),
        column: e.column(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn no_patterns(_: u32, _: &str) -> bool {
        false
    }

    /// {"type":"object","properties":{"id":{readOnly integer},"amount":{number >= 0},
    ///  "tags":{array of string, maxItems 2}},"required":["amount"],"additionalProperties":false}
    fn transfer() -> (SchemaSet, SchemaId) {
        let mut s = SchemaSet::default();
        let id = s.push(SchemaNode {
            types: types::INTEGER,
            read_only: true,
            ..Default::default()
        });
        let amount = s.push(SchemaNode {
            types: types::NUMBER,
            minimum: Some(Num::U(0)),
            ..Default::default()
        });
        let tag = s.push(SchemaNode {
            types: types::STRING,
            max_length: Some(3),
            ..Default::default()
        });
        let tags = s.push(SchemaNode {
            types: types::ARRAY,
            items: Some(tag),
            max_items: Some(2),
            ..Default::default()
        });
        let root = s.push(SchemaNode {
            types: types::OBJECT,
            properties: vec![
                ("id".into(), id),
                ("amount".into(), amount),
                ("tags".into(), tags),
            ],
            required: vec!["amount".into()],
            additional: Additional::Deny,
            ..Default::default()
        });
        (s, root)
    }

    #[test]
    fn violation_names_the_pointer_and_never_the_value() {
        let (s, root) = transfer();
        let doc = json!({"amount": 5, "tags": ["ab", "secret-token-value"]});
        let v = s
            .validate(root, &doc, Direction::Request, &no_patterns)
            .unwrap_err();
        assert_eq!(v.pointer, "/tags/1");
        assert_eq!(v.keyword, "maxLength");
        assert!(!v.message.contains("secret"), "{v}");
        assert!(!v.to_string().contains("secret"), "{v}");
    }

    #[test]
    fn read_only_is_rejected_in_requests_only() {
        let (s, root) = transfer();
        let doc = json!({"amount": 5, "id": 7});
        let v = s
            .validate(root, &doc, Direction::Request, &no_patterns)
            .unwrap_err();
        assert_eq!(
            (v.pointer.as_str(), v.keyword.as_str()),
            ("/id", "readOnly")
        );
        assert!(s
            .validate(root, &doc, Direction::Response, &no_patterns)
            .is_ok());
    }

    #[test]
    fn additional_properties_false_rejects_mass_assignment() {
        let (s, root) = transfer();
        let doc = json!({"amount": 5, "is_admin": true});
        let v = s
            .validate(root, &doc, Direction::Request, &no_patterns)
            .unwrap_err();
        assert_eq!(v.pointer, "/is_admin");
        assert_eq!(v.keyword, "additionalProperties");
        let v = s
            .validate(root, &json!({}), Direction::Request, &no_patterns)
            .unwrap_err();
        assert_eq!(
            (v.pointer.as_str(), v.keyword.as_str()),
            ("/amount", "required")
        );
    }

    #[test]
    fn pointer_segments_are_escaped() {
        let mut s = SchemaSet::default();
        let root = s.push(SchemaNode {
            additional: Additional::Deny,
            ..Default::default()
        });
        let v = s
            .validate(root, &json!({"a/b~c": 1}), Direction::Request, &no_patterns)
            .unwrap_err();
        assert_eq!(v.pointer, "/a~1b~0c");
    }

    #[test]
    fn multiple_of_is_exact_on_decimal_fractions() {
        assert!(is_multiple_of(Num::F(0.07), 0.01));
        assert!(is_multiple_of(Num::F(19.99), 0.01));
        assert!(!is_multiple_of(Num::F(0.075), 0.01));
        assert!(is_multiple_of(Num::U(12), 3.0));
        assert!(!is_multiple_of(Num::I(-7), 2.0));
        assert!(is_multiple_of(Num::F(7.5), 2.5));
    }

    #[test]
    fn validate_text_coerces_by_the_schema_type() {
        let mut s = SchemaSet::default();
        let int = s.push(SchemaNode {
            types: types::INTEGER,
            maximum: Some(Num::U(100)),
            ..Default::default()
        });
        let arr = s.push(SchemaNode {
            types: types::ARRAY,
            items: Some(int),
            ..Default::default()
        });
        let boolean = s.push(SchemaNode {
            types: types::BOOLEAN,
            ..Default::default()
        });
        assert!(s.validate_text(int, "42", &no_patterns).is_ok());
        assert_eq!(
            s.validate_text(int, "4x", &no_patterns)
                .unwrap_err()
                .keyword,
            "type"
        );
        assert_eq!(
            s.validate_text(int, "101", &no_patterns)
                .unwrap_err()
                .keyword,
            "maximum"
        );
        assert!(s.validate_text(int, "4.5", &no_patterns).is_err());
        assert!(s.validate_text(arr, "1,2,3", &no_patterns).is_ok());
        let v = s.validate_text(arr, "1,200", &no_patterns).unwrap_err();
        assert_eq!((v.pointer.as_str(), v.keyword.as_str()), ("/1", "maximum"));
        assert!(s.validate_text(boolean, "true", &no_patterns).is_ok());
        assert!(s.validate_text(boolean, "yes", &no_patterns).is_err());
    }

    #[test]
    fn prune_removes_undeclared_properties_recursively() {
        let mut s = SchemaSet::default();
        let name = s.push(SchemaNode {
            types: types::STRING,
            ..Default::default()
        });
        let free = s.push(SchemaNode {
            types: types::OBJECT,
            ..Default::default()
        });
        let item = s.push(SchemaNode {
            properties: vec![("name".into(), name)],
            ..Default::default()
        });
        let items = s.push(SchemaNode {
            items: Some(item),
            ..Default::default()
        });
        let root = s.push(SchemaNode {
            properties: vec![("items".into(), items), ("meta".into(), free)],
            ..Default::default()
        });
        let mut doc = json!({
            "items": [{"name": "a", "ssn": "x"}, {"name": "b"}],
            "password_hash": "h",
            "meta": {"anything": 1}
        });
        let removed = s.prune(root, &mut doc, &no_patterns);
        assert_eq!(removed, vec!["/items/0/ssn", "/password_hash"]);
        assert_eq!(
            doc,
            json!({"items": [{"name": "a"}, {"name": "b"}], "meta": {"anything": 1}})
        );
    }

    #[test]
    fn parse_json_refuses_deep_documents_before_parsing() {
        let deep = "[".repeat(100_000);
        let e = parse_json(deep.as_bytes(), JsonLimits::default()).unwrap_err();
        assert_eq!(e, JsonError::TooDeep { max: 32 });
        let limits = JsonLimits {
            max_depth: 10_000,
            max_elements: 1_000_000,
        };
        assert_eq!(
            parse_json(deep.as_bytes(), limits).unwrap_err(),
            JsonError::TooDeep {
                max: MAX_JSON_DEPTH
            }
        );
        let ok = format!("{}1{}", "[".repeat(32), "]".repeat(32));
        assert!(parse_json(ok.as_bytes(), JsonLimits::default()).is_ok());
        let brackets_in_strings = r#"{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}"#;
        assert!(parse_json(brackets_in_strings.as_bytes(), JsonLimits::default()).is_ok());
    }

    #[test]
    fn parse_json_counts_elements_and_reports_syntax_without_content() {
        let limits = JsonLimits {
            max_depth: 8,
            max_elements: 5,
        };
        assert!(parse_json(br#"{"a": [1, 2]}"#, limits).is_ok());
        assert_eq!(
            parse_json(br#"[1, 2, 3, 4, 5, 6]"#, limits).unwrap_err(),
            JsonError::TooManyElements { max: 5 }
        );
        let e = parse_json(br#"{"password": hunter2}"#, JsonLimits::default()).unwrap_err();
        assert!(matches!(e, JsonError::Syntax { line: 1, .. }));
        assert!(!e.to_string().contains("hunter2"));
    }
}
