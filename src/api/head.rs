//! The request head, read and checked before hyper sees the connection, so every error of
//! the HTTP layer (a malformed head 400, a too-long target 414, too many or too large
//! header fields 431, a head that takes too long 408) is answered in the Crossbar envelope
//! like any other error. The checks are hyper's own (same parser, same rules for the
//! method, the target, Content-Length and Transfer-Encoding), with tighter size limits, so
//! a head that passes here never makes hyper answer on its own.

use axum::http::{HeaderValue, Method, StatusCode, Uri};
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::envelope::Reply;

/// Request line and header fields, in bytes.
pub const HEAD_MAX: usize = 16 * 1024;
/// The request target, in bytes.
pub const URI_MAX: usize = 8 * 1024;
/// Header fields in one request.
pub const HEADERS_MAX: usize = 64;

/// Why a head was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HeadError {
    /// The peer closed (or reset) the connection before a whole head: nothing to answer.
    Closed,
    /// The head did not arrive within `[api] header_timeout_ms`.
    Timeout,
    /// Anything hyper would answer 400 to.
    Bad(&'static str),
    UriTooLong,
    TooLarge(&'static str),
}

impl HeadError {
    fn reply(&self) -> Option<Reply> {
        let (status, message) = match self {
            Self::Closed => return None,
            Self::Timeout => (
                StatusCode::REQUEST_TIMEOUT,
                "the request head did not arrive in time".to_owned(),
            ),
            Self::Bad(why) => (StatusCode::BAD_REQUEST, format!("malformed request: {why}")),
            Self::UriTooLong => (
                StatusCode::URI_TOO_LONG,
                format!("request target longer than {URI_MAX} bytes"),
            ),
            Self::TooLarge(why) => (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, why.to_string()),
        };
        Some(Reply::error(status, message))
    }
}

enum Parsed {
    Complete,
    Partial,
}

/// Reads until the head is complete and acceptable; returns every byte read (the head and
/// whatever of the body came with it), for hyper to parse again.
pub(crate) async fn read_head<R: AsyncRead + Unpin>(io: &mut R) -> Result<BytesMut, HeadError> {
    let mut buf = BytesMut::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = io.read(&mut chunk).await.map_err(|_| HeadError::Closed)?;
        if n == 0 {
            return Err(HeadError::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Parsed::Complete = check(&buf)? {
            return Ok(buf);
        }
    }
}

/// Answers `error` in the envelope (best effort: the peer may not read) and gives up.
pub(crate) async fn reject<W: AsyncWrite + Unpin>(io: &mut W, error: &HeadError) {
    let Some(reply) = error.reply() else { return };
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let status = reply.status();
    let body = reply.into_envelope(&request_id, None).to_string();
    let head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-request-id: {request_id}\r\nconnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    tracing::debug!(status = status.as_u16(), ?error, "api request head refused");
    let write = async {
        io.write_all(head.as_bytes()).await?;
        io.write_all(body.as_bytes()).await?;
        io.shutdown().await
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), write).await;
}

fn check(buf: &[u8]) -> Result<Parsed, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Partial) => {
            if !buf.contains(&b'\n') && buf.len() > URI_MAX + 32 {
                return Err(HeadError::UriTooLong);
            }
            if buf.len() > HEAD_MAX {
                return Err(HeadError::TooLarge(
                    "request header fields larger than 16 KiB",
                ));
            }
            Ok(Parsed::Partial)
        }
        Ok(httparse::Status::Complete(len)) => {
            let path = req.path.unwrap_or("");
            if path.len() > URI_MAX {
                return Err(HeadError::UriTooLong);
            }
            if len > HEAD_MAX {
                return Err(HeadError::TooLarge(
                    "request header fields larger than 16 KiB",
                ));
            }
            accept(&req)?;
            Ok(Parsed::Complete)
        }
        Err(httparse::Error::TooManyHeaders) => {
            Err(HeadError::TooLarge("more than 64 header fields"))
        }
        Err(httparse::Error::Version) => Err(HeadError::Bad("not an HTTP/1.x request")),
        Err(httparse::Error::Token) if req.method.is_none() => {
            Err(HeadError::Bad("invalid method"))
        }
        Err(httparse::Error::Token) => Err(HeadError::Bad("invalid request target")),
        Err(_) => Err(HeadError::Bad("invalid header field")),
    }
}

/// What hyper checks after httparse: method, target, field values, message framing.
fn accept(req: &httparse::Request<'_, '_>) -> Result<(), HeadError> {
    let method = req.method.unwrap_or("");
    Method::from_bytes(method.as_bytes()).map_err(|_| HeadError::Bad("invalid method"))?;
    Uri::try_from(req.path.unwrap_or("")).map_err(|_| HeadError::Bad("invalid request target"))?;
    let http11 = req.version == Some(1);
    let mut content_length: Option<u64> = None;
    let mut te_chunked = None;
    for h in req.headers.iter() {
        HeaderValue::from_bytes(h.value).map_err(|_| HeadError::Bad("invalid header value"))?;
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if !http11 {
                return Err(HeadError::Bad("transfer-encoding in an HTTP/1.0 request"));
            }
            let last = h.value.rsplit(|b| *b == b',').next().unwrap_or(b"");
            te_chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("content-length") && te_chunked.is_none() {
            let n = digits(h.value).ok_or(HeadError::Bad("invalid content-length"))?;
            if content_length.is_some_and(|prev| prev != n) {
                return Err(HeadError::Bad("conflicting content-length"));
            }
            content_length = Some(n);
        }
    }
    if te_chunked == Some(false) {
        return Err(HeadError::Bad("transfer-encoding must end with chunked"));
    }
    Ok(())
}

/// A Content-Length value as hyper reads it: ASCII digits only, fitting its length type.
fn digits(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value)
        .ok()?
        .parse::<u64>()
        .ok()
        .filter(|n| *n < u64::MAX - 1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    async fn head(bytes: &[u8]) -> Result<BytesMut, HeadError> {
        let mut io: &[u8] = bytes;
        read_head(&mut io).await
    }

    #[tokio::test]
    async fn good_heads_come_back_with_what_followed_them() {
        let req = b"PUT /v2/api_auth HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(&head(req).await.unwrap()[..], &req[..]);
        for ok in [
            &b"GET / HTTP/1.0\r\n\r\n"[..],
            b"GET /health HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            b"GET / HTTP/1.1\r\ncontent-length: 5\r\ncontent-length: 5\r\n\r\n",
        ] {
            assert!(head(ok).await.is_ok(), "{}", String::from_utf8_lossy(ok));
        }
    }

    #[tokio::test]
    async fn each_bad_head_gets_the_status_hyper_would_give() {
        let long_target = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(URI_MAX));
        let endless_target = format!("GET /{}", "a".repeat(HEAD_MAX));
        let big_field = format!("GET / HTTP/1.1\r\nx: {}\r\n\r\n", "v".repeat(HEAD_MAX));
        let many: String = (0..HEADERS_MAX + 1)
            .map(|i| format!("h{i}: v\r\n"))
            .collect();
        let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
        type Expect = fn(&HeadError) -> bool;
        let cases: [(&[u8], Expect); 11] = [
            (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", |e| {
                matches!(e, HeadError::Bad(_))
            }),
            (b"G(T / HTTP/1.1\r\n\r\n", |e| {
                matches!(e, HeadError::Bad(_))
            }),
            (b"GET / HTTP/2.0\r\n\r\n", |e| {
                matches!(e, HeadError::Bad(_))
            }),
            (b"GET http://[::1/ HTTP/1.1\r\n\r\n", |e| {
                matches!(e, HeadError::Bad(_))
            }),
            (
                b"GET / HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
                |e| matches!(e, HeadError::Bad(_)),
            ),
            (b"GET / HTTP/1.1\r\ncontent-length: -1\r\n\r\n", |e| {
                matches!(e, HeadError::Bad(_))
            }),
            (b"GET / HTTP/1.1\r\ntransfer-encoding: gzip\r\n\r\n", |e| {
                matches!(e, HeadError::Bad(_))
            }),
            (long_target.as_bytes(), |e| *e == HeadError::UriTooLong),
            (endless_target.as_bytes(), |e| *e == HeadError::UriTooLong),
            (big_field.as_bytes(), |e| {
                matches!(e, HeadError::TooLarge(_))
            }),
            (many.as_bytes(), |e| matches!(e, HeadError::TooLarge(_))),
        ];
        for (bytes, expected) in cases {
            let err = head(bytes).await.unwrap_err();
            assert!(
                expected(&err),
                "{err:?} for {:.60}",
                String::from_utf8_lossy(bytes)
            );
        }
        assert_eq!(
            head(b"GET / HTTP/1.1\r\n").await.unwrap_err(),
            HeadError::Closed
        );
    }

    #[tokio::test]
    async fn a_refusal_is_an_envelope_with_its_status() {
        let mut out = Vec::new();
        reject(&mut out, &HeadError::UriTooLong).await;
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{head}");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            (v["status"].as_str(), v["error"].as_str()),
            (Some("error"), Some("414"))
        );
        let mut nothing = Vec::new();
        reject(&mut nothing, &HeadError::Closed).await;
        assert!(nothing.is_empty());
    }
}
