//! Every transformation, in a sequence chosen by the input: byte 0 is the chain length
//! (mod 8), the next bytes pick transformations (mod the number of variants), the rest is
//! the value. Each step must not panic and must respect the engine's growth bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use waap_engine::transform::Transform::{self, *};

const ALL: [Transform; 29] = [
    UrlDecode,
    UrlDecodeUni,
    Lowercase,
    Uppercase,
    HtmlEntityDecode,
    JsDecode,
    CssDecode,
    Utf8ToUnicode,
    RemoveNulls,
    ReplaceNulls,
    CmdLine,
    RemoveWhitespace,
    CompressWhitespace,
    ReplaceComments,
    RemoveComments,
    RemoveCommentsChar,
    NormalizePath,
    NormalizePathWin,
    EscapeSeqDecode,
    Length,
    Base64Decode,
    Base64DecodeExt,
    Base64Encode,
    Sha1,
    HexEncode,
    HexDecode,
    Trim,
    TrimLeft,
    TrimRight,
];

/// The bound the engine's own tests check (engine/src/transform/mod.rs).
fn bound(t: Transform, len: usize) -> usize {
    match t {
        Length | Sha1 => 20,
        HexEncode => 2 * len,
        Base64Encode => len.div_ceil(3) * 4,
        Utf8ToUnicode => 4 * len,
        _ => len + 1,
    }
}

/// Makes the match below fail to compile when a variant is added, so ALL stays complete.
#[allow(dead_code)]
fn exhaustive(t: Transform) {
    match t {
        UrlDecode | UrlDecodeUni | Lowercase | Uppercase | HtmlEntityDecode | JsDecode
        | CssDecode | Utf8ToUnicode | RemoveNulls | ReplaceNulls | CmdLine | RemoveWhitespace
        | CompressWhitespace | ReplaceComments | RemoveComments | RemoveCommentsChar
        | NormalizePath | NormalizePathWin | EscapeSeqDecode | Length | Base64Decode
        | Base64DecodeExt | Base64Encode | Sha1 | HexEncode | HexDecode | Trim | TrimLeft
        | TrimRight => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = ((n & 7) as usize).min(rest.len());
    let (picks, value) = rest.split_at(n);
    // Every variant alone on the value...
    for t in ALL {
        let out = t.apply(value);
        assert!(
            out.len() <= bound(t, value.len()),
            "{t:?} grew {} to {} bytes",
            value.len(),
            out.len()
        );
    }
    // ...and a chain, as a rule's transformation list applies them.
    let mut cur = value.to_vec();
    for &p in picks {
        let t = ALL[p as usize % ALL.len()];
        let out = t.apply(&cur).into_owned();
        assert!(
            out.len() <= bound(t, cur.len()),
            "{t:?} grew {} to {} bytes",
            cur.len(),
            out.len()
        );
        cur = out;
    }
});
