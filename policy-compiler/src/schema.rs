//! Compiles JSON Schemas (OpenAPI 3.0 Schema Objects or JSON Schema 2020-12 / OpenAPI 3.1)
//! into the engine's compact validator ([`waap_engine::schema::SchemaSet`]).
//!
//! Each schema is first checked against its meta-schema with the `jsonschema` crate
//! (draft 4 for OpenAPI 3.0, whose Schema Object extends it; 2020-12 otherwise). Then every
//! keyword is lowered into nodes: `$ref`s (local, `#/...`, into the whole document given as
//! `spec`) become node ids, compiled once and shared, recursion allowed; `pattern`s become
//! [`RegexDef`]s in the program (the backend builds their DFAs). Keywords the engine does not
//! implement (`unevaluatedProperties`, `dependentSchemas`, `$dynamicRef`, ...) and patterns a
//! DFA cannot run (look-around, backreferences) are errors naming the schema pointer, never
//! silently ignored. `format` is an annotation (as in 2020-12 by default).

use std::collections::HashMap;

use serde_json::{Map, Value};
use waap_engine::program::{RegexDef, RegexFlags};
use waap_engine::schema::{types, Additional, Lit, Num, SchemaId, SchemaNode, SchemaSet};

/// How schemas are read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchemaOptions {
    /// OpenAPI 3.0 dialect: `nullable`, boolean `exclusiveMinimum`/`exclusiveMaximum`,
    /// `$ref` siblings ignored, draft-4 meta-schema.
    pub openapi_30: bool,
    /// The policy's mass-assignment switch: an object schema without
    /// `additionalProperties` rejects undeclared properties, as if it said `false`
    /// (properties declared by its `allOf` members count as declared).
    pub strict_objects: bool,
}

/// Compiles `schema` (found at JSON Pointer `pointer` in `spec`) into `set`, adding its
/// patterns to `regexes`. Returns the root node id. Errors name the pointer.
pub fn compile_schema(
    spec: &Value,
    schema: &Value,
    pointer: &str,
    opts: &SchemaOptions,
    set: &mut SchemaSet,
    regexes: &mut Vec<RegexDef>,
) -> Result<SchemaId, String> {
    SchemaCompiler::new(spec, *opts).compile(schema, pointer, set, regexes)
}

/// A compiler that remembers the `$ref` targets it compiled, so schemas of one document
/// share their components.
pub struct SchemaCompiler<'s> {
    spec: &'s Value,
    opts: SchemaOptions,
    /// (`$ref` pointer, strict) -> node id.
    refs: HashMap<(String, bool), SchemaId>,
}

/// Keywords that only annotate (ignored by validation).
const ANNOTATIONS: &[&str] = &[
    "title",
    "description",
    "default",
    "examples",
    "example",
    "format",
    "deprecated",
    "$comment",
    "$schema",
    "$id",
    "$defs",
    "definitions",
    "discriminator",
    "xml",
    "externalDocs",
    "contentMediaType",
    "contentEncoding",
    "contentSchema",
    "$vocabulary",
];

/// Keywords with validation meaning the engine does not implement.
const UNSUPPORTED: &[&str] = &[
    "unevaluatedProperties",
    "unevaluatedItems",
    "dependentSchemas",
    "$dynamicRef",
    "$dynamicAnchor",
    "$recursiveRef",
    "$recursiveAnchor",
    "$anchor",
];

/// Nesting of schema objects at most (guards against stack exhaustion in the compiler).
const MAX_NESTING: usize = 128;

fn esc(k: &str) -> String {
    k.replace('~', "~0").replace('/', "~1")
}

impl<'s> SchemaCompiler<'s> {
    /// A compiler resolving `$ref`s in `spec`.
    pub fn new(spec: &'s Value, opts: SchemaOptions) -> Self {
        SchemaCompiler {
            spec,
            opts,
            refs: HashMap::new(),
        }
    }

    /// Checks `schema` against its meta-schema, then compiles it (see [`compile_schema`]).
    pub fn compile(
        &mut self,
        schema: &Value,
        pointer: &str,
        set: &mut SchemaSet,
        regexes: &mut Vec<RegexDef>,
    ) -> Result<SchemaId, String> {
        let meta = if self.opts.openapi_30 {
            jsonschema::draft4::meta::validate(schema)
        } else {
            jsonschema::draft202012::meta::validate(schema)
        };
        if let Err(e) = meta {
            return Err(format!(
                "schema {pointer}: not a valid {} schema: {} at '{}'",
                if self.opts.openapi_30 {
                    "OpenAPI 3.0"
                } else {
                    "JSON Schema 2020-12"
                },
                e,
                e.instance_path()
            ));
        }
        self.node(schema, pointer, self.opts.strict_objects, set, regexes, 0)
    }

    fn node(
        &mut self,
        schema: &Value,
        ptr: &str,
        strict: bool,
        set: &mut SchemaSet,
        regexes: &mut Vec<RegexDef>,
        depth: usize,
    ) -> Result<SchemaId, String> {
        if depth > MAX_NESTING {
            return Err(format!("schema {ptr}: nested deeper than {MAX_NESTING}"));
        }
        let obj = match schema {
            Value::Bool(true) => return Ok(set.push(SchemaNode::default())),
            Value::Bool(false) => {
                return Ok(set.push(SchemaNode {
                    never: true,
                    ..SchemaNode::default()
                }))
            }
            Value::Object(o) => o,
            _ => {
                return Err(format!(
                    "schema {ptr}: a schema must be an object or a boolean"
                ))
            }
        };
        // $ref: in 3.0 (and draft 4) siblings are ignored; in 2020-12 they apply too.
        let mut ref_target = None;
        if let Some(r) = obj.get("$ref") {
            let Some(r) = r.as_str() else {
                return Err(format!("schema {ptr}/$ref: must be a string"));
            };
            let target = self.resolve_ref(r, ptr, strict, set, regexes, depth)?;
            let has_siblings = obj
                .keys()
                .any(|k| k != "$ref" && !ANNOTATIONS.contains(&k.as_str()) && !k.starts_with("x-"));
            if self.opts.openapi_30 || !has_siblings {
                return Ok(target);
            }
            ref_target = Some(target);
        }
        let id = set.push(SchemaNode::default());
        let mut n = SchemaNode::default();
        n.all_of.extend(ref_target);
        self.fill(obj, ptr, strict, &mut n, set, regexes, depth)?;
        if let Some(slot) = set.nodes.get_mut(id as usize) {
            *slot = n;
        }
        Ok(id)
    }

    fn resolve_ref(
        &mut self,
        r: &str,
        ptr: &str,
        strict: bool,
        set: &mut SchemaSet,
        regexes: &mut Vec<RegexDef>,
        depth: usize,
    ) -> Result<SchemaId, String> {
        let Some(frag) = r.strip_prefix('#') else {
            return Err(format!(
                "schema {ptr}/$ref: only local references (#/...) are supported, not '{r}'"
            ));
        };
        let frag = percent_decode(frag);
        let key = (frag.clone(), strict);
        if let Some(&id) = self.refs.get(&key) {
            return Ok(id);
        }
        let Some(target) = self.spec.pointer(&frag) else {
            return Err(format!(
                "schema {ptr}/$ref: '{r}' does not exist in the document"
            ));
        };
        // Reserve the id first so recursive references resolve to it.
        let id = set.push(SchemaNode::default());
        self.refs.insert(key, id);
        let inner = self.node(target, &frag, strict, set, regexes, depth + 1)?;
        // `inner` is a fresh node (or a shared one); make `id` an alias of it.
        let alias = if inner == id {
            return Ok(id);
        } else {
            set.node(inner).cloned().unwrap_or_default()
        };
        if let Some(slot) = set.nodes.get_mut(id as usize) {
            *slot = alias;
        }
        Ok(id)
    }

    #[allow(clippy::too_many_arguments)]
    fn fill(
        &mut self,
        o: &Map<String, Value>,
        ptr: &str,
        strict: bool,
        n: &mut SchemaNode,
        set: &mut SchemaSet,
        regexes: &mut Vec<RegexDef>,
        depth: usize,
    ) -> Result<(), String> {
        let d = depth + 1;
        for k in o.keys() {
            if UNSUPPORTED.contains(&k.as_str()) {
                return Err(format!(
                    "schema {ptr}/{}: keyword not supported by waap",
                    esc(k)
                ));
            }
        }
        let at = |k: &str| format!("{ptr}/{}", esc(k));
        let uint = |k: &str| -> Result<Option<u64>, String> {
            match o.get(k) {
                None => Ok(None),
                Some(v) => match v.as_u64() {
                    Some(u) => Ok(Some(u)),
                    None => match v.as_f64() {
                        Some(f) if f >= 0.0 && f.fract() == 0.0 => Ok(Some(f as u64)),
                        _ => Err(format!("schema {}: must be a non-negative integer", at(k))),
                    },
                },
            }
        };
        let num = |k: &str| -> Result<Option<Num>, String> {
            match o.get(k) {
                None => Ok(None),
                Some(Value::Number(x)) => Ok(Some(Num::of(x))),
                Some(_) => Err(format!("schema {}: must be a number", at(k))),
            }
        };
        // type (+ nullable)
        if let Some(t) = o.get("type") {
            let names: Vec<&Value> = match t {
                Value::Array(a) => a.iter().collect(),
                v => vec![v],
            };
            for name in names {
                n.types |= match name.as_str() {
                    Some("null") => types::NULL,
                    Some("boolean") => types::BOOLEAN,
                    Some("integer") => types::INTEGER,
                    Some("number") => types::NUMBER,
                    Some("string") => types::STRING,
                    Some("array") => types::ARRAY,
                    Some("object") => types::OBJECT,
                    _ => return Err(format!("schema {}: unknown type", at("type"))),
                };
            }
        }
        if self.opts.openapi_30 && n.types & types::INTEGER != 0 {
            n.types |= types::STRICT_INTEGER;
        }
        if self.opts.openapi_30 && o.get("nullable") == Some(&Value::Bool(true)) && n.types != 0 {
            n.types |= types::NULL;
        }
        if let Some(e) = o.get("enum") {
            let Some(a) = e.as_array() else {
                return Err(format!("schema {}: must be an array", at("enum")));
            };
            n.enum_values = Some(a.iter().map(Lit::from_value).collect());
        }
        if let Some(c) = o.get("const") {
            n.const_value = Some(Lit::from_value(c));
        }
        // Objects.
        if let Some(p) = o.get("properties") {
            let Some(p) = p.as_object() else {
                return Err(format!("schema {}: must be an object", at("properties")));
            };
            for (name, s) in p {
                let id = self.node(
                    s,
                    &format!("{}/{}", at("properties"), esc(name)),
                    strict,
                    set,
                    regexes,
                    d,
                )?;
                n.properties.push((name.clone(), id));
            }
        }
        if let Some(p) = o.get("patternProperties") {
            let Some(p) = p.as_object() else {
                return Err(format!(
                    "schema {}: must be an object",
                    at("patternProperties")
                ));
            };
            for (re, s) in p {
                let here = format!("{}/{}", at("patternProperties"), esc(re));
                let ri = add_regex(re, &here, regexes)?;
                let id = self.node(s, &here, strict, set, regexes, d)?;
                n.pattern_properties.push((ri, id));
            }
        }
        match o.get("additionalProperties") {
            None => {}
            Some(Value::Bool(true)) => n.additional = Additional::Any,
            Some(Value::Bool(false)) => n.additional = Additional::Deny,
            Some(s) => {
                n.additional = Additional::Schema(self.node(
                    s,
                    &at("additionalProperties"),
                    strict,
                    set,
                    regexes,
                    d,
                )?)
            }
        }
        if let Some(s) = o.get("propertyNames") {
            n.property_names = Some(self.node(s, &at("propertyNames"), strict, set, regexes, d)?);
        }
        if let Some(r) = o.get("required") {
            n.required = strings(r)
                .ok_or_else(|| format!("schema {}: must be an array of strings", at("required")))?;
        }
        let mut dep_req = |v: &Value, key: &str| -> Result<(), String> {
            let Some(m) = v.as_object() else {
                return Err(format!("schema {}: must be an object", at(key)));
            };
            for (k, deps) in m {
                match strings(deps) {
                    Some(list) => n.dependent_required.push((k.clone(), list)),
                    None => {
                        return Err(format!(
                            "schema {}/{}: only property lists are supported",
                            at(key),
                            esc(k)
                        ))
                    }
                }
            }
            Ok(())
        };
        if let Some(v) = o.get("dependentRequired") {
            dep_req(v, "dependentRequired")?;
        }
        if let Some(v) = o.get("dependencies") {
            dep_req(v, "dependencies")?;
        }
        n.min_properties = uint("minProperties")?;
        n.max_properties = uint("maxProperties")?;
        // Arrays.
        if let Some(p) = o.get("prefixItems") {
            let Some(a) = p.as_array() else {
                return Err(format!("schema {}: must be an array", at("prefixItems")));
            };
            for (i, s) in a.iter().enumerate() {
                n.prefix_items.push(self.node(
                    s,
                    &format!("{}/{i}", at("prefixItems")),
                    strict,
                    set,
                    regexes,
                    d,
                )?);
            }
        }
        match o.get("items") {
            None => {}
            Some(Value::Array(a)) => {
                // Draft-4 / OpenAPI 3.0 tuple form; `additionalItems` covers the rest.
                for (i, s) in a.iter().enumerate() {
                    n.prefix_items.push(self.node(
                        s,
                        &format!("{}/{i}", at("items")),
                        strict,
                        set,
                        regexes,
                        d,
                    )?);
                }
                if let Some(s) = o.get("additionalItems") {
                    n.items =
                        Some(self.node(s, &at("additionalItems"), strict, set, regexes, d)?);
                }
            }
            Some(s) => n.items = Some(self.node(s, &at("items"), strict, set, regexes, d)?),
        }
        if let Some(s) = o.get("contains") {
            let c = self.node(s, &at("contains"), strict, set, regexes, d)?;
            let min = uint("minContains")?.unwrap_or(1);
            n.contains = Some((c, min, uint("maxContains")?));
        }
        n.min_items = uint("minItems")?;
        n.max_items = uint("maxItems")?;
        n.unique_items = o.get("uniqueItems") == Some(&Value::Bool(true));
        // Strings.
        n.min_length = uint("minLength")?;
        n.max_length = uint("maxLength")?;
        if let Some(p) = o.get("pattern") {
            let Some(p) = p.as_str() else {
                return Err(format!("schema {}: must be a string", at("pattern")));
            };
            n.pattern = Some(add_regex(p, &at("pattern"), regexes)?);
        }
        // Numbers: 3.1 numeric exclusive bounds, or 3.0/draft-4 boolean modifiers.
        n.minimum = num("minimum")?;
        n.maximum = num("maximum")?;
        match o.get("exclusiveMinimum") {
            Some(Value::Bool(b)) => {
                if *b {
                    n.exclusive_minimum = n.minimum.take();
                }
            }
            _ => n.exclusive_minimum = num("exclusiveMinimum")?,
        }
        match o.get("exclusiveMaximum") {
            Some(Value::Bool(b)) => {
                if *b {
                    n.exclusive_maximum = n.maximum.take();
                }
            }
            _ => n.exclusive_maximum = num("exclusiveMaximum")?,
        }
        if let Some(m) = o.get("multipleOf") {
            match m.as_f64() {
                Some(f) if f > 0.0 => n.multiple_of = Some(f),
                _ => return Err(format!("schema {}: must be a number > 0", at("multipleOf"))),
            }
        }
        // Composition. allOf members are parts of one object: strictness is decided here.
        if let Some(a) = o.get("allOf") {
            let Some(a) = a.as_array() else {
                return Err(format!("schema {}: must be an array", at("allOf")));
            };
            for (i, s) in a.iter().enumerate() {
                n.all_of.push(self.node(
                    s,
                    &format!("{}/{i}", at("allOf")),
                    false,
                    set,
                    regexes,
                    d,
                )?);
            }
        }
        for (key, list) in [("anyOf", 0), ("oneOf", 1)] {
            if let Some(a) = o.get(key) {
                let Some(a) = a.as_array() else {
                    return Err(format!("schema {}: must be an array", at(key)));
                };
                for (i, s) in a.iter().enumerate() {
                    let id = self.node(s, &format!("{}/{i}", at(key)), strict, set, regexes, d)?;
                    if list == 0 {
                        n.any_of.push(id);
                    } else {
                        n.one_of.push(id);
                    }
                }
            }
        }
        if let Some(s) = o.get("not") {
            n.not = Some(self.node(s, &at("not"), false, set, regexes, d)?);
        }
        if let Some(i) = o.get("if") {
            let c = self.node(i, &at("if"), false, set, regexes, d)?;
            let t = match o.get("then") {
                Some(s) => Some(self.node(s, &at("then"), strict, set, regexes, d)?),
                None => None,
            };
            let e = match o.get("else") {
                Some(s) => Some(self.node(s, &at("else"), strict, set, regexes, d)?),
                None => None,
            };
            n.if_then_else = Some((c, t, e));
        }
        n.read_only = o.get("readOnly") == Some(&Value::Bool(true));
        n.write_only = o.get("writeOnly") == Some(&Value::Bool(true));
        // Mass-assignment switch: an object schema that names properties and says nothing
        // about others rejects them; the properties its allOf members name are allowed.
        if strict
            && n.additional == Additional::Unspecified
            && (!n.properties.is_empty() || declares_properties(set, &n.all_of))
        {
            let mut names = Vec::new();
            collect_property_names(set, &n.all_of, &mut names, 0);
            names.retain(|name| !n.properties.iter().any(|(p, _)| p == name));
            if !names.is_empty() {
                let any = set.push(SchemaNode::default());
                for name in names {
                    n.properties.push((name, any));
                }
            }
            n.additional = Additional::Deny;
        }
        Ok(())
    }
}

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|s| s.as_str().map(str::to_string))
        .collect()
}

fn declares_properties(set: &SchemaSet, ids: &[SchemaId]) -> bool {
    let mut names = Vec::new();
    collect_property_names(set, ids, &mut names, 0);
    !names.is_empty()
}

fn collect_property_names(set: &SchemaSet, ids: &[SchemaId], out: &mut Vec<String>, depth: usize) {
    if depth > 32 {
        return;
    }
    for &id in ids {
        if let Some(n) = set.node(id) {
            for (p, _) in &n.properties {
                if !out.contains(p) {
                    out.push(p.clone());
                }
            }
            collect_property_names(set, &n.all_of, out, depth + 1);
        }
    }
}

/// `~0`/`~1` stay (serde_json's pointer handles them); `%XX` is decoded (URI fragment).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

/// Adds (or reuses) the regex for a JSON Schema `pattern`, after checking a DFA can run it.
pub fn add_regex(pattern: &str, ptr: &str, regexes: &mut Vec<RegexDef>) -> Result<u32, String> {
    let def = RegexDef {
        pattern: pattern.to_string(),
        dfa: None,
        flags: RegexFlags::default(),
        required_literals: Vec::new(),
    };
    let parsed = regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern);
    if let Err(e) = parsed {
        let why = e.to_string();
        let hint = if why.contains("look-around") {
            " (look-around is not supported: patterns run as DFAs)"
        } else if why.contains("backreference") {
            " (backreferences are not supported: patterns run as DFAs)"
        } else {
            ""
        };
        return Err(format!(
            "schema {ptr}: pattern cannot be compiled{hint}: {}",
            why.lines().last().unwrap_or("")
        ));
    }
    if let Some(i) = regexes
        .iter()
        .position(|r| r.pattern == def.pattern && r.flags == def.flags)
    {
        return Ok(i as u32);
    }
    regexes.push(def);
    Ok((regexes.len() - 1) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use waap_engine::schema::Direction;

    fn no_patterns(_: u32, _: &str) -> bool {
        false
    }

    fn compile(
        spec: &Value,
        schema: &Value,
        opts: SchemaOptions,
    ) -> Result<(SchemaSet, SchemaId), String> {
        let mut set = SchemaSet::default();
        let mut re = Vec::new();
        let id = compile_schema(spec, schema, "#/root", &opts, &mut set, &mut re)?;
        Ok((set, id))
    }

    #[test]
    fn recursive_refs_compile_to_a_cycle() {
        let spec = json!({"components": {"schemas": {"Node": {
            "type": "object",
            "properties": {"children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
                           "v": {"type": "integer"}}
        }}}});
        let schema = json!({"$ref": "#/components/schemas/Node"});
        let (set, id) = compile(&spec, &schema, SchemaOptions::default()).unwrap();
        let good = json!({"v": 1, "children": [{"v": 2, "children": [{"v": 3}]}]});
        let bad = json!({"v": 1, "children": [{"v": 2, "children": [{"v": "x"}]}]});
        assert!(set
            .validate(id, &good, Direction::Request, &no_patterns)
            .is_ok());
        let v = set
            .validate(id, &bad, Direction::Request, &no_patterns)
            .unwrap_err();
        assert_eq!(v.pointer, "/children/0/children/0/v");
    }

    #[test]
    fn errors_name_the_pointer() {
        let spec = json!({});
        let e = compile(
            &spec,
            &json!({"properties": {"a": {"pattern": "(?=x)y"}}}),
            SchemaOptions::default(),
        )
        .unwrap_err();
        assert!(e.contains("#/root/properties/a/pattern"), "{e}");
        assert!(e.contains("look-around"), "{e}");
        let e = compile(
            &spec,
            &json!({"items": {"pattern": "(a)\\1"}}),
            SchemaOptions::default(),
        )
        .unwrap_err();
        assert!(e.contains("#/root/items/pattern"), "{e}");
        let e = compile(
            &spec,
            &json!({"$ref": "#/components/schemas/Missing"}),
            SchemaOptions::default(),
        )
        .unwrap_err();
        assert!(e.contains("does not exist"), "{e}");
        let e = compile(&spec, &json!({"type": "strin"}), SchemaOptions::default()).unwrap_err();
        assert!(e.contains("not a valid JSON Schema 2020-12 schema"), "{e}");
        let e = compile(
            &spec,
            &json!({"unevaluatedProperties": false}),
            SchemaOptions::default(),
        )
        .unwrap_err();
        assert!(
            e.contains("#/root/unevaluatedProperties: keyword not supported"),
            "{e}"
        );
    }

    #[test]
    fn openapi_30_nullable_and_boolean_exclusive_bounds() {
        let opts = SchemaOptions {
            openapi_30: true,
            strict_objects: false,
        };
        let schema = json!({"type": "number", "nullable": true, "minimum": 0, "exclusiveMinimum": true, "maximum": 10});
        let (set, id) = compile(&json!({}), &schema, opts).unwrap();
        let ok = |v: Value| {
            set.validate(id, &v, Direction::Request, &no_patterns)
                .is_ok()
        };
        assert!(ok(json!(null)));
        assert!(ok(json!(10)));
        assert!(!ok(json!(0)));
        assert!(ok(json!(0.5)));
        assert!(!ok(json!(10.5)));
    }

    #[test]
    fn strict_objects_reject_undeclared_properties_but_allow_all_of_members() {
        let spec = json!({"components": {"schemas": {
            "Base": {"type": "object", "properties": {"id": {"type": "integer", "readOnly": true}}},
            "User": {"allOf": [{"$ref": "#/components/schemas/Base"},
                               {"type": "object", "properties": {"name": {"type": "string"}}}]}
        }}});
        let opts = SchemaOptions {
            openapi_30: true,
            strict_objects: true,
        };
        let (set, id) =
            compile(&spec, &json!({"$ref": "#/components/schemas/User"}), opts).unwrap();
        let check = |v: Value| set.validate(id, &v, Direction::Request, &no_patterns);
        assert!(check(json!({"name": "a"})).is_ok());
        let v = check(json!({"name": "a", "role": "admin"})).unwrap_err();
        assert_eq!(
            (v.pointer.as_str(), v.keyword.as_str()),
            ("/role", "additionalProperties")
        );
        let v = check(json!({"name": "a", "id": 5})).unwrap_err();
        assert_eq!(
            (v.pointer.as_str(), v.keyword.as_str()),
            ("/id", "readOnly")
        );
        // Not strict: the extra property passes.
        let (set, id) = compile(
            &spec,
            &json!({"$ref": "#/components/schemas/User"}),
            SchemaOptions {
                openapi_30: true,
                strict_objects: false,
            },
        )
        .unwrap();
        assert!(set
            .validate(
                id,
                &json!({"name": "a", "role": "admin"}),
                Direction::Request,
                &no_patterns
            )
            .is_ok());
    }

    #[test]
    fn postcard_round_trips_a_compiled_set() {
        let schema = json!({"type": "object", "properties": {"c": {"enum": ["EUR", 1, null, [1], {"a": 2.5}]}}, "required": ["c"]});
        let (set, _) = compile(&json!({}), &schema, SchemaOptions::default()).unwrap();
        let bytes = postcard::to_allocvec(&set).unwrap();
        let back: SchemaSet = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, set);
    }
}
