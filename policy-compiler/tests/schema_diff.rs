//! Differential test: the engine's compact validator (schemas compiled by `compile_schema`,
//! patterns matched with regex-automata the way the filter's DFAs match them) agrees with
//! the `jsonschema` crate on thousands of generated documents per schema.
//!
//! Documents come from a seeded, deterministic generator: a valid-looking document built
//! from the schema (strings for `pattern`s are generated from the regex itself), then, for
//! most documents, one mutation at a random place (wrong type, missing required property,
//! extra property, out-of-range or fractional number, long or non-matching string,
//! duplicate or dropped array element, random value). Every verdict must match; each schema
//! must see both verdicts often enough for the comparison to mean something.
//!
//! Direction-neutral keywords only: documents are validated in the Response direction and
//! the schemas have no `writeOnly` (`readOnly`/`writeOnly` are ours, tested in unit tests).
//! `format` is an annotation on both sides (`should_validate_formats(false)`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use regex_automata::meta::Regex;
use regex_syntax::hir::{Class, Hir, HirKind};
use serde_json::{json, Map, Value};
use waap_engine::matcher::syntax_config;
use waap_engine::program::RegexDef;
use waap_engine::schema::{Direction, SchemaSet};
use waap_policy_compiler::schema::{compile_schema, SchemaOptions};

/// splitmix64: small, seeded, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }
}

/// Generates a string matching `hir` (anchors ignored; repetitions kept short).
fn gen_hir(rng: &mut Rng, hir: &Hir, out: &mut String) {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => {}
        HirKind::Literal(l) => out.push_str(&String::from_utf8_lossy(&l.0)),
        HirKind::Class(Class::Bytes(c)) => {
            let r = rng.pick(c.ranges());
            let span = (r.end() - r.start()) as u64 + 1;
            let b = r.start() + rng.below(span) as u8;
            out.push(if b.is_ascii() { b as char } else { 'x' });
        }
        HirKind::Class(Class::Unicode(c)) => {
            let r = rng.pick(c.ranges());
            let span = (r.end() as u64 - r.start() as u64) + 1;
            let ch = char::from_u32(r.start() as u32 + rng.below(span.min(128)) as u32);
            out.push(ch.unwrap_or('x'));
        }
        HirKind::Repetition(rep) => {
            let max = rep.max.unwrap_or(rep.min + 4).min(rep.min + 4);
            let n = rep.min + rng.below((max - rep.min + 1) as u64) as u32;
            for _ in 0..n {
                gen_hir(rng, &rep.sub, out);
            }
        }
        HirKind::Capture(c) => gen_hir(rng, &c.sub, out),
        HirKind::Concat(v) => v.iter().for_each(|h| gen_hir(rng, h, out)),
        HirKind::Alternation(v) => {
            let h = rng_pick_hir(rng, v);
            gen_hir(rng, h, out)
        }
    }
}

fn rng_pick_hir<'a>(rng: &mut Rng, v: &'a [Hir]) -> &'a Hir {
    rng.pick(v)
}

fn gen_pattern(rng: &mut Rng, pattern: &str) -> String {
    let hir = regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern)
        .unwrap();
    let mut s = String::new();
    gen_hir(rng, &hir, &mut s);
    s
}

struct Gen<'a> {
    root: &'a Value,
    rng: Rng,
}

impl Gen<'_> {
    /// A document shaped by `schema` (valid most of the time).
    fn value(&mut self, schema: &Value, depth: usize) -> Value {
        let root = self.root;
        let schema = match schema.get("$ref").and_then(Value::as_str) {
            Some(r) if r.starts_with('#') => root.pointer(&r[1..]).unwrap(),
            _ => schema,
        };
        let Some(o) = schema.as_object() else {
            return if schema == &Value::Bool(false) {
                Value::Null
            } else {
                self.random(2)
            };
        };
        if depth > 6 {
            return Value::Null;
        }
        if let Some(e) = o.get("enum").and_then(Value::as_array) {
            return self.rng.pick(e).clone();
        }
        if let Some(c) = o.get("const") {
            return c.clone();
        }
        if let Some(a) = o.get("allOf").and_then(Value::as_array) {
            let mut merged = Map::new();
            for s in a {
                if let Value::Object(m) = self.value(s, depth + 1) {
                    merged.extend(m);
                }
            }
            if let Value::Object(m) = self.object(o, depth) {
                merged.extend(m);
            }
            return Value::Object(merged);
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(a) = o.get(key).and_then(Value::as_array) {
                let s = self.rng.pick(a).clone();
                return self.value(&s, depth + 1);
            }
        }
        if let (Some(_), Some(t)) = (o.get("if"), o.get("then")) {
            if self.rng.chance(50) {
                return self.value(t, depth + 1);
            }
        }
        let ty = match o.get("type") {
            Some(Value::String(t)) => t.clone(),
            Some(Value::Array(a)) => self.rng.pick(a).as_str().unwrap().to_string(),
            _ if o.contains_key("properties") || o.contains_key("required") => "object".into(),
            _ if o.contains_key("items") || o.contains_key("prefixItems") => "array".into(),
            _ if o.contains_key("minimum") || o.contains_key("multipleOf") => "number".into(),
            _ if o.contains_key("pattern") || o.contains_key("maxLength") => "string".into(),
            _ => return self.random(2),
        };
        match ty.as_str() {
            "null" => Value::Null,
            "boolean" => Value::Bool(self.rng.chance(50)),
            "integer" | "number" => self.number(o, ty == "integer"),
            "string" => self.string(o),
            "array" => self.array(o, depth),
            _ => self.object(o, depth),
        }
    }

    fn number(&mut self, o: &Map<String, Value>, integer: bool) -> Value {
        let f = |k: &str| o.get(k).and_then(Value::as_f64);
        let lo = f("minimum")
            .or(f("exclusiveMinimum").map(|x| x + 1.0))
            .unwrap_or(-1000.0);
        let hi = f("maximum")
            .or(f("exclusiveMaximum").map(|x| x - 1.0))
            .unwrap_or(lo + 2000.0);
        if let Some(m) = f("multipleOf") {
            let k = (lo / m).ceil() as i64 + self.rng.below(((hi - lo) / m).max(1.0) as u64) as i64;
            let v = k as f64 * m;
            let v = (v * 100.0).round() / 100.0;
            return if m.fract() == 0.0 {
                json!(v as i64)
            } else {
                json!(v)
            };
        }
        let v = lo + self.rng.below(((hi - lo).max(1.0)) as u64 + 1) as f64;
        if integer || self.rng.chance(50) {
            json!(v as i64)
        } else {
            json!(v + 0.25)
        }
    }

    fn string(&mut self, o: &Map<String, Value>) -> Value {
        if let Some(p) = o.get("pattern").and_then(Value::as_str) {
            return Value::String(gen_pattern(&mut self.rng, p));
        }
        let min = o.get("minLength").and_then(Value::as_u64).unwrap_or(0);
        let max = o
            .get("maxLength")
            .and_then(Value::as_u64)
            .unwrap_or(min + 12);
        let n = min + self.rng.below(max - min + 1);
        let s: String = (0..n)
            .map(|_| *self.rng.pick(&['a', 'b', 'Z', '3', '-', 'é', '한']))
            .collect();
        Value::String(s)
    }

    fn array(&mut self, o: &Map<String, Value>, depth: usize) -> Value {
        let prefix = o
            .get("prefixItems")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let tuple = o
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let items = o.get("items").filter(|v| !v.is_array()).cloned();
        let min = o.get("minItems").and_then(Value::as_u64).unwrap_or(0);
        let max = o
            .get("maxItems")
            .and_then(Value::as_u64)
            .unwrap_or(min + 4)
            .min(min + 4);
        let n = (min + self.rng.below(max - min + 1)) as usize;
        let mut out = Vec::new();
        for i in 0..n {
            let s = prefix
                .get(i)
                .or(tuple.get(i))
                .cloned()
                .or(items.clone())
                .or(o.get("additionalItems").cloned())
                .or(o.get("contains").cloned())
                .unwrap_or(json!({}));
            out.push(self.value(&s, depth + 1));
        }
        Value::Array(out)
    }

    fn object(&mut self, o: &Map<String, Value>, depth: usize) -> Value {
        let mut m = Map::new();
        let required: Vec<String> = o
            .get("required")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(p) = o.get("properties").and_then(Value::as_object) {
            for (k, s) in p {
                if required.contains(k) || self.rng.chance(70) {
                    let v = self.value(s, depth + 1);
                    m.insert(k.clone(), v);
                }
            }
        }
        if let Some(p) = o.get("patternProperties").and_then(Value::as_object) {
            for (re, s) in p {
                if self.rng.chance(60) {
                    let k = gen_pattern(&mut self.rng, re);
                    let v = self.value(s, depth + 1);
                    m.insert(k, v);
                }
            }
        }
        if let Some(s) = o.get("additionalProperties").filter(|s| s.is_object()) {
            if self.rng.chance(50) {
                let v = self.value(s, depth + 1);
                m.insert(format!("extra{}", self.rng.below(5)), v);
            }
        }
        Value::Object(m)
    }

    fn random(&mut self, depth: usize) -> Value {
        match self.rng.below(if depth == 0 { 6 } else { 8 }) {
            0 => Value::Null,
            1 => Value::Bool(self.rng.chance(50)),
            2 => json!(self.rng.below(200) as i64 - 100),
            3 => json!(*self.rng.pick(&[0.5, -1.25, 2.0, 1e300, -0.0, 19.99, 0.07])),
            4 => json!(*self
                .rng
                .pick(&["", "a", "EUR", "DE89370400440532013000", "x y", "é한"])),
            5 => json!(*self
                .rng
                .pick(&[u64::MAX as f64, 9_007_199_254_740_993u64 as f64])),
            6 => Value::Array(
                (0..self.rng.below(3))
                    .map(|_| self.random(depth - 1))
                    .collect(),
            ),
            _ => {
                let mut m = Map::new();
                for _ in 0..self.rng.below(3) {
                    let k = self.rng.pick(&["a", "id", "amount", "zz"]).to_string();
                    let v = self.random(depth - 1);
                    m.insert(k, v);
                }
                Value::Object(m)
            }
        }
    }

    /// Applies one mutation at a random place in `doc`.
    fn mutate(&mut self, doc: &mut Value) {
        // Walk down a random path.
        let mut cur = doc;
        loop {
            let go_deeper = self.rng.chance(60);
            let next_index = match &*cur {
                Value::Object(m) if go_deeper && !m.is_empty() => {
                    Some(self.rng.below(m.len() as u64) as usize)
                }
                Value::Array(a) if go_deeper && !a.is_empty() => {
                    Some(self.rng.below(a.len() as u64) as usize)
                }
                _ => None,
            };
            let Some(i) = next_index else { break };
            cur = match cur {
                Value::Object(m) => m.values_mut().nth(i).unwrap(),
                Value::Array(a) => &mut a[i],
                _ => unreachable!(),
            };
        }
        match self.rng.below(11) {
            0 => *cur = self.random(2),
            1 => {
                if let Value::Object(m) = cur {
                    if let Some(k) = m.keys().next().cloned() {
                        m.remove(&k);
                    }
                }
            }
            2 => {
                if let Value::Object(m) = cur {
                    let k = self
                        .rng
                        .pick(&["zz_extra", "is_admin", "x-trace", "extra1"])
                        .to_string();
                    m.insert(k, json!(1));
                }
            }
            3 => {
                *cur = json!(*self.rng.pick(&[
                    -1i64,
                    0,
                    1,
                    2,
                    3,
                    5,
                    7,
                    10,
                    99,
                    100,
                    101,
                    1_000_000,
                    1_000_001,
                    i64::MIN
                ]))
            }
            4 => *cur = json!(*self.rng.pick(&[0.01, 0.015, 100.5, 2.0, 1e9, -0.5, 7.5])),
            5 => *cur = Value::String("W".repeat(self.rng.below(300) as usize)),
            6 => {
                *cur = Value::String(
                    self.rng
                        .pick(&["!!", "de89 3704", "ZZ00", "abc", "é"])
                        .to_string(),
                )
            }
            7 => {
                if let Value::Array(a) = cur {
                    if let Some(first) = a.first().cloned() {
                        a.push(first);
                    }
                }
            }
            8 => {
                if let Value::Array(a) = cur {
                    a.pop();
                }
            }
            9 => *cur = Value::Null,
            _ => {
                if let Value::String(s) = cur {
                    let tail = *self.rng.pick(&["x", "é", "-", "9"]);
                    s.push_str(tail);
                }
            }
        }
    }
}

struct Case {
    name: &'static str,
    schema: Value,
    openapi_30: bool,
}

fn cases() -> Vec<Case> {
    let c = |name, schema| Case {
        name,
        schema,
        openapi_30: false,
    };
    vec![
        c(
            "types",
            json!({"type": "object", "properties": {
            "i": {"type": "integer"}, "n": {"type": "number"}, "s": {"type": "string"},
            "b": {"type": "boolean"}, "z": {"type": "null"}, "m": {"type": ["string", "integer", "null"]},
            "a": {"type": "array"}, "o": {"type": "object"}}}),
        ),
        c(
            "enum_const",
            json!({"type": "object", "properties": {
            "c": {"enum": ["EUR", "USD", 1, null, [1, 2], {"a": 1}]},
            "k": {"const": {"x": [1, 2.5]}}, "v": {"const": 3}, "f": {"enum": [1.5, 2]}}}),
        ),
        c(
            "objects",
            json!({"type": "object",
            "properties": {"id": {"type": "integer"}, "name": {"type": "string", "maxLength": 8},
                           "a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["id", "name"], "additionalProperties": false,
            "minProperties": 2, "maxProperties": 3,
            "propertyNames": {"maxLength": 4},
            "dependentRequired": {"a": ["b"]}}),
        ),
        c(
            "pattern_additional",
            json!({"type": "object",
            "properties": {"name": {"type": "string"}},
            "patternProperties": {"^x-[a-z]+$": {"type": "string"}, "^n_[0-9]{1,3}$": {"type": "integer", "minimum": 0}},
            "additionalProperties": {"type": "boolean"}}),
        ),
        c(
            "arrays",
            json!({"type": "object", "properties": {
            "list": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 9}, "minItems": 1, "maxItems": 4, "uniqueItems": true},
            "tuple": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "number"}], "items": false},
            "tuple_open": {"type": "array", "prefixItems": [{"type": "boolean"}], "items": {"type": "string"}},
            "has": {"type": "array", "contains": {"type": "string", "pattern": "^ok"}, "minContains": 1, "maxContains": 2},
            "uniq": {"type": "array", "uniqueItems": true}}}),
        ),
        c(
            "strings",
            json!({"type": "object", "properties": {
            "len": {"type": "string", "minLength": 2, "maxLength": 5},
            "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "any": {"type": "string", "pattern": "[0-9]"},
            "alt": {"type": "string", "pattern": "^(ab|cd)+-?[xyz]{0,2}$"},
            "fmt": {"type": "string", "format": "email"}}}),
        ),
        c(
            "numbers",
            json!({"type": "object", "properties": {
            "r": {"type": "integer", "minimum": 1, "maximum": 100},
            "x": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 10},
            "m": {"type": "integer", "multipleOf": 5},
            "cents": {"type": "number", "multipleOf": 0.01, "minimum": 0.01, "maximum": 1000000},
            "h": {"type": "number", "multipleOf": 2.5}}}),
        ),
        c(
            "composition",
            json!({"type": "object", "properties": {
            "all": {"allOf": [{"type": "integer"}, {"minimum": 3}, {"maximum": 7}]},
            "any": {"anyOf": [{"type": "string", "maxLength": 2}, {"type": "integer", "minimum": 10}]},
            "one": {"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 5}]},
            "no": {"not": {"type": "string"}}}}),
        ),
        c(
            "conditional",
            json!({"type": "object",
            "if": {"properties": {"kind": {"const": "iban"}}, "required": ["kind"]},
            "then": {"required": ["iban"]},
            "else": {"required": ["account"]},
            "properties": {"kind": {"enum": ["iban", "local"]}, "iban": {"type": "string"}, "account": {"type": "string"}}}),
        ),
        c(
            "recursive",
            json!({"$ref": "#/$defs/node", "$defs": {"node": {"type": "object",
            "properties": {"v": {"type": "integer"}, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 3}},
            "required": ["v"], "additionalProperties": false}}}),
        ),
        c(
            "booleans",
            json!({"type": "object", "properties": {"t": true, "f": false, "arr": {"items": false}}}),
        ),
        c(
            "ref_siblings",
            json!({"$defs": {"base": {"type": "object", "properties": {"a": {"type": "integer"}}}},
            "type": "object", "properties": {"r": {"$ref": "#/$defs/base", "required": ["a"], "maxProperties": 2}}}),
        ),
        c("banking", banking()),
        Case {
            name: "openapi30_bounds_tuples",
            schema: json!({"type": "object", "properties": {
                "p": {"type": "number", "minimum": 0, "exclusiveMinimum": true, "maximum": 100, "exclusiveMaximum": true},
                "q": {"type": "integer", "minimum": 0, "exclusiveMinimum": false, "maximum": 5},
                "t": {"type": "array", "items": [{"type": "string"}, {"type": "integer"}], "additionalItems": false},
                "u": {"type": "array", "items": [{"type": "string"}], "additionalItems": {"type": "boolean"}}},
                "required": ["p"]}),
            openapi_30: true,
        },
    ]
}

/// A realistic banking API: an account listing and a transfer request.
fn banking() -> Value {
    json!({
        "$defs": {
            "Iban": {"type": "string", "pattern": "^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$"},
            "Money": {"type": "object", "required": ["amount", "currency"], "additionalProperties": false,
                "properties": {
                    "amount": {"type": "number", "multipleOf": 0.01, "exclusiveMinimum": 0, "maximum": 1000000},
                    "currency": {"enum": ["EUR", "USD", "KRW", "GBP"]}}},
            "Account": {"type": "object", "required": ["id", "iban", "balance"],
                "properties": {
                    "id": {"type": "string", "pattern": "^acc_[a-z0-9]{8}$", "readOnly": true},
                    "iban": {"$ref": "#/$defs/Iban"},
                    "balance": {"$ref": "#/$defs/Money"},
                    "owner": {"type": "object", "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 70},
                        "email": {"type": "string", "format": "email"}}, "required": ["name"]},
                    "status": {"enum": ["open", "frozen", "closed"]}}},
            "Line": {"type": "object", "required": ["sku", "qty"], "additionalProperties": false,
                "properties": {"sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$"},
                               "qty": {"type": "integer", "minimum": 1, "maximum": 99}}}
        },
        "type": "object",
        "required": ["from", "to", "money"],
        "additionalProperties": false,
        "properties": {
            "from": {"$ref": "#/$defs/Iban"},
            "to": {"$ref": "#/$defs/Iban"},
            "money": {"$ref": "#/$defs/Money"},
            "reference": {"type": "string", "maxLength": 140},
            "execute_at": {"type": ["string", "null"], "format": "date-time"},
            "lines": {"type": "array", "maxItems": 5, "items": {"$ref": "#/$defs/Line"}},
            "tags": {"type": "array", "uniqueItems": true, "items": {"type": "string", "maxLength": 16}},
            "accounts": {"type": "array", "maxItems": 3, "items": {"$ref": "#/$defs/Account"}},
            "batches": {"type": "array", "maxItems": 3, "items": {"type": "array", "maxItems": 3,
                "items": {"$ref": "#/$defs/Money"}}}
        }
    })
}

fn oracle(case: &Case) -> jsonschema::Validator {
    let draft = if case.openapi_30 {
        jsonschema::Draft::Draft4
    } else {
        jsonschema::Draft::Draft202012
    };
    jsonschema::options()
        .with_draft(draft)
        .should_validate_formats(false)
        .build(&case.schema)
        .unwrap()
}

fn compiled(case: &Case) -> (SchemaSet, u32, Vec<Regex>) {
    let mut set = SchemaSet::default();
    let mut regexes: Vec<RegexDef> = Vec::new();
    let opts = SchemaOptions {
        openapi_30: case.openapi_30,
        strict_objects: false,
    };
    let id = compile_schema(
        &case.schema,
        &case.schema,
        "#",
        &opts,
        &mut set,
        &mut regexes,
    )
    .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let matchers = regexes
        .iter()
        .map(|d| {
            Regex::builder()
                .syntax(syntax_config(d))
                .build(&d.pattern)
                .unwrap()
        })
        .collect();
    (set, id, matchers)
}

const DOCS_PER_SCHEMA: usize = 3000;

#[test]
fn compact_validator_agrees_with_jsonschema_on_generated_documents() {
    let mut total = 0;
    for (ci, case) in cases().iter().enumerate() {
        let oracle = oracle(case);
        let (set, id, matchers) = compiled(case);
        let patterns = |i: u32, s: &str| matchers[i as usize].is_match(s.as_bytes());
        let mut g = Gen {
            root: &case.schema,
            rng: Rng(0x5EED_0000 + ci as u64),
        };
        let (mut valid, mut invalid) = (0, 0);
        for n in 0..DOCS_PER_SCHEMA {
            let mut doc = g.value(&case.schema, 0);
            if n % 4 != 0 {
                for _ in 0..=g.rng.below(2) {
                    g.mutate(&mut doc);
                }
            }
            let expected = oracle.is_valid(&doc);
            let got = set.validate(id, &doc, Direction::Response, &patterns);
            assert_eq!(
                got.is_ok(),
                expected,
                "schema {} document #{n}: ours {got:?}, jsonschema {expected}\n{}",
                case.name,
                serde_json::to_string(&doc).unwrap()
            );
            if expected {
                valid += 1
            } else {
                invalid += 1
            }
        }
        eprintln!("{:<24} {valid:>5} valid {invalid:>5} invalid", case.name);
        assert!(
            valid >= DOCS_PER_SCHEMA / 20 && invalid >= DOCS_PER_SCHEMA / 20,
            "{}: too one-sided to compare ({valid} valid, {invalid} invalid)",
            case.name
        );
        total += DOCS_PER_SCHEMA;
    }
    assert_eq!(total, cases().len() * DOCS_PER_SCHEMA);
}

/// Violations point at the failing value; jsonschema's first error agrees on the place for
/// single-error documents.
#[test]
fn violation_pointer_matches_jsonschema_instance_path() {
    let case = Case {
        name: "banking",
        schema: banking(),
        openapi_30: false,
    };
    let oracle = oracle(&case);
    let (set, id, matchers) = compiled(&case);
    let patterns = |i: u32, s: &str| matchers[i as usize].is_match(s.as_bytes());
    let base = json!({"from": "DE89370400440532013000", "to": "FR7630006000011234567890189",
        "money": {"amount": 12.5, "currency": "EUR"},
        "lines": [{"sku": "ABC-1234", "qty": 2}, {"sku": "XYZ-0001", "qty": 1}]});
    assert!(set
        .validate(id, &base, Direction::Response, &patterns)
        .is_ok());
    let edits: Vec<(&str, Value)> = vec![
        ("/money/amount", json!(0.001)),
        ("/money/currency", json!("BTC")),
        ("/lines/1/qty", json!(100)),
        ("/lines/0/sku", json!("abc-1234")),
        ("/to", json!("not an iban")),
    ];
    for (ptr, v) in edits {
        let mut doc = base.clone();
        *doc.pointer_mut(ptr).unwrap() = v;
        let ours = set
            .validate(id, &doc, Direction::Response, &patterns)
            .unwrap_err();
        let theirs = oracle.validate(&doc).unwrap_err();
        assert_eq!(ours.pointer, ptr);
        assert_eq!(theirs.instance_path().to_string(), ptr);
        assert!(!ours.message.contains("BTC") && !ours.message.contains("iban"));
    }
}
