//! The outbound URL policy: which addresses pivot may connect to for a URL a web app named
//! (see [`crate::callflow::Trust`]). Loopback, private, link-local, shared (CGNAT),
//! unspecified, multicast, broadcast, reserved and documentation ranges are refused, in
//! IPv4 and in every IPv6 form that embeds an IPv4 address; the operator's `[http] allow`
//! opens ranges or host names and `[http] deny` closes more. The check is made on the
//! address pivot actually connects to, after DNS resolution ([`GuardedResolver`]), so a
//! name that resolves (or rebinds) to an internal address is refused too. Knows nothing of
//! HTTP requests; `fetch` applies it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// One entry of `[http] allow` or `[http] deny`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// An address range (`10.1.2.0/24`; a bare address is a /32 or /128).
    Net(IpNet),
    /// A host name, lower case, without a trailing dot.
    Host(String),
    /// `*.example.com`: every name under `example.com` (kept as `.example.com`).
    Suffix(String),
}

impl Rule {
    /// `10.1.2.0/24`, `192.0.2.7`, `fd00::/8`, `webapp.internal` or `*.internal`.
    pub fn parse(s: &str) -> Result<Rule, String> {
        let s = s.trim();
        if let Ok(net) = s.parse::<IpNet>() {
            return Ok(Rule::Net(net.trunc()));
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Rule::Net(IpNet::from(ip)));
        }
        let (suffix, name) = match s.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
            return Err(format!(
                "`{s}` is not an address, a range like 10.1.2.0/24, a host name or `*.domain`"
            ));
        }
        Ok(match suffix {
            true => Rule::Suffix(format!(".{name}")),
            false => Rule::Host(name),
        })
    }

    fn matches_host(&self, host: &str) -> bool {
        match self {
            Rule::Host(h) => h == host,
            Rule::Suffix(s) => host.ends_with(s.as_str()),
            Rule::Net(_) => false,
        }
    }

    fn matches_ip(&self, ip: IpAddr) -> bool {
        matches!(self, Rule::Net(net) if net.contains(&ip))
    }
}

/// Why a destination was refused: the host as written, the address (when one was
/// resolved or written) and the reason (`loopback`, `denied by http.deny`, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct Refusal {
    pub host: String,
    pub addr: Option<IpAddr>,
    pub reason: String,
}

impl Refusal {
    fn describe(&self) -> String {
        match self.addr {
            Some(a) if a.to_string() != self.host => format!(
                "{} resolves to {a}, a {} address (outbound URL policy, see [http] allow)",
                self.host, self.reason
            ),
            Some(_) => format!(
                "{} is a {} address (outbound URL policy, see [http] allow)",
                self.host, self.reason
            ),
            None => format!("{}: {} (outbound URL policy)", self.host, self.reason),
        }
    }
}

/// What a host name alone decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostVerdict {
    /// Named in `[http] allow`: every address it resolves to may be used.
    Allowed,
    /// Named in `[http] deny`.
    Denied,
    /// Decided address by address.
    ByAddress,
}

/// The operator's rules on top of the built-in refused ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    pub allow: Vec<Rule>,
    pub deny: Vec<Rule>,
}

impl OutboundPolicy {
    /// `host` as a URL has it (lower case; IPv6 without brackets).
    pub fn host_verdict(&self, host: &str) -> HostVerdict {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if self.deny.iter().any(|r| r.matches_host(&host)) {
            HostVerdict::Denied
        } else if self.allow.iter().any(|r| r.matches_host(&host)) {
            HostVerdict::Allowed
        } else {
            HostVerdict::ByAddress
        }
    }

    /// `[http] deny` first, then `[http] allow`, then the built-in ranges. An IPv6 address
    /// that embeds an IPv4 one is judged as both.
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), Refusal> {
        let forms = forms(ip);
        let refuse = |reason: &str| Refusal {
            host: host.to_string(),
            addr: Some(ip),
            reason: reason.to_string(),
        };
        if forms
            .iter()
            .flatten()
            .any(|f| self.deny.iter().any(|r| r.matches_ip(*f)))
        {
            return Err(refuse("denied by http.deny"));
        }
        if forms
            .iter()
            .flatten()
            .any(|f| self.allow.iter().any(|r| r.matches_ip(*f)))
        {
            return Ok(());
        }
        match forms.iter().flatten().find_map(|f| refused_range(*f)) {
            Some(reason) => Err(refuse(reason)),
            None => Ok(()),
        }
    }

    /// The addresses of `host` that may be used; a refusal when none is left.
    pub fn filter(&self, host: &str, addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, Refusal> {
        match self.host_verdict(host) {
            HostVerdict::Allowed => return Ok(addrs),
            HostVerdict::Denied => return Err(denied_host(host)),
            HostVerdict::ByAddress => {}
        }
        let mut first_refusal = None;
        let mut kept = Vec::with_capacity(addrs.len());
        for addr in addrs {
            match self.check_ip(host, addr.ip()) {
                Ok(()) => kept.push(addr),
                Err(r) => {
                    first_refusal.get_or_insert(r);
                }
            }
        }
        match (kept.is_empty(), first_refusal) {
            (true, Some(r)) => Err(r),
            _ => Ok(kept),
        }
    }
}

/// The refusal of a name in `[http] deny`.
pub fn denied_host(host: &str) -> Refusal {
    Refusal {
        host: host.to_string(),
        addr: None,
        reason: "denied by http.deny".into(),
    }
}

/// The address itself, and the IPv4 address it carries when it is an IPv6 form of one:
/// IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96`)
/// or 6to4 (`2002::/16`).
fn forms(ip: IpAddr) -> [Option<IpAddr>; 2] {
    let IpAddr::V6(v6) = ip else {
        return [Some(ip), None];
    };
    let s = v6.segments();
    let low32 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    let mapped_or_compatible = s[..5] == [0; 5] && (s[5] == 0 || s[5] == 0xffff);
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    let embedded = if mapped_or_compatible || nat64 {
        Some(low32)
    } else if s[0] == 0x2002 {
        Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ))
    } else {
        None
    };
    [Some(ip), embedded.map(IpAddr::V4)]
}

/// The built-in refused ranges and why. 100.64.0.0/10 (shared address space, CGNAT) is
/// refused: clouds put internal services there (Alibaba's metadata is 100.100.100.200).
const V4_REFUSED: &[(Ipv4Addr, u8, &str)] = &[
    (
        Ipv4Addr::new(0, 0, 0, 0),
        8,
        "unspecified (\"this network\")",
    ),
    (Ipv4Addr::new(10, 0, 0, 0), 8, "private"),
    (Ipv4Addr::new(100, 64, 0, 0), 10, "shared (CGNAT)"),
    (Ipv4Addr::new(127, 0, 0, 0), 8, "loopback"),
    (Ipv4Addr::new(169, 254, 0, 0), 16, "link-local"),
    (Ipv4Addr::new(172, 16, 0, 0), 12, "private"),
    (Ipv4Addr::new(192, 0, 0, 0), 24, "IETF protocol"),
    (Ipv4Addr::new(192, 0, 2, 0), 24, "documentation"),
    (Ipv4Addr::new(192, 168, 0, 0), 16, "private"),
    (Ipv4Addr::new(198, 18, 0, 0), 15, "benchmarking"),
    (Ipv4Addr::new(198, 51, 100, 0), 24, "documentation"),
    (Ipv4Addr::new(203, 0, 113, 0), 24, "documentation"),
    (Ipv4Addr::new(224, 0, 0, 0), 4, "multicast"),
    (Ipv4Addr::new(255, 255, 255, 255), 32, "broadcast"),
    (Ipv4Addr::new(240, 0, 0, 0), 4, "reserved"),
];

const V6_REFUSED: &[(Ipv6Addr, u8, &str)] = &[
    (Ipv6Addr::UNSPECIFIED, 128, "unspecified"),
    (Ipv6Addr::LOCALHOST, 128, "loopback"),
    (
        Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),
        64,
        "discard-only",
    ),
    (
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
        32,
        "documentation",
    ),
    (
        Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
        7,
        "private (unique local)",
    ),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, "link-local"),
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10, "site-local"),
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, "multicast"),
];

/// Why `ip` is in a built-in refused range, if it is.
pub fn refused_range(ip: IpAddr) -> Option<&'static str> {
    let in_net = |net: IpAddr, len: u8| IpNet::new(net, len).is_ok_and(|n| n.contains(&ip));
    match ip {
        IpAddr::V4(_) => V4_REFUSED
            .iter()
            .find(|(net, len, _)| in_net(IpAddr::V4(*net), *len))
            .map(|(_, _, why)| *why),
        IpAddr::V6(_) => V6_REFUSED
            .iter()
            .find(|(net, len, _)| in_net(IpAddr::V6(*net), *len))
            .map(|(_, _, why)| *why),
    }
}

/// The system's resolver (getaddrinfo on tokio's blocking pool), as reqwest's default.
#[derive(Debug, Default, Clone)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(Box::new(addrs.collect::<Vec<_>>().into_iter()) as Addrs)
        })
    }
}

/// Resolves with `base`, then keeps only the addresses the policy allows: the resolver of
/// the client that fetches URLs web apps named. A name with no allowed address fails with
/// a [`Refusal`], which `fetch` reports as `forbidden_destination`.
pub struct GuardedResolver {
    pub policy: Arc<OutboundPolicy>,
    pub base: Arc<dyn Resolve>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        if policy.host_verdict(&host) == HostVerdict::Denied {
            return Box::pin(async move { Err(Box::new(denied_host(&host)) as _) });
        }
        let resolving = self.base.resolve(name);
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = resolving.await?.collect();
            let kept = policy.filter(&host, addrs)?;
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
