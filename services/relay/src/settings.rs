//! Relay settings, read from the environment.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `TANDEM_ICE_SERVERS` | none | comma-separated `stun:`/`turn:`/`turns:` URLs given to the relay's peer connections and to clients (`Link` headers) |
//! | `TANDEM_TURN_SECRET` | none | coturn's `static-auth-secret` (≥ 16 characters): `turn:` URLs get short-lived per-user credentials ([`crate::turn`]); required when a `turn:`/`turns:` URL is configured |
//! | `TANDEM_TURN_TTL_SECS` | `3600` | how long those credentials are valid |
//! | `TANDEM_RELAY_HOSTS` | `127.0.0.1,0.0.0.0` | IPs whose UDP sockets carry media; `0.0.0.0` means every non-loopback IPv4 interface |
//! | `TANDEM_RELAY_UDP_PORTS` | any (ephemeral) | `lo-hi`: the only UDP ports the relay binds (one per session and host) |
//! | `TANDEM_RELAY_PUBLIC_IPS` | none | comma-separated public IPs advertised instead of host addresses (1:1 NAT) |
//! | `TANDEM_RELAY_PLI_SECS` | `2` | how often the relay asks each publisher for a keyframe |
//! | `TANDEM_RELAY_REVALIDATE_SECS` | `10` | how often running slots are re-validated with the broker |
//! | `TANDEM_RELAY_MAX_PLAYS_PER_TOKEN` | `3` | WHEP sessions one play token may hold (private rooms: 1) |
//! | `TANDEM_RELAY_MAX_PLAYS_PER_USER` | `8` | WHEP sessions one user may hold on this node, over every slot (private rooms: 1 per slot) |
//! | `TANDEM_RELAY_MAX_PLAYS_PER_SLOT` | `500` | WHEP sessions one slot may feed on this node |
//! | `TANDEM_BROKER_URL` | `TANDEM_PUBLIC_URL` | where to report publish start/stop when the broker runs elsewhere |

use anyhow::Context;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

/// One STUN or TURN server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceServer {
    /// `stun:host:port`, `turn:host:port?transport=udp`, ...
    pub url: String,
    /// A `turn:`/`turns:` server: it needs credentials.
    pub turn: bool,
}

impl IceServer {
    /// The RFC 9725 `Link` header value for this server, with `credential` for TURN.
    pub fn link_header(&self, credential: Option<&crate::turn::TurnCredential>) -> String {
        let mut v = format!("<{}>; rel=\"ice-server\"", self.url);
        if let (true, Some(c)) = (self.turn, credential) {
            v.push_str(&format!(
                "; username=\"{}\"; credential=\"{}\"; credential-type=\"password\"",
                c.username, c.credential
            ));
        }
        v
    }
}

/// What the relay reads from the environment.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// STUN/TURN servers.
    pub ice_servers: Vec<IceServer>,
    /// IPs the media sockets bind.
    pub hosts: Vec<IpAddr>,
    /// Allowed UDP ports, if restricted.
    pub udp_ports: Option<RangeInclusive<u16>>,
    /// Public IPs to advertise (1:1 NAT).
    pub public_ips: Vec<IpAddr>,
    /// Period of keyframe requests to publishers.
    pub pli_interval: Duration,
    /// Base URL of the broker, if it runs in another process.
    pub broker_url: Option<String>,
    /// How often running slots are re-validated with the broker.
    pub revalidate_interval: Duration,
    /// Caps on play sessions.
    pub play_limits: crate::forward::PlayLimits,
    /// Signs short-lived TURN credentials (coturn's `static-auth-secret`).
    pub turn_secret: Option<crate::turn::TurnSecret>,
    /// How long TURN credentials are valid.
    pub turn_ttl: Duration,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            ice_servers: Vec::new(),
            hosts: vec![IpAddr::from([127, 0, 0, 1]), IpAddr::from([0, 0, 0, 0])],
            udp_ports: None,
            public_ips: Vec::new(),
            pli_interval: Duration::from_secs(2),
            broker_url: None,
            revalidate_interval: Duration::from_secs(10),
            play_limits: crate::forward::PlayLimits::default(),
            turn_secret: None,
            turn_ttl: Duration::from_secs(3600),
        }
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// Parse `lo-hi` (inclusive, lo <= hi, lo > 0).
pub fn parse_port_range(value: &str) -> anyhow::Result<RangeInclusive<u16>> {
    let (lo, hi) = value.split_once('-').context("expected lo-hi, e.g. 40000-40100")?;
    let lo: u16 = lo.trim().parse().context("the low port is not a number")?;
    let hi: u16 = hi.trim().parse().context("the high port is not a number")?;
    anyhow::ensure!(lo > 0 && lo <= hi, "expected 0 < lo <= hi");
    Ok(lo..=hi)
}

/// Parse a comma-separated list of ICE server URLs.
pub fn parse_ice_servers(value: &str) -> anyhow::Result<Vec<IceServer>> {
    list(value)
        .map(|url| {
            let scheme = url.split(':').next().unwrap_or_default();
            let turn = match scheme {
                "stun" | "stuns" => false,
                "turn" | "turns" => true,
                _ => anyhow::bail!("`{url}` is not a stun:, stuns:, turn: or turns: URL"),
            };
            anyhow::ensure!(!url.contains(['<', '>', '"', ' ']), "`{url}` contains characters a URL cannot");
            Ok(IceServer { url: url.to_string(), turn })
        })
        .collect()
}

impl RelaySettings {
    /// TURN credentials for `who` (a user id, or `relay`), valid [`RelaySettings::turn_ttl`]
    /// from now; `None` without a TURN secret.
    pub fn turn_credential(&self, who: &str) -> Option<crate::turn::TurnCredential> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let expires = (now + self.turn_ttl.as_secs()) as i64;
        self.turn_secret.as_ref().map(|s| s.credential(who, expires))
    }
}

impl RelaySettings {
    /// Read the settings, applying the documented defaults.
    ///
    /// # Errors
    /// A variable that is set but does not parse.
    pub fn from_env() -> anyhow::Result<Self> {
        let mut s = Self::default();
        if var("TANDEM_TURN_USERNAME").is_some() || var("TANDEM_TURN_CREDENTIAL").is_some() {
            anyhow::bail!(
                "static TURN credentials (TANDEM_TURN_USERNAME, TANDEM_TURN_CREDENTIAL) are no longer handed out: \
                 set TANDEM_TURN_SECRET to the TURN server's static-auth-secret instead"
            );
        }
        if let Some(v) = var("TANDEM_TURN_SECRET") {
            s.turn_secret = Some(crate::turn::TurnSecret::new(v.trim()).context("TANDEM_TURN_SECRET")?);
        }
        if let Some(v) = var("TANDEM_TURN_TTL_SECS") {
            let secs: u64 = v.parse().context("TANDEM_TURN_TTL_SECS must be a number of seconds")?;
            anyhow::ensure!((60..=86_400).contains(&secs), "TANDEM_TURN_TTL_SECS must be 60 to 86400");
            s.turn_ttl = Duration::from_secs(secs);
        }
        if let Some(v) = var("TANDEM_ICE_SERVERS") {
            s.ice_servers = parse_ice_servers(&v).context("TANDEM_ICE_SERVERS")?;
            anyhow::ensure!(
                s.turn_secret.is_some() || !s.ice_servers.iter().any(|i| i.turn),
                "TANDEM_ICE_SERVERS has a turn: URL: set TANDEM_TURN_SECRET (the TURN server's static-auth-secret)"
            );
        }
        if let Some(v) = var("TANDEM_RELAY_HOSTS") {
            s.hosts = list(&v)
                .map(|h| h.parse::<IpAddr>().with_context(|| format!("TANDEM_RELAY_HOSTS: `{h}` is not an IP")))
                .collect::<anyhow::Result<_>>()?;
            anyhow::ensure!(!s.hosts.is_empty(), "TANDEM_RELAY_HOSTS is empty");
        }
        if let Some(v) = var("TANDEM_RELAY_UDP_PORTS") {
            s.udp_ports = Some(parse_port_range(&v).context("TANDEM_RELAY_UDP_PORTS")?);
        }
        if let Some(v) = var("TANDEM_RELAY_PUBLIC_IPS") {
            s.public_ips = list(&v)
                .map(|h| h.parse::<IpAddr>().with_context(|| format!("TANDEM_RELAY_PUBLIC_IPS: `{h}` is not an IP")))
                .collect::<anyhow::Result<_>>()?;
        }
        if let Some(v) = var("TANDEM_RELAY_PLI_SECS") {
            let secs: u64 = v.parse().context("TANDEM_RELAY_PLI_SECS must be a number of seconds")?;
            anyhow::ensure!(secs > 0, "TANDEM_RELAY_PLI_SECS must be at least 1");
            s.pli_interval = Duration::from_secs(secs);
        }
        if let Some(v) = var("TANDEM_RELAY_REVALIDATE_SECS") {
            let secs: u64 = v.parse().map_err(|_| anyhow::anyhow!("TANDEM_RELAY_REVALIDATE_SECS must be a number"))?;
            anyhow::ensure!(secs > 0, "TANDEM_RELAY_REVALIDATE_SECS must be positive");
            s.revalidate_interval = Duration::from_secs(secs);
        }
        for (name, cap) in [
            ("TANDEM_RELAY_MAX_PLAYS_PER_TOKEN", &mut s.play_limits.per_token),
            ("TANDEM_RELAY_MAX_PLAYS_PER_USER", &mut s.play_limits.per_user),
            ("TANDEM_RELAY_MAX_PLAYS_PER_SLOT", &mut s.play_limits.per_slot),
        ] {
            if let Some(v) = var(name) {
                let n: usize = v.parse().map_err(|_| anyhow::anyhow!("{name} must be a number"))?;
                anyhow::ensure!(n > 0, "{name} must be at least 1");
                *cap = n;
            }
        }
        s.broker_url = var("TANDEM_BROKER_URL").map(|u| u.trim_end_matches('/').to_string());
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_parse() {
        assert_eq!(parse_port_range("40000-40010").expect("parses"), 40000..=40010);
        assert_eq!(parse_port_range(" 5 - 5 ").expect("parses"), 5..=5);
        for bad in ["40000", "10-5", "0-10", "a-b", "1-70000"] {
            assert!(parse_port_range(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn ice_servers_parse_and_only_turn_gets_credentials() {
        let servers = parse_ice_servers("stun:127.0.0.1:3478, turn:127.0.0.1:3478?transport=udp").expect("parses");
        assert_eq!(servers.len(), 2);
        assert!(!servers[0].turn && servers[1].turn);
        let settings = RelaySettings {
            turn_secret: Some(crate::turn::TurnSecret::new("0123456789abcdef").expect("secret")),
            ..Default::default()
        };
        let c = settings.turn_credential("user-1").expect("a credential");
        assert_eq!(servers[0].link_header(Some(&c)), "<stun:127.0.0.1:3478>; rel=\"ice-server\"");
        let turn = servers[1].link_header(Some(&c));
        assert!(turn.contains(&format!("username=\"{}\"; credential=\"{}\"", c.username, c.credential)), "{turn}");
        assert!(c.username.ends_with(":user-1"));
        assert!(RelaySettings::default().turn_credential("user-1").is_none());
        assert!(parse_ice_servers("http://x").is_err());
    }
}
