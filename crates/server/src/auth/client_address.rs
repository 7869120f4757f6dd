//! The client's address as the operator's proxies saw it. `X-Forwarded-For` is believed
//! only from a peer listed in `trusted_proxies`: walking the header from the right (the hop
//! nearest us), trusted proxies are skipped and the first address that is not one is the
//! client. A header from anyone else is ignored, so a client cannot pick its own address
//! (and dodge the throttle, or lock out someone else's).

use std::net::IpAddr;

use actix_web::HttpRequest;
use anyhow::Context;

/// Networks whose forwarded headers are believed: addresses (`10.0.0.1`) or CIDR blocks
/// (`10.0.0.0/8`, `fd00::/8`).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    networks: Vec<(IpAddr, u8)>,
}

impl TrustedProxies {
    pub fn parse(entries: &[String]) -> anyhow::Result<Self> {
        let networks = entries
            .iter()
            .map(|entry| {
                parse_network(entry).with_context(|| format!("trusted_proxies: {entry:?}"))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(TrustedProxies { networks })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.networks
            .iter()
            .any(|(network, bits)| in_network(ip, *network, *bits))
    }

    /// The client's address for `req` (`None` without a peer address, as in unit tests).
    pub fn client(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = canonical(req.peer_addr()?.ip());
        let forwarded: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .collect();
        Some(self.resolve(peer, &forwarded))
    }

    /// The client behind `peer` given the `X-Forwarded-For` values, in order.
    pub fn resolve(&self, peer: IpAddr, forwarded: &[&str]) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let mut client = peer;
        let hops = forwarded.iter().flat_map(|v| v.split(',')).rev();
        for hop in hops {
            // A hop we cannot read was written by no proxy we trust: stop at the last one
            // that we do trust rather than believe anything to its left.
            let Some(ip) = parse_hop(hop) else {
                return client;
            };
            client = ip;
            if !self.contains(ip) {
                return ip;
            }
        }
        client
    }
}

fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    // `[v6]:port` or `v4:port`, as some proxies write them.
    if let Ok(socket) = hop.parse::<std::net::SocketAddr>() {
        return Some(canonical(socket.ip()));
    }
    None
}

fn parse_network(entry: &str) -> anyhow::Result<(IpAddr, u8)> {
    let entry = entry.trim();
    let (ip, bits) = match entry.split_once('/') {
        Some((ip, bits)) => (ip, Some(bits)),
        None => (entry, None),
    };
    let ip = canonical(ip.parse::<IpAddr>().context("not an IP address")?);
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits = match bits {
        Some(bits) => bits.parse::<u8>().context("not a prefix length")?,
        None => max,
    };
    anyhow::ensure!(bits <= max, "prefix longer than the address");
    Ok((ip, bits))
}

/// An IPv4 address mapped into IPv6 (`::ffff:10.0.0.1`, as a dual-stack socket reports it)
/// is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn in_network(ip: IpAddr, network: IpAddr, bits: u8) -> bool {
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(network)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(network) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(network)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(network) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    fn proxies(entries: &[&str]) -> TrustedProxies {
        let entries: Vec<String> = entries.iter().map(|s| (*s).to_owned()).collect();
        TrustedProxies::parse(&entries).unwrap_or_default()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = proxies(&["10.0.0.1"]);
        assert_eq!(
            trusted.resolve(ip("203.0.113.9"), &["1.2.3.4"]),
            ip("203.0.113.9")
        );
        assert_eq!(
            proxies(&[]).resolve(ip("10.0.0.1"), &["1.2.3.4"]),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_hop_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8", "fd00::/8"]);
        // The client wrote a forged first entry; our proxies appended the real one.
        assert_eq!(
            trusted.resolve(ip("10.0.0.1"), &["6.6.6.6, 198.51.100.7", "10.1.2.3"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            trusted.resolve(ip("::ffff:10.0.0.1"), &["[2001:db8::1]:4711"]),
            ip("2001:db8::1")
        );
        // Only proxies all the way: the left-most of them.
        assert_eq!(
            trusted.resolve(ip("10.0.0.1"), &["10.9.9.9"]),
            ip("10.9.9.9")
        );
        // Nothing forwarded: the proxy itself.
        assert_eq!(trusted.resolve(ip("10.0.0.1"), &[]), ip("10.0.0.1"));
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(
            trusted.resolve(ip("10.0.0.1"), &["1.2.3.4, not-an-ip, 10.0.0.2"]),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn networks_are_checked_by_prefix_and_bad_entries_refused() {
        let trusted = proxies(&["192.168.0.0/16", "2001:db8::/32", "127.0.0.1"]);
        assert!(trusted.contains(ip("192.168.44.1")));
        assert!(!trusted.contains(ip("192.169.0.1")));
        assert!(trusted.contains(ip("2001:db8:1::5")));
        assert!(trusted.contains(ip("::ffff:127.0.0.1")));
        assert!(!trusted.contains(ip("127.0.0.2")));
        assert!(proxies(&["0.0.0.0/0"]).contains(ip("8.8.8.8")));
        for bad in ["10.0.0.0/33", "nope", "10.0.0.1/x"] {
            assert!(TrustedProxies::parse(&[bad.to_owned()]).is_err(), "{bad}");
        }
    }
}
