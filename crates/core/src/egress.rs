//! Egress policy: which addresses the relay may open an upstream connection to.
//!
//! A provider's base URL is tenant input, so without this a tenant could point the
//! relay at the operator's own network (a metadata service, a database, the relay
//! itself) and use its credential-bearing POSTs and its error messages as a probe.
//! The policy is decided on the *resolved* address of every connection, not on the
//! name in the URL, so a name that resolves to 127.0.0.1 (or starts doing so later:
//! DNS rebinding) is refused like the literal.
//!
//! Refused unless the operator allows them (`relay.egress_allow`): loopback,
//! unspecified, link-local, RFC 1918 private, CGNAT, IPv6 unique-local, multicast,
//! broadcast, the documentation and benchmarking ranges, the IPv4-mapped,
//! -compatible, NAT64 and 6to4 IPv6 spellings of any of those, and the relay's and
//! console's own listeners (refused even when allowed).
//!
//! This module is pure: the caller resolves names and says which addresses are the
//! host's own.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnet::IpNet;

/// One `relay.egress_allow` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowEntry {
    /// Any port on these addresses (`10.0.0.0/8`, or a bare address).
    Net(IpNet),
    /// One port of one host (`10.0.0.5:8000`, `[fd00::5]:8000`, `llm.internal:8000`).
    Endpoint {
        /// The host, as an address or a name.
        host: AllowedHost,
        /// The one port allowed.
        port: u16,
    },
}

/// The host of an endpoint entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowedHost {
    /// An address (IPv6 forms of IPv4 addresses normalised to IPv4).
    Ip(IpAddr),
    /// A DNS name, lower-cased, without a trailing dot.
    Name(String),
}

/// An allow entry that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{value:?} is not an egress allow entry: use a CIDR (10.0.0.0/8), an address, or host:port (10.0.0.5:8000, llm.internal:8000)"
)]
pub struct BadAllowEntry {
    value: String,
}

/// Parses one allow entry.
pub fn parse_allow_entry(entry: &str) -> Result<AllowEntry, BadAllowEntry> {
    let entry = entry.trim();
    let bad = || BadAllowEntry {
        value: entry.chars().take(80).collect(),
    };
    if entry.is_empty() {
        return Err(bad());
    }
    if entry.contains('/') {
        return entry
            .parse::<IpNet>()
            .map(|n| AllowEntry::Net(n.trunc()))
            .map_err(|_| bad());
    }
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Ok(AllowEntry::Net(IpNet::from(canonical(ip))));
    }
    if let Ok(socket) = entry.parse::<SocketAddr>() {
        return Ok(AllowEntry::Endpoint {
            host: AllowedHost::Ip(canonical(socket.ip())),
            port: socket.port(),
        });
    }
    let (host, port) = entry.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let valid_name = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if !valid_name || port == 0 {
        return Err(bad());
    }
    Ok(AllowEntry::Endpoint {
        host: AllowedHost::Name(host),
        port,
    })
}

/// The IPv4 address an IPv6 address carries, for the forms that route to it:
/// IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`, deprecated but
/// still accepted by some stacks), NAT64 (`64:ff9b::a.b.c.d`) and 6to4
/// (`2002:aabb:ccdd::`).
pub fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    let tail = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    // ::a.b.c.d, but not :: and ::1 (those are their own addresses).
    if s[..6] == [0; 6] && (s[6] != 0 || s[7] > 1) {
        return Some(tail());
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail());
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

/// An address as the policy compares it: an IPv6 form of an IPv4 address is that
/// IPv4 address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => embedded_ipv4(v6).map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// True for addresses that are not on the public internet: the ranges refused by
/// default.
pub fn is_internal(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_unspecified()
                || a == 0 // 0.0.0.0/8, "this network"
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64.0.0/10
                || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
                || v4.is_documentation()
                || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18.0.0/15
                || v4.is_multicast()
                || a >= 240 // reserved 240.0.0.0/4 and broadcast
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation 2001:db8::/32
                || (s[0] == 0x2001 && s[1] == 0) // Teredo 2001::/32 (hides an IPv4 address)
                || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard 100::/64
                // Remaining IPv4-embedding forms that did not map above.
                || (s[0] == 0 && s[1..5] == [0; 4])
        }
    }
}

/// Why a destination was refused. Deliberately says nothing about whether anything
/// listens there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EgressRefusal {
    /// A plain-http URL while only https is allowed.
    #[error("only https:// upstreams are allowed (relay.egress_https_only)")]
    PlainHttp,
    /// Neither http nor https.
    #[error("the upstream URL's scheme is not http or https")]
    Scheme,
    /// An address the policy does not allow (or a name resolving only to such).
    #[error("the upstream address is not allowed by the relay's egress policy")]
    Address,
}

/// The operator's egress settings plus the listeners of this process.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    allow: Vec<AllowEntry>,
    https_only: bool,
    /// The relay's and console's own listen addresses (port 0 never appears: the
    /// caller records them after binding).
    own: Vec<SocketAddr>,
}

impl fmt::Debug for EgressPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EgressPolicy")
            .field("allow", &self.allow)
            .field("https_only", &self.https_only)
            .field("own", &self.own)
            .finish()
    }
}

impl EgressPolicy {
    /// A policy allowing these internal destinations (public ones always are).
    pub fn new(allow: Vec<AllowEntry>, https_only: bool) -> EgressPolicy {
        EgressPolicy {
            allow,
            https_only,
            own: Vec::new(),
        }
    }

    /// Parses `relay.egress_allow` entries.
    pub fn parse<'a>(
        entries: impl IntoIterator<Item = &'a str>,
        https_only: bool,
    ) -> Result<EgressPolicy, BadAllowEntry> {
        let allow = entries
            .into_iter()
            .filter(|e| !e.trim().is_empty())
            .map(parse_allow_entry)
            .collect::<Result<_, _>>()?;
        Ok(EgressPolicy::new(allow, https_only))
    }

    /// Adds an allow entry.
    pub fn allowing(mut self, entry: AllowEntry) -> Self {
        self.allow.push(entry);
        self
    }

    /// Adds listeners of this process, which are never a valid upstream.
    pub fn with_own_listeners(mut self, addrs: impl IntoIterator<Item = SocketAddr>) -> Self {
        self.own.extend(addrs);
        self
    }

    /// The operator's allow entries.
    pub fn allow_entries(&self) -> &[AllowEntry] {
        &self.allow
    }

    /// The scheme of an upstream URL.
    pub fn check_scheme(&self, scheme: &str) -> Result<(), EgressRefusal> {
        match scheme {
            "https" => Ok(()),
            "http" if self.https_only => Err(EgressRefusal::PlainHttp),
            "http" => Ok(()),
            _ => Err(EgressRefusal::Scheme),
        }
    }

    /// May a connection go to `ip:port`? `name` is the DNS name it was resolved from
    /// (for `host:port` entries that name a host); `port` is `None` when the caller
    /// cannot tell, which only `host:port` entries care about (they then do not
    /// match). `is_own_address` says whether an address is one of this host's (to
    /// find our own listeners behind an unspecified listen address).
    pub fn allows(
        &self,
        ip: IpAddr,
        port: Option<u16>,
        name: Option<&str>,
        is_own_address: impl Fn(IpAddr) -> bool,
    ) -> bool {
        let ip = canonical(ip);
        if let Some(port) = port
            && self.is_own_listener(ip, port, &is_own_address)
        {
            return false;
        }
        if !is_internal(ip) {
            return true;
        }
        self.allow.iter().any(|entry| match entry {
            AllowEntry::Net(net) => net.contains(&ip),
            AllowEntry::Endpoint { host, port: p } => {
                port == Some(*p)
                    && match host {
                        AllowedHost::Ip(allowed) => *allowed == ip,
                        AllowedHost::Name(allowed) => name
                            .is_some_and(|n| n.trim_end_matches('.').eq_ignore_ascii_case(allowed)),
                    }
            }
        })
    }

    fn is_own_listener(
        &self,
        ip: IpAddr,
        port: u16,
        is_own_address: &impl Fn(IpAddr) -> bool,
    ) -> bool {
        self.own.iter().any(|own| {
            own.port() == port
                && (canonical(own.ip()) == ip || (own.ip().is_unspecified() && is_own_address(ip)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn not_own(_: IpAddr) -> bool {
        false
    }

    #[test]
    fn internal_ranges_and_their_ipv6_spellings_are_refused_by_default() {
        let policy = EgressPolicy::default();
        for refused in [
            "127.0.0.1",
            "127.8.9.10",
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.5",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "192.0.0.8",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:0001::",
            "2002:a00:1::1",
            "2001::1",
        ] {
            assert!(
                !policy.allows(ip(refused), Some(443), None, not_own),
                "{refused} should be refused"
            );
        }
        for allowed in [
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "2002:808:808::",
        ] {
            assert!(
                policy.allows(ip(allowed), Some(443), None, not_own),
                "{allowed} should be allowed"
            );
        }
    }

    #[test]
    fn cidr_and_endpoint_entries_open_exactly_what_they_name() {
        let policy = EgressPolicy::parse(
            [
                "10.1.0.0/16",
                "10.0.0.5:8000",
                "[fd00::5]:9000",
                "LLM.internal.:8443",
            ],
            false,
        )
        .unwrap();
        assert!(policy.allows(ip("10.1.2.3"), Some(1), None, not_own));
        assert!(policy.allows(ip("::ffff:10.1.2.3"), None, None, not_own));
        assert!(policy.allows(ip("10.0.0.5"), Some(8000), None, not_own));
        assert!(!policy.allows(ip("10.0.0.5"), Some(8001), None, not_own));
        assert!(!policy.allows(ip("10.0.0.5"), None, None, not_own));
        assert!(policy.allows(ip("fd00::5"), Some(9000), None, not_own));
        assert!(!policy.allows(ip("fd00::6"), Some(9000), None, not_own));
        // A name entry matches addresses that name resolved to, on its port only.
        assert!(policy.allows(ip("10.9.9.9"), Some(8443), Some("llm.internal"), not_own));
        assert!(policy.allows(ip("10.9.9.9"), Some(8443), Some("LLM.INTERNAL."), not_own));
        assert!(!policy.allows(ip("10.9.9.9"), Some(8443), Some("other.internal"), not_own));
        assert!(!policy.allows(ip("10.9.9.9"), Some(80), Some("llm.internal"), not_own));
    }

    #[test]
    fn own_listeners_are_refused_even_when_allowed() {
        let policy = EgressPolicy::parse(["127.0.0.0/8"], false)
            .unwrap()
            .with_own_listeners([
                "127.0.0.1:8080".parse().unwrap(),
                "0.0.0.0:8081".parse().unwrap(),
            ]);
        assert!(!policy.allows(ip("127.0.0.1"), Some(8080), None, not_own));
        assert!(policy.allows(ip("127.0.0.1"), Some(8090), None, not_own));
        // Behind an unspecified listen address, any of the host's own addresses.
        let own = |a: IpAddr| a == ip("203.0.113.7") || a.is_loopback();
        assert!(!policy.allows(ip("203.0.113.7"), Some(8081), None, own));
        assert!(!policy.allows(ip("127.0.0.1"), Some(8081), None, own));
        assert!(policy.allows(ip("8.8.8.8"), Some(8081), None, own));
    }

    #[test]
    fn schemes_follow_the_https_only_setting() {
        let open = EgressPolicy::default();
        assert!(open.check_scheme("http").is_ok());
        assert!(open.check_scheme("https").is_ok());
        assert_eq!(open.check_scheme("file"), Err(EgressRefusal::Scheme));
        let strict = EgressPolicy::new(Vec::new(), true);
        assert_eq!(strict.check_scheme("http"), Err(EgressRefusal::PlainHttp));
    }

    #[test]
    fn bad_entries_are_refused_with_examples() {
        for bad in [
            "",
            "10.0.0.0/33",
            "host",
            "host:0",
            "host:99999",
            "a b:80",
            "[::1]",
        ] {
            let err = parse_allow_entry(bad).unwrap_err();
            assert!(err.to_string().contains("10.0.0.5:8000"), "{bad}: {err}");
        }
        assert_eq!(
            parse_allow_entry("10.1.2.3/8").unwrap(),
            AllowEntry::Net("10.0.0.0/8".parse().unwrap())
        );
    }

    #[test]
    fn the_refusal_never_says_whether_anything_listens() {
        for refusal in [
            EgressRefusal::PlainHttp,
            EgressRefusal::Scheme,
            EgressRefusal::Address,
        ] {
            let text = refusal.to_string();
            for word in ["refused", "open", "closed", "listen", "port"] {
                assert!(!text.contains(word), "{text}");
            }
        }
    }
}
