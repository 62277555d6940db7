//! IP allowlists (IPv4 and IPv6 CIDRs) and the client address behind trusted
//! proxies.
//!
//! `X-Forwarded-For` is only believed when the connection comes from a trusted
//! proxy; anyone else could write any address into it. The client is then the
//! right-most address in the header that is not itself a trusted proxy, which is
//! the first hop a trusted proxy saw (the left part is whatever the client sent).

use std::net::IpAddr;

pub use ipnet::IpNet;

/// A list entry that is neither an address nor a CIDR.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not an IP address or CIDR (e.g. 203.0.113.0/24 or 2001:db8::/32)")]
pub struct BadCidr {
    value: String,
}

/// Parses one entry: a CIDR, or a bare address (a /32 or /128).
pub fn parse_cidr(entry: &str) -> Result<IpNet, BadCidr> {
    let entry = entry.trim();
    let bad = || BadCidr {
        value: entry.chars().take(64).collect(),
    };
    if entry.contains('/') {
        entry.parse::<IpNet>().map(|n| n.trunc()).map_err(|_| bad())
    } else {
        entry.parse::<IpAddr>().map(IpNet::from).map_err(|_| bad())
    }
}

/// Parses a list of entries, failing on the first bad one.
pub fn parse_cidrs<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Vec<IpNet>, BadCidr> {
    entries.into_iter().map(parse_cidr).collect()
}

/// An IPv4-mapped IPv6 address (`::ffff:203.0.113.9`) is the IPv4 address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The network a client address counts under for per-client limits: the IPv4
/// address itself, or the IPv6 /64 (one subscriber usually holds a whole /64, so
/// counting single IPv6 addresses would let one client take 2^64 turns).
pub fn client_network(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let mut segments = v6.segments();
            segments[4..].fill(0);
            IpAddr::V6(segments.into())
        }
        v4 => v4,
    }
}

/// True when `ip` is in one of `nets`; an empty list allows any address.
pub fn allowed(nets: &[IpNet], ip: IpAddr) -> bool {
    let ip = canonical(ip);
    nets.is_empty() || nets.iter().any(|n| n.contains(&ip))
}

/// The client's address: `peer` itself unless `peer` is a trusted proxy, in which
/// case the right-most untrusted address of `forwarded_for`. Unparseable header
/// entries end the walk (what lies left of them cannot be trusted either).
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(&ip));
    if !is_trusted(peer) {
        return peer;
    }
    let Some(header) = forwarded_for else {
        return peer;
    };
    let mut client = peer;
    for hop in header.rsplit(',') {
        let Some(ip) = parse_hop(hop) else {
            break;
        };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    client
}

/// One `X-Forwarded-For` entry: `203.0.113.9`, `2001:db8::1`, `[2001:db8::1]:443`
/// or `203.0.113.9:443`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(sock) = hop.parse::<std::net::SocketAddr>() {
        return Some(canonical(sock.ip()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn allowlists_match_v4_and_v6_cidrs_and_bare_addresses() {
        let nets = parse_cidrs(["203.0.113.0/24", "2001:db8::/32", "198.51.100.7"]).unwrap();
        assert!(allowed(&nets, ip("203.0.113.200")));
        assert!(allowed(&nets, ip("::ffff:203.0.113.5")));
        assert!(allowed(&nets, ip("2001:db8:1::9")));
        assert!(allowed(&nets, ip("198.51.100.7")));
        assert!(!allowed(&nets, ip("198.51.100.8")));
        assert!(!allowed(&nets, ip("2001:db9::1")));
        assert!(allowed(&[], ip("192.0.2.1")));
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        assert_eq!(
            client_network(ip("2001:db8:1:2:aaaa::1")),
            client_network(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(
            client_network(ip("2001:db8:1:2::1")),
            client_network(ip("2001:db8:1:3::1"))
        );
        assert_eq!(client_network(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
    }

    #[test]
    fn bad_entries_are_refused_with_an_example() {
        for bad in ["10.0.0.0/33", "not-an-ip", "10.0.0", ""] {
            let err = parse_cidr(bad).unwrap_err();
            assert!(err.to_string().contains("203.0.113.0/24"), "{err}");
        }
        // Host bits are cleared rather than refused.
        assert_eq!(parse_cidr("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        let trusted = parse_cidrs(["10.0.0.0/8"]).unwrap();
        assert_eq!(
            client_ip(ip("198.51.100.1"), Some("203.0.113.9"), &trusted),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_hop() {
        let trusted = parse_cidrs(["10.0.0.0/8"]).unwrap();
        // The client forged the first entry; the proxy appended what it saw.
        let header = "1.2.3.4, 203.0.113.9, 10.0.0.5";
        assert_eq!(
            client_ip(ip("10.0.0.2"), Some(header), &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), Some("[2001:db8::7]:443"), &trusted),
            ip("2001:db8::7")
        );
        assert_eq!(client_ip(ip("10.0.0.2"), None, &trusted), ip("10.0.0.2"));
        assert_eq!(
            client_ip(ip("10.0.0.2"), Some("garbage"), &trusted),
            ip("10.0.0.2")
        );
    }
}
