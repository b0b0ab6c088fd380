//! The OpenAPI route matcher: a trie over path segments built by the compiler. A request
//! path is matched segment by segment (literal segments before templated ones, as OpenAPI
//! requires), with no regex and no per-request building.

use serde::{Deserialize, Serialize};

/// Most segments a request path may have before it is treated as unknown.
pub const MAX_SEGMENTS: usize = 64;
/// Most trie steps one lookup may take (bounds backtracking between literal and templated
/// branches).
const MAX_STEPS: usize = 4096;

/// One path-template segment.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// Must equal this text (after percent-decoding the request segment).
    Literal(String),
    /// `{name}`: any non-empty segment, captured as parameter `name`.
    Param(String),
}

/// Parses `/accounts/{account_id}` into segments.
pub fn parse_template(t: &str) -> Vec<Segment> {
    t.trim_start_matches('/')
        .split('/')
        .map(
            |s| match s.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
                Some(name) => Segment::Param(name.to_string()),
                None => Segment::Literal(s.to_string()),
            },
        )
        .collect()
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
struct Node {
    /// Literal children, sorted by text.
    literals: Vec<(String, u32)>,
    /// The templated child.
    param: Option<u32>,
    /// Path templates (indices given to `insert`) ending here.
    ends: Vec<u32>,
}

/// The trie.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Router {
    nodes: Vec<Node>,
}

impl Default for Router {
    fn default() -> Self {
        Router {
            nodes: vec![Node::default()],
        }
    }
}

impl Router {
    /// Adds a path template under index `path_id` (the compiler's numbering of distinct
    /// templates).
    pub fn insert(&mut self, segments: &[Segment], path_id: u32) {
        let mut at = 0usize;
        for seg in segments {
            let next = match seg {
                Segment::Literal(l) => self.nodes.get(at).and_then(|n| {
                    n.literals
                        .binary_search_by(|(k, _)| k.as_str().cmp(l))
                        .ok()
                        .and_then(|i| n.literals.get(i))
                        .map(|(_, c)| *c)
                }),
                Segment::Param(_) => self.nodes.get(at).and_then(|n| n.param),
            };
            at = match next {
                Some(c) => c as usize,
                None => {
                    let id = self.nodes.len() as u32;
                    self.nodes.push(Node::default());
                    if let Some(n) = self.nodes.get_mut(at) {
                        match seg {
                            Segment::Literal(l) => {
                                let pos = n
                                    .literals
                                    .binary_search_by(|(k, _)| k.as_str().cmp(l))
                                    .unwrap_or_else(|p| p);
                                n.literals.insert(pos, (l.clone(), id));
                            }
                            Segment::Param(_) => n.param = Some(id),
                        }
                    }
                    id as usize
                }
            };
        }
        if let Some(n) = self.nodes.get_mut(at) {
            if !n.ends.contains(&path_id) {
                n.ends.push(path_id);
            }
        }
    }

    /// The path templates matching the decoded `segments`, preferring literal segments.
    pub fn find(&self, segments: &[String]) -> Option<&[u32]> {
        if segments.len() > MAX_SEGMENTS {
            return None;
        }
        let mut steps = 0usize;
        self.walk(0, segments, &mut steps)
    }

    fn walk(&self, at: usize, segs: &[String], steps: &mut usize) -> Option<&[u32]> {
        *steps += 1;
        if *steps > MAX_STEPS {
            return None;
        }
        let node = self.nodes.get(at)?;
        let Some((first, rest)) = segs.split_first() else {
            return (!node.ends.is_empty()).then_some(node.ends.as_slice());
        };
        if let Ok(i) = node
            .literals
            .binary_search_by(|(k, _)| k.as_str().cmp(first.as_str()))
        {
            if let Some((_, c)) = node.literals.get(i) {
                if let Some(found) = self.walk(*c as usize, rest, steps) {
                    return Some(found);
                }
            }
        }
        match node.param {
            Some(c) if !first.is_empty() => self.walk(c as usize, rest, steps),
            _ => None,
        }
    }
}

/// Splits the path of a raw request target (query removed) into percent-decoded segments.
/// `None` when a segment does not decode to UTF-8 (no route can match it).
pub fn split_path(uri: &[u8]) -> Option<Vec<String>> {
    let path = uri.split(|&b| b == b'?').next().unwrap_or_default();
    let path = path.strip_prefix(b"/").unwrap_or(path);
    path.split(|&b| b == b'/')
        .map(|s| String::from_utf8(percent_decode(s)).ok())
        .collect()
}

/// `%XX` decoding (no `+`: that is only for query strings).
pub fn percent_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let b = s.get(i).copied().unwrap_or_default();
        if b == b'%' {
            let h = s.get(i + 1).and_then(|c| (*c as char).to_digit(16));
            let l = s.get(i + 2).and_then(|c| (*c as char).to_digit(16));
            if let (Some(h), Some(l)) = (h, l) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(ts: &[&str]) -> Router {
        let mut r = Router::default();
        for (i, t) in ts.iter().enumerate() {
            r.insert(&parse_template(t), i as u32);
        }
        r
    }

    fn find(r: &Router, p: &str) -> Option<Vec<u32>> {
        r.find(&split_path(p.as_bytes())?).map(<[u32]>::to_vec)
    }

    #[test]
    fn literal_beats_template_and_backtracks() {
        let r = router(&[
            "/accounts/{account_id}",
            "/accounts/me",
            "/accounts/{id}/transfers",
            "/accounts/me/settings",
        ]);
        assert_eq!(find(&r, "/accounts/alice"), Some(vec![0]));
        assert_eq!(find(&r, "/accounts/me"), Some(vec![1]));
        assert_eq!(find(&r, "/accounts/me/transfers"), Some(vec![2]));
        assert_eq!(find(&r, "/accounts/me/settings"), Some(vec![3]));
        assert_eq!(find(&r, "/accounts/a%2Fb?x=1"), Some(vec![0]));
        assert_eq!(find(&r, "/accounts/"), None);
        assert_eq!(find(&r, "/accounts"), None);
        assert_eq!(find(&r, "/admin"), None);
    }

    #[test]
    fn deep_paths_are_bounded() {
        let r = router(&["/{a}/{b}"]);
        let long = "/x".repeat(100);
        assert_eq!(find(&r, &long), None);
    }
}
