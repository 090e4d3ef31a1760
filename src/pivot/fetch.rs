//! What one HTTP exchange with a web app is made of: the request built from a pivot node and
//! the call's parameters ([`RequestSpec`]), the answer ([`Response`]), and every way it can
//! fail sorted into a [`FetchError`] with a stable `kind`. Sending is [`super::client`]'s
//! business. Knows nothing of flows or FreeSWITCH.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderMap;

use crate::callflow::{BodyFormat, HttpMethod, HttpUrl, PivotRequest, Trust};
use crate::pivot::params::{append_query, form_body, json_body, ParamValue};
use crate::pivot::phase::ConnectTimedOut;
use crate::pivot::policy::Refusal;
use crate::pivot::retry::Attempt;
use crate::route::AccountId;

pub use super::client::{HttpClient, HttpOptions};

/// A request as it will go on the wire; also what the debug log records.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestSpec {
    pub method: HttpMethod,
    /// Without the `#fragment`, which is never sent.
    pub url: url::Url,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The most this attempt may take (the rest of the request's total budget).
    pub timeout: Duration,
    /// Resolving and connecting (DNS, TCP, TLS).
    pub connect_timeout: Duration,
    /// From the connection (or the start, on a pooled one) to the whole answer.
    pub read_timeout: Duration,
    /// Whether the URL is the operator's (not checked) or a web app's (checked against the
    /// outbound URL policy, and so is every redirect).
    pub trust: Trust,
    /// Whose secret signs it (none: unsigned).
    pub account: Option<AccountId>,
}

impl RequestSpec {
    /// The same request as attempt `attempt` (1 for the first) within its limits; the
    /// `X-Pivot-Attempt` header says which (the signature is added by the client).
    pub fn for_attempt(&self, attempt: &Attempt) -> RequestSpec {
        let mut spec = self.clone();
        spec.timeout = attempt.limit;
        spec.connect_timeout = attempt.connect;
        spec.read_timeout = attempt.read;
        spec.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case(ATTEMPT_HEADER));
        spec.headers
            .push((ATTEMPT_HEADER.into(), attempt.number.to_string()));
        spec
    }
}

/// The header that numbers the attempts of one request (1, 2, ...).
pub const ATTEMPT_HEADER: &str = "X-Pivot-Attempt";

/// What came back: status, headers (names lower-case), the whole body, and the URL that
/// answered (the request's, or the last redirect's).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub url: url::Url,
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
    #[error("no connection to {url} within {ms} ms")]
    ConnectTimeout { url: String, ms: u128 },
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
    /// The outbound URL policy refused the destination; nothing was sent to it.
    #[error("refused to connect to {url}: {refusal}")]
    Forbidden { url: String, refusal: Refusal },
    /// The host failed too often lately: the request was not sent (see `breaker`).
    #[error("skipped: circuit open for {host} (retried after {retry_in_ms} ms)")]
    CircuitOpen { host: String, retry_in_ms: u128 },
    #[error("request to {url} failed: {message}")]
    Other { url: String, message: String },
}

impl FetchError {
    /// A short stable name for logs, metrics, the debug log and `pivot_failure` (the
    /// catalogue is `super::codes`).
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::Connect { .. } => "connect",
            FetchError::Dns { .. } => "dns",
            FetchError::Tls { .. } => "tls",
            FetchError::ConnectTimeout { .. } => "connect_timeout",
            FetchError::Timeout { .. } => "timeout",
            FetchError::Status { .. } => "http_status",
            FetchError::EmptyBody { .. } => "empty_body",
            FetchError::TooLarge { .. } => "too_large",
            FetchError::Redirects { .. } => "redirects",
            FetchError::Forbidden { .. } => "forbidden_destination",
            FetchError::CircuitOpen { .. } => "circuit_open",
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

/// Builds the request of a pivot node to `to` (its `voice_url` or its `fallback_url`): GET
/// appends the parameters to the URL's own query, POST sends them as a form or JSON body.
/// The limits are those of a first attempt; see [`RequestSpec::for_attempt`].
pub fn build_request(
    node: &PivotRequest,
    to: &HttpUrl,
    params: &[(String, ParamValue)],
) -> RequestSpec {
    let mut headers: Vec<(String, String)> = node
        .custom_headers
        .iter()
        .map(|h| (h.name().to_string(), h.value().to_string()))
        .collect();
    let mut own = to.as_url().clone();
    own.set_fragment(None);
    let (url, body) = match node.method {
        HttpMethod::Get => (append_query(&own, params), String::new()),
        HttpMethod::Post => {
            let (ct, body) = match node.body_format {
                BodyFormat::Form => ("application/x-www-form-urlencoded", form_body(params)),
                BodyFormat::Json => ("application/json", json_body(params).to_string()),
            };
            headers.push(("Content-Type".into(), ct.into()));
            (own, body)
        }
    };
    let timing = node.timing(to);
    RequestSpec {
        method: node.method,
        url,
        headers,
        body,
        timeout: timing.total,
        connect_timeout: timing.connect,
        read_timeout: timing.read,
        trust: to.trust(),
        account: None,
    }
}

pub(super) fn lower_headers(map: &HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .map(|(n, v)| {
            (
                n.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Sorts a reqwest error by walking its source chain (reqwest has no DNS or TLS predicate);
/// a [`Refusal`] of the policy's resolver anywhere in the chain is `forbidden_destination`.
pub(super) fn classify(url: &str, e: &reqwest::Error) -> FetchError {
    // reqwest's own message repeats the URL with its query (the caller's number and
    // digits); the causes below it say what failed.
    let mut source = std::error::Error::source(e);
    let mut chain = match source {
        Some(_) => String::from("request failed"),
        None => e.to_string(),
    };
    while let Some(s) = source {
        if let Some(refusal) = s.downcast_ref::<Refusal>() {
            return FetchError::Forbidden {
                url: url.to_string(),
                refusal: refusal.clone(),
            };
        }
        if let Some(t) = s.downcast_ref::<ConnectTimedOut>() {
            return FetchError::ConnectTimeout {
                url: url.to_string(),
                ms: t.0.as_millis(),
            };
        }
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
pub fn shown(url: &url::Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}
