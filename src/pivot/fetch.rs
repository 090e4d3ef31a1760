//! One HTTP exchange with the customer's web app: build the request from a pivot node and the
//! call's parameters, send it with a bounded time and body size, and sort every way it can
//! fail into a [`FetchError`] with a stable `kind`. Knows nothing of flows or FreeSWITCH.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};

use crate::callflow::{BodyFormat, HttpMethod, PivotRequest};
use crate::pivot::params::{append_query, form_body, json_body, ParamValue};

/// A request as it will go on the wire; also what the debug log records.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestSpec {
    pub method: HttpMethod,
    pub url: url::Url,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub timeout: Duration,
}

/// What came back: status, headers (names lower-case) and the whole body.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Response {
    pub fn content_type(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == "content-type")
            .map(|(_, v)| v.as_str())
    }
}

/// Every way an exchange can fail before a flow is read from it.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot connect to {url}: {message}")]
    Connect { url: String, message: String },
    #[error("cannot resolve the host of {url}: {message}")]
    Dns { url: String, message: String },
    #[error("TLS failure talking to {url}: {message}")]
    Tls { url: String, message: String },
    #[error("no complete answer from {url} within {ms} ms")]
    Timeout { url: String, ms: u128 },
    #[error("{url} answered HTTP {status}")]
    Status {
        url: String,
        status: u16,
        response: Box<Response>,
    },
    #[error("{url} answered with an empty body")]
    EmptyBody {
        url: String,
        response: Box<Response>,
    },
    #[error("the answer from {url} is larger than the limit of {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("too many redirects from {url}")]
    Redirects { url: String },
    #[error("request to {url} failed: {message}")]
    Other { url: String, message: String },
}

impl FetchError {
    /// A short stable name for logs, metrics, the debug log and `pivot_failure`.
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::Connect { .. } => "connect",
            FetchError::Dns { .. } => "dns",
            FetchError::Tls { .. } => "tls",
            FetchError::Timeout { .. } => "timeout",
            FetchError::Status { .. } => "http_status",
            FetchError::EmptyBody { .. } => "empty_body",
            FetchError::TooLarge { .. } => "too_large",
            FetchError::Redirects { .. } => "redirects",
            FetchError::Other { .. } => "request",
        }
    }

    /// The response, when one arrived (non-2xx or empty), for the debug log.
    pub fn response(&self) -> Option<&Response> {
        match self {
            FetchError::Status { response, .. } | FetchError::EmptyBody { response, .. } => {
                Some(response)
            }
            _ => None,
        }
    }
}

/// Builds the request for a pivot node: GET appends the parameters to the URL's own query,
/// POST sends them as a form or JSON body.
pub fn build_request(node: &PivotRequest, params: &[(String, ParamValue)]) -> RequestSpec {
    let mut headers: Vec<(String, String)> = node
        .custom_headers
        .iter()
        .map(|h| (h.name().to_string(), h.value().to_string()))
        .collect();
    let (url, body) = match node.method {
        HttpMethod::Get => (append_query(&node.voice_url, params), String::new()),
        HttpMethod::Post => {
            let (ct, body) = match node.body_format {
                BodyFormat::Form => ("application/x-www-form-urlencoded", form_body(params)),
                BodyFormat::Json => ("application/json", json_body(params).to_string()),
            };
            headers.push(("Content-Type".into(), ct.into()));
            (node.voice_url.as_url().clone(), body)
        }
    };
    RequestSpec {
        method: node.method,
        url,
        headers,
        body,
        timeout: node.timeout,
    }
}

/// A pooled client pair (GET follows redirects, POST does not) with a body cap.
#[derive(Clone)]
pub struct HttpClient {
    follow: reqwest::Client,
    no_follow: reqwest::Client,
    max_body: usize,
}

impl HttpClient {
    pub fn new(
        user_agent: &str,
        max_redirects: usize,
        max_body: usize,
    ) -> Result<Self, reqwest::Error> {
        let build = |policy| {
            reqwest::Client::builder()
                .user_agent(user_agent)
                .redirect(policy)
                .pool_idle_timeout(Duration::from_secs(30))
                .build()
        };
        Ok(HttpClient {
            follow: build(reqwest::redirect::Policy::limited(max_redirects))?,
            no_follow: build(reqwest::redirect::Policy::none())?,
            max_body,
        })
    }

    /// Sends the request; Ok only for a 2xx answer with a non-empty body within the limits.
    pub async fn fetch(&self, spec: &RequestSpec) -> Result<Response, FetchError> {
        let url = shown(&spec.url);
        let exchange = self.exchange(spec);
        match tokio::time::timeout(spec.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout {
                url,
                ms: spec.timeout.as_millis(),
            }),
        }
    }

    /// Sends a request where only success matters (uploads, CDRs); returns the status.
    pub async fn send_simple(
        &self,
        method: reqwest::Method,
        url: url::Url,
        content_type: &str,
        body: Bytes,
        timeout: Duration,
    ) -> Result<u16, FetchError> {
        let u = shown(&url);
        let req = self
            .no_follow
            .request(method, url)
            .header(CONTENT_TYPE, content_type)
            .timeout(timeout)
            .body(body);
        let resp = req.send().await.map_err(|e| classify(&u, &e))?;
        Ok(resp.status().as_u16())
    }

    async fn exchange(&self, spec: &RequestSpec) -> Result<Response, FetchError> {
        let url = shown(&spec.url);
        let (client, method) = match spec.method {
            HttpMethod::Get => (&self.follow, reqwest::Method::GET),
            HttpMethod::Post => (&self.no_follow, reqwest::Method::POST),
        };
        let mut headers = HeaderMap::new();
        for (n, v) in &spec.headers {
            // Names and values were validated with the flow; skip anything that still fails.
            if let (Ok(n), Ok(v)) = (HeaderName::try_from(n.as_str()), HeaderValue::from_str(v)) {
                headers.append(n, v);
            }
        }
        let mut req = client.request(method, spec.url.clone()).headers(headers);
        if spec.method == HttpMethod::Post {
            req = req.body(spec.body.clone());
        }
        let mut resp = req.send().await.map_err(|e| classify(&url, &e))?;
        let status = resp.status().as_u16();
        let headers = lower_headers(resp.headers());
        if resp
            .content_length()
            .is_some_and(|n| n > self.max_body as u64)
        {
            return Err(FetchError::TooLarge {
                url,
                limit: self.max_body,
            });
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| classify(&url, &e))? {
            if body.len() + chunk.len() > self.max_body {
                return Err(FetchError::TooLarge {
                    url,
                    limit: self.max_body,
                });
            }
            body.extend_from_slice(&chunk);
        }
        let response = Response {
            status,
            headers,
            body: body.freeze(),
        };
        if !(200..300).contains(&status) {
            return Err(FetchError::Status {
                url,
                status,
                response: Box::new(response),
            });
        }
        if response.body.iter().all(u8::is_ascii_whitespace) {
            return Err(FetchError::EmptyBody {
                url,
                response: Box::new(response),
            });
        }
        Ok(response)
    }
}

fn lower_headers(map: &HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .map(|(n, v)| {
            (
                n.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Sorts a reqwest error by walking its source chain (reqwest has no DNS or TLS predicate).
fn classify(url: &str, e: &reqwest::Error) -> FetchError {
    let mut chain = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    let url = url.to_string();
    let lower = chain.to_ascii_lowercase();
    if e.is_timeout() {
        FetchError::Timeout { url, ms: 0 }
    } else if e.is_redirect() {
        FetchError::Redirects { url }
    } else if lower.contains("dns error") || lower.contains("failed to lookup") {
        FetchError::Dns {
            url,
            message: chain,
        }
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")
    {
        FetchError::Tls {
            url,
            message: chain,
        }
    } else if e.is_connect() {
        FetchError::Connect {
            url,
            message: chain,
        }
    } else {
        FetchError::Other {
            url,
            message: chain,
        }
    }
}

/// The URL as errors and logs show it: without the query, which carries the caller's
/// number and digits (those are logged at debug level only; the debug log has the full URI).
fn shown(url: &url::Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}
