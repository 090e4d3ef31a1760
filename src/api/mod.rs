//! The Crossbar-style REST API (contract section 7): routes, auth, the envelope. It only
//! reads the debug log through `StoreReader`; it does not bind sockets (the caller serves
//! the router) and knows nothing of calls.

mod auth;
mod debug;
mod envelope;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{middleware, Router};
use serde_json::json;

use crate::store::StoreReader;
use auth::{Clock, TokenStore};
use envelope::Reply;

pub use debug::PAGE_SIZE_DEFAULT;
pub use envelope::{ApiError, RequestId};

/// The largest request body accepted, in bytes.
pub const BODY_MAX: usize = 64 * 1024;

/// An account that may use the API, and the key that proves it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiAccount {
    pub id: String,
    pub name: String,
    pub api_key: String,
}

impl ApiAccount {
    pub fn new(id: impl Into<String>, name: impl Into<String>, api_key: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            api_key: api_key.into(),
        }
    }
}

/// Keeps the key out of logs.
impl fmt::Debug for ApiAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiAccount")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("api_key", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    pub accounts: Vec<ApiAccount>,
    /// How long an auth token is valid (at most a year).
    pub token_ttl: Duration,
}

impl ApiConfig {
    /// Tokens valid for one hour.
    pub fn new(accounts: Vec<ApiAccount>) -> Self {
        Self {
            accounts,
            token_ttl: Duration::from_secs(3600),
        }
    }
}

pub(crate) struct ApiState {
    accounts: Vec<ApiAccount>,
    tokens: TokenStore,
    reader: StoreReader,
}

/// The API's routes, ready for `axum::serve`. Routes `.merge()`d later (e.g. `/metrics`)
/// are not wrapped in the envelope.
pub fn router(config: ApiConfig, reader: StoreReader) -> Router {
    router_with_clock(config, reader, Arc::new(Instant::now))
}

fn router_with_clock(config: ApiConfig, reader: StoreReader, clock: Clock) -> Router {
    let state = Arc::new(ApiState {
        tokens: TokenStore::new(config.token_ttl, clock),
        accounts: config.accounts,
        reader,
    });
    Router::new()
        .route("/health", get(health))
        .route("/v2/api_auth", put(auth::api_auth))
        .route("/v2/accounts/:account_id/pivot/debug", get(debug::list))
        .route(
            "/v2/accounts/:account_id/pivot/debug/:call_id",
            get(debug::detail),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_MAX))
        .layer(middleware::from_fn(envelope::layer))
        .with_state(state)
}

/// For load balancers: no auth, no database.
async fn health() -> Reply {
    Reply::ok(json!({"status": "ok"}))
}

async fn not_found() -> Reply {
    Reply::error(StatusCode::NOT_FOUND, "no such route")
}

async fn method_not_allowed() -> Reply {
    Reply::error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this route",
    )
}
