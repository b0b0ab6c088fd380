//! The waap policy bundle format, version 1.
//!
//! A bundle is one byte buffer: a fixed header, a section table, then the sections, each
//! starting on an 8-byte boundary so that dense DFAs (which need 4-byte alignment) can be
//! used in place when the whole buffer is aligned.
//!
//! ```text
//! offset size  field
//!      0    8  magic "WAAPBNDL"
//!      8    4  endianness mark 0x0A0B0C0D, written little-endian
//!     12    2  format major          14  2  format minor
//!     16    4  reserved, zero        20  4  section count
//!     24    8  total length of the bundle in bytes
//!     32    4  CRC-32 of the whole bundle with this field read as zero
//!     36    4  reserved, zero
//!     40 24*n  section table: kind u32, flags u32, offset u64, length u64
//!    ...       sections, each 8-byte aligned, zero padding between them
//! ```
//!
//! [`Bundle::parse`] validates in exactly this order: each step relies only on fields an
//! earlier step has proved sound (the checksum is only computed once the total length is
//! known to equal the buffer's length, the section table is only read once its size fits).
//! Every error names what was wrong and where.

#![allow(missing_docs)] // enum variant fields are described by their variant

use core::fmt;

/// The 8 bytes every bundle starts with.
pub const MAGIC: [u8; 8] = *b"WAAPBNDL";
/// Written as a little-endian u32; a reader on the other endianness sees it reversed.
pub const ENDIAN_MARK: u32 = 0x0A0B_0C0D;
/// Major format version this crate reads and writes. A different major is refused.
pub const FORMAT_MAJOR: u16 = 1;
/// Minor format version this crate writes. Newer minors are read; they may only add
/// optional sections.
pub const FORMAT_MINOR: u16 = 0;
/// Size of the fixed header in bytes.
pub const HEADER_LEN: usize = 40;
/// Size of one section table entry in bytes.
pub const SECTION_ENTRY_LEN: usize = 24;
/// Flag bit: a reader that does not know this section's kind must refuse the bundle.
pub const FLAG_REQUIRED: u32 = 1;
/// Upper bound on sections, so a corrupt count cannot make the reader allocate wildly.
pub const MAX_SECTIONS: u32 = 1 << 16;

/// What a section holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SectionKind {
    /// Compiler name, version and policy revision as `key\tvalue\n` UTF-8 lines.
    Meta,
    /// The compiled program (engine IR), postcard-encoded.
    Program,
    /// One dense DFA, serialized little-endian by regex-automata. DFAs are numbered by
    /// their order in the section table.
    Dfa,
    /// The rule families beside the WAF (client identity, rate limits, bots, API
    /// protection), postcard-encoded as one `waap_engine::families::Families`. Optional:
    /// a bundle with only WAF rules has none.
    Families,
    /// Several named policies in one bundle: the selectors and the member bundles,
    /// postcard-encoded as one `waap_engine::policy_set::PolicySetSpec`. Written required,
    /// so a filter that predates policy sets refuses the bundle instead of enforcing none.
    PolicySet,
    /// A kind this reader does not know (kept so optional sections can be skipped).
    Unknown(u32),
}

impl SectionKind {
    /// The on-disk code of this kind.
    pub fn code(self) -> u32 {
        match self {
            SectionKind::Meta => 1,
            SectionKind::Program => 2,
            SectionKind::Dfa => 3,
            SectionKind::Families => 4,
            SectionKind::PolicySet => 5,
            SectionKind::Unknown(c) => c,
        }
    }

    /// The kind for an on-disk code.
    pub fn from_code(code: u32) -> SectionKind {
        match code {
            1 => SectionKind::Meta,
            2 => SectionKind::Program,
            3 => SectionKind::Dfa,
            4 => SectionKind::Families,
            5 => SectionKind::PolicySet,
            c => SectionKind::Unknown(c),
        }
    }

    /// A short upper-case name used in messages.
    pub fn name(self) -> String {
        match self {
            SectionKind::Meta => "META".into(),
            SectionKind::Program => "PROGRAM".into(),
            SectionKind::Dfa => "DFA".into(),
            SectionKind::Families => "FAMILIES".into(),
            SectionKind::PolicySet => "POLICY_SET".into(),
            SectionKind::Unknown(c) => format!("UNKNOWN({c})"),
        }
    }
}

/// Why a buffer is not a valid bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleError {
    /// What went wrong.
    pub kind: BundleErrorKind,
}

/// The kinds of bundle read errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BundleErrorKind {
    /// Fewer bytes than the fixed header or the section table needs.
    Truncated {
        needed: u64,
        len: u64,
        what: &'static str,
    },
    /// The first 8 bytes are not [`MAGIC`].
    BadMagic,
    /// The endianness mark is not [`ENDIAN_MARK`] little-endian.
    BadEndianMark(u32),
    /// Written for a format major this reader does not read.
    UnsupportedVersion { major: u16, minor: u16 },
    /// A reserved word is not zero.
    ReservedNonZero { offset: usize, value: u32 },
    /// The header's total length disagrees with the buffer's.
    LengthMismatch { header: u64, actual: u64 },
    /// The section count is over [`MAX_SECTIONS`].
    TooManySections(u32),
    /// The body's CRC-32 does not match the header.
    ChecksumMismatch { expected: u32, actual: u32 },
    /// A section's extent is out of bounds, misaligned or overlaps the table.
    BadSection {
        index: usize,
        kind: String,
        reason: String,
    },
    /// A required section has a kind this reader does not know.
    UnknownRequiredSection { index: usize, code: u32 },
    /// A section every bundle must have is missing or duplicated.
    MissingSection(&'static str),
    /// The META section is not valid.
    BadMeta(String),
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use BundleErrorKind::*;
        match &self.kind {
            Truncated { needed, len, what } => {
                write!(f, "bundle truncated: {what} needs {needed} bytes, buffer has {len}")
            }
            BadMagic => write!(f, "not a waap bundle: bad magic at offset 0 (expected \"WAAPBNDL\")"),
            BadEndianMark(m) => write!(f, "bad endianness mark at offset 8: {m:#010x} (expected {ENDIAN_MARK:#010x})"),
            UnsupportedVersion { major, minor } => write!(
                f,
                "bundle format {major}.{minor} is not supported: this filter reads format {FORMAT_MAJOR}.x"
            ),
            ReservedNonZero { offset, value } => {
                write!(f, "reserved word at offset {offset} is {value:#x}, must be 0")
            }
            LengthMismatch { header, actual } => write!(
                f,
                "bundle length mismatch: header at offset 24 says {header} bytes, buffer has {actual} (truncated or padded)"
            ),
            TooManySections(n) => write!(f, "section count {n} at offset 20 exceeds the limit {MAX_SECTIONS}"),
            ChecksumMismatch { expected, actual } => write!(
                f,
                "bundle checksum mismatch: header says {expected:#010x}, body hashes to {actual:#010x} (corrupted)"
            ),
            BadSection { index, kind, reason } => write!(f, "section #{index} ({kind}): {reason}"),
            UnknownRequiredSection { index, code } => write!(
                f,
                "section #{index} has kind {code}, unknown to this filter and marked required: upgrade the filter"
            ),
            MissingSection(name) => write!(f, "bundle has no {name} section (or more than one)"),
            BadMeta(why) => write!(f, "section META: {why}"),
        }
    }
}

impl std::error::Error for BundleError {}

fn err(kind: BundleErrorKind) -> BundleError {
    BundleError { kind }
}

/// One entry of the section table, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionEntry {
    /// What the section holds.
    pub kind: SectionKind,
    /// Flag bits ([`FLAG_REQUIRED`]).
    pub flags: u32,
    /// Offset from the start of the bundle; a multiple of 8.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
}

/// The META section: who made the bundle and from which policy revision.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// The compiler's name, e.g. `waapc`.
    pub compiler: String,
    /// The compiler's version.
    pub compiler_version: String,
    /// The policy's revision id (a content hash unless the policy names one).
    pub revision: String,
    /// Any further `key\tvalue` pairs, in order.
    pub extra: Vec<(String, String)>,
}

impl Meta {
    /// Encodes as `key\tvalue\n` lines.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = String::new();
        let mut push = |k: &str, v: &str| {
            out.push_str(k);
            out.push('\t');
            out.push_str(&v.replace(['\t', '\n'], " "));
            out.push('\n');
        };
        push("compiler", &self.compiler);
        push("compiler_version", &self.compiler_version);
        push("revision", &self.revision);
        for (k, v) in &self.extra {
            push(k, v);
        }
        out.into_bytes()
    }

    /// Decodes `key\tvalue\n` lines; `compiler`, `compiler_version` and `revision` are
    /// required.
    pub fn decode(bytes: &[u8]) -> Result<Meta, BundleError> {
        let text = core::str::from_utf8(bytes).map_err(|e| {
            err(BundleErrorKind::BadMeta(format!(
                "not UTF-8 at byte {}",
                e.valid_up_to()
            )))
        })?;
        let mut meta = Meta::default();
        let (mut c, mut v, mut r) = (false, false, false);
        for (n, line) in text.lines().enumerate() {
            let Some((k, val)) = line.split_once('\t') else {
                return Err(err(BundleErrorKind::BadMeta(format!(
                    "line {} has no tab",
                    n + 1
                ))));
            };
            match k {
                "compiler" => (meta.compiler, c) = (val.to_string(), true),
                "compiler_version" => (meta.compiler_version, v) = (val.to_string(), true),
                "revision" => (meta.revision, r) = (val.to_string(), true),
                _ => meta.extra.push((k.to_string(), val.to_string())),
            }
        }
        for (have, name) in [(c, "compiler"), (v, "compiler_version"), (r, "revision")] {
            if !have {
                return Err(err(BundleErrorKind::BadMeta(format!("missing key {name}"))));
            }
        }
        Ok(meta)
    }
}

/// A validated view of a bundle buffer.
#[derive(Clone, Debug)]
pub struct Bundle<'a> {
    bytes: &'a [u8],
    /// Format minor version the bundle was written for.
    pub minor: u16,
    /// The validated section table, in order.
    pub sections: Vec<SectionEntry>,
    /// The decoded META section.
    pub meta: Meta,
}

/// CRC-32 of `bytes` (at least [`HEADER_LEN`] long) with the checksum field as zero.
#[allow(clippy::indexing_slicing)]
fn checksum(bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&bytes[..32]);
    h.update(&[0; 4]);
    h.update(&bytes[36..]);
    h.finalize()
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}

impl<'a> Bundle<'a> {
    /// Validates `bytes` as a bundle. The order of checks matters: see the module docs.
    #[allow(clippy::indexing_slicing)]
    pub fn parse(bytes: &'a [u8]) -> Result<Bundle<'a>, BundleError> {
        let len = bytes.len() as u64;
        // 1. The fixed header must be there before any field is read.
        if bytes.len() < HEADER_LEN {
            return Err(err(BundleErrorKind::Truncated {
                needed: HEADER_LEN as u64,
                len,
                what: "header",
            }));
        }
        // 2. Magic, then endianness, then version: a foreign file fails on the first.
        if bytes[..8] != MAGIC {
            return Err(err(BundleErrorKind::BadMagic));
        }
        let mark = u32_at(bytes, 8);
        if mark != ENDIAN_MARK {
            return Err(err(BundleErrorKind::BadEndianMark(mark)));
        }
        let (major, minor) = (u16_at(bytes, 12), u16_at(bytes, 14));
        if major != FORMAT_MAJOR {
            return Err(err(BundleErrorKind::UnsupportedVersion { major, minor }));
        }
        for offset in [16usize, 36] {
            let value = u32_at(bytes, offset);
            if value != 0 {
                return Err(err(BundleErrorKind::ReservedNonZero { offset, value }));
            }
        }
        // 3. Total length: only a buffer of exactly the declared size is hashed.
        let total = u64_at(bytes, 24);
        if total != len {
            return Err(err(BundleErrorKind::LengthMismatch {
                header: total,
                actual: len,
            }));
        }
        let count = u32_at(bytes, 20);
        if count > MAX_SECTIONS {
            return Err(err(BundleErrorKind::TooManySections(count)));
        }
        let table_end = HEADER_LEN as u64 + count as u64 * SECTION_ENTRY_LEN as u64;
        if table_end > len {
            return Err(err(BundleErrorKind::Truncated {
                needed: table_end,
                len,
                what: "section table",
            }));
        }
        // 4. Checksum over everything but itself, before trusting the table.
        let expected = u32_at(bytes, 32);
        let actual = checksum(bytes);
        if expected != actual {
            return Err(err(BundleErrorKind::ChecksumMismatch { expected, actual }));
        }
        // 5. Each section: known or optional, in bounds, aligned, after the table, in order.
        let mut sections = Vec::with_capacity(count as usize);
        let mut prev_end = table_end;
        for index in 0..count as usize {
            let o = HEADER_LEN + index * SECTION_ENTRY_LEN;
            let code = u32_at(bytes, o);
            let kind = SectionKind::from_code(code);
            let flags = u32_at(bytes, o + 4);
            let offset = u64_at(bytes, o + 8);
            let slen = u64_at(bytes, o + 16);
            let bad = |reason: String| {
                err(BundleErrorKind::BadSection {
                    index,
                    kind: kind.name(),
                    reason,
                })
            };
            if let SectionKind::Unknown(code) = kind {
                if flags & FLAG_REQUIRED != 0 {
                    return Err(err(BundleErrorKind::UnknownRequiredSection { index, code }));
                }
            }
            if !offset.is_multiple_of(8) {
                return Err(bad(format!("offset {offset} is not 8-byte aligned")));
            }
            if offset < prev_end {
                return Err(bad(format!(
                    "offset {offset} overlaps the previous section or table (ends at {prev_end})"
                )));
            }
            let end = offset
                .checked_add(slen)
                .ok_or_else(|| bad(format!("length {slen} overflows")))?;
            if end > len {
                return Err(bad(format!(
                    "offset {offset} + length {slen} past end (len {len})"
                )));
            }
            prev_end = end;
            sections.push(SectionEntry {
                kind,
                flags,
                offset,
                len: slen,
            });
        }
        // 6. The sections every bundle needs, exactly once.
        let mut meta_bytes = None;
        for (name, kind) in [
            ("META", SectionKind::Meta),
            ("PROGRAM", SectionKind::Program),
        ] {
            let mut found = sections.iter().filter(|s| s.kind == kind);
            match (found.next(), found.next()) {
                (Some(s), None) => {
                    if kind == SectionKind::Meta {
                        meta_bytes = Some(&bytes[s.offset as usize..(s.offset + s.len) as usize]);
                    }
                }
                _ => return Err(err(BundleErrorKind::MissingSection(name))),
            }
        }
        let meta = Meta::decode(meta_bytes.unwrap_or_default())?;
        Ok(Bundle {
            bytes,
            minor,
            sections,
            meta,
        })
    }

    /// The bytes of one section.
    pub fn section_bytes(&self, entry: &SectionEntry) -> &'a [u8] {
        // In bounds: checked by `parse`.
        self.bytes
            .get(entry.offset as usize..(entry.offset + entry.len) as usize)
            .unwrap_or_default()
    }

    /// The PROGRAM section's bytes.
    pub fn program(&self) -> &'a [u8] {
        self.sections
            .iter()
            .find(|s| s.kind == SectionKind::Program)
            .map(|s| self.section_bytes(s))
            .unwrap_or_default()
    }

    /// The FAMILIES section's bytes, if the bundle has one.
    pub fn families(&self) -> Option<&'a [u8]> {
        self.sections
            .iter()
            .find(|s| s.kind == SectionKind::Families)
            .map(|s| self.section_bytes(s))
    }

    /// The POLICY_SET section's bytes, if the bundle is a policy set.
    pub fn policy_set(&self) -> Option<&'a [u8]> {
        self.sections
            .iter()
            .find(|s| s.kind == SectionKind::PolicySet)
            .map(|s| self.section_bytes(s))
    }

    /// The DFA sections' bytes, in order (DFA number = position in this list).
    pub fn dfas(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.sections
            .iter()
            .filter(|s| s.kind == SectionKind::Dfa)
            .map(|s| self.section_bytes(s))
    }

    /// The whole buffer.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// Builds a bundle. Only the compiler needs this.
#[cfg(feature = "write")]
#[derive(Default)]
pub struct BundleWriter {
    sections: Vec<(SectionKind, u32, Vec<u8>)>,
}

#[cfg(feature = "write")]
impl BundleWriter {
    /// A writer with no sections.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a section; `required` sets [`FLAG_REQUIRED`].
    pub fn section(&mut self, kind: SectionKind, required: bool, bytes: Vec<u8>) -> &mut Self {
        self.sections
            .push((kind, if required { FLAG_REQUIRED } else { 0 }, bytes));
        self
    }

    /// Lays out the header, table and sections and returns the bundle bytes. META comes
    /// first.
    pub fn finish(&self, meta: &Meta) -> Vec<u8> {
        let mut all: Vec<(SectionKind, u32, &[u8])> = Vec::with_capacity(self.sections.len() + 1);
        let meta_bytes = meta.encode();
        all.push((SectionKind::Meta, FLAG_REQUIRED, &meta_bytes));
        all.extend(self.sections.iter().map(|(k, f, b)| (*k, *f, b.as_slice())));
        let table_end = HEADER_LEN + all.len() * SECTION_ENTRY_LEN;
        let mut out = vec![0u8; table_end];
        let mut entries = Vec::with_capacity(all.len());
        for (kind, flags, bytes) in &all {
            while !out.len().is_multiple_of(8) {
                out.push(0);
            }
            entries.push((kind.code(), *flags, out.len() as u64, bytes.len() as u64));
            out.extend_from_slice(bytes);
        }
        while !out.len().is_multiple_of(8) {
            out.push(0);
        }
        out[..8].copy_from_slice(&MAGIC);
        out[8..12].copy_from_slice(&ENDIAN_MARK.to_le_bytes());
        out[12..14].copy_from_slice(&FORMAT_MAJOR.to_le_bytes());
        out[14..16].copy_from_slice(&FORMAT_MINOR.to_le_bytes());
        out[20..24].copy_from_slice(&(all.len() as u32).to_le_bytes());
        let total = out.len() as u64;
        out[24..32].copy_from_slice(&total.to_le_bytes());
        for (i, (code, flags, offset, len)) in entries.iter().enumerate() {
            let o = HEADER_LEN + i * SECTION_ENTRY_LEN;
            out[o..o + 4].copy_from_slice(&code.to_le_bytes());
            out[o + 4..o + 8].copy_from_slice(&flags.to_le_bytes());
            out[o + 8..o + 16].copy_from_slice(&offset.to_le_bytes());
            out[o + 16..o + 24].copy_from_slice(&len.to_le_bytes());
        }
        let crc = checksum(&out);
        out[32..36].copy_from_slice(&crc.to_le_bytes());
        out
    }
}

#[cfg(all(test, feature = "write"))]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut w = BundleWriter::new();
        w.section(SectionKind::Program, true, b"program".to_vec());
        w.section(SectionKind::Dfa, true, vec![1, 2, 3]);
        w.finish(&Meta {
            compiler: "waapc".into(),
            compiler_version: "0.1.0".into(),
            revision: "r1".into(),
            extra: vec![],
        })
    }

    #[test]
    fn bundle_round_trips() {
        let b = sample();
        let parsed = Bundle::parse(&b).unwrap();
        assert_eq!(parsed.meta.revision, "r1");
        assert_eq!(parsed.program(), b"program");
        assert_eq!(parsed.dfas().collect::<Vec<_>>(), vec![&[1u8, 2, 3][..]]);
        assert!(parsed.sections.iter().all(|s| s.offset % 8 == 0));
    }

    #[test]
    fn bundle_rejects_truncated_buffer_at_every_length() {
        let b = sample();
        for n in 0..b.len() {
            let e = Bundle::parse(&b[..n]).unwrap_err();
            assert!(
                matches!(
                    e.kind,
                    BundleErrorKind::Truncated { .. } | BundleErrorKind::LengthMismatch { .. }
                ),
                "len {n}: {e}"
            );
        }
    }

    #[test]
    fn bundle_rejects_every_single_bit_flip() {
        let b = sample();
        for byte in 0..b.len() {
            for bit in 0..8 {
                let mut c = b.clone();
                c[byte] ^= 1 << bit;
                assert!(
                    Bundle::parse(&c).is_err(),
                    "flip at byte {byte} bit {bit} accepted"
                );
            }
        }
    }

    #[test]
    fn bundle_rejects_wrong_major_version_with_versions_in_message() {
        let mut b = sample();
        b[12..14].copy_from_slice(&2u16.to_le_bytes());
        let e = Bundle::parse(&b).unwrap_err();
        assert_eq!(
            e.kind,
            BundleErrorKind::UnsupportedVersion { major: 2, minor: 0 }
        );
        assert!(e.to_string().contains("format 2.0"), "{e}");
    }

    #[test]
    fn bundle_rejects_unknown_required_section_but_skips_optional() {
        let meta = Meta {
            compiler: "t".into(),
            compiler_version: "0".into(),
            revision: "r".into(),
            extra: vec![],
        };
        let mut w = BundleWriter::new();
        w.section(SectionKind::Program, true, vec![]);
        w.section(SectionKind::Unknown(99), false, vec![7]);
        assert!(Bundle::parse(&w.finish(&meta)).is_ok());
        let mut w = BundleWriter::new();
        w.section(SectionKind::Program, true, vec![]);
        w.section(SectionKind::Unknown(99), true, vec![7]);
        let e = Bundle::parse(&w.finish(&meta)).unwrap_err();
        assert!(matches!(
            e.kind,
            BundleErrorKind::UnknownRequiredSection { code: 99, .. }
        ));
    }

    #[test]
    fn bundle_rejects_missing_program_section() {
        let meta = Meta {
            compiler: "t".into(),
            compiler_version: "0".into(),
            revision: "r".into(),
            extra: vec![],
        };
        let e = Bundle::parse(&BundleWriter::new().finish(&meta)).unwrap_err();
        assert_eq!(e.kind, BundleErrorKind::MissingSection("PROGRAM"));
    }
}
