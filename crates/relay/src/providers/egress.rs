//! The relay's side of the egress policy (`airlock_core::egress`): a DNS resolver
//! for the pooled HTTP client that only hands out allowed addresses, and the check
//! of an upstream URL whose host is written as an address (the client connects to
//! those without asking a resolver).
//!
//! Deciding on the resolved address, in the resolver the connector itself uses,
//! means the address checked is the address connected to: a name that resolves to
//! 127.0.0.1, or that starts to after a first harmless answer (DNS rebinding), is
//! refused like the literal. A name whose answers are partly internal connects only
//! to the allowed ones.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, RwLock};

use airlock_core::egress::{EgressPolicy, EgressRefusal};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Host;

tokio::task_local! {
    /// The port of the upstream URL being connected to. The resolver is handed a
    /// bare name; `host:port` allow entries need the port too.
    static TARGET_PORT: u16;
}

/// The refusal, as it travels through reqwest's error chain.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub EgressRefusal);

/// The policy this relay enforces. Its own listeners are added once they are bound.
pub struct Egress {
    policy: RwLock<Arc<EgressPolicy>>,
}

impl Egress {
    pub fn new(policy: EgressPolicy) -> Arc<Egress> {
        Arc::new(Egress {
            policy: RwLock::new(Arc::new(policy)),
        })
    }

    /// Records listeners of this process (relay, console, metrics), which are never
    /// a valid upstream.
    pub fn add_own_listeners(&self, addrs: &[SocketAddr]) {
        if let Ok(mut policy) = self.policy.write() {
            let updated = (**policy).clone().with_own_listeners(addrs.iter().copied());
            *policy = Arc::new(updated);
        }
    }

    fn policy(&self) -> Arc<EgressPolicy> {
        match self.policy.read() {
            Ok(policy) => policy.clone(),
            // A poisoned lock only means a writer panicked mid-update; the value
            // is a whole Arc either way.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// What can be decided from the URL alone: the scheme, and a host written as an
    /// address. Names are decided by [`EgressResolver`] when the client connects.
    pub fn check_url(&self, url: &url::Url) -> Result<(), EgressRefusal> {
        let policy = self.policy();
        policy.check_scheme(url.scheme())?;
        let port = url.port_or_known_default();
        let ip = match url.host() {
            Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
            Some(Host::Domain(_)) => return Ok(()),
            None => return Err(EgressRefusal::Address),
        };
        if policy.allows(ip, port, None, is_own_address) {
            Ok(())
        } else {
            Err(EgressRefusal::Address)
        }
    }

    /// The resolver to install on the HTTP client.
    pub fn resolver(self: &Arc<Self>) -> Arc<EgressResolver> {
        Arc::new(EgressResolver {
            egress: self.clone(),
        })
    }
}

/// Runs `send` (a request's future) with the target port known to the resolver.
pub async fn with_target_port<F: std::future::Future>(port: u16, send: F) -> F::Output {
    TARGET_PORT.scope(port, send).await
}

/// The refusal somewhere in an error's source chain, if the error is one.
pub fn refusal_in(error: &(dyn std::error::Error + 'static)) -> Option<EgressRefusal> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(denied) = e.downcast_ref::<Denied>() {
            return Some(denied.0);
        }
        current = e.source();
    }
    None
}

/// Whether `ip` is one of this host's addresses: binding a socket to an address
/// succeeds only for the host's own (and never sends anything).
fn is_own_address(ip: IpAddr) -> bool {
    ip.is_loopback() || UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

/// Resolves names with the system resolver and keeps the allowed answers.
pub struct EgressResolver {
    egress: Arc<Egress>,
}

impl Resolve for EgressResolver {
    fn resolve(&self, name: Name) -> Resolving {
        // Read now, inside the request's scope: the lookup may finish elsewhere.
        let port = TARGET_PORT.try_with(|p| *p).ok();
        let policy = self.egress.policy();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let answers = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed: Vec<SocketAddr> = answers
                .filter(|a| policy.allows(a.ip(), port, Some(&host), is_own_address))
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(Denied(EgressRefusal::Address)) as _);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(policy: EgressPolicy, url: &str) -> Result<(), EgressRefusal> {
        Egress::new(policy).check_url(&url::Url::parse(url).unwrap())
    }

    #[test]
    fn address_spellings_in_urls_are_normalised_before_the_check() {
        for url in [
            "http://127.0.0.1:9/",
            "http://2130706433/",
            "http://0177.0.0.1/",
            "http://0x7f.1/",
            "http://0.0.0.0:80/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://169.254.169.254/latest/meta-data",
        ] {
            assert_eq!(
                check(EgressPolicy::default(), url),
                Err(EgressRefusal::Address),
                "{url}"
            );
        }
        assert!(check(EgressPolicy::default(), "https://api.openai.com/v1").is_ok());
        assert!(check(EgressPolicy::default(), "https://8.8.8.8/").is_ok());
    }

    #[test]
    fn an_allowed_endpoint_opens_only_its_port() {
        let policy = EgressPolicy::parse(["127.0.0.1:8090"], false).unwrap();
        assert!(check(policy.clone(), "http://127.0.0.1:8090/v1").is_ok());
        assert!(check(policy, "http://127.0.0.1:8091/v1").is_err());
    }

    #[tokio::test]
    async fn names_resolving_inside_are_refused_by_the_resolver() {
        let egress = Egress::new(EgressPolicy::default());
        let resolver = egress.resolver();
        // As in the client, `resolve` is called inside the request's scope.
        let result = with_target_port(80, async {
            resolver.resolve("localhost".parse().unwrap()).await
        })
        .await;
        let error = result.err().unwrap();
        assert_eq!(refusal_in(error.as_ref()), Some(EgressRefusal::Address));
        let allowed = Egress::new(EgressPolicy::parse(["localhost:80"], false).unwrap());
        let addrs: Vec<SocketAddr> = with_target_port(80, async {
            allowed
                .resolver()
                .resolve("localhost".parse().unwrap())
                .await
        })
        .await
        .unwrap()
        .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty());
        // Without the port in scope, a host:port entry does not match.
        assert!(
            allowed
                .resolver()
                .resolve("localhost".parse().unwrap())
                .await
                .is_err()
        );
    }
}
