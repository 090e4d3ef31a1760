//! The `pivot` module's data: where and how to ask the web app for the next flow. Building
//! and sending the HTTP request is `crate::pivot`'s business.

use std::time::Duration;

use super::timing::Timing;
use super::value::{CustomHeader, HttpUrl, InvalidValue};

/// Which parameter names are sent and which format is expected back first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReqFormat {
    #[default]
    Piston,
    Twiml,
}

impl ReqFormat {
    /// Case-insensitive `Piston` (alias `kazoo`) or `twiml`.
    pub fn parse(s: &str) -> Result<ReqFormat, InvalidValue> {
        match s.to_ascii_lowercase().as_str() {
            "piston" | "kazoo" => Ok(ReqFormat::Piston),
            "twiml" => Ok(ReqFormat::Twiml),
            _ => Err(InvalidValue(format!(
                "expected \"Piston\" (or \"kazoo\") or \"twiml\", got {}",
                super::value::preview(s)
            ))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpMethod {
    #[default]
    Get,
    Post,
}

impl HttpMethod {
    /// Case-insensitive `get` or `post`.
    pub fn parse(s: &str) -> Result<HttpMethod, InvalidValue> {
        match s.to_ascii_lowercase().as_str() {
            "get" => Ok(HttpMethod::Get),
            "post" => Ok(HttpMethod::Post),
            _ => Err(InvalidValue(format!(
                "expected \"get\" or \"post\", got {}",
                super::value::preview(s)
            ))),
        }
    }

    /// `GET` or `POST`.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
        }
    }
}

/// The body of a POST (ignored for GET).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyFormat {
    #[default]
    Form,
    Json,
}

impl BodyFormat {
    /// Case-insensitive `form` or `json`.
    pub fn parse(s: &str) -> Result<BodyFormat, InvalidValue> {
        match s.to_ascii_lowercase().as_str() {
            "form" => Ok(BodyFormat::Form),
            "json" => Ok(BodyFormat::Json),
            _ => Err(InvalidValue(format!(
                "expected \"form\" or \"json\", got {}",
                super::value::preview(s)
            ))),
        }
    }
}

/// `pivot`: one request to the web app; its answer replaces this node's children.
#[derive(Debug, Clone, PartialEq)]
pub struct PivotRequest {
    pub voice_url: HttpUrl,
    pub req_format: ReqFormat,
    pub method: HttpMethod,
    pub body_format: BodyFormat,
    /// Total time for every attempt and the waits between them,
    /// [`PivotRequest::MIN_TIMEOUT`]..=[`PivotRequest::MAX_TIMEOUT`].
    pub timeout: Duration,
    /// Connect timeout (default [`Timing::DEFAULT_CONNECT`]), same bounds.
    pub connect_timeout: Option<Duration>,
    /// Read timeout (default: the total), same bounds.
    pub read_timeout: Option<Duration>,
    /// Retries after the first attempt (default [`Timing::DEFAULT_RETRIES`]), at most
    /// [`Timing::MAX_RETRIES`].
    pub retries: Option<u32>,
    /// Asked with the same parameters and `ErrorCode`/`ErrorUrl` when `voice_url` fails.
    pub fallback_url: Option<HttpUrl>,
    pub debug: bool,
    pub cdr_url: Option<HttpUrl>,
    /// At most [`PivotRequest::MAX_CUSTOM_HEADERS`].
    pub custom_headers: Vec<CustomHeader>,
}

impl PivotRequest {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
    pub const MIN_TIMEOUT: Duration = Duration::from_millis(1);
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(120);
    pub const MAX_CUSTOM_HEADERS: usize = 32;

    /// A request with every default.
    pub fn new(voice_url: HttpUrl) -> PivotRequest {
        PivotRequest {
            voice_url,
            req_format: ReqFormat::Piston,
            method: HttpMethod::Get,
            body_format: BodyFormat::Form,
            timeout: Self::DEFAULT_TIMEOUT,
            connect_timeout: None,
            read_timeout: None,
            retries: None,
            fallback_url: None,
            debug: false,
            cdr_url: None,
            custom_headers: Vec::new(),
        }
    }
}

impl PivotRequest {
    /// The budget of a request to `url` (`voice_url` or `fallback_url`): the node's fields,
    /// with the URL's fragment overrides winning; connect and read within the total.
    pub fn timing(&self, url: &HttpUrl) -> Timing {
        let o = url.overrides();
        let total = o.total.unwrap_or(self.timeout);
        let connect = o.connect.or(self.connect_timeout);
        let read = o.read.or(self.read_timeout);
        Timing {
            connect: connect.unwrap_or(Timing::DEFAULT_CONNECT).min(total),
            read: read.unwrap_or(total).min(total),
            total,
            retries: o
                .retries
                .or(self.retries)
                .unwrap_or(Timing::DEFAULT_RETRIES)
                .min(Timing::MAX_RETRIES),
            retry_on: o.retry_on.unwrap_or_default(),
        }
    }
}

/// Where a TwiML document sends the caller next (`<Redirect>`, or a verb's `action`): an
/// absolute URL (resolved against the document's URL when it was read) and the method
/// (TwiML's default is POST). The request itself takes its timeouts, retries, fallback URL,
/// debug flag and headers from the request that fetched the document, and always sends
/// TwiML parameters; the action URL's own fragment overrides win.
#[derive(Debug, Clone, PartialEq)]
pub struct TwimlAction {
    pub url: HttpUrl,
    pub method: HttpMethod,
}

impl TwimlAction {
    /// `url` with TwiML's default method, POST.
    pub fn post(url: HttpUrl) -> TwimlAction {
        TwimlAction {
            url,
            method: HttpMethod::Post,
        }
    }

    /// The request to send, built on `base` (the request that fetched the document; `None`
    /// uses every default).
    pub fn request(&self, base: Option<&PivotRequest>) -> PivotRequest {
        let mut req = base
            .cloned()
            .unwrap_or_else(|| PivotRequest::new(self.url.clone()));
        req.voice_url = self.url.clone();
        req.method = self.method;
        req.req_format = ReqFormat::Twiml;
        req.body_format = BodyFormat::Form;
        req
    }
}
