//! SecLang (`.conf`) parser: text -> [`Directive`]s with positions.
//!
//! Lexical rules (Apache/libmodsecurity3 compatible for what CRS uses):
//! - a line ending in `\` (after trailing whitespace) continues on the next line; the
//!   backslash is removed and the next line appended as is (its indentation included);
//! - a line whose first non-blank character is `#` is a comment when it starts a
//!   directive (comments do not continue);
//! - arguments are separated by whitespace and may be quoted with `"` or `'`; inside
//!   quotes, `\<quote>` is an escaped quote and every other backslash is kept verbatim
//!   (`\\` is kept as two characters, so regexes survive unchanged);
//! - directive names are case-insensitive; `Include`/`IncludeOptional` take a path
//!   (globs `*` and `?` allowed in any component) relative to the including file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::ast::{
    Action, Directive, DirectiveKind, Error, IdRange, OperatorSpec, SecRule, Span, VarSelector,
    Variable,
};

/// Includes nested deeper than this are an error (include cycles).
const MAX_INCLUDE_DEPTH: usize = 32;

/// Engine settings accepted and kept as [`DirectiveKind::Setting`] (canonical spelling).
const SETTINGS: &[&str] = &[
    "SecRuleEngine",
    "SecRequestBodyAccess",
    "SecRequestBodyLimit",
    "SecRequestBodyNoFilesLimit",
    "SecRequestBodyInMemoryLimit",
    "SecRequestBodyLimitAction",
    "SecRequestBodyJsonDepthLimit",
    "SecResponseBodyAccess",
    "SecResponseBodyMimeType",
    "SecResponseBodyMimeTypesClear",
    "SecResponseBodyLimit",
    "SecResponseBodyLimitAction",
    "SecArgumentSeparator",
    "SecArgumentsLimit",
    "SecCollectionTimeout",
    "SecCookieFormat",
    "SecCookieV0Separator",
    "SecDataDir",
    "SecTmpDir",
    "SecUploadDir",
    "SecUploadKeepFiles",
    "SecUploadFileMode",
    "SecUploadFileLimit",
    "SecTmpSaveUploadedFiles",
    "SecAuditEngine",
    "SecAuditLog",
    "SecAuditLog2",
    "SecAuditLogParts",
    "SecAuditLogType",
    "SecAuditLogFormat",
    "SecAuditLogRelevantStatus",
    "SecAuditLogStorageDir",
    "SecAuditLogDirMode",
    "SecAuditLogFileMode",
    "SecDebugLog",
    "SecDebugLogLevel",
    "SecPcreMatchLimit",
    "SecPcreMatchLimitRecursion",
    "SecStatusEngine",
    "SecUnicodeMapFile",
    "SecUnicodeCodePage",
    "SecServerSignature",
    "SecWebAppId",
    "SecSensorId",
    "SecGeoLookupDb",
    "SecGsbLookupDb",
    "SecHttpBlKey",
    "SecXmlExternalEntity",
    "SecRemoteRules",
    "SecRemoteRulesFailAction",
    "SecContentInjection",
    "SecStreamInBodyInspection",
    "SecStreamOutBodyInspection",
    "SecRuleInheritance",
    "SecRulePerfTime",
    "SecInterceptOnError",
    "SecConnEngine",
    "SecHashEngine",
    "SecHashKey",
    "SecHashParam",
    "SecHashMethodRx",
    "SecHashMethodPm",
    "SecDisableBackendCompression",
    "SecRuleUpdateActionById",
    "SecRuleRemoveByMsg",
    "SecRuleUpdateTargetByMsg",
    "SecRuleScript",
    "SecReadStateLimit",
    "SecWriteStateLimit",
    "SecConnReadStateLimit",
    "SecConnWriteStateLimit",
    "SecChrootDir",
    "SecCacheTransformations",
    "SecGuardianLog",
    "SecMarkerPerf",
];

/// Parses one file (and what it includes).
pub fn parse_file(path: &Path) -> Result<Vec<Directive>, Vec<Error>> {
    parse_files(&[path])
}

/// Parses files in order, as if each were included in turn (e.g. `crs-setup.conf` then
/// `rules/*.conf`). All errors are collected.
pub fn parse_files<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<Directive>, Vec<Error>> {
    let mut p = Parser::default();
    for path in paths {
        p.include_file(path.as_ref(), None, 0);
    }
    p.finish()
}

/// Parses `text` as if read from `file` (used for positions and to resolve `Include`).
pub fn parse_str(text: &str, file: &str) -> Result<Vec<Directive>, Vec<Error>> {
    let mut p = Parser::default();
    p.parse_text(text, file, 0);
    p.finish()
}

#[derive(Default)]
struct Parser {
    out: Vec<Directive>,
    errors: Vec<Error>,
}

impl Parser {
    fn finish(self) -> Result<Vec<Directive>, Vec<Error>> {
        if self.errors.is_empty() {
            Ok(self.out)
        } else {
            Err(self.errors)
        }
    }

    fn include_file(&mut self, path: &Path, from: Option<&Span>, depth: usize) {
        let name = path.to_string_lossy();
        if depth > MAX_INCLUDE_DEPTH {
            let span = from.cloned().unwrap_or_else(|| span_of(&name, 0));
            self.errors.push(Error::new(
                &span,
                None,
                format!("includes nested deeper than {MAX_INCLUDE_DEPTH} (cycle?)"),
            ));
            return;
        }
        match std::fs::read(path) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                self.parse_text(&text, &name, depth);
            }
            Err(e) => {
                let span = from.cloned().unwrap_or_else(|| span_of(&name, 0));
                self.errors
                    .push(Error::new(&span, None, format!("cannot read {name}: {e}")));
            }
        }
    }

    fn parse_text(&mut self, text: &str, file: &str, depth: usize) {
        let file: Arc<str> = Arc::from(file);
        let base_dir = Path::new(&*file)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut logical = String::new();
        let mut start_line = 0u32;
        let mut continuing = false;
        let mut n = 0u32;
        for raw in text.split('\n') {
            n += 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if !continuing {
                let t = line.trim_start();
                if t.is_empty() || t.starts_with('#') {
                    continue;
                }
                start_line = n;
                logical.clear();
            }
            let trimmed = line.trim_end();
            if let Some(head) = trimmed.strip_suffix('\\') {
                logical.push_str(head);
                continuing = true;
                continue;
            }
            logical.push_str(trimmed);
            continuing = false;
            let span = Span {
                file: file.clone(),
                line: start_line,
            };
            let text = std::mem::take(&mut logical);
            self.directive(&text, span, &base_dir, depth);
        }
        if continuing && !logical.trim().is_empty() {
            let span = Span {
                file: file.clone(),
                line: start_line,
            };
            let text = std::mem::take(&mut logical);
            self.directive(&text, span, &base_dir, depth);
        }
    }

    fn directive(&mut self, text: &str, span: Span, base_dir: &Path, depth: usize) {
        let words = match tokenize(text) {
            Ok(w) => w,
            Err(reason) => {
                self.errors.push(Error::new(&span, None, reason));
                return;
            }
        };
        let Some((name, args)) = words.split_first() else {
            return;
        };
        let lname = name.to_ascii_lowercase();
        if lname == "include" || lname == "includeoptional" {
            self.include(&lname, args, &span, base_dir, depth);
            return;
        }
        match parse_directive(&lname, name, args, &span) {
            Ok(kind) => self.out.push(Directive { span, kind }),
            Err(e) => self.errors.push(e),
        }
    }

    fn include(&mut self, lname: &str, args: &[String], span: &Span, base: &Path, depth: usize) {
        let [arg] = args else {
            self.errors.push(Error::new(
                span,
                None,
                format!("{lname}: expected one path"),
            ));
            return;
        };
        let optional = lname == "includeoptional";
        let p = Path::new(arg);
        let full = if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        };
        if !has_glob(arg) {
            if optional && !full.exists() {
                return;
            }
            self.include_file(&full, Some(span), depth + 1);
            return;
        }
        let files = expand_glob(&full);
        if files.is_empty() && !optional {
            self.errors.push(Error::new(
                span,
                None,
                format!("Include {}: no file matches", full.display()),
            ));
        }
        for f in files {
            if f.is_file() {
                self.include_file(&f, Some(span), depth + 1);
            }
        }
    }
}

fn span_of(file: &str, line: u32) -> Span {
    Span {
        file: Arc::from(file),
        line,
    }
}

fn parse_directive(
    lname: &str,
    name: &str,
    args: &[String],
    span: &Span,
) -> Result<DirectiveKind, Error> {
    let err = |id: Option<u32>, reason: String| Error::new(span, id, reason);
    let want = |min: usize, max: usize| -> Result<(), Error> {
        if args.len() < min || args.len() > max {
            let n = if min == max {
                format!("{min}")
            } else {
                format!("{min} to {max}")
            };
            Err(err(
                None,
                format!("{name}: expected {n} arguments, got {}", args.len()),
            ))
        } else {
            Ok(())
        }
    };
    match lname {
        "secrule" => {
            want(2, 3)?;
            let actions = match args.get(2) {
                Some(a) => parse_actions(a).map_err(|r| err(None, format!("SecRule: {r}")))?,
                None => Vec::new(),
            };
            let id = action_id(&actions);
            let variables = parse_variables(&args[0])
                .map_err(|r| err(id, format!("SecRule: variables: {r}")))?;
            let operator =
                parse_operator(&args[1]).map_err(|r| err(id, format!("SecRule: operator: {r}")))?;
            Ok(DirectiveKind::Rule(SecRule {
                variables,
                operator,
                actions,
            }))
        }
        "secaction" => {
            want(1, 1)?;
            let actions =
                parse_actions(&args[0]).map_err(|r| err(None, format!("SecAction: {r}")))?;
            Ok(DirectiveKind::Action(actions))
        }
        "secdefaultaction" => {
            want(1, 1)?;
            let actions =
                parse_actions(&args[0]).map_err(|r| err(None, format!("SecDefaultAction: {r}")))?;
            Ok(DirectiveKind::DefaultAction(actions))
        }
        "secmarker" => {
            want(1, 1)?;
            Ok(DirectiveKind::Marker(args[0].clone()))
        }
        "seccomponentsignature" => {
            want(1, 1)?;
            Ok(DirectiveKind::ComponentSignature(args[0].clone()))
        }
        "secruleremovebyid" => {
            want(1, usize::MAX)?;
            let mut ids = Vec::new();
            for a in args {
                ids.extend(parse_id_list(a).map_err(|r| err(None, format!("{name}: {r}")))?);
            }
            Ok(DirectiveKind::RemoveById(ids))
        }
        "secruleremovebytag" => {
            want(1, 1)?;
            Ok(DirectiveKind::RemoveByTag(args[0].clone()))
        }
        "secruleupdatetargetbyid" | "secruleupdatetargetbytag" => {
            want(2, 3)?;
            let targets =
                parse_variables(&args[1]).map_err(|r| err(None, format!("{name}: {r}")))?;
            let replace = match args.get(2) {
                Some(r) => {
                    let mut v =
                        parse_variables(r).map_err(|r| err(None, format!("{name}: {r}")))?;
                    if v.len() != 1 {
                        return Err(err(
                            None,
                            format!("{name}: replaced target must be one variable"),
                        ));
                    }
                    v.pop()
                }
                None => None,
            };
            if lname == "secruleupdatetargetbyid" {
                let ids = parse_id_list(&args[0]).map_err(|r| err(None, format!("{name}: {r}")))?;
                Ok(DirectiveKind::UpdateTargetById {
                    ids,
                    targets,
                    replace,
                })
            } else {
                Ok(DirectiveKind::UpdateTargetByTag {
                    tag: args[0].clone(),
                    targets,
                    replace,
                })
            }
        }
        _ => {
            if let Some(canon) = SETTINGS.iter().find(|s| s.eq_ignore_ascii_case(lname)) {
                Ok(DirectiveKind::Setting {
                    name: canon,
                    args: args.to_vec(),
                })
            } else if lname.starts_with("sec") {
                Err(err(None, format!("unknown directive {name}")))
            } else {
                Err(err(None, format!("unsupported directive {name}")))
            }
        }
    }
}

/// The `id:` of an action list, if present and numeric.
pub fn action_id(actions: &[Action]) -> Option<u32> {
    actions
        .iter()
        .find(|a| a.is("id"))
        .and_then(|a| a.value.as_deref())
        .and_then(|v| v.trim().parse().ok())
}

/// Splits a logical line into words, removing quotes.
pub fn tokenize(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut it = s.chars().peekable();
    loop {
        while it.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&c) = it.peek() else { break };
        let mut word = String::new();
        if c == '"' || c == '\'' {
            it.next();
            let mut closed = false;
            while let Some(ch) = it.next() {
                if ch == '\\' {
                    match it.peek() {
                        Some(&n) if n == c => {
                            word.push(n);
                            it.next();
                        }
                        Some(&'\\') => {
                            word.push_str("\\\\");
                            it.next();
                        }
                        _ => word.push('\\'),
                    }
                } else if ch == c {
                    closed = true;
                    break;
                } else {
                    word.push(ch);
                }
            }
            if !closed {
                return Err(format!("unterminated {c}-quoted argument"));
            }
            if it.peek().is_some_and(|n| !n.is_whitespace()) {
                return Err(format!("text right after a closing {c}"));
            }
        } else {
            while let Some(ch) = it.next_if(|c| !c.is_whitespace()) {
                word.push(ch);
            }
        }
        out.push(word);
    }
    Ok(out)
}

/// Parses `1 2 5-10` / `1,2,5-10` into ranges.
pub fn parse_id_list(s: &str) -> Result<Vec<IdRange>, String> {
    let mut out = Vec::new();
    for part in s.split(|c: char| c.is_whitespace() || c == ',') {
        if part.is_empty() {
            continue;
        }
        let num = |t: &str| {
            t.trim()
                .parse::<u32>()
                .map_err(|_| format!("bad rule id {t:?}"))
        };
        let r = match part.split_once('-') {
            Some((a, b)) => IdRange {
                start: num(a)?,
                end: num(b)?,
            },
            None => {
                let v = num(part)?;
                IdRange { start: v, end: v }
            }
        };
        if r.start > r.end {
            return Err(format!("bad id range {part:?}"));
        }
        out.push(r);
    }
    if out.is_empty() {
        return Err("no rule ids".into());
    }
    Ok(out)
}

/// Parses a variable list (`ARGS|!ARGS:foo|&TX:x|REQUEST_COOKIES:/re|gex/`).
pub fn parse_variables(s: &str) -> Result<Vec<Variable>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < chars.len() && (chars[i].is_whitespace() || chars[i] == '|') {
            i += 1;
        }
        if i >= chars.len() {
            break;
        }
        let mut negated = false;
        let mut count = false;
        while i < chars.len() && (chars[i] == '!' || chars[i] == '&') {
            if chars[i] == '!' {
                negated = true;
            } else {
                count = true;
            }
            i += 1;
        }
        let start = i;
        while i < chars.len() && chars[i] != ':' && chars[i] != '|' && !chars[i].is_whitespace() {
            i += 1;
        }
        let collection: String = chars[start..i].iter().collect();
        if collection.is_empty()
            || !collection
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(format!("bad variable name {collection:?} in {s:?}"));
        }
        let mut selector = None;
        if i < chars.len() && chars[i] == ':' {
            i += 1;
            let is_xml = collection.eq_ignore_ascii_case("XML");
            if !is_xml && i < chars.len() && chars[i] == '/' {
                // `/regex/`: up to the next unescaped `/`.
                i += 1;
                let rs = i;
                while i < chars.len() && chars[i] != '/' {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(format!("unterminated /regex/ selector in {s:?}"));
                }
                selector = Some(VarSelector::Regex(chars[rs..i].iter().collect()));
                i += 1;
            } else if i < chars.len() && chars[i] == '\'' {
                i += 1;
                let ks = i;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(format!("unterminated quoted key in {s:?}"));
                }
                let key: String = chars[ks..i].iter().collect();
                i += 1;
                selector = Some(
                    match key.strip_prefix('/').and_then(|k| k.strip_suffix('/')) {
                        Some(re) if !is_xml => VarSelector::Regex(re.to_string()),
                        _ => VarSelector::Key(key),
                    },
                );
            } else {
                let ks = i;
                while i < chars.len() && chars[i] != '|' {
                    i += 1;
                }
                let key: String = chars[ks..i].iter().collect::<String>().trim().to_string();
                if key.is_empty() {
                    return Err(format!("empty selector after {collection}: in {s:?}"));
                }
                selector = Some(VarSelector::Key(key));
            }
        }
        if i < chars.len() && chars[i] != '|' {
            return Err(format!("unexpected {:?} in {s:?}", chars[i]));
        }
        out.push(Variable {
            negated,
            count,
            collection,
            selector,
        });
    }
    if out.is_empty() {
        return Err("no variables".into());
    }
    Ok(out)
}

/// Parses `[!]@name argument`; a string without `@` is an `rx` argument.
pub fn parse_operator(s: &str) -> Result<OperatorSpec, String> {
    let mut rest = s.trim_start();
    let mut negated = false;
    if let Some(r) = rest.strip_prefix('!') {
        negated = true;
        rest = r.trim_start();
    }
    if let Some(r) = rest.strip_prefix('@') {
        let end = r.find(char::is_whitespace).unwrap_or(r.len());
        let name = &r[..end];
        if name.is_empty() {
            return Err(format!("missing operator name in {s:?}"));
        }
        Ok(OperatorSpec {
            negated,
            name: name.to_string(),
            argument: r[end..].trim_start().to_string(),
        })
    } else {
        Ok(OperatorSpec {
            negated,
            name: "rx".into(),
            argument: rest.to_string(),
        })
    }
}

/// Parses a comma-separated action list; values may be single-quoted (`\'` escapes).
pub fn parse_actions(s: &str) -> Result<Vec<Action>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < chars.len() && (chars[i].is_whitespace() || chars[i] == ',') {
            i += 1;
        }
        if i >= chars.len() {
            break;
        }
        let ns = i;
        while i < chars.len() && chars[i] != ':' && chars[i] != ',' {
            i += 1;
        }
        let name: String = chars[ns..i].iter().collect::<String>().trim().to_string();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("bad action name {name:?}"));
        }
        let mut value = None;
        if i < chars.len() && chars[i] == ':' {
            i += 1;
            while i < chars.len() && chars[i].is_whitespace() {
                i += 1;
            }
            if i < chars.len() && chars[i] == '\'' {
                i += 1;
                let mut v = String::new();
                let mut closed = false;
                while i < chars.len() {
                    let c = chars[i];
                    if c == '\\' && chars.get(i + 1) == Some(&'\'') {
                        v.push('\'');
                        i += 2;
                        continue;
                    }
                    i += 1;
                    if c == '\'' {
                        closed = true;
                        break;
                    }
                    v.push(c);
                }
                if !closed {
                    return Err(format!("unterminated quoted value of action {name}"));
                }
                while i < chars.len() && chars[i].is_whitespace() {
                    i += 1;
                }
                if i < chars.len() && chars[i] != ',' {
                    return Err(format!("text after the quoted value of action {name}"));
                }
                value = Some(v);
            } else {
                let vs = i;
                while i < chars.len() && chars[i] != ',' {
                    i += 1;
                }
                value = Some(
                    chars[vs..i]
                        .iter()
                        .collect::<String>()
                        .trim_end()
                        .to_string(),
                );
            }
        }
        out.push(Action { name, value });
    }
    Ok(out)
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?'])
}

/// Expands `*` and `?` in any path component; results sorted, hidden files only when the
/// component itself starts with `.`.
fn expand_glob(path: &Path) -> Vec<PathBuf> {
    let mut current: Vec<PathBuf> = vec![PathBuf::new()];
    for comp in path.components() {
        let s = comp.as_os_str().to_string_lossy();
        if !has_glob(&s) {
            for c in &mut current {
                c.push(comp.as_os_str());
            }
            continue;
        }
        let mut next = Vec::new();
        for dir in &current {
            let rd = if dir.as_os_str().is_empty() {
                std::fs::read_dir(".")
            } else {
                std::fs::read_dir(dir)
            };
            let Ok(rd) = rd else { continue };
            let mut names: Vec<String> = rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| (!n.starts_with('.') || s.starts_with('.')) && wildcard(&s, n))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| dir.join(n)));
        }
        current = next;
    }
    current
}

/// `*` / `?` matching over characters.
fn wildcard(pat: &str, name: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}
