//! The client address a request came from, trusting `X-Forwarded-For` only from configured
//! proxies.
//!
//! With no trusted proxies (the default) the address is the TCP peer and forwarded headers are
//! ignored: a client could otherwise rotate them to dodge per-address limits. When the peer is a
//! trusted proxy, the client is the right-most `X-Forwarded-For` entry that is not itself a
//! trusted proxy (entries to its left were written by the client and prove nothing).

use actix_web::HttpRequest;
use std::net::IpAddr;
use std::str::FromStr;

/// One trusted network: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr = canonical(addr.trim().parse::<IpAddr>().map_err(|_| format!("`{s}` is not an IP address or CIDR"))?);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => {
                p.trim().parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| format!("bad prefix in `{s}`"))?
            }
        };
        Ok(Self { addr, prefix })
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) compare as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// The proxies whose `X-Forwarded-For` is believed (`TANDEM_TRUSTED_PROXIES`: comma-separated
/// IPs or CIDRs; empty trusts nobody).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    /// Parse a comma-separated list of IPs and CIDRs (blank entries are ignored).
    ///
    /// # Errors
    /// An entry that is not an IP address or CIDR.
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',').map(str::trim).filter(|e| !e.is_empty()).map(Cidr::from_str).collect::<Result<_, _>>().map(Self)
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// The client address of `peer` given the request's `X-Forwarded-For` values (in header
    /// order): `peer` unless it is trusted, else the right-most untrusted forwarded entry. An
    /// unparsable entry stops the walk at the hop that wrote it.
    pub fn client_of<'a>(&self, peer: IpAddr, forwarded_for: impl IntoIterator<Item = &'a str>) -> IpAddr {
        let mut client = canonical(peer);
        if !self.contains(client) {
            return client;
        }
        let entries: Vec<&str> = forwarded_for.into_iter().flat_map(|v| v.split(',')).map(str::trim).collect();
        for entry in entries.iter().rev() {
            let Ok(ip) = entry.parse::<IpAddr>().map(canonical) else { break };
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        client
    }
}

/// The client address of `req` (see the module documentation); `None` only when the
/// connection has no peer address (never for TCP).
pub fn client_ip(req: &HttpRequest, trusted: &TrustedProxies) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let forwarded = req.headers().get_all("x-forwarded-for").filter_map(|v| v.to_str().ok()).collect::<Vec<_>>();
    Some(trusted.client_of(peer, forwarded))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn nobody_is_trusted_by_default() {
        let t = TrustedProxies::default();
        assert_eq!(t.client_of(ip("10.0.0.1"), ["1.2.3.4"]), ip("10.0.0.1"));
    }

    #[test]
    fn the_right_most_untrusted_forwarded_address_is_the_client() {
        let t = TrustedProxies::parse("10.0.0.0/8, 192.168.1.7,::1").unwrap();
        // The client forged the left entry; the proxy appended the real peer.
        assert_eq!(t.client_of(ip("10.1.2.3"), ["6.6.6.6, 1.2.3.4"]), ip("1.2.3.4"));
        // Several headers, and a chain of trusted proxies.
        assert_eq!(t.client_of(ip("192.168.1.7"), ["6.6.6.6", "1.2.3.4, 10.9.9.9"]), ip("1.2.3.4"));
        assert_eq!(t.client_of(ip("::ffff:10.0.0.2"), ["1.2.3.4"]), ip("1.2.3.4"));
        assert_eq!(t.client_of(ip("::1"), ["2001:db8::5"]), ip("2001:db8::5"));
        // An untrusted peer's header is ignored.
        assert_eq!(t.client_of(ip("8.8.8.8"), ["1.2.3.4"]), ip("8.8.8.8"));
        // Garbage stops the walk at the last address a trusted hop vouched for.
        assert_eq!(t.client_of(ip("10.0.0.1"), ["1.2.3.4, garbage, 10.0.0.5"]), ip("10.0.0.5"));
        // No header: the proxy itself.
        assert_eq!(t.client_of(ip("10.0.0.1"), []), ip("10.0.0.1"));
    }

    #[test]
    fn bad_entries_are_refused() {
        assert!(TrustedProxies::parse("").unwrap() == TrustedProxies::default());
        for bad in ["10.0.0.0/33", "nope", "::/129", "1.2.3.4/x"] {
            assert!(TrustedProxies::parse(bad).is_err(), "{bad}");
        }
        let all = TrustedProxies::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("203.0.113.9")) && !all.contains(ip("2001:db8::1")));
    }
}
