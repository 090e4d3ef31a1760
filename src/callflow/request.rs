//! The `pivot` module's data: where and how to ask the web app for the next flow. Building
//! and sending the HTTP request is `crate::pivot`'s business.

use std::time::Duration;

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
    /// Whole-request timeout, [`PivotRequest::MIN_TIMEOUT`]..=[`PivotRequest::MAX_TIMEOUT`].
    pub timeout: Duration,
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
            debug: false,
            cdr_url: None,
            custom_headers: Vec::new(),
        }
    }
}

/// Where a TwiML document sends the caller next (`<Redirect>`, or a verb's `action`): an
/// absolute URL (resolved against the document's URL when it was read) and the method
/// (TwiML's default is POST). The request itself takes its timeout, debug flag and headers
/// from the request that fetched the document, and always sends TwiML parameters.
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
