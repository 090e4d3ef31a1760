//! The HTTP client every request to a web app goes through: two pooled reqwest clients, one
//! for the operator's URLs and one, with the policy's resolver, for URLs web apps named; a
//! body cap; the request's own connect and read timeouts (`phase`); the circuit breaker of
//! its host (`breaker`); its signature (`sign`); redirects followed by hand (GET only) so
//! each one is checked and signed as the URL it is. A redirect keeps the operator's trust
//! only while it stays on the origin of the operator's URL.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use reqwest::dns::Resolve;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, LOCATION};

use super::breaker::{host_key, BreakerConfig, BreakerStats, Breakers, Health};
use super::fetch::{classify, lower_headers, shown, FetchError, RequestSpec, Response};
use super::phase::{self, PhaseLayer};
use super::policy::{GuardedResolver, OutboundPolicy, SystemResolver};
use super::sign::{self, Signer};
use crate::callflow::{HttpMethod, HttpUrl, Trust};
use crate::config::Config;
use crate::route::AccountId;

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
    pub breaker: BreakerConfig,
    pub signer: Signer,
}

impl HttpOptions {
    pub fn from_config(config: &Config) -> HttpOptions {
        HttpOptions {
            user_agent: config.http.user_agent.clone(),
            max_redirects: config.http.max_redirects,
            max_body: config.http.max_body_bytes,
            policy: config.http.outbound.clone(),
            resolver: Arc::new(SystemResolver),
            breaker: config.http.breaker,
            signer: config.signing.clone(),
        }
    }
}

/// Counts for `/metrics`.
#[derive(Debug, Default)]
pub struct HttpStats {
    /// Attempts made after a first one failed.
    pub retries: AtomicU64,
    /// Requests asked of a `fallback_url`.
    pub fallbacks: AtomicU64,
}

/// Idle connections each pool keeps per host: enough for the requests one host answers at
/// once at a steady rate (2,000 calls/s at 30 ms is 60); more were opened for a burst.
const MAX_IDLE_PER_HOST: usize = 64;

/// Cheap to clone: the pools are shared.
#[derive(Clone)]
pub struct HttpClient {
    /// For the operator's URLs: connects wherever they point.
    operator: reqwest::Client,
    /// For URLs web apps named: resolves through the policy, never through a proxy.
    guarded: reqwest::Client,
    policy: Arc<OutboundPolicy>,
    resolver: Arc<dyn Resolve>,
    breakers: Arc<Breakers>,
    signer: Arc<Signer>,
    pub stats: Arc<HttpStats>,
    max_redirects: usize,
    max_body: usize,
}

impl HttpClient {
    pub fn new(opts: HttpOptions) -> Result<Self, reqwest::Error> {
        let policy = Arc::new(opts.policy);
        let build = |resolver: Arc<dyn Resolve>| {
            reqwest::Client::builder()
                .user_agent(opts.user_agent.as_str())
                .redirect(reqwest::redirect::Policy::none())
                .pool_idle_timeout(Duration::from_secs(30))
                // A burst of calls opens a connection per request (10,000 at once: about
                // 24 KB each); past this many idle ones per host they close as soon as their
                // answer is read instead of 30 to 60 s later (docs/performance.md).
                .pool_max_idle_per_host(MAX_IDLE_PER_HOST)
                .dns_resolver2(resolver)
                .connector_layer(PhaseLayer)
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
            breakers: Arc::new(Breakers::new(opts.breaker)),
            signer: Arc::new(opts.signer),
            stats: Arc::default(),
            max_redirects: opts.max_redirects,
            max_body: opts.max_body,
        })
    }

    pub fn from_config(config: &Config) -> Result<Self, reqwest::Error> {
        HttpClient::new(HttpOptions::from_config(config))
    }

    /// Adds the signature of `spec.account` (replacing an older one): the request as it
    /// will go on the wire, for the debug log. Unsigned when the account has no secret.
    pub fn sign(&self, spec: &mut RequestSpec) {
        spec.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case(sign::HEADER));
        let method = method_name(spec.method);
        if let Some(v) = self.signature(
            spec.account.as_ref(),
            method,
            &spec.url,
            spec.body.as_bytes(),
        ) {
            spec.headers.push((sign::HEADER.into(), v));
        }
    }

    fn signature(
        &self,
        account: Option<&AccountId>,
        method: &str,
        url: &url::Url,
        body: &[u8],
    ) -> Option<String> {
        let account = account?;
        self.signer
            .header(account, method, url.as_str(), body, SystemTime::now())
    }

    /// One attempt: Ok only for a 2xx answer with a non-empty body within the limits. The
    /// host's circuit breaker may skip it ([`FetchError::CircuitOpen`]) and learns from it.
    pub async fn fetch(&self, spec: &RequestSpec) -> Result<Response, FetchError> {
        let permit = self.breakers.admit(&host_key(&spec.url))?;
        let result = self.fetch_once(spec).await;
        permit.record(Health::of(&result));
        result
    }

    async fn fetch_once(&self, spec: &RequestSpec) -> Result<Response, FetchError> {
        let url = shown(&spec.url);
        let phased = phase::within(spec.connect_timeout, spec.read_timeout, self.exchange(spec));
        match tokio::time::timeout(spec.timeout, phased).await {
            Ok(Ok(result)) => result,
            Ok(Err(phase::ReadTimedOut)) => Err(FetchError::Timeout {
                url,
                ms: spec.read_timeout.as_millis(),
            }),
            Err(_) => Err(FetchError::Timeout {
                url,
                ms: spec.timeout.as_millis(),
            }),
        }
    }

    /// The circuits, for `/metrics`.
    pub fn breaker_stats(&self) -> BreakerStats {
        self.breakers.stats()
    }

    /// Sends a request where only success matters (uploads, CDRs), signed for `account`,
    /// without following redirects; returns the status.
    pub async fn send_simple(
        &self,
        method: reqwest::Method,
        url: &HttpUrl,
        account: &AccountId,
        content_type: &str,
        body: Bytes,
        timeout: Duration,
    ) -> Result<u16, FetchError> {
        let u = shown(url);
        let client = self.client_for(url, url.is_trusted())?;
        let mut bare = url.as_url().clone();
        bare.set_fragment(None);
        let mut req = client
            .request(method.clone(), bare.clone())
            .header(CONTENT_TYPE, content_type)
            .timeout(timeout);
        if let Some(v) = self.signature(Some(account), method.as_str(), &bare, &body) {
            req = req.header(sign::HEADER, v);
        }
        let resp = req.body(body).send().await.map_err(|e| classify(&u, &e))?;
        Ok(resp.status().as_u16())
    }

    /// The request, then each redirect of a GET (at most `max_redirects`), each hop sent
    /// through the client its trust calls for.
    async fn exchange(&self, spec: &RequestSpec) -> Result<Response, FetchError> {
        let mut url = spec.url.clone();
        let mut hops = 0;
        loop {
            let same_origin = url.origin() == spec.url.origin();
            let trusted = spec.trust == Trust::Operator && same_origin;
            let client = self.client_for(&url, trusted)?;
            let resp = self.send(client, spec, &url).await?;
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

    /// One hop. A redirect hop is signed for its own URL, and gets the request's custom
    /// headers only on the request's origin (as browsers keep credentials from a host the
    /// redirect did not name).
    async fn send(
        &self,
        client: &reqwest::Client,
        spec: &RequestSpec,
        url: &url::Url,
    ) -> Result<reqwest::Response, FetchError> {
        let hop = *url != spec.url;
        let same_origin = url.origin() == spec.url.origin();
        let mut headers = HeaderMap::new();
        for (n, v) in &spec.headers {
            let own = n
                .get(..8)
                .is_some_and(|p| p.eq_ignore_ascii_case("x-pivot-"));
            if (hop && n.eq_ignore_ascii_case(sign::HEADER)) || !(same_origin || own) {
                continue;
            }
            // Names and values were validated with the flow; skip anything that still fails.
            if let (Ok(n), Ok(v)) = (HeaderName::try_from(n.as_str()), HeaderValue::from_str(v)) {
                headers.append(n, v);
            }
        }
        let method = method_name(spec.method);
        if hop {
            let signed = self.signature(spec.account.as_ref(), method, url, b"");
            if let Some(v) = signed.and_then(|v| HeaderValue::from_str(&v).ok()) {
                headers.insert(sign::HEADER, v);
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
}

fn method_name(m: HttpMethod) -> &'static str {
    match m {
        HttpMethod::Get => "GET",
        HttpMethod::Post => "POST",
    }
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

mod destination;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
