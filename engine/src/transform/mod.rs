//! Transformations (SecLang `t:`), one file per transformation.
//!
//! Each is a pure function from bytes to bytes; [`Transform::apply`] returns
//! `Cow::Borrowed` when the value is unchanged so the common case allocates nothing.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// A transformation, in the closed set the engine knows.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub enum Transform {
    /// `urlDecode`: `%XX` and `+` decoded; invalid escapes kept.
    UrlDecode,
    /// `urlDecodeUni`: like `urlDecode`, plus `%uXXXX` (IIS) decoding.
    UrlDecodeUni,
    /// `lowercase`: ASCII lowercase.
    Lowercase,
    /// `uppercase`: ASCII uppercase.
    Uppercase,
    /// `htmlEntityDecode`: `&lt;`, `&#60;`, `&#x3c;` ...
    HtmlEntityDecode,
    /// `jsDecode`: JavaScript escapes `\uXXXX`, `\xHH`, `\n`, octal.
    JsDecode,
    /// `cssDecode`: CSS 2 escapes.
    CssDecode,
    /// `utf8toUnicode`: multi-byte UTF-8 to `%uXXXX`.
    Utf8ToUnicode,
    /// `removeNulls`: drop NUL bytes.
    RemoveNulls,
    /// `replaceNulls`: NUL to space.
    ReplaceNulls,
    /// `cmdLine`: Windows/Unix command-line normalisation.
    CmdLine,
    /// `removeWhitespace`.
    RemoveWhitespace,
    /// `compressWhitespace`: runs of whitespace to one space.
    CompressWhitespace,
    /// `replaceComments`: C comments to one space.
    ReplaceComments,
    /// `removeComments`.
    RemoveComments,
    /// `removeCommentsChar`: drop `/*`, `*/`, `--`, `#`.
    RemoveCommentsChar,
    /// `normalizePath`: collapse `//`, `/./`, `/../`.
    NormalizePath,
    /// `normalizePathWin`: `\` to `/`, then `normalizePath`.
    NormalizePathWin,
    /// `escapeSeqDecode`: ANSI C escapes.
    EscapeSeqDecode,
    /// `length`: the value's length as decimal.
    Length,
    /// `base64Decode`.
    Base64Decode,
    /// `base64DecodeExt`: forgiving base64.
    Base64DecodeExt,
    /// `base64Encode`.
    Base64Encode,
    /// `sha1`: raw 20-byte digest.
    Sha1,
    /// `hexEncode`: lowercase hex of each byte.
    HexEncode,
    /// `hexDecode`.
    HexDecode,
    /// `trim`, `trimLeft`, `trimRight`.
    Trim,
    /// `trimLeft`.
    TrimLeft,
    /// `trimRight`.
    TrimRight,
}

impl Transform {
    /// The transformation for a SecLang name (case-insensitive), e.g. `urlDecodeUni`.
    /// `none` is not a transformation (it resets the chain) and returns `None`.
    pub fn from_name(name: &str) -> Option<Transform> {
        use Transform::*;
        let t = match name.to_ascii_lowercase().as_str() {
            "urldecode" => UrlDecode,
            "urldecodeuni" => UrlDecodeUni,
            "lowercase" => Lowercase,
            "uppercase" => Uppercase,
            "htmlentitydecode" => HtmlEntityDecode,
            "jsdecode" => JsDecode,
            "cssdecode" => CssDecode,
            "utf8tounicode" => Utf8ToUnicode,
            "removenulls" => RemoveNulls,
            "replacenulls" => ReplaceNulls,
            "cmdline" => CmdLine,
            "removewhitespace" => RemoveWhitespace,
            "compresswhitespace" => CompressWhitespace,
            "replacecomments" => ReplaceComments,
            "removecomments" => RemoveComments,
            "removecommentschar" => RemoveCommentsChar,
            "normalizepath" | "normalisepath" => NormalizePath,
            "normalizepathwin" | "normalisepathwin" => NormalizePathWin,
            "escapeseqdecode" => EscapeSeqDecode,
            "length" => Length,
            "base64decode" => Base64Decode,
            "base64decodeext" => Base64DecodeExt,
            "base64encode" => Base64Encode,
            "sha1" => Sha1,
            "hexencode" => HexEncode,
            "hexdecode" => HexDecode,
            "trim" => Trim,
            "trimleft" => TrimLeft,
            "trimright" => TrimRight,
            _ => return None,
        };
        Some(t)
    }

    /// Applies the transformation. Never panics, whatever the input.
    pub fn apply<'a>(&self, input: &'a [u8]) -> Cow<'a, [u8]> {
        use Transform::*;
        match self {
            Lowercase => {
                if input.iter().any(u8::is_ascii_uppercase) {
                    Cow::Owned(input.to_ascii_lowercase())
                } else {
                    Cow::Borrowed(input)
                }
            }
            Uppercase => {
                if input.iter().any(u8::is_ascii_lowercase) {
                    Cow::Owned(input.to_ascii_uppercase())
                } else {
                    Cow::Borrowed(input)
                }
            }
            RemoveNulls => {
                if input.contains(&0) {
                    Cow::Owned(input.iter().copied().filter(|&b| b != 0).collect())
                } else {
                    Cow::Borrowed(input)
                }
            }
            Length => Cow::Owned(input.len().to_string().into_bytes()),
            // Placeholder until the transform module lands: identity.
            _ => Cow::Borrowed(input),
        }
    }
}
