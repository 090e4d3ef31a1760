//! The Crossbar-style REST API (contract section 7): routes, auth, the envelope, and the
//! bounded connection server (`listen.rs`, `head.rs`). It reads the debug log through
//! `StoreReader` and keeps its tokens through `Sessions`; it knows nothing of calls.

mod auth;
mod debug;
mod envelope;
mod head;
mod limit;
mod listen;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::Router;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::store::{Sessions, StoreReader, StoreStatus};
use auth::{Clock, LoginLimits, TokenStore};
use envelope::Reply;
use limit::RateLimit;

pub use debug::PAGE_SIZE_DEFAULT;
pub use envelope::{ApiError, RequestId};
pub use head::{HEADERS_MAX, HEAD_MAX, URI_MAX};
pub use listen::{serve, ConnLimits, ConnStats, PeerAddr};

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
    /// Live tokens one account may hold.
    pub max_tokens_per_account: usize,
    pub auth_per_minute_per_address: u32,
    pub auth_per_minute_per_account: u32,
    /// How long a request may take once its head is in (then 408).
    pub request_timeout: Duration,
    /// This node's name, for `/health`.
    pub node: String,
}

impl ApiConfig {
    /// The defaults of `[api]`: tokens valid for one hour, 100 per account, 60 login
    /// attempts a minute per address and 30 logins a minute per account.
    pub fn new(accounts: Vec<ApiAccount>) -> Self {
        Self {
            accounts,
            token_ttl: Duration::from_secs(3600),
            max_tokens_per_account: 100,
            auth_per_minute_per_address: 60,
            auth_per_minute_per_account: 30,
            request_timeout: Duration::from_secs(30),
            node: crate::config::host_name(),
        }
    }
}

/// What the API reads and answers from, besides its configuration.
#[derive(Clone)]
pub struct ApiStore {
    pub reader: StoreReader,
    pub sessions: Sessions,
    /// Whether the debug store is writable (`/health` says `degraded` when not).
    pub status: StoreStatus,
    /// Cancelled when the node stops taking calls (`/health` answers 503 `draining`).
    pub draining: CancellationToken,
}

pub(crate) struct ApiState {
    accounts: Vec<ApiAccount>,
    tokens: TokenStore,
    logins: LoginLimits,
    reader: StoreReader,
    status: StoreStatus,
    draining: CancellationToken,
    node: String,
}

/// The API's routes, ready for [`serve`]. Routes `.merge()`d later (e.g. `/metrics`) are
/// not wrapped in the envelope.
pub fn router(config: ApiConfig, store: ApiStore) -> Router {
    router_with_clock(config, store, Arc::new(SystemTime::now))
}

fn router_with_clock(config: ApiConfig, store: ApiStore, clock: Clock) -> Router {
    let state = Arc::new(ApiState {
        tokens: TokenStore::new(
            store.sessions,
            config.token_ttl,
            config.max_tokens_per_account,
            clock,
        ),
        logins: LoginLimits {
            per_address: RateLimit::per_minute(config.auth_per_minute_per_address),
            per_account: RateLimit::per_minute(config.auth_per_minute_per_account),
        },
        accounts: config.accounts,
        reader: store.reader,
        status: store.status,
        draining: store.draining,
        node: config.node,
    });
    Router::new()
        .route("/health", get(health))
        .route("/v2/api_auth", put(auth::api_auth).delete(auth::logout))
        .route("/v2/accounts/:account_id/pivot/debug", get(debug::list))
        .route(
            "/v2/accounts/:account_id/pivot/debug/:call_id",
            get(debug::detail),
        )
        .route(
            "/v2/accounts/:account_id/pivot/debug/:call_id/timeline",
            get(debug::timeline),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_MAX))
        .layer(middleware::from_fn_with_state(
            config.request_timeout,
            deadline,
        ))
        .layer(middleware::from_fn(envelope::layer))
        .with_state(state)
}

/// For load balancers: no auth, no database query. `200` with `ok` (or `degraded` while
/// the debug store cannot be written: calls are still served), `503` with `draining`
/// once the node stopped taking calls.
async fn health(State(state): State<Arc<ApiState>>) -> Reply {
    let store_ok = state.status.available();
    let store = if store_ok { "ok" } else { "unavailable" };
    if state.draining.is_cancelled() {
        let data = json!({"status": "draining", "node": state.node, "store": store});
        return Reply::error_with(
            StatusCode::SERVICE_UNAVAILABLE,
            "this node is shutting down and takes no new calls",
            data,
        );
    }
    let status = if store_ok { "ok" } else { "degraded" };
    Reply::ok(json!({"status": status, "node": state.node, "store": store}))
}

/// A request (body, handler) that takes longer than `[api] request_timeout_ms` is 408.
async fn deadline(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError::RequestTimeout(limit.as_millis()).into_response(),
    }
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

/// At most one warning per 10 s; counts the ones held back (floods of refused
/// connections must not flood the log).
#[derive(Default)]
pub(crate) struct WarnLimiter {
    last: Option<std::time::Instant>,
    suppressed: u64,
}

impl WarnLimiter {
    pub(crate) fn due(&mut self) -> Option<u64> {
        let due = self
            .last
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(10));
        if due {
            self.last = Some(std::time::Instant::now());
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}
