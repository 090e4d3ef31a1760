//! API keys and auth tokens: `PUT /v2/api_auth` (rate limited per source address and per
//! account), `DELETE /v2/api_auth` (logout), and the extractor that turns `X-Auth-Token`
//! into an account. Tokens live in the store ([`Sessions`]), not in memory: a restart logs
//! nobody out, every node on a shared database accepts them, and a logout holds
//! everywhere. Only a SHA-256 of each token is stored. Knows nothing of what the account
//! may read: that check is in the handlers.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::async_trait;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::Extension;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::envelope::{ApiError, Reply};
use super::limit::{address_key, RateLimit};
use super::listen::PeerAddr;
use super::{ApiAccount, ApiState};
use crate::store::{NewToken, Sessions};

/// The longest token lifetime honoured, whatever is configured.
const TTL_MAX: Duration = Duration::from_secs(365 * 86_400);
/// Tokens are 64 lower-case hex digits.
const TOKEN_LEN: usize = 64;

/// Where "now" comes from: the system clock in production, a hand-moved one in tests.
pub(crate) type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// Issues, checks and revokes tokens in the store.
pub(crate) struct TokenStore {
    sessions: Sessions,
    ttl: Duration,
    max_per_account: usize,
    clock: Clock,
}

impl TokenStore {
    pub(crate) fn new(
        sessions: Sessions,
        ttl: Duration,
        max_per_account: usize,
        clock: Clock,
    ) -> Self {
        Self {
            sessions,
            ttl: ttl.min(TTL_MAX),
            max_per_account: max_per_account.max(1),
            clock,
        }
    }

    fn now_ms(&self) -> i64 {
        crate::store::unix_ms((self.clock)())
    }

    /// A fresh random token for `account_id`, valid for the configured time.
    pub(crate) async fn issue(&self, account_id: &str) -> Result<String, ApiError> {
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let now = self.now_ms();
        let ttl = i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX);
        let evicted = self
            .sessions
            .create(NewToken {
                hash: hash(&token),
                account_id: account_id.to_owned(),
                created_ms: now,
                expires_ms: now.saturating_add(ttl),
                max_per_account: self.max_per_account,
            })
            .await?;
        if evicted > 0 {
            tracing::info!(
                account_id,
                evicted,
                cap = self.max_per_account,
                "account at its token cap: its oldest tokens were revoked"
            );
        }
        Ok(token)
    }

    /// The token's account, if the token is live.
    pub(crate) async fn account_of(&self, token: &str) -> Result<Option<String>, ApiError> {
        if !looks_like_token(token) {
            return Ok(None);
        }
        Ok(self
            .sessions
            .account_of(&hash(token), self.now_ms())
            .await?)
    }

    /// Forgets the token everywhere; false when it was not known.
    pub(crate) async fn revoke(&self, token: &str) -> Result<bool, ApiError> {
        if !looks_like_token(token) {
            return Ok(false);
        }
        Ok(self.sessions.revoke(&hash(token)).await?)
    }
}

fn hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The login rate limits.
pub(crate) struct LoginLimits {
    pub(crate) per_address: RateLimit<IpAddr>,
    pub(crate) per_account: RateLimit<String>,
}

/// Whether `s` has the shape of a token we issue (so only such strings are echoed back or
/// looked up).
pub(crate) fn looks_like_token(s: &str) -> bool {
    s.len() == TOKEN_LEN && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Compares without stopping at the first difference, so timing does not reveal how much
/// of a key was right.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    std::hint::black_box(diff) == 0
}

/// The account whose key this is; every account's key is compared, matched or not.
fn account_for_key<'a>(accounts: &'a [ApiAccount], key: &str) -> Option<&'a ApiAccount> {
    let mut found = None;
    for account in accounts {
        let matches = ct_eq(account.api_key.as_bytes(), key.as_bytes());
        if matches && !account.api_key.is_empty() && found.is_none() {
            found = Some(account);
        }
    }
    found
}

#[derive(Deserialize)]
struct AuthRequest {
    data: AuthData,
}

#[derive(Deserialize)]
struct AuthData {
    api_key: String,
}

/// `PUT /v2/api_auth` with `{"data": {"api_key": "..."}}`. Every attempt counts against
/// its source address; a right key also against its account.
pub(crate) async fn api_auth(
    State(state): State<Arc<ApiState>>,
    peer: Option<Extension<PeerAddr>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Reply, ApiError> {
    let ip = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.0 .0.ip());
    let limited = |what, retry_after| ApiError::TooManyRequests { what, retry_after };
    state
        .logins
        .per_address
        .check(&address_key(ip))
        .map_err(|wait| limited("login attempts from this address", wait))?;
    let body = body.map_err(ApiError::from_body)?;
    let request: AuthRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "body must be JSON like {{\"data\": {{\"api_key\": \"...\"}}}}: {e}"
        ))
    })?;
    let account =
        account_for_key(&state.accounts, &request.data.api_key).ok_or(ApiError::BadCredentials)?;
    state
        .logins
        .per_account
        .check(&account.id)
        .map_err(|wait| limited("logins for this account", wait))?;
    let token = state.tokens.issue(&account.id).await?;
    tracing::info!(account_id = %account.id, "auth token issued");
    let data = json!({"account_id": account.id, "name": account.name});
    Ok(Reply::created(data, token))
}

/// `DELETE /v2/api_auth`: revokes the request's own token, on every node.
pub(crate) async fn logout(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
) -> Result<Reply, ApiError> {
    let token = token_of(&headers)?;
    if !state.tokens.revoke(token).await? {
        return Err(ApiError::InvalidToken);
    }
    tracing::info!("auth token revoked");
    Ok(Reply::ok(json!({})))
}

fn token_of(headers: &HeaderMap) -> Result<&str, ApiError> {
    let header = headers.get("x-auth-token").ok_or(ApiError::MissingToken)?;
    header.to_str().map_err(|_| ApiError::InvalidToken)
}

/// A request carrying a valid `X-Auth-Token`, and the account it was issued to.
pub(crate) struct Authed {
    pub(crate) account_id: String,
}

impl Authed {
    /// 403 unless the token's account is `account_id`.
    pub(crate) fn may_read(&self, account_id: &str) -> Result<(), ApiError> {
        if self.account_id == account_id {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

#[async_trait]
impl FromRequestParts<Arc<ApiState>> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ApiState>,
    ) -> Result<Self, Self::Rejection> {
        let token = token_of(&parts.headers)?;
        let account_id = state
            .tokens
            .account_of(token)
            .await?
            .ok_or(ApiError::InvalidToken)?;
        Ok(Self { account_id })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A clock the test moves by hand.
    fn manual_clock() -> (Clock, Arc<Mutex<SystemTime>>) {
        let now = Arc::new(Mutex::new(SystemTime::now()));
        let handle = now.clone();
        (Arc::new(move || *handle.lock().unwrap()), now)
    }

    async fn sessions(dir: &std::path::Path) -> (Sessions, crate::store::StoreWriter) {
        let store = crate::store::open(&crate::store::StoreConfig::new(dir.join("t.db")))
            .await
            .unwrap();
        (store.sessions, store.writer)
    }

    #[tokio::test]
    async fn tokens_expire_exactly_at_their_ttl_and_only_a_hash_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let (sessions, _writer) = sessions(dir.path()).await;
        let (clock, now) = manual_clock();
        let store = TokenStore::new(sessions.clone(), Duration::from_secs(3600), 10, clock);
        let token = store.issue("acc").await.unwrap();
        assert!(looks_like_token(&token));
        *now.lock().unwrap() += Duration::from_secs(3599);
        assert_eq!(
            store.account_of(&token).await.unwrap().as_deref(),
            Some("acc")
        );
        *now.lock().unwrap() += Duration::from_secs(1);
        assert_eq!(store.account_of(&token).await.unwrap(), None);
        let conn = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
        let stored: String = conn
            .query_row("SELECT token_hash FROM api_tokens", [], |r| r.get(0))
            .unwrap();
        assert_ne!(stored, token);
        assert_eq!(stored, hash(&token));
    }

    #[tokio::test]
    async fn the_cap_evicts_only_the_same_accounts_oldest_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let (sessions, _writer) = sessions(dir.path()).await;
        let (clock, _) = manual_clock();
        let store = TokenStore::new(sessions, Duration::from_secs(60), 3, clock);
        let other = store.issue("other").await.unwrap();
        let mut mine = Vec::new();
        for _ in 0..5 {
            mine.push(store.issue("flood").await.unwrap());
        }
        let mut live = 0;
        for t in &mine {
            live += usize::from(store.account_of(t).await.unwrap().is_some());
        }
        assert_eq!(live, 3, "the account keeps its cap");
        assert!(
            store.account_of(&mine[4]).await.unwrap().is_some(),
            "the newest survives"
        );
        assert_eq!(
            store.account_of(&other).await.unwrap().as_deref(),
            Some("other")
        );
        assert!(store.revoke(&other).await.unwrap());
        assert_eq!(store.account_of(&other).await.unwrap(), None);
        assert!(!store.revoke(&other).await.unwrap());
        assert!(!store.revoke("not a token").await.unwrap());
    }

    #[test]
    fn key_lookup_needs_the_whole_key() {
        let accounts = vec![
            ApiAccount::new("a1", "One", "secret-one"),
            ApiAccount::new("a2", "Two", "secret-two"),
            ApiAccount::new("a3", "Empty", ""),
        ];
        let id = |k: &str| account_for_key(&accounts, k).map(|a| a.id.as_str());
        assert_eq!(id("secret-two"), Some("a2"));
        assert_eq!(id("secret-tw"), None);
        assert_eq!(id("secret-two!"), None);
        assert_eq!(id(""), None, "an empty key never matches");
        assert!(ct_eq(b"", b"") && !ct_eq(b"a", b"") && !ct_eq(b"ab", b"ac"));
    }
}
