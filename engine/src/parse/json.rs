//! JSON request bodies, flattened into ARGS the way libmodsecurity v3 names them
//! (`src/request_body_processor/json.cc`, yajl callbacks), with our own small streaming
//! tokenizer (no recursion, so depth costs no native stack).
//!
//! # Naming (as v3)
//! v3 keeps a stack of containers, each named by the key it was opened under; the
//! outermost container is named `json`. A scalar's name is the path of its containers,
//! each followed by `.` (object) or `.array_<n>` (array, `n` = index of the current
//! element), then the scalar's own key when its parent is an object:
//!
//! | body | names |
//! |---|---|
//! | `{"a":{"b":"x"},"c":[1,2]}` | `json.a.b`, `json.c.array_0`, `json.c.array_1` |
//! | `[1,[2,3]]` | `json.array_0`, `json.array_1.array_0`, `json.array_1.array_1` |
//! | `{"a":[{"b":1}]}` | `json.a.array_0.b` |
//! | `{"":1}` | `json.empty-key` |
//! | `"x"` (top-level scalar) | `json` |
//!
//! Evidence: v3's regression tests name `ARGS:json.ops.array_3.eins.array_0` and
//! `ARGS:json.array_2` (`test/test-cases/regression/request-body-parser-json.json`), which
//! this scheme reproduces. Empty objects/arrays produce nothing.
//!
//! # Values
//! Strings are unescaped (`\uXXXX` -> UTF-8, a surrogate pair -> one 4-byte sequence),
//! numbers are their source text (`1.50e3` stays `1.50e3`), booleans `true`/`false`, and
//! `null` is the **empty string** (v3's `yajl_null` adds `""`, not `"null"`).
//! Lone surrogates follow yajl: an unpaired high surrogate becomes `?`, an unpaired low
//! surrogate is encoded as its 3-byte (WTF-8) form.
//!
//! # Strictness (as yajl with v3's configuration)
//! Strict RFC 8259: no comments, no trailing commas, no leading zeros, no unescaped control
//! characters in strings, strings must be valid UTF-8, a single top-level value (of any
//! type) with only whitespace after it. Empty input is an error.
//!
//! # Result
//! [`parse_json`] returns [`Json`]: the pairs produced so far plus `error: Option<_>`; on
//! malformed input or an exceeded limit the pairs are those emitted before the error (v3
//! also keeps the ARGS it added before yajl failed, and raises `REQBODY_ERROR`).

use super::{Pair, ParseError};

/// Limits for [`parse_json`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonLimits {
    /// Maximum nesting of objects/arrays (v3: `SecRequestBodyJsonDepthLimit`).
    pub max_depth: usize,
    /// Maximum number of values (scalars and containers) parsed.
    pub max_elements: usize,
    /// Maximum total bytes of emitted names and values (names repeat their path, so
    /// without this a long key over many elements multiplies memory).
    pub max_output_bytes: usize,
}

impl Default for JsonLimits {
    fn default() -> Self {
        Self {
            max_depth: 64,
            max_elements: 65_536,
            max_output_bytes: 8 << 20,
        }
    }
}

/// The result of [`parse_json`]: what was parsed, and why parsing stopped early, if it did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Json {
    /// ARGS in document order, named as v3 names them (see the module docs).
    pub pairs: Vec<Pair>,
    /// Set on malformed input or an exceeded limit; `pairs` then holds what came before.
    pub error: Option<ParseError>,
}

/// Parses a JSON body into v3-style ARGS. Never panics; see the module docs.
pub fn parse_json(body: &[u8], limits: &JsonLimits) -> Json {
    let mut p = Parser {
        body,
        limits,
        namer: Namer::default(),
        out: Json::default(),
        elements: 0,
        bytes: 0,
    };
    let error = p.run().err();
    p.out.error = error;
    p.out
}

/// The v3 naming state: a stack of open containers and the pending object key.
#[derive(Default)]
struct Namer {
    containers: Vec<Container>,
    key: Vec<u8>,
}

struct Container {
    name: Vec<u8>,
    /// `Some(index of the current element)` for arrays, `None` for objects.
    array: Option<usize>,
}

impl Namer {
    /// v3's `getCurrentKey()`: consumes the pending key.
    fn current_key(&mut self) -> Vec<u8> {
        match self.containers.last() {
            None => b"json".to_vec(),
            Some(_) if !self.key.is_empty() => core::mem::take(&mut self.key),
            Some(c) if c.array.is_some() => Vec::new(),
            Some(_) => b"empty-key".to_vec(),
        }
    }

    fn open(&mut self, array: bool) {
        let name = self.current_key();
        self.containers.push(Container {
            name,
            array: array.then_some(0),
        });
    }

    fn close(&mut self) {
        self.containers.pop();
        self.bump();
    }

    /// Advances the element counter of the innermost container if it is an array.
    fn bump(&mut self) {
        if let Some(Container { array: Some(n), .. }) = self.containers.last_mut() {
            *n = n.saturating_add(1);
        }
    }

    /// The ARGS name for a scalar at the current position (advancing array counters).
    fn scalar_name(&mut self) -> Vec<u8> {
        let mut path = Vec::new();
        for c in &self.containers {
            path.extend_from_slice(&c.name);
            match c.array {
                Some(n) => {
                    path.extend_from_slice(b".array_");
                    path.extend_from_slice(n.to_string().as_bytes());
                }
                None => path.push(b'.'),
            }
        }
        let in_array = matches!(
            self.containers.last(),
            Some(Container { array: Some(_), .. })
        );
        if in_array {
            self.bump();
        } else {
            path.extend_from_slice(&self.current_key());
        }
        path
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// A value is required.
    Value,
    /// Just after `[`: a value or `]`.
    ValueOrEnd,
    /// Just after `{`: a key or `}`.
    KeyOrEnd,
    /// After `,` in an object: a key is required.
    Key,
    /// After a key.
    Colon,
    /// After a value inside a container.
    CommaOrEnd,
    /// The top-level value is complete; only whitespace may follow.
    Done,
}

struct Parser<'a> {
    body: &'a [u8],
    limits: &'a JsonLimits,
    namer: Namer,
    out: Json,
    elements: usize,
    bytes: usize,
}

fn err(offset: usize, reason: &'static str) -> Result<(), ParseError> {
    Err(ParseError::new(offset, reason))
}

impl Parser<'_> {
    fn run(&mut self) -> Result<(), ParseError> {
        let body = self.body;
        // true = array, false = object
        let mut stack: Vec<bool> = Vec::new();
        let mut st = State::Value;
        let mut pos = 0usize;
        loop {
            while matches!(body.get(pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                pos += 1;
            }
            let Some(&b) = body.get(pos) else {
                return if st == State::Done {
                    Ok(())
                } else {
                    err(pos, "unexpected end of JSON input")
                };
            };
            match st {
                State::Done => return err(pos, "trailing garbage after JSON value"),
                State::Colon => {
                    if b != b':' {
                        return err(pos, "expected ':' after object key");
                    }
                    pos += 1;
                    st = State::Value;
                }
                State::KeyOrEnd | State::Key => {
                    if st == State::KeyOrEnd && b == b'}' {
                        pos += 1;
                        stack.pop();
                        self.namer.close();
                        st = after(&stack);
                        continue;
                    }
                    if b != b'"' {
                        return err(pos, "expected object key string");
                    }
                    let (key, next) = parse_string(body, pos)?;
                    self.namer.key = key;
                    pos = next;
                    st = State::Colon;
                }
                State::CommaOrEnd => match (stack.last(), b) {
                    (Some(false), b',') => {
                        pos += 1;
                        st = State::Key;
                    }
                    (Some(true), b',') => {
                        pos += 1;
                        st = State::Value;
                    }
                    (Some(false), b'}') | (Some(true), b']') => {
                        pos += 1;
                        stack.pop();
                        self.namer.close();
                        st = after(&stack);
                    }
                    _ => return err(pos, "expected ',' or closing bracket"),
                },
                State::Value | State::ValueOrEnd => {
                    if st == State::ValueOrEnd && b == b']' {
                        pos += 1;
                        stack.pop();
                        self.namer.close();
                        st = after(&stack);
                        continue;
                    }
                    self.elements += 1;
                    if self.elements > self.limits.max_elements {
                        return err(pos, "too many JSON elements");
                    }
                    match b {
                        b'{' | b'[' => {
                            if stack.len() >= self.limits.max_depth {
                                return err(pos, "JSON nesting depth limit exceeded");
                            }
                            let array = b == b'[';
                            self.namer.open(array);
                            stack.push(array);
                            pos += 1;
                            st = if array {
                                State::ValueOrEnd
                            } else {
                                State::KeyOrEnd
                            };
                        }
                        b'"' => {
                            let (s, next) = parse_string(body, pos)?;
                            self.emit(pos, s)?;
                            pos = next;
                            st = after(&stack);
                        }
                        b'-' | b'0'..=b'9' => {
                            let end = scan_number(body, pos)?;
                            self.emit(pos, body.get(pos..end).unwrap_or_default().to_vec())?;
                            pos = end;
                            st = after(&stack);
                        }
                        b't' | b'f' | b'n' => {
                            let (lit, value): (&[u8], &[u8]) = match b {
                                b't' => (b"true", b"true"),
                                b'f' => (b"false", b"false"),
                                _ => (b"null", b""),
                            };
                            if !body.get(pos..).unwrap_or_default().starts_with(lit) {
                                return err(pos, "invalid literal");
                            }
                            self.emit(pos, value.to_vec())?;
                            pos += lit.len();
                            st = after(&stack);
                        }
                        _ => return err(pos, "unexpected character, expected a JSON value"),
                    }
                }
            }
        }
    }

    fn emit(&mut self, pos: usize, value: Vec<u8>) -> Result<(), ParseError> {
        let name = self.namer.scalar_name();
        self.bytes = self
            .bytes
            .saturating_add(name.len())
            .saturating_add(value.len());
        if self.bytes > self.limits.max_output_bytes {
            return err(pos, "JSON output size limit exceeded");
        }
        self.out.pairs.push((name, value));
        Ok(())
    }
}

fn after(stack: &[bool]) -> State {
    if stack.is_empty() {
        State::Done
    } else {
        State::CommaOrEnd
    }
}

/// Scans an RFC 8259 number starting at `start`; returns the end offset.
fn scan_number(body: &[u8], start: usize) -> Result<usize, ParseError> {
    let digit = |i: usize| body.get(i).is_some_and(u8::is_ascii_digit);
    let mut i = start;
    if body.get(i) == Some(&b'-') {
        i += 1;
    }
    match body.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            while digit(i) {
                i += 1;
            }
        }
        _ => return Err(ParseError::new(i, "malformed number")),
    }
    if body.get(i) == Some(&b'.') {
        i += 1;
        if !digit(i) {
            return Err(ParseError::new(
                i,
                "malformed number: digit expected after '.'",
            ));
        }
        while digit(i) {
            i += 1;
        }
    }
    if matches!(body.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(body.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digit(i) {
            return Err(ParseError::new(
                i,
                "malformed number: digit expected in exponent",
            ));
        }
        while digit(i) {
            i += 1;
        }
    }
    // "01" or "1x": yajl lexes a second token here, which the grammar then rejects.
    if matches!(
        body.get(i),
        Some(b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'.' | b'-' | b'+')
    ) {
        return Err(ParseError::new(i, "malformed number"));
    }
    Ok(i)
}

/// Parses the string whose opening quote is at `start`; returns the unescaped bytes and
/// the offset just past the closing quote.
fn parse_string(body: &[u8], start: usize) -> Result<(Vec<u8>, usize), ParseError> {
    let mut out = Vec::new();
    let mut i = start + 1;
    loop {
        // Copy a run of plain bytes, validating UTF-8.
        let run_start = i;
        while let Some(&c) = body.get(i) {
            if c == b'"' || c == b'\\' || c < 0x20 {
                break;
            }
            i += 1;
        }
        let run = body.get(run_start..i).unwrap_or_default();
        if let Err(e) = core::str::from_utf8(run) {
            return Err(ParseError::new(
                run_start + e.valid_up_to(),
                "invalid UTF-8 in JSON string",
            ));
        }
        out.extend_from_slice(run);
        match body.get(i) {
            None => return Err(ParseError::new(i, "unterminated JSON string")),
            Some(b'"') => return Ok((out, i + 1)),
            Some(b'\\') => {
                let esc = body.get(i + 1).copied();
                i += 2;
                match esc {
                    Some(b'"') => out.push(b'"'),
                    Some(b'\\') => out.push(b'\\'),
                    Some(b'/') => out.push(b'/'),
                    Some(b'b') => out.push(0x08),
                    Some(b'f') => out.push(0x0c),
                    Some(b'n') => out.push(b'\n'),
                    Some(b'r') => out.push(b'\r'),
                    Some(b't') => out.push(b'\t'),
                    Some(b'u') => {
                        let cp = hex4(body, i)?;
                        i += 4;
                        if (0xD800..0xDC00).contains(&cp) {
                            // High surrogate: pair it with a following \uDC00-\uDFFF.
                            let low =
                                if body.get(i) == Some(&b'\\') && body.get(i + 1) == Some(&b'u') {
                                    hex4(body, i + 2)
                                        .ok()
                                        .filter(|l| (0xDC00..0xE000).contains(l))
                                } else {
                                    None
                                };
                            match low {
                                Some(low) => {
                                    i += 6;
                                    let c = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                                    push_utf8(&mut out, c);
                                }
                                None => out.push(b'?'),
                            }
                        } else {
                            push_utf8(&mut out, cp);
                        }
                    }
                    _ => return Err(ParseError::new(i - 1, "invalid escape in JSON string")),
                }
            }
            Some(_) => {
                return Err(ParseError::new(
                    i,
                    "unescaped control character in JSON string",
                ))
            }
        }
    }
}

fn hex4(body: &[u8], at: usize) -> Result<u32, ParseError> {
    let mut v = 0u32;
    for k in 0..4 {
        let d = body
            .get(at + k)
            .copied()
            .and_then(super::urlencoded::hex)
            .ok_or(ParseError::new(at + k, "invalid \\u escape in JSON string"))?;
        v = v << 4 | u32::from(d);
    }
    Ok(v)
}

/// Encodes a code point (surrogates included, as WTF-8) as UTF-8.
pub(crate) fn push_utf8(out: &mut Vec<u8>, c: u32) {
    // The `as u8` casts below keep only the masked low bits, by construction.
    match c {
        0..=0x7F => out.push(c as u8),
        0x80..=0x7FF => out.extend_from_slice(&[0xC0 | (c >> 6) as u8, 0x80 | (c & 0x3F) as u8]),
        0x800..=0xFFFF => out.extend_from_slice(&[
            0xE0 | (c >> 12) as u8,
            0x80 | ((c >> 6) & 0x3F) as u8,
            0x80 | (c & 0x3F) as u8,
        ]),
        _ => out.extend_from_slice(&[
            0xF0 | ((c >> 18) & 0x07) as u8,
            0x80 | ((c >> 12) & 0x3F) as u8,
            0x80 | ((c >> 6) & 0x3F) as u8,
            0x80 | (c & 0x3F) as u8,
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_values(body: &str) -> Vec<(String, String)> {
        let j = parse_json(body.as_bytes(), &JsonLimits::default());
        assert_eq!(j.error, None, "{body}");
        j.pairs
            .into_iter()
            .map(|(k, v)| {
                (
                    String::from_utf8(k).unwrap_or_default(),
                    String::from_utf8(v).unwrap_or_default(),
                )
            })
            .collect()
    }

    fn nv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn brief_example() {
        assert_eq!(
            names_values(r#"{"a":{"b":"x"},"c":[1,2]}"#),
            nv(&[
                ("json.a.b", "x"),
                ("json.c.array_0", "1"),
                ("json.c.array_1", "2")
            ])
        );
    }

    #[test]
    fn v3_regression_names() {
        // Shapes from v3's request-body-parser-json.json.
        let body = r#"{"ops":[1,2,3,{"eins":["zwei","drei"]}]}"#;
        let got = names_values(body);
        assert!(got.contains(&("json.ops.array_3.eins.array_0".into(), "zwei".into())));
        assert!(got.contains(&("json.ops.array_3.eins.array_1".into(), "drei".into())));
        assert_eq!(
            names_values(r#"["one","two","three"]"#),
            nv(&[
                ("json.array_0", "one"),
                ("json.array_1", "two"),
                ("json.array_2", "three")
            ])
        );
        assert_eq!(
            names_values(r#"{"key1":{"key2":{"key3":{"key4":{"key5":"v"}}}}}"#),
            nv(&[("json.key1.key2.key3.key4.key5", "v")])
        );
    }

    #[test]
    fn nested_arrays_and_objects_in_arrays() {
        assert_eq!(
            names_values(r#"[1,[2,3],{"b":4},5]"#),
            nv(&[
                ("json.array_0", "1"),
                ("json.array_1.array_0", "2"),
                ("json.array_1.array_1", "3"),
                ("json.array_2.b", "4"),
                ("json.array_3", "5"),
            ])
        );
    }

    #[test]
    fn scalars_render_as_v3() {
        assert_eq!(
            names_values(r#"{"n":-1.50e+3,"t":true,"f":false,"z":null,"e":{},"a":[]}"#),
            nv(&[
                ("json.n", "-1.50e+3"),
                ("json.t", "true"),
                ("json.f", "false"),
                ("json.z", "")
            ])
        );
        assert_eq!(names_values(r#" "top" "#), nv(&[("json", "top")]));
        assert_eq!(names_values("42"), nv(&[("json", "42")]));
    }

    #[test]
    fn empty_key() {
        assert_eq!(
            names_values(r#"{"":1,"a":{"":2}}"#),
            nv(&[("json.empty-key", "1"), ("json.a.empty-key", "2")])
        );
    }

    #[test]
    fn escapes_and_unicode() {
        assert_eq!(
            names_values(r#"{"k\"\\\/":"\b\f\n\r\t\u0041\u00e9\u20ac\ud83d\ude00"}"#),
            nv(&[("json.k\"\\/", "\u{8}\u{c}\n\r\tAé€😀")])
        );
        // Lone surrogates: high -> '?', low -> WTF-8 bytes, as yajl.
        let j = parse_json(br#"["\ud800x","\udc00"]"#, &JsonLimits::default());
        assert_eq!(j.error, None);
        assert_eq!(j.pairs.first().map(|p| p.1.clone()), Some(b"?x".to_vec()));
        assert_eq!(
            j.pairs.get(1).map(|p| p.1.clone()),
            Some(vec![0xED, 0xB0, 0x80])
        );
        // \u0000 is a NUL byte.
        let j = parse_json(br#""a\u0000b""#, &JsonLimits::default());
        assert_eq!(j.pairs, vec![(b"json".to_vec(), b"a\0b".to_vec())]);
    }

    #[test]
    fn malformed_keeps_prefix_and_offset() {
        let j = parse_json(br#"{"a":1,"b":2,"c":}"#, &JsonLimits::default());
        assert_eq!(j.pairs.len(), 2);
        assert_eq!(j.error.map(|e| e.offset), Some(17));
        for bad in [
            &b""[..],
            b"{",
            b"[1,]",
            b"{\"a\":1,}",
            b"01",
            b"1.",
            b"1e",
            b"-",
            b"tru",
            b"nul",
            b"{\"a\" 1}",
            b"{a:1}",
            b"[1 2]",
            b"\"abc",
            b"\"\x01\"",
            b"\"\\x\"",
            b"\"\\u12g4\"",
            b"\"\xff\"",
            b"[1]]",
            b"{} {}",
            b"/*c*/1",
            b"[1}",
            b"{\"a\":1]",
            b"NaN",
        ] {
            let j = parse_json(bad, &JsonLimits::default());
            assert!(j.error.is_some(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn limits() {
        let l = JsonLimits {
            max_depth: 3,
            ..JsonLimits::default()
        };
        assert!(parse_json(b"[[[1]]]", &l).error.is_none());
        let j = parse_json(b"[[[[1]]]]", &l);
        assert_eq!(
            j.error,
            Some(ParseError::new(3, "JSON nesting depth limit exceeded"))
        );
        let l = JsonLimits {
            max_elements: 3,
            ..JsonLimits::default()
        };
        let j = parse_json(b"[1,2,3]", &l);
        assert_eq!(j.pairs.len(), 2);
        assert!(j.error.is_some());
        let l = JsonLimits {
            max_output_bytes: 30,
            ..JsonLimits::default()
        };
        let j = parse_json(br#"{"aaaaaaaaaa":[1,2,3,4,5]}"#, &l);
        assert_eq!(j.pairs.len(), 1);
        assert!(j.error.is_some());
    }

    #[test]
    fn deep_input_does_not_recurse() {
        let body = vec![b'['; 100_000];
        let j = parse_json(
            &body,
            &JsonLimits {
                max_depth: usize::MAX,
                max_elements: usize::MAX,
                ..JsonLimits::default()
            },
        );
        assert!(j.error.is_some());
    }
}
