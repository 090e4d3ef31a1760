//! [`HttpUrl`]: a checked `http(s)` URL of the flow model, and its [`Trust`]: whether the
//! operator wrote it (callflow documents, the dialplan's channel variables, the config) or a
//! web app's answer named it. pivot checks the destination of every URL a web app named
//! (`crate::pivot::policy`); the operator's own URLs are not checked.

use std::fmt;

use super::timing::UrlOverrides;
use super::value::{preview, InvalidValue};

/// Who vouches for a URL. Anything parsed from a web app's answer starts as
/// [`Trust::WebApp`]; routing marks the operator's flows [`Trust::Operator`], and a URL in
/// the answer of an operator URL's request inherits that trust when it has the same origin
/// (scheme, host and port) as that request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Trust {
    /// Written by the operator: pivot connects wherever it points.
    Operator,
    /// Named by a web app: its destination must pass the outbound URL policy.
    #[default]
    WebApp,
}

/// An absolute `http://` or `https://` URL with a host, at most 2048 bytes, that had no
/// control characters or spaces in its text, with valid overrides in its fragment (see
/// [`UrlOverrides`]), and its [`Trust`]. Derefs to [`url::Url`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    url: url::Url,
    trust: Trust,
    /// `#ct=..&rt=..&tt=..&rc=..&rp=..`, checked when the URL is built.
    overrides: UrlOverrides,
}

impl HttpUrl {
    pub const MAX_LEN: usize = 2048;

    /// A URL named by a web app ([`Trust::WebApp`]).
    pub fn new(s: &str) -> Result<HttpUrl, InvalidValue> {
        if s.len() > Self::MAX_LEN {
            return Err(invalid(format!("URL longer than {} bytes", Self::MAX_LEN)));
        }
        // url::Url silently drops tabs and newlines; refuse them so nothing is hidden.
        if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(invalid(format!(
                "URL must not contain spaces or control characters, got {}",
                preview(s)
            )));
        }
        let url = url::Url::parse(s)
            .map_err(|e| invalid(format!("not a valid URL ({e}): {}", preview(s))))?;
        Self::from_url(url)
    }

    /// As [`HttpUrl::new`], from a parsed URL ([`Trust::WebApp`]).
    pub fn from_url(url: url::Url) -> Result<HttpUrl, InvalidValue> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(format!(
                "URL must be http:// or https://, got {}",
                preview(url.as_str())
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("URL has no host"));
        }
        if url.as_str().len() > Self::MAX_LEN {
            return Err(invalid(format!("URL longer than {} bytes", Self::MAX_LEN)));
        }
        let overrides = UrlOverrides::parse(url.fragment().unwrap_or(""))?;
        Ok(HttpUrl {
            url,
            trust: Trust::WebApp,
            overrides,
        })
    }

    /// Another URL made from this one (an upload name appended): it keeps this one's trust.
    pub fn derive(&self, url: url::Url) -> Result<HttpUrl, InvalidValue> {
        let mut out = HttpUrl::from_url(url)?;
        out.trust = self.trust;
        Ok(out)
    }

    /// The same URL, vouched for by the operator.
    pub fn operator(mut self) -> HttpUrl {
        self.trust = Trust::Operator;
        self
    }

    /// The timeouts and retries its fragment sets.
    pub fn overrides(&self) -> UrlOverrides {
        self.overrides
    }

    pub fn trust(&self) -> Trust {
        self.trust
    }

    pub fn is_trusted(&self) -> bool {
        self.trust == Trust::Operator
    }

    /// Same scheme, host and port (default ports made explicit).
    pub fn same_origin(&self, other: &url::Url) -> bool {
        self.url.origin() == other.origin()
    }

    pub fn as_url(&self) -> &url::Url {
        &self.url
    }

    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }
}

fn invalid(msg: impl Into<String>) -> InvalidValue {
    InvalidValue(msg.into())
}

impl std::ops::Deref for HttpUrl {
    type Target = url::Url;
    fn deref(&self) -> &url::Url {
        &self.url
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url.as_str())
    }
}

impl std::str::FromStr for HttpUrl {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, InvalidValue> {
        Self::new(s)
    }
}
