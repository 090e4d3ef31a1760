//! API keys and auth tokens: `PUT /v2/api_auth`, the in-memory token table (bounded,
//! expiring, with an injectable clock), and the extractor that turns `X-Auth-Token` into an
//! account. Knows nothing of what the account may read: that check is in the handlers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::async_trait;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use serde::Deserialize;
use serde_json::json;

use super::envelope::{ApiError, Reply};
use super::{ApiAccount, ApiState};

/// Tokens held at once; past this the ones closest to expiry are forgotten first.
pub(crate) const TOKENS_MAX: usize = 10_000;
/// The longest token lifetime honoured, whatever is configured.
const TTL_MAX: Duration = Duration::from_secs(365 * 86_400);
/// Tokens are 64 lower-case hex digits.
const TOKEN_LEN: usize = 64;

/// Where "now" comes from: `Instant::now` in production, a hand-moved clock in tests.
pub(crate) type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

struct Issued {
    account_id: String,
    expires: Instant,
}

pub(crate) struct TokenStore {
    ttl: Duration,
    clock: Clock,
    tokens: Mutex<HashMap<String, Issued>>,
}

impl TokenStore {
    pub(crate) fn new(ttl: Duration, clock: Clock) -> Self {
        Self {
            ttl: ttl.min(TTL_MAX),
            clock,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// A fresh random token for `account_id`, valid for the configured time.
    pub(crate) fn issue(&self, account_id: &str) -> String {
        let now = (self.clock)();
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        if tokens.len() >= TOKENS_MAX {
            tokens.retain(|_, issued| issued.expires > now);
        }
        while tokens.len() >= TOKENS_MAX {
            let oldest = tokens
                .iter()
                .min_by_key(|(_, issued)| issued.expires)
                .map(|(t, _)| t.clone());
            match oldest {
                Some(t) => tokens.remove(&t),
                None => break,
            };
        }
        let issued = Issued {
            account_id: account_id.to_owned(),
            expires: now + self.ttl,
        };
        tokens.insert(token.clone(), issued);
        token
    }

    /// The token's account, if the token is known and not expired.
    pub(crate) fn account_of(&self, token: &str) -> Option<String> {
        let now = (self.clock)();
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        match tokens.get(token) {
            Some(issued) if issued.expires > now => Some(issued.account_id.clone()),
            Some(_) => {
                tokens.remove(token);
                None
            }
            None => None,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Whether `s` has the shape of a token we issue (so only such strings are echoed back).
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

/// `PUT /v2/api_auth` with `{"data": {"api_key": "..."}}`.
pub(crate) async fn api_auth(
    State(state): State<Arc<ApiState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Reply, ApiError> {
    let body = body.map_err(ApiError::from_body)?;
    let request: AuthRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "body must be JSON like {{\"data\": {{\"api_key\": \"...\"}}}}: {e}"
        ))
    })?;
    let account =
        account_for_key(&state.accounts, &request.data.api_key).ok_or(ApiError::BadCredentials)?;
    let token = state.tokens.issue(&account.id);
    tracing::info!(account_id = %account.id, "auth token issued");
    let data = json!({"account_id": account.id, "name": account.name});
    Ok(Reply::created(data, token))
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
        let header = parts
            .headers
            .get("x-auth-token")
            .ok_or(ApiError::MissingToken)?;
        let token = header.to_str().map_err(|_| ApiError::InvalidToken)?;
        let account_id = state
            .tokens
            .account_of(token)
            .ok_or(ApiError::InvalidToken)?;
        Ok(Self { account_id })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A clock the test moves by hand.
    fn manual_clock() -> (Clock, Arc<Mutex<Instant>>) {
        let now = Arc::new(Mutex::new(Instant::now()));
        let handle = now.clone();
        (Arc::new(move || *handle.lock().unwrap()), now)
    }

    #[test]
    fn tokens_expire_exactly_at_their_ttl() {
        let (clock, now) = manual_clock();
        let store = TokenStore::new(Duration::from_secs(3600), clock);
        let token = store.issue("acc");
        assert!(looks_like_token(&token));
        *now.lock().unwrap() += Duration::from_secs(3599);
        assert_eq!(store.account_of(&token).as_deref(), Some("acc"));
        *now.lock().unwrap() += Duration::from_secs(1);
        assert_eq!(store.account_of(&token), None);
        assert_eq!(store.len(), 0, "an expired token is forgotten when seen");
    }

    #[test]
    fn table_is_bounded_and_purges_expired_tokens() {
        let (clock, now) = manual_clock();
        let store = TokenStore::new(Duration::from_secs(10), clock);
        let first = store.issue("acc");
        *now.lock().unwrap() += Duration::from_secs(1);
        for _ in 1..TOKENS_MAX + 5 {
            store.issue("acc");
        }
        assert_eq!(store.len(), TOKENS_MAX);
        assert_eq!(store.account_of(&first), None, "the oldest went first");
        *now.lock().unwrap() += Duration::from_secs(10);
        store.issue("acc");
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn tokens_are_distinct_and_unknown_ones_fail() {
        let (clock, _) = manual_clock();
        let store = TokenStore::new(Duration::from_secs(10), clock);
        let (a, b) = (store.issue("a"), store.issue("b"));
        assert_ne!(a, b);
        assert_eq!(store.account_of(&b).as_deref(), Some("b"));
        assert_eq!(store.account_of(&"0".repeat(64)), None);
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
