//! Criterion micro-benchmarks of API protection, natively (no Envoy, no wasm):
//!
//! - `schema/validate/transfer_1k`: the compact validator on a ~1 KiB transfer document
//!   (already parsed), patterns matched by the DFAs the backend ships in the bundle.
//! - `schema/parse_validate/transfer_1k`: `parse_json` with limits + validation.
//! - `schema/jsonschema/transfer_1k`: the `jsonschema` crate on the same document and
//!   schema (the alternative the filter did not take), for comparison.
//! - `schema/load/banking_set`: decoding the compiled schemas from the bundle (postcard), the
//!   per-VM load cost (the regexes' DFAs load like every other DFA of the bundle).
//! - `schema/validate_text/{integer,array}`: a query parameter converted and validated.
//! - `sensitive/scan/16k` and `sensitive/scan_mask/16k`: all detectors over a 16 KiB JSON
//!   response holding a few card numbers, resident numbers, e-mails and phones;
//!   `sensitive/scan_one/<detector>/16k`: one detector.
//!
//! `cargo bench -p waap-bench --bench schema` (add `-- --measurement-time 2` for a short run).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Value};
use std::hint::black_box;
use waap_engine::matcher::Matcher;
use waap_engine::program::RegexDef;
use waap_engine::schema::{parse_json, Direction, JsonLimits, SchemaSet};
use waap_engine::sensitive::{mask_json, scan, Detector};
use waap_policy_compiler::backend::build_dfa;
use waap_policy_compiler::schema::{compile_schema, SchemaOptions};

fn banking() -> Value {
    json!({
        "components": {"schemas": {
            "Iban": {"type": "string", "pattern": "^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$"},
            "Money": {"type": "object", "required": ["amount", "currency"], "additionalProperties": false,
                "properties": {
                    "amount": {"type": "number", "multipleOf": 0.01, "exclusiveMinimum": 0, "maximum": 1000000},
                    "currency": {"enum": ["EUR", "USD", "KRW", "GBP"]}}},
            "Line": {"type": "object", "required": ["sku", "qty"], "additionalProperties": false,
                "properties": {"sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$"},
                               "qty": {"type": "integer", "minimum": 1, "maximum": 99},
                               "note": {"type": "string", "maxLength": 64}}},
            "Transfer": {"type": "object", "required": ["from", "to", "money"], "additionalProperties": false,
                "properties": {
                    "from": {"$ref": "#/components/schemas/Iban"},
                    "to": {"$ref": "#/components/schemas/Iban"},
                    "money": {"$ref": "#/components/schemas/Money"},
                    "reference": {"type": "string", "maxLength": 140},
                    "execute_at": {"type": ["string", "null"], "format": "date-time"},
                    "lines": {"type": "array", "maxItems": 20, "items": {"$ref": "#/components/schemas/Line"}},
                    "tags": {"type": "array", "uniqueItems": true, "items": {"type": "string", "maxLength": 16}}}}
        }}
    })
}

fn transfer_doc() -> Value {
    let lines: Vec<Value> = (0..12)
        .map(|i| json!({"sku": format!("ABC-{:04}", 1000 + i), "qty": 1 + i % 9, "note": "gift wrap please"}))
        .collect();
    json!({
        "from": "DE89370400440532013000",
        "to": "FR7630006000011234567890189",
        "money": {"amount": 1234.56, "currency": "EUR"},
        "reference": "Invoice 2026-11-0042 for consulting services, November",
        "execute_at": "2026-12-01T09:00:00Z",
        "lines": lines,
        "tags": ["consulting", "q4", "recurring"]
    })
}

/// Owns DFA bytes (4-byte aligned) so matchers can borrow them.
struct Dfas(Vec<Vec<u32>>);

fn matchers<'a>(defs: &mut [RegexDef], store: &'a mut Dfas) -> Vec<Matcher<'a>> {
    for (i, d) in defs.iter_mut().enumerate() {
        let bytes = build_dfa(d, 10 << 20).unwrap();
        let mut words = vec![0u32; bytes.len().div_ceil(4)];
        for (w, c) in words.iter_mut().zip(bytes.chunks(4)) {
            let mut a = [0u8; 4];
            a[..c.len()].copy_from_slice(c);
            *w = u32::from_ne_bytes(a);
        }
        store.0.push(words);
        d.dfa = Some(i as u32);
    }
    let views: Vec<&'a [u8]> = store
        .0
        .iter()
        .zip(defs.iter())
        .map(|(w, _)| {
            let len = w.len() * 4;
            // SAFETY: u32 storage viewed as bytes, same allocation and lifetime.
            unsafe { std::slice::from_raw_parts(w.as_ptr().cast::<u8>(), len) }
        })
        .collect();
    defs.iter()
        .enumerate()
        .map(|(i, d)| Matcher::build(i, d, &views).unwrap())
        .collect()
}

fn response_16k() -> Vec<u8> {
    let mut items = Vec::new();
    let mut i = 0;
    while serde_json::to_vec(&items).unwrap().len() < 16 * 1024 {
        let mut o = json!({
            "id": i, "name": format!("Customer {i}"), "balance": 1000 + i * 37,
            "created": "2026-11-27T08:00:00Z", "order": format!("ORD-{:08}", i * 7919),
            "comment": "Lorem ipsum dolor sit amet, consectetur adipiscing elit"
        });
        if i % 10 == 3 {
            o["card"] = json!("4111 1111 1111 1111");
            o["rrn"] = json!("900101-1234568");
            o["email"] = json!(format!("user{i}@example.com"));
            o["phone"] = json!("010-1234-5678");
        }
        items.push(o);
        i += 1;
    }
    serde_json::to_vec(&items).unwrap()
}

fn bench(c: &mut Criterion) {
    let spec = banking();
    let schema = json!({"$ref": "#/components/schemas/Transfer"});
    let mut set = SchemaSet::default();
    let mut defs = Vec::new();
    let opts = SchemaOptions {
        openapi_30: false,
        strict_objects: false,
    };
    let id = compile_schema(&spec, &schema, "#/bench", &opts, &mut set, &mut defs).unwrap();
    let int_id = compile_schema(
        &spec,
        &json!({"type": "integer", "minimum": 1, "maximum": 1000}),
        "#/q",
        &opts,
        &mut set,
        &mut defs,
    )
    .unwrap();
    let arr_id = compile_schema(
        &spec,
        &json!({"type": "array", "maxItems": 10, "items": {"type": "integer", "minimum": 0}}),
        "#/ids",
        &opts,
        &mut set,
        &mut defs,
    )
    .unwrap();
    let mut store = Dfas(Vec::new());
    let ms = matchers(&mut defs, &mut store);
    let patterns = |i: u32, s: &str| {
        ms.get(i as usize)
            .is_some_and(|m| m.is_match(s.as_bytes()).unwrap_or(false))
    };
    let doc = transfer_doc();
    let text = serde_json::to_vec(&doc).unwrap();
    assert!(set
        .validate(id, &doc, Direction::Request, &patterns)
        .is_ok());
    eprintln!("transfer document: {} bytes", text.len());

    let encoded = postcard::to_allocvec(&set).unwrap();
    eprintln!(
        "schema set: {} nodes, {} regexes, {} bytes postcard",
        set.nodes.len(),
        defs.len(),
        encoded.len()
    );

    let mut g = c.benchmark_group("schema");
    g.bench_function("load/banking_set", |b| {
        b.iter(|| postcard::from_bytes::<SchemaSet>(black_box(&encoded)).unwrap())
    });
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("validate/transfer_1k", |b| {
        b.iter(|| set.validate(id, black_box(&doc), Direction::Request, &patterns))
    });
    let limits = JsonLimits::default();
    g.bench_function("parse_validate/transfer_1k", |b| {
        b.iter(|| {
            let v = parse_json(black_box(&text), limits).unwrap();
            set.validate(id, &v, Direction::Request, &patterns).is_ok()
        })
    });
    let mut oracle_schema = spec["components"]["schemas"]["Transfer"].clone();
    oracle_schema["components"] = spec["components"].clone();
    let oracle = jsonschema::options()
        .should_validate_formats(false)
        .build(&oracle_schema)
        .unwrap();
    assert!(oracle.is_valid(&doc));
    g.bench_function("jsonschema/transfer_1k", |b| {
        b.iter(|| oracle.is_valid(black_box(&doc)))
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("validate_text/integer", |b| {
        b.iter(|| set.validate_text(int_id, black_box("250"), &patterns))
    });
    g.bench_function("validate_text/array", |b| {
        b.iter(|| set.validate_text(arr_id, black_box("1,2,3,5,8,13"), &patterns))
    });
    g.finish();

    let body = response_16k();
    let found = scan(&body, &Detector::ALL);
    assert!(found.len() >= 4, "{} findings", found.len());
    let mut g = c.benchmark_group("sensitive");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("scan/16k", |b| {
        b.iter(|| scan(black_box(&body), &Detector::ALL))
    });
    for d in Detector::ALL {
        g.bench_function(format!("scan_one/{}/16k", d.name()), |b| {
            b.iter(|| scan(black_box(&body), &[d]))
        });
    }
    g.bench_function("scan_mask/16k", |b| {
        b.iter(|| {
            let mut copy = body.clone();
            let f = scan(&copy, &Detector::ALL);
            mask_json(&mut copy, &f);
            copy
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
