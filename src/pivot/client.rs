//! The HTTP client every request to a web app goes through: two pooled reqwest clients, one
//! for the operator's URLs and one, with the policy's resolver, for URLs web apps named; a
//! body cap; redirects followed by hand (GET only) so each one is checked as the URL it
//! is. A redirect keeps the operator's trust only while it stays on the origin of the
//! operator's URL.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::dns::Resolve;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, LOCATION};

use super::fetch::{classify, lower_headers, shown, FetchError, RequestSpec, Response};
use super::policy::{denied_host, GuardedResolver, HostVerdict, OutboundPolicy, SystemResolver};
use crate::callflow::{HttpMethod, HttpUrl};
use crate::config::Config;

/// How the client is built.
pub struct HttpOptions {
    pub user_agent: String,
    /// Redirects followed for one GET.
    pub max_redirects: usize,
    /// Largest answer read.
    pub max_body: usize,
    pub policy: OutboundPolicy,
    /// Where host names are resolved (the system's resolver; tests put their own).
    pub resolver: Arc<dyn Resolve>,
}

impl HttpOptions {
    pub fn from_config(config: &Config) -> HttpOptions {
        HttpOptions {
            user_agent: config.http.user_agent.clone(),
            max_redirects: config.http.max_redirects,
            max_body: config.http.max_body_bytes,
            policy: config.http.outbound.clone(),
            resolver: Arc::new(SystemResolver),
        }
    }
}

/// Cheap to clone: the pools are shared.
#[derive(Clone)]
pub struct HttpClient {
    /// For the operator's URLs: connects wherever they point.
    operator: reqwest::Client,
    /// For URLs web apps named: resolves through the policy, never through a proxy.
    guarded: reqwest::Client,
    policy: Arc<OutboundPolicy>,
    resolver: Arc<dyn Resolve>,
    max_redirects: usize,
    max_body: usize,
}

/// How long [`HttpClient::check_destination`] waits for DNS.
const CHECK_RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

impl HttpClient {
    pub fn new(opts: HttpOptions) -> Result<Self, reqwest::Error> {
        let policy = Arc::new(opts.policy);
        let build = |resolver: Arc<dyn Resolve>| {
            reqwest::Client::builder()
                .user_agent(opts.user_agent.as_str())
                .redirect(reqwest::redirect::Policy::none())
                .pool_idle_timeout(Duration::from_secs(30))
                .dns_resolver2(resolver)
        };
        let guarded = GuardedResolver {
            policy: policy.clone(),
            base: opts.resolver.clone(),
        };
        Ok(HttpClient {
            operator: build(opts.resolver.clone()).build()?,
            // A proxy would resolve the name itself, out of the policy's sight.
            guarded: build(Arc::new(guarded)).no_proxy().build()?,
            policy,
            resolver: opts.resolver,
            max_redirects: opts.max_redirects,
            max_body: opts.max_body,
        })
    }

    pub fn from_config(config: &Config) -> Result<Self, reqwest::Error> {
        HttpClient::new(HttpOptions::from_config(config))
    }

    /// Sends the request; Ok only for a 2xx answer with a non-empty body within the limits.
    pub async fn fetch(&self, spec: &RequestSpec) -> Result<Response, FetchError> {
        let url = shown(&spec.url);
        match tokio::time::timeout(spec.timeout, self.exchange(spec)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout {
                url,
                ms: spec.timeout.as_millis(),
            }),
        }
    }

    /// Sends a request where only success matters (uploads, CDRs), without following
    /// redirects; returns the status.
    pub async fn send_simple(
        &self,
        method: reqwest::Method,
        url: &HttpUrl,
        content_type: &str,
        body: Bytes,
        timeout: Duration,
    ) -> Result<u16, FetchError> {
        let u = shown(url);
        let client = self.client_for(url, url.is_trusted())?;
        let req = client
            .request(method, url.as_url().clone())
            .header(CONTENT_TYPE, content_type)
            .timeout(timeout)
            .body(body);
        let resp = req.send().await.map_err(|e| classify(&u, &e))?;
        Ok(resp.status().as_u16())
    }

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
    fn client_for(&self, url: &url::Url, trusted: bool) -> Result<&reqwest::Client, FetchError> {
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

    /// The request, then each redirect of a GET (at most `max_redirects`), each hop sent
    /// through the client its trust calls for.
    async fn exchange(&self, spec: &RequestSpec) -> Result<Response, FetchError> {
        let mut url = spec.url.clone();
        let mut hops = 0;
        loop {
            let same_origin = url.origin() == spec.url.origin();
            let trusted = spec.trust == crate::callflow::Trust::Operator && same_origin;
            let client = self.client_for(&url, trusted)?;
            let resp = send(client, spec, &url, same_origin).await?;
            let next = match spec.method {
                HttpMethod::Get => redirect_target(&resp, &url),
                HttpMethod::Post => None,
            };
            let Some(next) = next else {
                return self.read(resp, url).await;
            };
            hops += 1;
            if hops > self.max_redirects {
                return Err(FetchError::Redirects {
                    url: shown(&spec.url),
                });
            }
            url = next?;
        }
    }

    /// Reads the whole body within the cap and sorts the answer.
    async fn read(
        &self,
        mut resp: reqwest::Response,
        url: url::Url,
    ) -> Result<Response, FetchError> {
        let shown_url = shown(&url);
        let status = resp.status().as_u16();
        let headers = lower_headers(resp.headers());
        let too_large = || FetchError::TooLarge {
            url: shown_url.clone(),
            limit: self.max_body,
        };
        if resp
            .content_length()
            .is_some_and(|n| n > self.max_body as u64)
        {
            return Err(too_large());
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| classify(&shown_url, &e))? {
            if body.len() + chunk.len() > self.max_body {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        let response = Response {
            status,
            headers,
            body: body.freeze(),
            url,
        };
        if !(200..300).contains(&status) {
            return Err(FetchError::Status {
                url: shown_url,
                status,
                response: Box::new(response),
            });
        }
        if response.body.iter().all(u8::is_ascii_whitespace) {
            return Err(FetchError::EmptyBody {
                url: shown_url,
                response: Box::new(response),
            });
        }
        Ok(response)
    }
}

/// One hop. Custom headers go only to the origin of the request's own URL, as browsers
/// keep credentials from a host the redirect did not name.
async fn send(
    client: &reqwest::Client,
    spec: &RequestSpec,
    url: &url::Url,
    same_origin: bool,
) -> Result<reqwest::Response, FetchError> {
    let mut headers = HeaderMap::new();
    for (n, v) in spec.headers.iter().filter(|_| same_origin) {
        // Names and values were validated with the flow; skip anything that still fails.
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(n.as_str()), HeaderValue::from_str(v)) {
            headers.append(n, v);
        }
    }
    let method = match spec.method {
        HttpMethod::Get => reqwest::Method::GET,
        HttpMethod::Post => reqwest::Method::POST,
    };
    let mut req = client.request(method, url.clone()).headers(headers);
    if spec.method == HttpMethod::Post {
        req = req.body(spec.body.clone());
    }
    req.send().await.map_err(|e| classify(&shown(url), &e))
}

/// Where a 301, 302, 303, 307 or 308 answer points, resolved against the URL that gave
/// it; None for any other answer. A target that is not http(s) is an error.
fn redirect_target(
    resp: &reqwest::Response,
    from: &url::Url,
) -> Option<Result<url::Url, FetchError>> {
    if !matches!(resp.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = resp.headers().get(LOCATION)?.to_str().ok()?;
    let bad = |what: &str| FetchError::Other {
        url: shown(from),
        message: format!("redirect to {what}"),
    };
    Some(match from.join(location) {
        Ok(mut next) if matches!(next.scheme(), "http" | "https") => {
            next.set_fragment(None);
            Ok(next)
        }
        Ok(next) => Err(bad(&format!("a {} URL", next.scheme()))),
        Err(_) => Err(bad("an invalid URL")),
    })
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
