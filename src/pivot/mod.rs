//! The web side of pivot: the request parameters (`params`), one HTTP exchange (`fetch`,
//! sent by `client` with its own timeouts, `phase`), the outbound URL policy (`policy`),
//! signatures (`sign`), retries (`retry`), the circuit breaker (`breaker`), the failure
//! catalogue (`codes`), and turning an answer into a flow (`piston` for JSON, `twiml` for
//! XML). Knows no event socket.

pub mod breaker;
mod client;
pub mod codes;
pub mod fetch;
pub mod params;
mod phase;
pub mod piston;
pub mod policy;
pub mod retry;
pub mod sign;
pub mod twiml;

use crate::callflow::{FlowLimits, Node};
use fetch::Response;

/// Why an answer that arrived could not become a flow.
#[derive(Debug, thiserror::Error)]
pub enum TranslateError {
    #[error("invalid Piston JSON: {0}")]
    Flow(crate::callflow::FlowError),
    /// Malformed XML, a root that is not `<Response>`, an unknown verb or attribute, a bad
    /// value; the error names the line and column.
    #[error("invalid TwiML: {0}")]
    Twiml(crate::callflow::FlowError),
    #[error(
        "cannot tell the answer's format: content-type {content_type:?}, first byte {first:?}"
    )]
    UnknownFormat {
        content_type: Option<String>,
        first: Option<char>,
    },
}

impl TranslateError {
    pub fn kind(&self) -> &'static str {
        match self {
            TranslateError::Flow(_) => "invalid_flow",
            TranslateError::Twiml(_) => "invalid_twiml",
            TranslateError::UnknownFormat { .. } => "unknown_format",
        }
    }
}

/// The answer's format, chosen per contract 4.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

/// `application/json` or `*+json` → JSON, `text/xml`/`application/xml` → XML; otherwise the
/// first non-blank byte decides.
pub fn detect_format(content_type: Option<&str>, body: &[u8]) -> Option<Format> {
    if let Some(ct) = content_type {
        let mime = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if mime == "application/json" || mime.ends_with("+json") {
            return Some(Format::Json);
        }
        if mime == "text/xml" || mime == "application/xml" {
            return Some(Format::Xml);
        }
    }
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Some(Format::Json),
        Some(b'<') => Some(Format::Xml),
        _ => None,
    }
}

/// Turns a successful answer into a validated flow; `base` is the URL the document came
/// from (TwiML resolves relative URLs against it).
pub fn translate(
    resp: &Response,
    base: &url::Url,
    limits: &FlowLimits,
) -> Result<Node, TranslateError> {
    match detect_format(resp.content_type(), &resp.body) {
        Some(Format::Json) => {
            piston::parse_piston(&resp.body, limits).map_err(TranslateError::Flow)
        }
        Some(Format::Xml) => {
            twiml::parse_twiml(&resp.body, base, limits).map_err(TranslateError::Twiml)
        }
        None => Err(TranslateError::UnknownFormat {
            content_type: resp.content_type().map(str::to_string),
            first: resp
                .body
                .iter()
                .find(|b| !b.is_ascii_whitespace())
                .map(|b| char::from(*b)),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_wins_over_the_first_byte() {
        assert_eq!(
            detect_format(Some("application/json; charset=utf-8"), b"<x/>"),
            Some(Format::Json)
        );
        assert_eq!(
            detect_format(Some("application/vnd.piston+json"), b""),
            Some(Format::Json)
        );
        assert_eq!(detect_format(Some("text/xml"), b"{}"), Some(Format::Xml));
        assert_eq!(
            detect_format(Some("Application/XML"), b"{}"),
            Some(Format::Xml)
        );
    }

    #[test]
    fn first_non_blank_byte_decides_otherwise() {
        assert_eq!(
            detect_format(Some("text/plain"), b"  \n{\"module\":1}"),
            Some(Format::Json)
        );
        assert_eq!(detect_format(None, b"\t<Response/>"), Some(Format::Xml));
        assert_eq!(detect_format(None, b"hello"), None);
        assert_eq!(detect_format(None, b"   "), None);
    }
}
