//! XML request bodies: a small, strict, non-validating scanner (no dependency) producing
//! what CRS reads through `XML:/*` and `XML://@*`.
//!
//! # What v3 yields, and what we produce
//! libmodsecurity v3 (`src/variables/xml.cc`) evaluates the XPath expression with libxml2
//! and emits `xmlNodeGetContent()` of every node in the result:
//! - `XML:/*` selects the root element, so v3 yields **one** value: the root's string
//!   value, i.e. all descendant text and CDATA concatenated in document order, whitespace
//!   included, comments and PIs excluded. That is [`XmlDoc::root_text`].
//! - [`XmlDoc::texts`] additionally lists every text/CDATA node on its own (whitespace-only
//!   nodes omitted), in document order, for engines that prefer one value per node. Every
//!   non-empty text node is reachable through either.
//! - `XML://@*` selects every attribute node; v3 yields each attribute's value (entities
//!   decoded, attribute-value normalized: literal tab/CR/LF become spaces). That is
//!   [`XmlDoc::attr_values`]. Namespace declarations (`xmlns`, `xmlns:p`) are not
//!   attribute nodes in libxml2's tree, so they are left out too.
//!
//! # Entities and DTDs
//! The five predefined entities and character references (`&#65;`, `&#x41;`) are decoded;
//! line ends are normalized (`\r\n` and lone `\r` -> `\n`). A `<!DOCTYPE ...>` (with an
//! internal subset) is skipped, never interpreted: no entity is ever declared, loaded or
//! expanded (so no XXE, no billion laughs). Any other entity reference is kept literally
//! (`&xxe;`), so rules still see it; without a DOCTYPE it is also an error, as in libxml2
//! ("entity not defined"), but scanning continues.
//!
//! # Errors
//! Like libxml2's push parser (not in recovery mode), scanning stops at the first
//! well-formedness error (mismatched or unclosed tags, text or a second element outside
//! the root, bad attribute syntax, unterminated comment/CDATA/PI, invalid character
//! reference, limits); what was collected before it is kept and `error` is set (v3 keeps
//! the partial document and sets REQBODY_ERROR). Not checked: UTF-8 validity, name
//! character classes, duplicate attributes, `--` inside comments, encoding declarations.

use super::ParseError;

/// Limits for [`parse_xml`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmlLimits {
    /// Maximum element nesting depth.
    pub max_depth: usize,
    /// Maximum number of elements.
    pub max_elements: usize,
    /// Maximum number of attributes (in total).
    pub max_attributes: usize,
}

impl Default for XmlLimits {
    fn default() -> Self {
        Self {
            max_depth: 64,
            max_elements: 4096,
            max_attributes: 4096,
        }
    }
}

/// The result of [`parse_xml`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XmlDoc {
    /// Text and CDATA nodes, one entry each, whitespace-only nodes omitted.
    pub texts: Vec<Vec<u8>>,
    /// Attribute values (`XML://@*`), namespace declarations excluded.
    pub attr_values: Vec<Vec<u8>>,
    /// The root element's string value: v3's single `XML:/*` value.
    pub root_text: Vec<u8>,
    /// The first well-formedness error or exceeded limit.
    pub error: Option<ParseError>,
}

/// Scans an XML body. Never panics, never resolves entities; see the module docs.
pub fn parse_xml(body: &[u8], limits: &XmlLimits) -> XmlDoc {
    let mut s = Scanner {
        b: body,
        limits,
        doc: XmlDoc::default(),
        stack: Vec::new(),
        seen_root: false,
        doctype: false,
        elements: 0,
        attrs: 0,
    };
    if let Err(e) = s.run() {
        // A hard error overrides a soft one only if it came first.
        match s.doc.error {
            Some(prev) if prev.offset <= e.offset => {}
            _ => s.doc.error = Some(e),
        }
    }
    s.doc
}

struct Scanner<'a> {
    b: &'a [u8],
    limits: &'a XmlLimits,
    doc: XmlDoc,
    /// Open elements, as (start, end) of their names in `b`.
    stack: Vec<(usize, usize)>,
    seen_root: bool,
    doctype: bool,
    elements: usize,
    attrs: usize,
}

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn find_from(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

type R<T> = Result<T, ParseError>;

fn err<T>(offset: usize, reason: &'static str) -> R<T> {
    Err(ParseError::new(offset, reason))
}

impl Scanner<'_> {
    fn soft_error(&mut self, offset: usize, reason: &'static str) {
        if self.doc.error.is_none() {
            self.doc.error = Some(ParseError::new(offset, reason));
        }
    }

    fn run(&mut self) -> R<()> {
        let mut pos = if self.b.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        while let Some(&c) = self.b.get(pos) {
            pos = if c == b'<' {
                self.markup(pos)?
            } else {
                self.char_data(pos)?
            };
        }
        if !self.stack.is_empty() {
            return err(
                self.b.len(),
                "XML: unexpected end of input (unclosed element)",
            );
        }
        if !self.seen_root {
            return err(self.b.len(), "XML: no root element");
        }
        Ok(())
    }

    fn push_text(&mut self, text: Vec<u8>) {
        self.doc.root_text.extend_from_slice(&text);
        if !text.iter().all(|&c| is_ws(c)) {
            self.doc.texts.push(text);
        }
    }

    /// Character data from `pos` to the next `<`.
    fn char_data(&mut self, pos: usize) -> R<usize> {
        let rest = self.b.get(pos..).unwrap_or_default();
        let end = pos + rest.iter().position(|&c| c == b'<').unwrap_or(rest.len());
        let raw = self.b.get(pos..end).unwrap_or_default();
        if self.stack.is_empty() {
            if let Some(i) = raw.iter().position(|&c| !is_ws(c)) {
                return err(pos + i, "XML: content outside the root element");
            }
            return Ok(end);
        }
        let text = self.decode(raw, pos, false)?;
        self.push_text(text);
        Ok(end)
    }

    /// Markup starting with `<` at `pos`; returns the offset after it.
    fn markup(&mut self, pos: usize) -> R<usize> {
        let rest = self.b.get(pos..).unwrap_or_default();
        if rest.starts_with(b"<!--") {
            let end = find_from(self.b, pos + 4, b"-->")
                .ok_or(ParseError::new(pos, "XML: unterminated comment"))?;
            return Ok(end + 3);
        }
        if rest.starts_with(b"<![CDATA[") {
            if self.stack.is_empty() {
                return err(pos, "XML: CDATA outside the root element");
            }
            let start = pos + 9;
            let end = find_from(self.b, start, b"]]>")
                .ok_or(ParseError::new(pos, "XML: unterminated CDATA section"))?;
            let mut text = Vec::with_capacity(end - start);
            normalize_line_ends(self.b.get(start..end).unwrap_or_default(), &mut text);
            self.push_text(text);
            return Ok(end + 3);
        }
        if rest.starts_with(b"<!DOCTYPE") {
            if self.seen_root || self.doctype {
                return err(pos, "XML: misplaced DOCTYPE");
            }
            self.doctype = true;
            return self.skip_doctype(pos);
        }
        if rest.starts_with(b"<?") {
            let end = find_from(self.b, pos + 2, b"?>").ok_or(ParseError::new(
                pos,
                "XML: unterminated processing instruction",
            ))?;
            return Ok(end + 2);
        }
        if rest.starts_with(b"</") {
            let start = pos + 2;
            let close = find_from(self.b, start, b">")
                .ok_or(ParseError::new(pos, "XML: unterminated end tag"))?;
            let inner = self.b.get(start..close).unwrap_or_default();
            let name_len = inner.iter().position(|&c| is_ws(c)).unwrap_or(inner.len());
            if inner
                .get(name_len..)
                .is_some_and(|t| !t.iter().all(|&c| is_ws(c)))
            {
                return err(start + name_len, "XML: malformed end tag");
            }
            let name = inner.get(..name_len).unwrap_or_default();
            match self.stack.pop() {
                Some((s, e)) if self.b.get(s..e) == Some(name) => Ok(close + 1),
                _ => err(pos, "XML: mismatched end tag"),
            }
        } else {
            self.start_tag(pos)
        }
    }

    fn skip_doctype(&self, pos: usize) -> R<usize> {
        let mut depth = 0usize;
        let mut quote: Option<u8> = None;
        let mut i = pos + 9;
        while let Some(&c) = self.b.get(i) {
            match (quote, c) {
                (Some(q), _) if c == q => quote = None,
                (Some(_), _) => {}
                (None, b'"' | b'\'') => quote = Some(c),
                (None, b'[') => depth += 1,
                (None, b']') => depth = depth.saturating_sub(1),
                (None, b'>') if depth == 0 => return Ok(i + 1),
                _ => {}
            }
            i += 1;
        }
        err(pos, "XML: unterminated DOCTYPE")
    }

    fn start_tag(&mut self, pos: usize) -> R<usize> {
        if self.seen_root && self.stack.is_empty() {
            return err(pos, "XML: extra content after the root element");
        }
        let name_start = pos + 1;
        let mut i = name_start;
        while self
            .b
            .get(i)
            .is_some_and(|&c| !is_ws(c) && !matches!(c, b'/' | b'>' | b'=' | b'<' | b'"' | b'\''))
        {
            i += 1;
        }
        let name_end = i;
        match self.b.get(name_start) {
            Some(c)
                if name_end > name_start
                    && !c.is_ascii_digit()
                    && !matches!(c, b'-' | b'.' | b'!' | b'?') => {}
            _ => return err(name_start, "XML: invalid element name"),
        }
        self.elements += 1;
        if self.elements > self.limits.max_elements {
            return err(pos, "XML: too many elements");
        }
        if self.stack.len() >= self.limits.max_depth {
            return err(pos, "XML: nesting depth limit exceeded");
        }
        self.seen_root = true;
        loop {
            let had_ws = self.b.get(i).is_some_and(|&c| is_ws(c));
            while self.b.get(i).is_some_and(|&c| is_ws(c)) {
                i += 1;
            }
            match self.b.get(i) {
                None => return err(i, "XML: unterminated start tag"),
                Some(b'>') => {
                    self.stack.push((name_start, name_end));
                    return Ok(i + 1);
                }
                Some(b'/') => {
                    return if self.b.get(i + 1) == Some(&b'>') {
                        Ok(i + 2)
                    } else {
                        err(i, "XML: malformed empty-element tag")
                    };
                }
                Some(_) if !had_ws => return err(i, "XML: whitespace required before attribute"),
                Some(_) => i = self.attribute(i)?,
            }
        }
    }

    /// One `name="value"` at `pos`; returns the offset after it.
    fn attribute(&mut self, pos: usize) -> R<usize> {
        let mut i = pos;
        while self
            .b
            .get(i)
            .is_some_and(|&c| !is_ws(c) && !matches!(c, b'=' | b'/' | b'>' | b'<' | b'"' | b'\''))
        {
            i += 1;
        }
        if i == pos {
            return err(pos, "XML: invalid attribute name");
        }
        let name = self.b.get(pos..i).unwrap_or_default();
        let is_ns = name == b"xmlns" || name.starts_with(b"xmlns:");
        while self.b.get(i).is_some_and(|&c| is_ws(c)) {
            i += 1;
        }
        if self.b.get(i) != Some(&b'=') {
            return err(i, "XML: '=' expected after attribute name");
        }
        i += 1;
        while self.b.get(i).is_some_and(|&c| is_ws(c)) {
            i += 1;
        }
        let q = match self.b.get(i) {
            Some(&q @ (b'"' | b'\'')) => q,
            _ => return err(i, "XML: quoted attribute value expected"),
        };
        let start = i + 1;
        let end = find_from(self.b, start, &[q])
            .ok_or(ParseError::new(i, "XML: unterminated attribute value"))?;
        let raw = self.b.get(start..end).unwrap_or_default();
        if let Some(lt) = raw.iter().position(|&c| c == b'<') {
            return err(start + lt, "XML: '<' in attribute value");
        }
        self.attrs += 1;
        if self.attrs > self.limits.max_attributes {
            return err(pos, "XML: too many attributes");
        }
        let value = self.decode(raw, start, true)?;
        if !is_ns {
            self.doc.attr_values.push(value);
        }
        Ok(end + 1)
    }

    /// Decodes entity and character references and normalizes line ends (and, for
    /// attributes, whitespace). `at` is the offset of `raw` in the body.
    fn decode(&mut self, raw: &[u8], at: usize, attr: bool) -> R<Vec<u8>> {
        let mut out = Vec::with_capacity(raw.len());
        let mut i = 0;
        while let Some(&c) = raw.get(i) {
            match c {
                b'&' => {
                    let semi = raw
                        .get(i + 1..)
                        .and_then(|r| r.iter().position(|&c| c == b';'))
                        .map(|s| s + i + 1);
                    let Some(semi) = semi else {
                        return err(at + i, "XML: unterminated entity reference");
                    };
                    let name = raw.get(i + 1..semi).unwrap_or_default();
                    match name {
                        b"lt" => out.push(b'<'),
                        b"gt" => out.push(b'>'),
                        b"amp" => out.push(b'&'),
                        b"apos" => out.push(b'\''),
                        b"quot" => out.push(b'"'),
                        [b'#', num @ ..] => {
                            let cp = char_ref(num).ok_or(ParseError::new(
                                at + i,
                                "XML: invalid character reference",
                            ))?;
                            super::json::push_utf8(&mut out, cp);
                        }
                        _ => {
                            if name.is_empty()
                                || name.iter().any(|&c| is_ws(c) || c == b'&' || c == b'<')
                            {
                                return err(at + i, "XML: malformed entity reference");
                            }
                            if !self.doctype {
                                self.soft_error(at + i, "XML: entity not defined");
                            }
                            out.extend_from_slice(raw.get(i..=semi).unwrap_or_default());
                        }
                    }
                    i = semi + 1;
                    continue;
                }
                b'\r' => {
                    if raw.get(i + 1) == Some(&b'\n') {
                        i += 1;
                    }
                    out.push(if attr { b' ' } else { b'\n' });
                }
                b'\n' | b'\t' if attr => out.push(b' '),
                _ => out.push(c),
            }
            i += 1;
        }
        Ok(out)
    }
}

/// `\r\n` and lone `\r` -> `\n`.
fn normalize_line_ends(raw: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(&c) = raw.get(i) {
        if c == b'\r' {
            if raw.get(i + 1) == Some(&b'\n') {
                i += 1;
            }
            out.push(b'\n');
        } else {
            out.push(c);
        }
        i += 1;
    }
}

/// The code point of a character reference body (`65`, `x41`), if it is a legal XML Char.
fn char_ref(num: &[u8]) -> Option<u32> {
    let (digits, radix) = match num {
        [b'x', rest @ ..] => (rest, 16),
        _ => (num, 10),
    };
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let s = core::str::from_utf8(digits).ok()?;
    if !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let cp = u32::from_str_radix(s, radix).ok()?;
    let legal =
        matches!(cp, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF);
    legal.then_some(cp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> XmlDoc {
        parse_xml(s.as_bytes(), &XmlLimits::default())
    }

    fn strs(v: &[Vec<u8>]) -> Vec<String> {
        v.iter()
            .map(|t| String::from_utf8_lossy(t).into_owned())
            .collect()
    }

    #[test]
    fn texts_attrs_and_root_string() {
        let d = parse("<?xml version=\"1.0\"?>\n<!-- c --><a x=\"1\" xmlns=\"urn:n\" xmlns:p=\"urn:p\"><b p:y='2'>hi</b> <c/><d>there<!-- no -->you</d></a>\n");
        assert_eq!(d.error, None);
        assert_eq!(strs(&d.texts), vec!["hi", "there", "you"]);
        assert_eq!(strs(&d.attr_values), vec!["1", "2"]);
        assert_eq!(d.root_text, b"hi thereyou");
    }

    #[test]
    fn entities_cdata_and_normalization() {
        let d = parse("<r a=\"x&amp;y&#x3C;\tz&#10;\">&lt;script&gt; &#65;&#x20AC;\r\n<![CDATA[<b>&amp;</b>]]></r>");
        assert_eq!(d.error, None);
        assert_eq!(strs(&d.texts), vec!["<script> A€\n", "<b>&amp;</b>"]);
        assert_eq!(strs(&d.attr_values), vec!["x&y< z\n"]);
    }

    #[test]
    fn doctype_is_skipped_and_entities_not_expanded() {
        let d = parse("<!DOCTYPE r [<!ENTITY xxe SYSTEM \"file:///etc/passwd\"> <!ENTITY a \"]>\">]><r>&xxe;&a;</r>");
        assert_eq!(d.error, None);
        assert_eq!(strs(&d.texts), vec!["&xxe;&a;"]);
        // Without a DOCTYPE an unknown entity is an error, but the text is kept.
        let d = parse("<r>a&foo;b</r>");
        assert_eq!(d.error.map(|e| e.offset), Some(4));
        assert_eq!(strs(&d.texts), vec!["a&foo;b"]);
    }

    #[test]
    fn malformed_keeps_prefix() {
        let d = parse("<a><b>one</b><c>two</a>");
        assert_eq!(d.error.map(|e| e.reason), Some("XML: mismatched end tag"));
        assert_eq!(strs(&d.texts), vec!["one", "two"]);
        for bad in [
            "",
            "   ",
            "text",
            "<a>",
            "<a></b>",
            "<a/><b/>",
            "<a/>x",
            "<a x=1/>",
            "<a x=\"1\"y=\"2\"/>",
            "<a x=\"<\"/>",
            "<a><!-- x</a>",
            "<a><![CDATA[x</a>",
            "<a>&#0;</a>",
            "<a>&#xD800;</a>",
            "<a>& b</a>",
            "<1a/>",
            "<a>&;</a>",
            "</a>",
            "<a><?pi</a>",
            "<!DOCTYPE a",
            "<a/><!DOCTYPE a>",
            "<![CDATA[x]]><a/>",
        ] {
            assert!(parse(bad).error.is_some(), "{bad:?}");
        }
    }

    #[test]
    fn limits() {
        let l = XmlLimits {
            max_depth: 2,
            ..XmlLimits::default()
        };
        assert!(parse_xml(b"<a><b/></a>", &l).error.is_none());
        assert!(parse_xml(b"<a><b><c/></b></a>", &l).error.is_some());
        let l = XmlLimits {
            max_elements: 2,
            ..XmlLimits::default()
        };
        let d = parse_xml(b"<a><b>1</b><c>2</c></a>", &l);
        assert_eq!(d.error.map(|e| e.reason), Some("XML: too many elements"));
        assert_eq!(strs(&d.texts), vec!["1"]);
        let l = XmlLimits {
            max_attributes: 1,
            ..XmlLimits::default()
        };
        assert!(parse_xml(b"<a x='1' y='2'/>", &l).error.is_some());
    }

    #[test]
    fn bom_and_whitespace_outside_root() {
        let d = parse_xml(b"\xEF\xBB\xBF \n<a>v</a>\n ", &XmlLimits::default());
        assert_eq!(d.error, None);
        assert_eq!(d.root_text, b"v");
    }
}
