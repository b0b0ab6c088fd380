//! The bot-management configuration carried in the FAMILIES section (`Families::bots`).

use serde::{Deserialize, Serialize};

/// Bot management: signatures, score heuristics, verified good bots, a TLS fingerprint
/// signal, per-route score bands and the proof-of-work challenge.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct BotsConfig {
    /// Monitor mode: decisions are logged and counted, nothing is enforced.
    pub monitor: bool,
    /// User-agent signatures, in policy order.
    pub signatures: Vec<Signature>,
    /// The program literal set holding the literal signatures, in the order of
    /// [`SigKind::Literal`] indices.
    pub literal_set: Option<u32>,
    /// Verified good bots (user agent AND source ranges).
    pub good_bots: Vec<GoodBot>,
    /// Header heuristics and their score weights.
    pub heuristics: Heuristics,
    /// The TLS fingerprint signal.
    pub tls: TlsSignal,
    /// Routes by path prefix (longest prefix wins); a path under none is not scored.
    pub routes: Vec<BotRoute>,
    /// Path prefixes never scored nor challenged (health checks, robots.txt, .well-known).
    pub allow_paths: Vec<String>,
    /// The proof-of-work challenge and its tokens.
    pub challenge: ChallengeConfig,
    /// Claims of a validated token (filled by authentication, which runs first) that
    /// exempt a request from bot checks: (claim name, value).
    pub exempt_claims: Vec<(String, String)>,
}

/// One user-agent signature.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Signature {
    /// Name for logs (`sig:<category>:<name>`).
    pub name: String,
    /// `scanner`, `http_library`, `headless`, `ai_crawler` or a user category.
    pub category: String,
    /// Score (0-100) a match adds; the highest matching signature counts.
    pub score: u8,
    /// How it matches.
    pub kind: SigKind,
}

/// How a signature matches the user agent.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum SigKind {
    /// Substring, ASCII case-insensitive: index within the literal set.
    Literal(u32),
    /// Regex (a DFA): index into the program's regexes.
    Regex(u32),
}

impl Default for SigKind {
    fn default() -> Self {
        SigKind::Literal(0)
    }
}

/// A good bot that is only trusted from its published address ranges.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct GoodBot {
    /// Name for logs.
    pub name: String,
    /// Lowercased user-agent substring that claims to be this bot.
    pub user_agent: String,
    /// Source ranges it is verified from.
    pub ranges: Vec<Cidr>,
}

/// An address range.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cidr {
    /// Network address, IPv4 in the first 4 bytes.
    pub net: [u8; 16],
    /// IPv4 range.
    pub v4: bool,
    /// Prefix length.
    pub len: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`, `x::/n` or a bare address (a host range).
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let ip: std::net::IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR range"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => max,
            Some(l) => l
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|l| *l <= max)
                .ok_or_else(|| format!("{s:?}: prefix length must be 0..={max}"))?,
        };
        let mut net = [0u8; 16];
        match ip {
            std::net::IpAddr::V4(a) => net[..4].copy_from_slice(&a.octets()),
            std::net::IpAddr::V6(a) => net.copy_from_slice(&a.octets()),
        }
        Ok(Cidr {
            net: mask(net, len),
            v4: ip.is_ipv4(),
            len,
        })
    }

    /// Whether `ip` is in the range (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        let (bytes, v4) = ip_bytes(ip);
        v4 == self.v4 && mask(bytes, self.len) == self.net
    }
}

/// The address as 16 bytes (IPv4 in the first 4) and whether it is IPv4.
pub(crate) fn ip_bytes(ip: std::net::IpAddr) -> ([u8; 16], bool) {
    let mut b = [0u8; 16];
    match ip.to_canonical() {
        std::net::IpAddr::V4(a) => {
            b[..4].copy_from_slice(&a.octets());
            (b, true)
        }
        std::net::IpAddr::V6(a) => (a.octets(), false),
    }
}

/// `bytes` with all bits after the first `len` cleared.
pub(crate) fn mask(mut bytes: [u8; 16], len: u8) -> [u8; 16] {
    for (i, b) in bytes.iter_mut().enumerate() {
        let keep = (len as usize).saturating_sub(i * 8).min(8);
        *b &= if keep == 0 { 0 } else { 0xffu8 << (8 - keep) };
    }
    bytes
}

/// Header heuristics: the score each anomaly adds (0 disables it). The browser ones apply
/// only to user agents that claim to be a browser (`Mozilla/` with a browser engine).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Heuristics {
    /// No `User-Agent` or an empty one.
    pub no_user_agent: u8,
    /// Browser without `Accept`.
    pub missing_accept: u8,
    /// Browser without `Accept-Language`.
    pub missing_accept_language: u8,
    /// Browser without `Accept-Encoding`.
    pub missing_accept_encoding: u8,
    /// `sec-ch-ua` sent with a user agent that is not Chromium-based.
    pub sec_ch_ua_mismatch: u8,
    /// A modern browser speaking HTTP/1.0.
    pub http10_browser: u8,
}

impl Default for Heuristics {
    fn default() -> Self {
        Heuristics {
            no_user_agent: 40,
            missing_accept: 20,
            missing_accept_language: 20,
            missing_accept_encoding: 10,
            sec_ch_ua_mismatch: 30,
            http10_browser: 30,
        }
    }
}

/// The TLS fingerprint (JA3/JA4) signal, read from a header Envoy fills.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct TlsSignal {
    /// Header name (lowercase); empty disables the signal.
    pub header: String,
    /// Fingerprints of known bad clients.
    pub deny: Vec<String>,
    /// Fingerprints of known good clients.
    pub allow: Vec<String>,
    /// Score a denied fingerprint adds.
    pub deny_score: u8,
    /// Score an allowed fingerprint takes off the heuristics (not off signatures).
    pub allow_credit: u8,
}

/// What a score band does.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum BandAction {
    /// Let through.
    Allow,
    /// Let through, log the score.
    Log,
    /// Serve the challenge unless a valid token is presented (API routes: JSON 403).
    Challenge,
    /// Deny (JSON 403).
    Block,
}

impl BandAction {
    /// The name in logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            BandAction::Allow => "allow",
            BandAction::Log => "log",
            BandAction::Challenge => "challenge",
            BandAction::Block => "block",
        }
    }
}

/// A score band: `action` from `min_score` up to the next band.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Band {
    /// Lowest score of the band.
    pub min_score: u8,
    /// What it does.
    pub action: BandAction,
}

/// A route: path prefix and its bands.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct BotRoute {
    /// Path prefix.
    pub prefix: String,
    /// API route: never answered with HTML (a challenge becomes a JSON 403).
    pub api: bool,
    /// Bands sorted by `min_score`; scores below the first band are allowed.
    pub bands: Vec<Band>,
}

impl BotRoute {
    /// The action for `score`.
    pub fn action(&self, score: u8) -> BandAction {
        self.bands
            .iter()
            .rev()
            .find(|b| score >= b.min_score)
            .map_or(BandAction::Allow, |b| b.action)
    }
}

/// The proof-of-work challenge.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ChallengeConfig {
    /// Leading zero bits of SHA-256(nonce ":" counter) a solution needs.
    pub difficulty: u8,
    /// Seconds a token (the cookie) stays valid.
    pub token_ttl: u32,
    /// Seconds a challenge nonce can be solved in.
    pub nonce_ttl: u32,
    /// Cookie name.
    pub cookie: String,
    /// Reserved path that takes solutions.
    pub path: String,
    /// Client binding: IPv4 prefix length.
    pub ipv4_prefix: u8,
    /// Client binding: IPv6 prefix length.
    pub ipv6_prefix: u8,
    /// Mark the cookie `Secure`.
    pub cookie_secure: bool,
    /// Non-JavaScript fallback (meta refresh and a cookie check), only when
    /// `difficulty <= NOJS_MAX_DIFFICULTY`.
    pub nojs_fallback: bool,
    /// Seconds the non-JavaScript fallback makes a client wait.
    pub nojs_delay: u32,
    /// HMAC keys: the first signs, every one verifies (rotation: current, previous).
    pub keys: Vec<Secret>,
}

/// Highest difficulty for which the non-JavaScript fallback may be enabled.
pub const NOJS_MAX_DIFFICULTY: u8 = 12;

impl Default for ChallengeConfig {
    fn default() -> Self {
        ChallengeConfig {
            difficulty: 16,
            token_ttl: 3600,
            nonce_ttl: 300,
            cookie: "waap_bot".into(),
            path: "/.waap/challenge".into(),
            ipv4_prefix: 24,
            ipv6_prefix: 64,
            cookie_secure: false,
            nojs_fallback: false,
            nojs_delay: 3,
            keys: Vec::new(),
        }
    }
}

/// Key material. Its `Debug` never shows the bytes.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Default)]
pub struct Secret(pub Vec<u8>);

impl core::fmt::Debug for Secret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Secret(<{} bytes redacted>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_contains_its_addresses_only() {
        let c = Cidr::parse("66.249.64.0/19").unwrap();
        assert!(c.contains("66.249.66.1".parse().unwrap()));
        assert!(c.contains("::ffff:66.249.95.255".parse().unwrap()));
        assert!(!c.contains("66.249.96.1".parse().unwrap()));
        assert!(!c.contains("2001:db8::1".parse().unwrap()));
        let v6 = Cidr::parse("2001:4860:4801::/48").unwrap();
        assert!(v6.contains("2001:4860:4801:10::1".parse().unwrap()));
        assert!(!v6.contains("2001:4860:4802::1".parse().unwrap()));
        assert!(Cidr::parse("1.2.3.4/33").is_err());
        assert!(Cidr::parse("nope/8").is_err());
        assert!(Cidr::parse("10.0.0.1")
            .unwrap()
            .contains("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn bands_pick_the_highest_band_at_or_below_the_score() {
        let r = BotRoute {
            prefix: "/".into(),
            api: false,
            bands: vec![
                Band {
                    min_score: 30,
                    action: BandAction::Log,
                },
                Band {
                    min_score: 50,
                    action: BandAction::Challenge,
                },
                Band {
                    min_score: 80,
                    action: BandAction::Block,
                },
            ],
        };
        assert_eq!(r.action(0), BandAction::Allow);
        assert_eq!(r.action(30), BandAction::Log);
        assert_eq!(r.action(79), BandAction::Challenge);
        assert_eq!(r.action(100), BandAction::Block);
    }

    #[test]
    fn secret_debug_redacts() {
        let s = Secret(b"topsecretkeymaterial".to_vec());
        assert!(!format!("{s:?}").contains("topsecret"));
    }
}
