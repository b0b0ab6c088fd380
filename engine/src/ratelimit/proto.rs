//! The messages of `envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit`, encoded
//! and decoded by hand (the few fields the filter uses) so the engine needs no protobuf
//! crate. The encoding is byte-identical to prost's (fields in number order, proto3
//! defaults omitted); the service crate's tests check it against `envoy-types`.
//!
//! Decoding never panics: unknown fields are skipped, malformed input is an error.

/// gRPC service name of Envoy's rate-limit protocol.
pub const SERVICE: &str = "envoy.service.ratelimit.v3.RateLimitService";
/// gRPC method name.
pub const METHOD: &str = "ShouldRateLimit";

/// `envoy.type.v3.RateLimitUnit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// 1 second.
    Second = 1,
    /// 1 minute.
    Minute = 2,
    /// 1 hour.
    Hour = 3,
    /// 1 day.
    Day = 4,
}

impl Unit {
    /// The unit whose length is `ms`, if any.
    pub fn from_millis(ms: u64) -> Option<Unit> {
        match ms {
            1_000 => Some(Unit::Second),
            60_000 => Some(Unit::Minute),
            3_600_000 => Some(Unit::Hour),
            86_400_000 => Some(Unit::Day),
            _ => None,
        }
    }
}

/// One descriptor: `(key, value)` entries and an optional limit override.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    /// Entries, in order.
    pub entries: Vec<(String, String)>,
    /// `limit` override: requests per unit.
    pub limit: Option<(u32, Unit)>,
}

/// `RateLimitRequest`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Domain.
    pub domain: String,
    /// Descriptors.
    pub descriptors: Vec<Descriptor>,
    /// Hits to add (0: the service's default of 1).
    pub hits_addend: u32,
}

/// `RateLimitResponse.Code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// Unknown (0).
    Unknown,
    /// Under the limit.
    Ok,
    /// Over the limit.
    OverLimit,
}

impl Code {
    fn from_u64(v: u64) -> Code {
        match v {
            1 => Code::Ok,
            2 => Code::OverLimit,
            _ => Code::Unknown,
        }
    }
}

/// One `DescriptorStatus`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// Code for this descriptor.
    pub code: Code,
    /// `limit_remaining`.
    pub remaining: u32,
    /// `duration_until_reset`, in whole seconds (rounded up).
    pub reset_secs: u64,
}

/// `RateLimitResponse` (overall code and per-descriptor statuses).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// `overall_code`.
    pub overall: Code,
    /// `statuses`, in descriptor order.
    pub statuses: Vec<Status>,
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_tag(out: &mut Vec<u8>, field: u32, wire: u8) {
    put_varint(out, (u64::from(field) << 3) | u64::from(wire));
}

fn put_bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    put_tag(out, field, 2);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_str_nonempty(out: &mut Vec<u8>, field: u32, s: &str) {
    if !s.is_empty() {
        put_bytes(out, field, s.as_bytes());
    }
}

fn put_u64_nonzero(out: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        put_tag(out, field, 0);
        put_varint(out, v);
    }
}

impl Request {
    /// The protobuf encoding (no gRPC frame: the proxy adds it).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_str_nonempty(&mut out, 1, &self.domain);
        for d in &self.descriptors {
            let mut dm = Vec::new();
            for (k, v) in &d.entries {
                let mut em = Vec::new();
                put_str_nonempty(&mut em, 1, k);
                put_str_nonempty(&mut em, 2, v);
                put_bytes(&mut dm, 1, &em);
            }
            if let Some((n, unit)) = d.limit {
                let mut lm = Vec::new();
                put_u64_nonzero(&mut lm, 1, u64::from(n));
                put_u64_nonzero(&mut lm, 2, unit as u64);
                put_bytes(&mut dm, 2, &lm);
            }
            put_bytes(&mut out, 2, &dm);
        }
        put_u64_nonzero(&mut out, 3, u64::from(self.hits_addend));
        out
    }
}

/// Why a response could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

/// A field read from a message: number and payload.
enum Field<'a> {
    Varint(u32, u64),
    Bytes(u32, &'a [u8]),
    Other,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or(DecodeError("truncated varint"))?;
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(DecodeError("varint overflow"));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError("varint too long"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(DecodeError("length overflow"))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or(DecodeError("truncated field"))?;
        self.pos = end;
        Ok(s)
    }

    fn next(&mut self) -> Result<Option<Field<'a>>, DecodeError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let tag = self.varint()?;
        let field = u32::try_from(tag >> 3).map_err(|_| DecodeError("field number too large"))?;
        match tag & 7 {
            0 => Ok(Some(Field::Varint(field, self.varint()?))),
            1 => {
                self.take(8)?;
                Ok(Some(Field::Other))
            }
            2 => {
                let n =
                    usize::try_from(self.varint()?).map_err(|_| DecodeError("length too large"))?;
                Ok(Some(Field::Bytes(field, self.take(n)?)))
            }
            5 => {
                self.take(4)?;
                Ok(Some(Field::Other))
            }
            _ => Err(DecodeError("unsupported wire type")),
        }
    }
}

fn decode_status(buf: &[u8]) -> Result<Status, DecodeError> {
    let mut s = Status {
        code: Code::Unknown,
        remaining: 0,
        reset_secs: 0,
    };
    let mut r = Reader::new(buf);
    while let Some(f) = r.next()? {
        match f {
            Field::Varint(1, v) => s.code = Code::from_u64(v),
            Field::Varint(3, v) => s.remaining = v.min(u64::from(u32::MAX)) as u32,
            Field::Bytes(4, d) => {
                let (mut secs, mut nanos) = (0u64, 0u64);
                let mut dr = Reader::new(d);
                while let Some(f) = dr.next()? {
                    match f {
                        Field::Varint(1, v) => secs = v,
                        Field::Varint(2, v) => nanos = v & 0xffff_ffff,
                        _ => {}
                    }
                }
                // Negative durations (huge as u64) make no sense here: treat as 0.
                if secs > i64::MAX as u64 {
                    secs = 0;
                }
                s.reset_secs = secs + u64::from(nanos > 0 && nanos < 1_000_000_000);
            }
            _ => {}
        }
    }
    Ok(s)
}

impl Response {
    /// Decodes a `RateLimitResponse`, skipping fields it does not use.
    pub fn decode(buf: &[u8]) -> Result<Response, DecodeError> {
        let mut resp = Response {
            overall: Code::Unknown,
            statuses: Vec::new(),
        };
        let mut r = Reader::new(buf);
        while let Some(f) = r.next()? {
            match f {
                Field::Varint(1, v) => resp.overall = Code::from_u64(v),
                Field::Bytes(2, s) => resp.statuses.push(decode_status(s)?),
                _ => {}
            }
        }
        Ok(resp)
    }

    /// Encodes a response (for tests and the native service double).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let code = |c: Code| match c {
            Code::Unknown => 0,
            Code::Ok => 1,
            Code::OverLimit => 2,
        };
        put_u64_nonzero(&mut out, 1, code(self.overall));
        for s in &self.statuses {
            let mut sm = Vec::new();
            put_u64_nonzero(&mut sm, 1, code(s.code));
            put_u64_nonzero(&mut sm, 3, u64::from(s.remaining));
            let mut dm = Vec::new();
            put_u64_nonzero(&mut dm, 1, s.reset_secs);
            put_bytes(&mut sm, 4, &dm);
            put_bytes(&mut out, 2, &sm);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_encodes_fields_in_number_order_without_defaults() {
        let req = Request {
            domain: "d".into(),
            descriptors: vec![Descriptor {
                entries: vec![("k".into(), "v".into())],
                limit: Some((5, Unit::Minute)),
            }],
            hits_addend: 0,
        };
        // domain=1 "d"; descriptors=2 { entries=1 { key=1 "k", value=2 "v" }, limit=2 { 1:5, 2:2 } }
        let expect = [
            0x0a, 1, b'd', 0x12, 14, 0x0a, 6, 0x0a, 1, b'k', 0x12, 1, b'v', 0x12, 4, 0x08, 5, 0x10,
            2,
        ];
        assert_eq!(req.encode(), expect);
    }

    #[test]
    fn response_round_trips_and_skips_unknown_fields() {
        let resp = Response {
            overall: Code::OverLimit,
            statuses: vec![
                Status {
                    code: Code::Ok,
                    remaining: 3,
                    reset_secs: 10,
                },
                Status {
                    code: Code::OverLimit,
                    remaining: 0,
                    reset_secs: 42,
                },
            ],
        };
        let mut bytes = resp.encode();
        // An unknown length-delimited field 9 and a fixed64 field 10.
        bytes.extend_from_slice(&[0x4a, 2, 1, 2, 0x51, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(Response::decode(&bytes), Ok(resp));
    }

    #[test]
    fn malformed_responses_are_errors_not_panics() {
        for bad in [&[0x12u8, 50, 1][..], &[0x08, 0xff], &[0x0f], &[0xff; 12]] {
            assert!(Response::decode(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Response::decode(&[]),
            Ok(Response {
                overall: Code::Unknown,
                statuses: vec![]
            })
        );
    }
}
