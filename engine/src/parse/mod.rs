//! Parsers for the parts of a request: query strings, cookies and bodies
//! (urlencoded, JSON, multipart, XML). All are total: malformed input yields what could be
//! parsed plus an error flag, never a panic.

/// A parsed name/value pair, bytes as decoded.
pub type Pair = (Vec<u8>, Vec<u8>);

/// Splits an `a=1&b=2` string into URL-decoded pairs (`+` is a space). A name with no `=`
/// gets an empty value.
pub fn parse_urlencoded(input: &[u8]) -> Vec<Pair> {
    input
        .split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut it = p.splitn(2, |&b| b == b'=');
            let k = it.next().unwrap_or_default();
            let v = it.next().unwrap_or_default();
            (url_decode_form(k), url_decode_form(v))
        })
        .collect()
}

/// `%XX` and `+` decoding as for form fields; invalid escapes are kept as written.
pub fn url_decode_form(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if b == b'+' {
            out.push(b' ');
        } else if b == b'%' && i + 2 < input.len() {
            match (hex(input[i + 1]), hex(input[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b),
            }
        } else {
            out.push(b);
        }
        i += 1;
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}
