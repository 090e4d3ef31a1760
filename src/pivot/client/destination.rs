//! Where the client may connect for a URL: the operator's URLs anywhere, a web app's only
//! where the outbound URL policy allows (`super::super::policy`). The guarded client's
//! resolver checks names as it connects; this checks what it cannot see (an address
//! written in the URL, a denied name), and a whole URL ahead of an upload that FreeSWITCH
//! makes.

use std::net::IpAddr;
use std::time::Duration;

use super::super::fetch::{shown, FetchError};
use super::super::policy::{denied_host, HostVerdict};
use super::HttpClient;
use crate::callflow::HttpUrl;

/// How long [`HttpClient::check_destination`] waits for DNS.
const CHECK_RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

impl HttpClient {
    /// Whether pivot may send something to `url` (the policy, after resolving its host):
    /// for uploads that FreeSWITCH makes on pivot's behalf (`http_put`). Every address the
    /// name resolves to must pass, since FreeSWITCH resolves it again and may pick any.
    pub async fn check_destination(&self, url: &HttpUrl) -> Result<(), FetchError> {
        if url.is_trusted() {
            return Ok(());
        }
        let forbidden = |refusal| FetchError::Forbidden {
            url: shown(url),
            refusal,
        };
        let host = host_of(url);
        if let Some(ip) = literal_ip(url) {
            return self.policy.check_ip(&host, ip).map_err(forbidden);
        }
        match self.policy.host_verdict(&host) {
            HostVerdict::Allowed => return Ok(()),
            HostVerdict::Denied => return Err(forbidden(denied_host(&host))),
            HostVerdict::ByAddress => {}
        }
        let dns_err = |message: String| FetchError::Dns {
            url: shown(url),
            message,
        };
        let name = host
            .parse()
            .map_err(|_| dns_err("not a host name".into()))?;
        let resolving = tokio::time::timeout(CHECK_RESOLVE_TIMEOUT, self.resolver.resolve(name));
        let addrs = match resolving.await {
            Ok(Ok(addrs)) => addrs,
            Ok(Err(e)) => return Err(dns_err(e.to_string())),
            Err(_) => return Err(dns_err("no answer in time".into())),
        };
        for addr in addrs {
            self.policy.check_ip(&host, addr.ip()).map_err(forbidden)?;
        }
        Ok(())
    }

    /// The client for a URL: the operator's when trusted; else the guarded one, after the
    /// checks its resolver cannot make (an address written in the URL, a denied name).
    pub(super) fn client_for(
        &self,
        url: &url::Url,
        trusted: bool,
    ) -> Result<&reqwest::Client, FetchError> {
        if trusted {
            return Ok(&self.operator);
        }
        let host = host_of(url);
        let refused = |refusal| FetchError::Forbidden {
            url: shown(url),
            refusal,
        };
        if let Some(ip) = literal_ip(url) {
            self.policy.check_ip(&host, ip).map_err(refused)?;
        } else if self.policy.host_verdict(&host) == HostVerdict::Denied {
            return Err(refused(denied_host(&host)));
        }
        Ok(&self.guarded)
    }
}

fn host_of(url: &url::Url) -> String {
    match url.host() {
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        Some(h) => h.to_string().to_ascii_lowercase(),
        None => String::new(),
    }
}

fn literal_ip(url: &url::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}
