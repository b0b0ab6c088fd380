//! `waap-ratelimit`: a rate-limit service for Envoy's
//! `envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit`, whose counters live in
//! Redis. It keeps no counter in process: every decision is one Lua script run on the Redis
//! server (INCRBY, and EXPIRE when the window's key is new), so any number of service
//! replicas and Envoys share one count.
//!
//! Limits come with the request: each descriptor's `limit` override (requests per unit) is
//! the limit, and the window is the unit, aligned to the epoch (fixed windows, as
//! envoyproxy/ratelimit counts). A descriptor without an override is not limited (`OK`,
//! nothing counted), like a descriptor envoyproxy/ratelimit has no configuration for.

use std::time::{SystemTime, UNIX_EPOCH};

use envoy_types::pb::envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::{
    rate_limit::Unit as RespUnit, Code, DescriptorStatus, RateLimit,
};
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_server::RateLimitService;
use envoy_types::pb::envoy::service::ratelimit::v3::{RateLimitRequest, RateLimitResponse};
use envoy_types::pb::google::protobuf::Duration;

/// The script run once per decision: for each key, add its hits and set the window's expiry
/// when the key is new; returns the counts. Atomic on the Redis server.
pub const SCRIPT: &str = r"
local out = {}
for i, key in ipairs(KEYS) do
  local hits = tonumber(ARGV[2 * i - 1])
  local c = redis.call('INCRBY', key, hits)
  if c == hits then redis.call('EXPIRE', key, tonumber(ARGV[2 * i])) end
  out[i] = c
end
return out
";

/// Seconds in a `RateLimitUnit` (1 second .. 1 day; months and years are refused).
pub fn unit_seconds(unit: i32) -> Option<u64> {
    match unit {
        1 => Some(1),
        2 => Some(60),
        3 => Some(3_600),
        4 => Some(86_400),
        _ => None,
    }
}

/// One counted descriptor of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    /// Index of the descriptor in the request.
    pub index: usize,
    /// Redis key (prefix, domain, entries, window start).
    pub key: String,
    /// Hits to add.
    pub hits: u64,
    /// Limit per window.
    pub limit: u32,
    /// The unit, as sent.
    pub unit: i32,
    /// Window length in seconds.
    pub window: u64,
    /// Seconds until the window ends.
    pub reset: u64,
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('=', "\\=")
}

/// The descriptors of `req` that carry a limit, with their Redis keys at `now_secs`.
pub fn counted(prefix: &str, req: &RateLimitRequest, now_secs: u64) -> Vec<Counted> {
    let default_hits = u64::from(req.hits_addend.max(1));
    req.descriptors
        .iter()
        .enumerate()
        .filter_map(|(index, d): (usize, &RateLimitDescriptor)| {
            let l = d.limit.as_ref()?;
            let window = unit_seconds(l.unit)?;
            let start = now_secs - now_secs % window;
            let mut key = format!("{prefix}|{}", escape(&req.domain));
            for e in &d.entries {
                key.push('|');
                key.push_str(&escape(&e.key));
                key.push('=');
                key.push_str(&escape(&e.value));
            }
            key.push_str(&format!("|{start}"));
            let hits = d
                .hits_addend
                .as_ref()
                .map_or(default_hits, |h| h.value.max(1));
            Some(Counted {
                index,
                key,
                hits,
                limit: l.requests_per_unit,
                unit: l.unit,
                window,
                reset: start + window - now_secs,
            })
        })
        .collect()
}

/// The response for `n` descriptors given the counts of the counted ones.
pub fn respond(n: usize, counted: &[Counted], counts: &[u64]) -> RateLimitResponse {
    let mut statuses = vec![
        DescriptorStatus {
            code: Code::Ok as i32,
            ..Default::default()
        };
        n
    ];
    let mut overall = Code::Ok;
    for (c, &count) in counted.iter().zip(counts) {
        let over = count > u64::from(c.limit);
        if over {
            overall = Code::OverLimit;
        }
        if let Some(s) = statuses.get_mut(c.index) {
            *s = DescriptorStatus {
                code: if over { Code::OverLimit } else { Code::Ok } as i32,
                current_limit: Some(RateLimit {
                    name: String::new(),
                    requests_per_unit: c.limit,
                    unit: RespUnit::try_from(c.unit).unwrap_or(RespUnit::Unknown) as i32,
                }),
                limit_remaining: u64::from(c.limit).saturating_sub(count) as u32,
                duration_until_reset: Some(Duration {
                    seconds: c.reset as i64,
                    nanos: 0,
                }),
                ..Default::default()
            };
        }
    }
    RateLimitResponse {
        overall_code: overall as i32,
        statuses,
        ..Default::default()
    }
}

/// The service: a Redis connection (reconnecting) and the key prefix.
pub struct Service {
    /// Redis connection.
    pub redis: redis::aio::ConnectionManager,
    /// Prefix of every key.
    pub prefix: String,
    script: redis::Script,
}

impl Service {
    /// A service on `redis`.
    pub fn new(redis: redis::aio::ConnectionManager, prefix: String) -> Service {
        Service {
            redis,
            prefix,
            script: redis::Script::new(SCRIPT),
        }
    }

    /// One decision.
    pub async fn decide(
        &self,
        req: &RateLimitRequest,
    ) -> Result<RateLimitResponse, redis::RedisError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let cs = counted(&self.prefix, req, now);
        if cs.is_empty() {
            return Ok(respond(req.descriptors.len(), &[], &[]));
        }
        let mut inv = self.script.prepare_invoke();
        for c in &cs {
            inv.key(&c.key).arg(c.hits).arg(c.window + 1);
        }
        let mut conn = self.redis.clone();
        let counts: Vec<u64> = inv.invoke_async(&mut conn).await?;
        Ok(respond(req.descriptors.len(), &cs, &counts))
    }
}

#[tonic::async_trait]
impl RateLimitService for Service {
    async fn should_rate_limit(
        &self,
        request: tonic::Request<RateLimitRequest>,
    ) -> Result<tonic::Response<RateLimitResponse>, tonic::Status> {
        match self.decide(request.get_ref()).await {
            Ok(r) => Ok(tonic::Response::new(r)),
            Err(e) => {
                eprintln!("waap-ratelimit: redis error: {e}");
                Err(tonic::Status::unavailable(format!("redis: {e}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::extensions::common::ratelimit::v3::rate_limit_descriptor::{
        Entry, RateLimitOverride,
    };
    use prost::Message;
    use waap_engine::ratelimit::proto;

    fn prost_request() -> RateLimitRequest {
        RateLimitRequest {
            domain: "waap".into(),
            descriptors: vec![
                RateLimitDescriptor {
                    entries: vec![
                        Entry {
                            key: "waap_limit".into(),
                            value: "login".into(),
                        },
                        Entry {
                            key: "key".into(),
                            value: "00ff00ff00ff00ff".into(),
                        },
                    ],
                    limit: Some(RateLimitOverride {
                        requests_per_unit: 300,
                        unit: 2,
                    }),
                    ..Default::default()
                },
                RateLimitDescriptor {
                    entries: vec![Entry {
                        key: "waap_limit".into(),
                        value: "api".into(),
                    }],
                    limit: None,
                    ..Default::default()
                },
            ],
            hits_addend: 0,
        }
    }

    #[test]
    fn the_engines_hand_written_request_encodes_like_prost() {
        let ours = proto::Request {
            domain: "waap".into(),
            descriptors: vec![
                proto::Descriptor {
                    entries: vec![
                        ("waap_limit".into(), "login".into()),
                        ("key".into(), "00ff00ff00ff00ff".into()),
                    ],
                    limit: Some((300, proto::Unit::Minute)),
                },
                proto::Descriptor {
                    entries: vec![("waap_limit".into(), "api".into())],
                    limit: None,
                },
            ],
            hits_addend: 0,
        };
        assert_eq!(ours.encode(), prost_request().encode_to_vec());
    }

    #[test]
    fn the_engine_decodes_prost_responses() {
        let cs = counted("p", &prost_request(), 1_000_000);
        assert_eq!(cs.len(), 1);
        assert_eq!(
            cs[0].key,
            "p|waap|waap_limit=login|key=00ff00ff00ff00ff|999960"
        );
        assert_eq!(cs[0].reset, 20);
        let resp = respond(2, &cs, &[301]);
        let bytes = resp.encode_to_vec();
        let ours = proto::Response::decode(&bytes).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(ours.overall, proto::Code::OverLimit);
        assert_eq!(
            ours.statuses,
            vec![
                proto::Status {
                    code: proto::Code::OverLimit,
                    remaining: 0,
                    reset_secs: 20
                },
                proto::Status {
                    code: proto::Code::Ok,
                    remaining: 0,
                    reset_secs: 0
                },
            ]
        );
        let ok = respond(2, &cs, &[300]);
        assert_eq!(ok.overall_code, Code::Ok as i32);
        assert_eq!(ok.statuses[0].limit_remaining, 0);
    }
}
