//! Client connections spread over source addresses (127.0.0.x on loopback), so tens of
//! thousands of sockets do not run out of ephemeral ports on one address pair.

use anyhow::Context;
use std::net::{IpAddr, SocketAddr};
use tokio::net::TcpSocket;

/// Source addresses to spread connections over: 127.0.0.2..=127.0.0.(1+n) for loopback
/// targets, the unspecified address otherwise.
pub fn source_addrs(target_is_loopback: bool, n: u8) -> Vec<IpAddr> {
    if target_is_loopback {
        (0..n.max(1)).map(|i| IpAddr::from([127, 0, 0, 2 + i])).collect()
    } else {
        vec![IpAddr::from([0, 0, 0, 0])]
    }
}

/// Open a TCP connection to `dest` from `source` (port chosen by the kernel).
///
/// # Errors
/// Connection refused, or out of descriptors/ports.
pub async fn connect_from(source: IpAddr, dest: SocketAddr) -> anyhow::Result<tokio::net::TcpStream> {
    let socket = if dest.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    if !source.is_unspecified() {
        socket.bind(SocketAddr::new(source, 0)).with_context(|| format!("Failed to bind source address {source}"))?;
    }
    let stream = socket.connect(dest).await.with_context(|| format!("Failed to connect to {dest}"))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Host and port of an `http://host:port` base URL, resolved.
///
/// # Errors
/// Not an http URL, or the host does not resolve.
pub async fn resolve(target: &str) -> anyhow::Result<SocketAddr> {
    let url = reqwest::Url::parse(target).with_context(|| format!("invalid target URL {target}"))?;
    let host = url.host_str().context("target URL has no host")?.to_string();
    let port = url.port_or_known_default().context("target URL has no port")?;
    let mut addrs =
        tokio::net::lookup_host((host.as_str(), port)).await.with_context(|| format!("cannot resolve {host}"))?;
    addrs.next().with_context(|| format!("{host} resolves to nothing"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_targets_spread_over_127_0_0_x() {
        let a = super::source_addrs(true, 3);
        assert_eq!(a.len(), 3);
        assert_eq!(a[0].to_string(), "127.0.0.2");
        assert!(super::source_addrs(false, 3)[0].is_unspecified());
    }
}
