//! The Crossbar envelope around every answer, the API's error type, and the middleware
//! that gives each request its `request_id` and turns every reply (axum's own rejections,
//! 404s and 405s included) into an envelope. Knows no routes and no store.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use axum::body::Body;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use tracing::Instrument;

use super::auth;
use crate::store::StoreError;

/// The request's id, in the request's extensions for handlers that want it.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// What a handler answers; the middleware wraps it in the envelope.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    status: StatusCode,
    data: Value,
    message: Option<String>,
    /// A token to announce (from `api_auth`); else the request's own is echoed.
    auth_token: Option<String>,
    /// Extra top-level fields, e.g. `page_size` and `next_start_key`.
    extra: Map<String, Value>,
}

impl Reply {
    pub(crate) fn ok(data: Value) -> Self {
        Self {
            status: StatusCode::OK,
            data,
            message: None,
            auth_token: None,
            extra: Map::new(),
        }
    }

    pub(crate) fn created(data: Value, auth_token: String) -> Self {
        Self {
            status: StatusCode::CREATED,
            auth_token: Some(auth_token),
            ..Self::ok(data)
        }
    }

    pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: Some(message.into()),
            ..Self::ok(json!({}))
        }
    }

    /// An error status whose `data` still says something (e.g. `/health` while draining).
    pub(crate) fn error_with(status: StatusCode, message: impl Into<String>, data: Value) -> Self {
        Self {
            data,
            ..Self::error(status, message)
        }
    }

    pub(crate) fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    pub(crate) fn into_envelope(self, request_id: &str, request_token: Option<String>) -> Value {
        let mut env = self.extra;
        let failed = self.status.is_client_error() || self.status.is_server_error();
        env.insert("revision".into(), revision(&self.data).into());
        env.insert("data".into(), self.data);
        env.insert(
            "status".into(),
            if failed { "error" } else { "success" }.into(),
        );
        env.insert("request_id".into(), request_id.into());
        let token = self.auth_token.or(request_token).unwrap_or_default();
        env.insert("auth_token".into(), token.into());
        if failed {
            env.insert("error".into(), self.status.as_u16().to_string().into());
        }
        if let Some(message) = self.message {
            env.insert("message".into(), message.into());
        }
        env.insert("version".into(), env!("CARGO_PKG_VERSION").into());
        Value::Object(env)
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut resp = self.status.into_response();
        resp.extensions_mut().insert(self);
        resp
    }
}

/// Opaque, changes when `data` changes (stable within one pivot build).
fn revision(data: &Value) -> String {
    let mut h = DefaultHasher::new();
    data.to_string().hash(&mut h);
    format!("{:016x}", h.finish())
}

/// Everything a request can fail with; each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing X-Auth-Token header")]
    MissingToken,
    #[error("invalid or expired auth token")]
    InvalidToken,
    #[error("invalid credentials")]
    BadCredentials,
    #[error("this token's account may not access that account")]
    Forbidden,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("request body larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("too many {what}; retry in {} s", retry_after.as_secs().max(1))]
    TooManyRequests {
        what: &'static str,
        retry_after: std::time::Duration,
    },
    #[error("the request took longer than {0} ms")]
    RequestTimeout(u128),
    #[error("the debug log could not be read")]
    Store(#[from] StoreError),
}

impl ApiError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::MissingToken | Self::InvalidToken | Self::BadCredentials => {
                StatusCode::UNAUTHORIZED
            }
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::BadRequest(_) | Self::Store(StoreError::BadStartKey) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Store(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            Self::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub(crate) fn from_body(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::PayloadTooLarge(super::BODY_MAX)
        } else {
            Self::BadRequest(format!(
                "cannot read the request body: {}",
                rejection.body_text()
            ))
        }
    }

    pub(crate) fn from_path(rejection: PathRejection) -> Self {
        Self::BadRequest(format!("bad path: {}", rejection.body_text()))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            Self::Store(StoreError::BadStartKey) => "malformed start_key".to_owned(),
            Self::Store(e) if e.is_unavailable() => {
                tracing::warn!(error = %e, "the store is unreachable");
                "the store is unreachable right now; retry later".to_owned()
            }
            Self::Store(e) => {
                tracing::error!(error = %e, "store query failed");
                "the store could not answer".to_owned()
            }
            other => other.to_string(),
        };
        let mut resp = Reply::error(status, message).into_response();
        if let Self::TooManyRequests { retry_after, .. } = &self {
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        resp
    }
}

/// The outermost layer: a fresh `request_id` per request (in the span, the envelope and
/// the `X-Request-Id` header), and an envelope for every reply.
pub(crate) async fn layer(mut req: Request, next: Next) -> Response {
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let token = req
        .headers()
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .filter(|t| auth::looks_like_token(t))
        .map(str::to_owned);
    req.extensions_mut().insert(RequestId(request_id.clone()));
    // Load balancers ask for /health every few seconds: keep those out of the info log.
    let quiet = req.uri().path() == "/health";
    let span = tracing::info_span!(
        "api",
        request_id = %request_id,
        method = %req.method(),
        path = %req.uri().path(),
    );
    async move {
        let resp = next.run(req).await;
        let resp = finish(resp, &request_id, token);
        let status = resp.status().as_u16();
        if quiet && status == 200 {
            tracing::debug!(status, "api request");
        } else {
            tracing::info!(status, "api request");
        }
        resp
    }
    .instrument(span)
    .await
}

/// Renders a handler's `Reply`; replaces any other error reply with an error envelope;
/// passes other successful replies (e.g. a merged `/metrics`) through untouched.
fn finish(resp: Response, request_id: &str, token: Option<String>) -> Response {
    let (mut parts, body) = resp.into_parts();
    let reply = match parts.extensions.remove::<Reply>() {
        Some(reply) => reply,
        None if parts.status.is_client_error() || parts.status.is_server_error() => {
            let reason = parts.status.canonical_reason().unwrap_or("error");
            Reply::error(parts.status, reason.to_ascii_lowercase())
        }
        None => return Response::from_parts(parts, body),
    };
    parts.status = reply.status;
    let envelope = reply.into_envelope(request_id, token);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(id) = HeaderValue::from_str(request_id) {
        parts.headers.insert("x-request-id", id);
    }
    Response::from_parts(parts, Body::from(envelope.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn error_envelope_has_every_field() {
        let env = Reply::error(StatusCode::NOT_FOUND, "no such call")
            .into_envelope("rid", Some("tok".into()));
        assert_eq!(env["status"], "error");
        assert_eq!(env["error"], "404");
        assert_eq!(env["message"], "no such call");
        assert_eq!(env["request_id"], "rid");
        assert_eq!(env["auth_token"], "tok");
        assert_eq!(env["data"], json!({}));
        assert!(env["revision"].is_string());
    }

    #[test]
    fn announced_token_wins_and_extras_are_top_level() {
        let env = Reply::created(json!({"a": 1}), "new".into())
            .with("page_size", 5)
            .into_envelope("rid", Some("old".into()));
        assert_eq!(env["status"], "success");
        assert_eq!(env["auth_token"], "new");
        assert_eq!(env["page_size"], 5);
        assert!(env.get("error").is_none() && env.get("message").is_none());
    }

    #[test]
    fn revision_follows_data() {
        assert_eq!(revision(&json!([1])), revision(&json!([1])));
        assert_ne!(revision(&json!([1])), revision(&json!([2])));
    }
}
