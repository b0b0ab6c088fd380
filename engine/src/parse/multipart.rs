//! `multipart/form-data` bodies, modelled on libmodsecurity v3's
//! `src/request_body_processor/multipart.cc` (behaviour re-implemented, not ported).
//!
//! # What is produced
//! - [`Multipart::args`]: non-file parts, field name -> content (ARGS / ARGS_POST);
//! - [`Multipart::files`]: file parts (FILES, FILES_NAMES, FILES_SIZES); the content itself
//!   is not kept;
//! - [`Multipart::part_headers`]: MULTIPART_PART_HEADERS, keyed by the part's field name;
//!   each value is one header line as written, without its line terminator
//!   (`Content-Disposition: form-data; name="a"`); a folded header is one value
//!   `Name: first-line continued` (v3 joins continuation lines with one space).
//!
//! # Line handling (as v3)
//! The body is processed line by line; CRLF and bare LF are both accepted (bare LF sets
//! [`MultipartFlags::lf_line`], which v3 counts as a strict error). A line is a boundary
//! when it starts with `--<boundary>` followed by the end of line (or `--` and end of
//! line for the final boundary; a final boundary without line end at the very end of the
//! body is accepted). The line terminator just before a boundary belongs to the boundary,
//! not to the part content. Anything else after `--<boundary>` on the line is a fatal
//! "invalid boundary" error. Lines before the first boundary are ignored
//! (`data_before`), lines after the final boundary too (`data_after`).
//!
//! # Errors
//! `error` holds the first problem found. Where v3 stops processing (malformed
//! Content-Type, invalid boundary line, header line too long) we stop too; where v3
//! records an error and carries on (bad part headers, bad Content-Disposition) we carry
//! on. Deliberate departures from v3, to expose more to the rules:
//! - on a fatal error or a missing final boundary v3 adds **no** ARGS/FILES at all; we keep
//!   every part parsed so far, including the unterminated last one;
//! - a duplicate part header is an error here (v3 silently ignores the second one);
//! - `strict_error` is v3's MULTIPART_STRICT_ERROR ORed with `error.is_some()` (so a
//!   missing final boundary also raises it).

use super::{Pair, ParseError};

/// Limits for [`parse_multipart`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MultipartLimits {
    /// Maximum number of parts (args + files) kept; more sets `file_limit_exceeded` and an
    /// error.
    pub max_parts: usize,
    /// Maximum length of one part header line (v3: `MULTIPART_BUF_SIZE`, 4096); longer is
    /// fatal.
    pub max_header_line: usize,
    /// Maximum number of headers in one part; later ones are dropped with an error.
    pub max_headers_per_part: usize,
}

impl Default for MultipartLimits {
    fn default() -> Self {
        Self {
            max_parts: 4096,
            max_header_line: 4096,
            max_headers_per_part: 64,
        }
    }
}

/// The individual MULTIPART_* flags v3 exposes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MultipartFlags {
    /// MULTIPART_BOUNDARY_QUOTED: the boundary parameter was quoted.
    pub boundary_quoted: bool,
    /// MULTIPART_BOUNDARY_WHITESPACE: whitespace around `=` of the boundary parameter.
    pub boundary_whitespace: bool,
    /// MULTIPART_MISSING_SEMICOLON: no `;` before the boundary parameter.
    pub missing_semicolon: bool,
    /// MULTIPART_DATA_BEFORE: data before the first boundary.
    pub data_before: bool,
    /// MULTIPART_DATA_AFTER: data after the final boundary.
    pub data_after: bool,
    /// MULTIPART_HEADER_FOLDING: a folded part header.
    pub header_folding: bool,
    /// MULTIPART_INVALID_HEADER_FOLDING: folding with whitespace other than SP/HTAB.
    pub invalid_header_folding: bool,
    /// MULTIPART_LF_LINE: a bare-LF line ending.
    pub lf_line: bool,
    /// A CRLF line ending was seen (MULTIPART_CRLF_LF_LINES = `crlf_line && lf_line`).
    pub crlf_line: bool,
    /// MULTIPART_INVALID_QUOTING: single quotes in Content-Disposition.
    pub invalid_quoting: bool,
    /// MULTIPART_INVALID_PART: a part without a name, or a boundary where data was due.
    pub invalid_part: bool,
    /// MULTIPART_UNMATCHED_BOUNDARY: something that looks like a boundary but is not ours.
    pub unmatched_boundary: bool,
    /// MULTIPART_FILE_LIMIT_EXCEEDED (here: `max_parts` reached).
    pub file_limit_exceeded: bool,
}

/// One file part.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilePart {
    /// The `name` of the Content-Disposition.
    pub field_name: Vec<u8>,
    /// The `filename` of the Content-Disposition, as written (unescaped quotes).
    pub filename: Vec<u8>,
    /// Content length in bytes.
    pub size: usize,
    /// The part's Content-Type header value, if any.
    pub content_type: Option<Vec<u8>>,
}

/// The result of [`parse_multipart`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Multipart {
    /// Non-file parts: field name -> content.
    pub args: Vec<Pair>,
    /// File parts.
    pub files: Vec<FilePart>,
    /// MULTIPART_PART_HEADERS: field name -> `Header-Name: value` line.
    pub part_headers: Vec<Pair>,
    /// The first error found (REQBODY_ERROR).
    pub error: Option<ParseError>,
    /// MULTIPART_STRICT_ERROR (see the module docs).
    pub strict_error: bool,
    /// The individual flags.
    pub flags: MultipartFlags,
}

/// Parses a multipart body given the request's Content-Type header value. Never panics.
pub fn parse_multipart(content_type: &[u8], body: &[u8], limits: &MultipartLimits) -> Multipart {
    let mut p = Parser {
        out: Multipart::default(),
        limits,
        part: None,
        complete: false,
        boundaries: 0,
        parts: 0,
    };
    match parse_boundary(content_type, &mut p.out.flags) {
        Ok(boundary) => p.run(&boundary, body),
        Err(e) => p.out.error = Some(e),
    }
    let f = &p.out.flags;
    p.out.strict_error = p.out.error.is_some()
        || f.boundary_quoted
        || f.boundary_whitespace
        || f.data_before
        || f.data_after
        || f.header_folding
        || f.lf_line
        || f.missing_semicolon
        || f.invalid_quoting
        || f.invalid_part
        || f.invalid_header_folding
        || f.file_limit_exceeded;
    p.out
}

fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// v3's `count_boundary_params`: case-insensitive `boundary` occurrences with a `=`
/// somewhere after them.
fn count_boundary_params(s: &[u8]) -> usize {
    let lower = s.to_ascii_lowercase();
    let mut count = 0;
    let mut rest = &lower[..];
    while let Some(i) = find(rest, b"boundary") {
        rest = rest.get(i + 8..).unwrap_or_default();
        if rest.contains(&b'=') {
            count += 1;
        }
    }
    count
}

fn boundary_chars_valid(b: &[u8]) -> bool {
    b.iter().enumerate().all(|(i, &c)| {
        c.is_ascii_alphanumeric()
            || (c == b' ' && i + 1 < b.len())
            || matches!(
                c,
                b'\'' | b'(' | b')' | b'+' | b'_' | b',' | b'-' | b'.' | b'/' | b':' | b'=' | b'?'
            )
    })
}

/// Extracts the boundary from the Content-Type value as v3's `Multipart::init`.
fn parse_boundary(ct: &[u8], flags: &mut MultipartFlags) -> Result<Vec<u8>, ParseError> {
    let e = |o, r| Err(ParseError::new(o, r));
    if ct.is_empty() {
        return e(0, "multipart: Content-Type header not available");
    }
    if ct.len() > 1024 {
        return e(1024, "multipart: invalid boundary in C-T (length)");
    }
    if !ct
        .get(..19)
        .is_some_and(|m| m.eq_ignore_ascii_case(b"multipart/form-data"))
    {
        return e(0, "multipart: invalid MIME type");
    }
    if count_boundary_params(ct) > 1 {
        return e(0, "multipart: multiple boundary parameters in C-T");
    }
    let Some(bpos) = find(ct, b"boundary") else {
        return if count_boundary_params(ct) > 0 {
            e(0, "multipart: invalid boundary in C-T (case sensitivity)")
        } else {
            e(0, "multipart: boundary not found in C-T")
        };
    };
    let mut seen_semicolon = false;
    for (i, &c) in ct.iter().enumerate().take(bpos).skip(19) {
        if !is_c_space(c) {
            if !seen_semicolon && c == b';' {
                seen_semicolon = true;
            } else {
                return e(i, "multipart: invalid boundary in C-T (malformed)");
            }
        }
    }
    flags.missing_semicolon |= !seen_semicolon;
    let after_name = bpos + 8;
    let Some(eq) = ct
        .get(after_name..)
        .and_then(|r| r.iter().position(|&c| c == b'='))
        .map(|i| i + after_name)
    else {
        return e(after_name, "multipart: invalid boundary in C-T (malformed)");
    };
    for (i, &c) in ct.iter().enumerate().take(eq).skip(after_name) {
        if is_c_space(c) {
            flags.boundary_whitespace = true;
        } else {
            return e(i, "multipart: invalid boundary in C-T (parameter name)");
        }
    }
    let v = ct.get(eq + 1..).unwrap_or_default();
    if v.first().is_some_and(|&c| is_c_space(c)) {
        flags.boundary_whitespace = true;
    }
    let mut boundary = match v {
        [b'"', inner @ .., b'"'] => {
            flags.boundary_quoted = true;
            inner.to_vec()
        }
        [b'"', ..] | [_, .., b'"'] => {
            return e(eq + 1, "multipart: invalid boundary in C-T (quote)")
        }
        _ => v.to_vec(),
    };
    if boundary.is_empty() {
        return e(eq + 1, "multipart: invalid boundary in C-T (empty)");
    }
    if count_boundary_params(&boundary) != 0 {
        return e(eq + 1, "multipart: invalid boundary in C-T (content)");
    }
    // Tolerated: a parameter after an unquoted boundary (`boundary=x; charset=...`).
    if !boundary_chars_valid(&boundary) {
        if let Some(semi) = boundary.iter().position(|&c| c == b';') {
            boundary.truncate(semi);
        }
    }
    if boundary.is_empty() || !boundary_chars_valid(&boundary) {
        return e(eq + 1, "multipart: invalid boundary in C-T (characters)");
    }
    Ok(boundary)
}

#[derive(Default)]
struct Part {
    name: Vec<u8>,
    filename: Vec<u8>,
    is_file: bool,
    headers: Vec<Pair>,
    header_lines: Vec<Vec<u8>>,
    last_header_line: Vec<u8>,
    last_header: Option<usize>,
    in_data: bool,
    data_read: bool,
    data: Vec<u8>,
    size: usize,
    last_eol: usize,
}

impl Part {
    fn header(&self, name: &[u8]) -> Option<&Vec<u8>> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

struct Parser<'a> {
    out: Multipart,
    limits: &'a MultipartLimits,
    part: Option<Part>,
    complete: bool,
    boundaries: usize,
    parts: usize,
}

/// Stop processing (v3's `process()` returning false).
struct Fatal;

impl Parser<'_> {
    fn fail(&mut self, offset: usize, reason: &'static str) {
        if self.out.error.is_none() {
            self.out.error = Some(ParseError::new(offset, reason));
        }
    }

    fn run(&mut self, boundary: &[u8], body: &[u8]) {
        let mut dash_boundary = b"--".to_vec();
        dash_boundary.extend_from_slice(boundary);
        let mut final_line = dash_boundary.clone();
        final_line.extend_from_slice(b"--");
        let mut pos = 0usize;
        let mut prev_lf_only = false;
        while pos < body.len() {
            let rest = body.get(pos..).unwrap_or_default();
            let end = rest
                .iter()
                .position(|&c| c == b'\n')
                .map_or(rest.len(), |i| i + 1);
            let line = rest.get(..end).unwrap_or_default();
            if self.complete {
                self.out.flags.data_after = true;
                return;
            }
            if line.last() != Some(&b'\n') {
                // Unterminated last line: v3 only accepts an exact final boundary here.
                if line == final_line.as_slice() && self.boundaries > 0 {
                    self.out.flags.lf_line |= prev_lf_only;
                    if self.part.as_ref().is_some_and(|p| !p.data_read) {
                        self.out.flags.invalid_part = true;
                    }
                    self.finish_part();
                    self.complete = true;
                } else if self.part.as_ref().is_some_and(|p| p.in_data) {
                    // Kept for inspection (v3 drops it); the final boundary is missing.
                    self.data_line(line);
                }
                break;
            }
            if self
                .line(pos, line, boundary, &dash_boundary, prev_lf_only)
                .is_err()
            {
                return;
            }
            prev_lf_only = !line.ends_with(b"\r\n");
            pos += end;
        }
        if !self.complete {
            if self.boundaries == 0 {
                self.fail(body.len(), "multipart: no boundaries found in payload");
            } else {
                self.fail(body.len(), "multipart: final boundary missing");
                self.finish_part();
            }
        }
    }

    /// One complete line (ending in `\n`) at offset `pos`.
    fn line(
        &mut self,
        pos: usize,
        line: &[u8],
        boundary: &[u8],
        dash: &[u8],
        prev_lf_only: bool,
    ) -> Result<(), Fatal> {
        if line.len() > 3 && line.starts_with(b"--") {
            if line.starts_with(dash) {
                self.out.flags.lf_line |= prev_lf_only;
                if self.boundaries > 0 && self.part.as_ref().is_some_and(|p| !p.data_read) {
                    // A boundary where part data should begin: v3 treats it as data.
                    self.out.flags.invalid_part = true;
                } else {
                    let mut rest = line.get(dash.len()..).unwrap_or_default();
                    let is_final = rest.starts_with(b"--");
                    if is_final {
                        rest = rest.get(2..).unwrap_or_default();
                    }
                    match rest {
                        b"\r\n" => self.out.flags.crlf_line = true,
                        b"\n" => self.out.flags.lf_line = true,
                        _ => {
                            self.fail(pos, "multipart: invalid boundary");
                            return Err(Fatal);
                        }
                    }
                    self.finish_part();
                    if is_final {
                        self.complete = true;
                    } else {
                        self.part = Some(Part::default());
                    }
                    self.boundaries += 1;
                    return Ok(());
                }
            } else {
                let after = line.get(2..).unwrap_or_default();
                if self.out.flags.boundary_quoted
                    && after.first() == Some(&b'"')
                    && after.get(1..).is_some_and(|a| a.starts_with(boundary))
                {
                    self.fail(pos, "multipart: invalid boundary (quotes)");
                    return Err(Fatal);
                }
                let ws = after.iter().take_while(|&&c| is_c_space(c)).count();
                if ws > 0 && after.get(ws..).is_some_and(|a| a.starts_with(boundary)) {
                    self.fail(pos, "multipart: invalid boundary (whitespace)");
                    return Err(Fatal);
                }
                self.out.flags.unmatched_boundary = true;
            }
        } else if find(line, dash).is_some() {
            self.out.flags.unmatched_boundary = true;
        }
        match self.part.as_ref().map(|p| p.in_data) {
            None => self.out.flags.data_before = true,
            Some(true) => self.data_line(line),
            Some(false) => {
                if line.len() > self.limits.max_header_line {
                    self.fail(pos, "multipart: part header line too long");
                    return Err(Fatal);
                }
                self.header_line(pos, line);
            }
        }
        Ok(())
    }

    fn data_line(&mut self, line: &[u8]) {
        let Some(part) = self.part.as_mut() else {
            return;
        };
        part.data_read = true;
        part.size = part.size.saturating_add(line.len());
        part.last_eol = if line.ends_with(b"\r\n") {
            2
        } else {
            usize::from(line.ends_with(b"\n"))
        };
        if !part.is_file {
            part.data.extend_from_slice(line);
        }
    }

    fn header_line(&mut self, pos: usize, line: &[u8]) {
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = match content.strip_suffix(b"\r") {
            Some(c) => {
                self.out.flags.crlf_line = true;
                c
            }
            None => {
                self.out.flags.lf_line = true;
                content
            }
        };
        if line.contains(&0) {
            self.fail(pos, "multipart: NUL byte in part headers");
            return;
        }
        let max_line = self.limits.max_header_line;
        let max_headers = self.limits.max_headers_per_part;
        let Some(part) = self.part.as_mut() else {
            return;
        };
        let mut error: Option<&'static str> = None;
        let mut flags = self.out.flags;
        if content.is_empty() {
            if !part.last_header_line.is_empty() {
                part.header_lines
                    .push(core::mem::take(&mut part.last_header_line));
            }
            match part.header(b"Content-Disposition").cloned() {
                None => error = Some("multipart: part missing Content-Disposition header"),
                Some(cd) => match parse_content_disposition(&cd, &mut flags) {
                    Err(reason) => error = Some(reason),
                    Ok(d) if d.name.is_empty() => {
                        error = Some("multipart: Content-Disposition header missing name field")
                    }
                    Ok(d) => {
                        if !d.filename.is_empty() && find(&cd, b"filename=").is_none() {
                            error =
                                Some("multipart: invalid Content-Disposition header (filename)");
                        } else {
                            part.is_file = !d.filename.is_empty();
                            part.name = d.name;
                            part.filename = d.filename;
                            part.in_data = true;
                            part.data_read = false;
                            part.last_header = None;
                        }
                    }
                },
            }
        } else if content.first().is_some_and(|&c| is_c_space(c)) {
            flags.header_folding = true;
            let ws = content.iter().take_while(|&&c| is_c_space(c)).count();
            if content.iter().take(ws).any(|&c| c != b' ' && c != b'\t') {
                flags.invalid_header_folding = true;
            }
            let data = content.get(ws..).unwrap_or_default();
            let data_len = data
                .iter()
                .rposition(|&c| c != b'\r' && c != b'\n')
                .map_or(0, |i| i + 1);
            let data = data.get(..data_len).unwrap_or_default();
            match part.last_header.and_then(|i| part.headers.get_mut(i)) {
                None => error = Some("multipart: invalid part header (folding error)"),
                Some((name, value)) => {
                    if value.len().saturating_add(data.len()) >= max_line {
                        error = Some("multipart: part header too long");
                    } else {
                        value.push(b' ');
                        value.extend_from_slice(data);
                        let mut l = name.clone();
                        l.extend_from_slice(b": ");
                        l.extend_from_slice(value);
                        part.last_header_line = l;
                    }
                }
            }
        } else {
            if !part.last_header_line.is_empty() {
                part.header_lines
                    .push(core::mem::take(&mut part.last_header_line));
            }
            match content.iter().position(|&c| c == b':') {
                None => error = Some("multipart: invalid part header (colon missing)"),
                Some(0) => error = Some("multipart: invalid part header (header name missing)"),
                Some(colon) => {
                    let name = content.get(..colon).unwrap_or_default();
                    let value = content.get(colon + 1..).unwrap_or_default();
                    let ws = value
                        .iter()
                        .take_while(|&&c| c == b' ' || c == b'\t')
                        .count();
                    let value = value.get(ws..).unwrap_or_default();
                    if name.iter().any(|&c| !(33..=126).contains(&c)) {
                        error = Some("multipart: invalid part header (contains invalid character)");
                    } else if part.header(name).is_some() {
                        error = Some("multipart: duplicate part header");
                    } else if part.headers.len() >= max_headers {
                        error = Some("multipart: too many part headers");
                    } else {
                        part.headers.push((name.to_vec(), value.to_vec()));
                        part.last_header = Some(part.headers.len() - 1);
                        part.last_header_line = content.to_vec();
                    }
                }
            }
        }
        self.out.flags = flags;
        if let Some(reason) = error {
            self.fail(pos, reason);
        }
    }

    /// v3's `process_boundary`: closes the current part, if any.
    fn finish_part(&mut self) {
        let Some(mut part) = self.part.take() else {
            return;
        };
        for line in part.header_lines.drain(..) {
            self.out.part_headers.push((part.name.clone(), line));
        }
        if part.name.is_empty() {
            self.out.flags.invalid_part = true;
            return;
        }
        if self.parts >= self.limits.max_parts {
            self.out.flags.file_limit_exceeded = true;
            self.fail(0, "multipart: too many parts");
            return;
        }
        self.parts += 1;
        let size = part.size.saturating_sub(part.last_eol);
        if part.is_file {
            let content_type = part.header(b"Content-Type").cloned();
            self.out.files.push(FilePart {
                field_name: part.name,
                filename: part.filename,
                size,
                content_type,
            });
        } else {
            part.data.truncate(size);
            self.out.args.push((part.name, part.data));
        }
    }
}

#[derive(Default)]
struct Disposition {
    name: Vec<u8>,
    filename: Vec<u8>,
}

fn is_token_char(c: u8) -> bool {
    c > 32 && c < 127 && !b"()<>@,;:\\\"/[]?=".contains(&c)
}

/// v3's `parse_content_disposition`: `form-data` then `; param=value` pairs where param is
/// `name`, `filename` or `filename*`; anything else is an error.
fn parse_content_disposition(
    cd: &[u8],
    flags: &mut MultipartFlags,
) -> Result<Disposition, &'static str> {
    const BAD: &str = "multipart: invalid Content-Disposition header";
    let mut d = Disposition::default();
    let mut filename_star: Option<Vec<u8>> = None;
    let Some(mut p) = cd.strip_prefix(b"form-data") else {
        return Err(BAD);
    };
    let skip_ws =
        |s: &[u8]| -> usize { s.iter().take_while(|&&c| c == b' ' || c == b'\t').count() };
    p = p.get(skip_ws(p)..).unwrap_or_default();
    if p.is_empty() {
        return Ok(d);
    }
    p = p.strip_prefix(b";").ok_or(BAD)?;
    while !p.is_empty() {
        p = p.get(skip_ws(p)..).unwrap_or_default();
        let n = p
            .iter()
            .take_while(|&&c| c != b'=' && c != b' ' && c != b'\t')
            .count();
        let name = p.get(..n).unwrap_or_default();
        p = p.get(n..).unwrap_or_default();
        p = p.get(skip_ws(p)..).unwrap_or_default();
        p = p.strip_prefix(b"=").ok_or(BAD)?;
        p = p.get(skip_ws(p)..).unwrap_or_default();
        if p.is_empty() {
            return Err(BAD);
        }
        let mut quote = 0u8;
        let value: Vec<u8>;
        if name == b"filename*" {
            // charset'[language]'percent-encoded-name
            let cs = p
                .iter()
                .take_while(|&&c| c.is_ascii_alphanumeric() || b"!#$%&+-^_`{}~".contains(&c))
                .count();
            if cs == 0 || p.get(cs) != Some(&b'\'') {
                return Err(BAD);
            }
            p = p.get(cs + 1..).unwrap_or_default();
            let lang = p.iter().position(|&c| c == b'\'').ok_or(BAD)?;
            p = p.get(lang + 1..).unwrap_or_default();
            let mut i = 0;
            while let Some(&c) = p.get(i) {
                if c == b';' {
                    break;
                } else if c == b'%' {
                    if !(p.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                        && p.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
                    {
                        return Err(BAD);
                    }
                    i += 3;
                } else if c.is_ascii_alphanumeric() || b"!#$&+-.^_`~".contains(&c) {
                    i += 1;
                } else {
                    return Err(BAD);
                }
            }
            value = p.get(..i).unwrap_or_default().to_vec();
            p = p.get(i..).unwrap_or_default();
        } else if let Some(&q @ (b'"' | b'\'')) = p.first() {
            quote = q;
            if q == b'\'' {
                flags.invalid_quoting = true;
            }
            p = p.get(1..).unwrap_or_default();
            let mut v = Vec::new();
            loop {
                match p {
                    [] => return Err(BAD),
                    [b'\\'] => return Err(BAD),
                    [b'\\', c, rest @ ..] if *c == q || *c == b'\\' => {
                        v.push(*c);
                        p = rest;
                    }
                    [c, rest @ ..] if *c == q => {
                        p = rest;
                        break;
                    }
                    [c, rest @ ..] => {
                        v.push(*c);
                        p = rest;
                    }
                }
            }
            value = v;
        } else {
            let n = p.iter().take_while(|&&c| is_token_char(c)).count();
            value = p.get(..n).unwrap_or_default().to_vec();
            p = p.get(n..).unwrap_or_default();
        }
        match name {
            b"name" | b"filename" => {
                if quote != b'"' && value.contains(&b'\'') {
                    flags.invalid_quoting = true;
                }
                let slot = if name == b"name" {
                    &mut d.name
                } else {
                    &mut d.filename
                };
                if !slot.is_empty() {
                    return Err("multipart: duplicate Content-Disposition parameter");
                }
                *slot = value;
            }
            b"filename*" => {
                if filename_star.is_some() {
                    return Err("multipart: duplicate Content-Disposition parameter");
                }
                filename_star = Some(value);
            }
            _ => return Err(BAD),
        }
        if !p.is_empty() {
            p = p.get(skip_ws(p)..).unwrap_or_default();
            if !p.is_empty() {
                if p.first() != Some(&b';') {
                    return Err(BAD);
                }
                p = p.get(1..).unwrap_or_default();
                if p.iter().all(|&c| c == b' ' || c == b'\t') {
                    return Err(BAD);
                }
            }
        }
    }
    if filename_star.is_some_and(|f| !f.is_empty()) && d.filename.is_empty() {
        return Err("multipart: filename* without filename in Content-Disposition");
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CT: &[u8] = b"multipart/form-data; boundary=XyZ";

    fn p(k: &str, v: &str) -> Pair {
        (k.as_bytes().to_vec(), v.as_bytes().to_vec())
    }

    fn parse(ct: &[u8], body: &str) -> Multipart {
        parse_multipart(ct, body.as_bytes(), &MultipartLimits::default())
    }

    const BODY: &str = "--XyZ\r\n\
        Content-Disposition: form-data; name=\"a\"\r\n\
        \r\n\
        hello\r\nworld\r\n\
        --XyZ\r\n\
        Content-Disposition: form-data; name=\"up\"; filename=\"x.php\"\r\n\
        Content-Type: application/x-php\r\n\
        \r\n\
        <?php echo 1; ?>\r\n\
        --XyZ\r\n\
        Content-Disposition: form-data; name=\"empty\"\r\n\
        \r\n\
        \r\n\
        --XyZ--\r\n";

    #[test]
    fn well_formed_crlf() {
        let m = parse(CT, BODY);
        assert_eq!(m.error, None);
        assert!(!m.strict_error, "{:?}", m.flags);
        assert_eq!(m.args, vec![p("a", "hello\r\nworld"), p("empty", "")]);
        assert_eq!(
            m.files,
            vec![FilePart {
                field_name: b"up".to_vec(),
                filename: b"x.php".to_vec(),
                size: 16,
                content_type: Some(b"application/x-php".to_vec()),
            }]
        );
        assert_eq!(
            m.part_headers,
            vec![
                p("a", "Content-Disposition: form-data; name=\"a\""),
                p(
                    "up",
                    "Content-Disposition: form-data; name=\"up\"; filename=\"x.php\""
                ),
                p("up", "Content-Type: application/x-php"),
                p("empty", "Content-Disposition: form-data; name=\"empty\""),
            ]
        );
    }

    #[test]
    fn bare_lf_parses_but_is_strict() {
        let m = parse(CT, &BODY.replace("\r\n", "\n"));
        assert_eq!(m.error, None);
        assert_eq!(m.args, vec![p("a", "hello\nworld"), p("empty", "")]);
        assert!(m.flags.lf_line && m.strict_error);
    }

    #[test]
    fn boundary_parameter_forms() {
        for ct in [
            &b"multipart/form-data; boundary=\"XyZ\""[..],
            b"Multipart/Form-Data;boundary=XyZ",
            b"multipart/form-data; boundary=XyZ; charset=utf-8",
        ] {
            let m = parse(ct, BODY);
            assert_eq!(m.error, None, "{}", String::from_utf8_lossy(ct));
            assert_eq!(m.args.len(), 2);
        }
        assert!(
            parse(b"multipart/form-data; boundary=\"XyZ\"", BODY)
                .flags
                .boundary_quoted
        );
        assert!(
            parse(b"multipart/form-data boundary=XyZ", BODY)
                .flags
                .missing_semicolon
        );
        assert!(
            parse(b"multipart/form-data; boundary =XyZ", BODY)
                .flags
                .boundary_whitespace
        );
        for bad in [
            &b""[..],
            b"text/plain; boundary=XyZ",
            b"multipart/form-data",
            b"multipart/form-data; BOUNDARY=XyZ",
            b"multipart/form-data; boundary=a; boundary=b",
            b"multipart/form-data; boundary=\"XyZ",
            b"multipart/form-data; boundary=",
            b"multipart/form-data; boundary=a{b",
            b"multipart/form-data; x; y; boundary=a",
        ] {
            let m = parse(bad, BODY);
            assert!(
                m.error.is_some() && m.strict_error,
                "{}",
                String::from_utf8_lossy(bad)
            );
            assert!(m.args.is_empty());
        }
    }

    #[test]
    fn missing_final_boundary_keeps_parts() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XyZ\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\n2 and more";
        let m = parse(CT, body);
        assert_eq!(
            m.error.map(|e| e.reason),
            Some("multipart: final boundary missing")
        );
        assert!(m.strict_error);
        assert_eq!(m.args, vec![p("a", "1"), p("b", "2 and more")]);
        let m = parse(CT, "just text\r\n");
        assert_eq!(
            m.error.map(|e| e.reason),
            Some("multipart: no boundaries found in payload")
        );
        assert!(m.flags.data_before);
    }

    #[test]
    fn final_boundary_without_newline_and_data_around() {
        let body =
            "preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--XyZ--";
        let m = parse(CT, body);
        assert_eq!(m.error, None);
        assert_eq!(m.args, vec![p("a", "v")]);
        assert!(m.flags.data_before && m.strict_error);
        let m = parse(CT, &BODY.replace("--XyZ--\r\n", "--XyZ--\r\nepilogue"));
        assert!(m.flags.data_after && m.error.is_none());
    }

    #[test]
    fn content_disposition_variants() {
        let cd = |v: &str| {
            let mut f = MultipartFlags::default();
            let r = parse_content_disposition(v.as_bytes(), &mut f);
            (
                r.map(|d| {
                    (
                        String::from_utf8_lossy(&d.name).into_owned(),
                        String::from_utf8_lossy(&d.filename).into_owned(),
                    )
                }),
                f,
            )
        };
        assert_eq!(
            cd(r#"form-data; name="a\"b\\c"; filename="f.txt""#).0,
            Ok(("a\"b\\c".into(), "f.txt".into()))
        );
        assert_eq!(
            cd("form-data; name=plain").0,
            Ok(("plain".into(), String::new()))
        );
        assert_eq!(
            cd("form-data;name=\"x\";filename=\"a b\";filename*=UTF-8''a%20b").0,
            Ok(("x".into(), "a b".into()))
        );
        let (r, f) = cd("form-data; name='q'");
        assert_eq!(r, Ok(("q".into(), String::new())));
        assert!(f.invalid_quoting);
        for bad in [
            "attachment; name=a",
            "form-data; name=\"a\"; foo=b",
            "form-data; name=\"a\"; name=\"b\"",
            "form-data; name=\"a",
            "form-data; name=\"a\";",
            "form-data; name=\"a\" x",
            "form-data; name=\"a\"; filename*=UTF-8''x",
            "form-data; name=\"a\"; filename=\"f\"; filename*=UTF-8''%zz",
            "form-data x",
        ] {
            assert!(cd(bad).0.is_err(), "{bad}");
        }
    }

    #[test]
    fn header_folding_and_errors() {
        let body = "--XyZ\r\nContent-Disposition: form-data;\r\n name=\"a\"\r\nX-A: 1\r\n\r\nv\r\n--XyZ--\r\n";
        let m = parse(CT, body);
        assert_eq!(m.error, None);
        assert!(m.flags.header_folding && m.strict_error);
        assert_eq!(m.args, vec![p("a", "v")]);
        assert_eq!(
            m.part_headers,
            vec![
                p("a", "Content-Disposition: form-data; name=\"a\""),
                p("a", "X-A: 1")
            ]
        );
        // Missing Content-Disposition: error, and the part is dropped as invalid.
        let m = parse(CT, "--XyZ\r\nX-A: 1\r\n\r\nv\r\n--XyZ--\r\n");
        assert!(m.error.is_some() && m.flags.invalid_part && m.args.is_empty());
        // Duplicate header.
        let m = parse(CT, "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\nv\r\n--XyZ--\r\n");
        assert_eq!(
            m.error.map(|e| e.reason),
            Some("multipart: duplicate part header")
        );
        assert_eq!(m.args, vec![p("a", "v")]);
    }

    #[test]
    fn odd_boundaries() {
        // Trailing garbage on a boundary line is fatal.
        let m = parse(
            CT,
            "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--XyZ junk\r\n",
        );
        assert_eq!(
            m.error.map(|e| e.reason),
            Some("multipart: invalid boundary")
        );
        assert_eq!(m.args, vec![]);
        // A foreign boundary inside data is flagged, not split on.
        let m = parse(CT, "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n--Other\r\nx --XyZ\r\n--XyZ--\r\n");
        assert_eq!(m.error, None);
        assert!(m.flags.unmatched_boundary);
        assert_eq!(m.args, vec![p("a", "--Other\r\nx --XyZ")]);
        // Whitespace before the boundary.
        let m = parse(CT, "-- XyZ\r\n");
        assert_eq!(
            m.error.map(|e| e.reason),
            Some("multipart: invalid boundary (whitespace)")
        );
    }

    #[test]
    fn limits() {
        let l = MultipartLimits {
            max_parts: 1,
            ..MultipartLimits::default()
        };
        let m = parse_multipart(CT, BODY.as_bytes(), &l);
        assert_eq!(m.args.len(), 1);
        assert!(m.files.is_empty());
        assert!(m.flags.file_limit_exceeded && m.error.is_some());
        let long = format!("--XyZ\r\nX: {}\r\n", "a".repeat(5000));
        let m = parse(CT, &long);
        assert_eq!(
            m.error.map(|e| e.reason),
            Some("multipart: part header line too long")
        );
    }
}
