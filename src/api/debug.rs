//! `GET /v2/accounts/{ACCOUNT_ID}/pivot/debug[/{CALL_ID}[/timeline]]`: the account's calls
//! with debug records, one call's records, and its timeline. Reads through `StoreReader`
//! only; every query is scoped to the token's own account.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use serde_json::Value;

use super::auth::Authed;
use super::envelope::{ApiError, Reply};
use super::ApiState;
use crate::store::PAGE_SIZE_MAX;

/// Calls per page when `page_size` is not given.
pub const PAGE_SIZE_DEFAULT: usize = 50;

/// The call listing, newest first, with keyset paging.
pub(crate) async fn list(
    State(state): State<Arc<ApiState>>,
    auth: Authed,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Reply, ApiError> {
    let Path(account_id) = path.map_err(ApiError::from_path)?;
    auth.may_read(&account_id)?;
    let (page_size, start_key) = paging(query.as_deref().unwrap_or(""))?;
    let page = state
        .reader
        .list_calls(&account_id, page_size, start_key.clone())
        .await?;
    let data: Vec<Value> = page.calls.iter().map(|c| c.to_json()).collect();
    let mut reply = Reply::ok(Value::Array(data)).with("page_size", page.calls.len());
    if let Some(key) = start_key {
        reply = reply.with("start_key", key);
    }
    if let Some(next) = page.next_start_key {
        reply = reply.with("next_start_key", next);
    }
    Ok(reply)
}

/// One call's records, oldest first; 404 when the account has none for that call id.
pub(crate) async fn detail(
    State(state): State<Arc<ApiState>>,
    auth: Authed,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Reply, ApiError> {
    let Path((account_id, call_id)) = path.map_err(ApiError::from_path)?;
    auth.may_read(&account_id)?;
    let records = state.reader.call_records(&account_id, &call_id).await?;
    if records.is_empty() {
        return Err(ApiError::NotFound("no debug records for this call id"));
    }
    let data: Vec<Value> = records.iter().map(|r| r.to_json()).collect();
    Ok(Reply::ok(Value::Array(data)))
}

/// One call's timeline (kept for calls with debug on); 404 when the account has none for
/// that call id.
pub(crate) async fn timeline(
    State(state): State<Arc<ApiState>>,
    auth: Authed,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Reply, ApiError> {
    let Path((account_id, call_id)) = path.map_err(ApiError::from_path)?;
    auth.may_read(&account_id)?;
    match state.reader.call_timeline(&account_id, &call_id).await? {
        Some(t) => Ok(Reply::ok(t.to_json())),
        None => Err(ApiError::NotFound("no timeline for this call id")),
    }
}

/// `page_size` (1..=PAGE_SIZE_MAX) and `start_key` from the query; other keys are ignored.
fn paging(query: &str) -> Result<(usize, Option<String>), ApiError> {
    let mut page_size = PAGE_SIZE_DEFAULT;
    let mut start_key = None;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "page_size" => {
                page_size = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=PAGE_SIZE_MAX).contains(n))
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!(
                            "page_size must be a whole number from 1 to {PAGE_SIZE_MAX}"
                        ))
                    })?;
            }
            "start_key" => start_key = Some(value.into_owned()),
            _ => {}
        }
    }
    Ok((page_size, start_key))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn paging_defaults_and_bounds() {
        assert_eq!(paging("").unwrap(), (PAGE_SIZE_DEFAULT, None));
        assert_eq!(
            paging("page_size=7&start_key=12-6162&x=1").unwrap(),
            (7, Some("12-6162".into()))
        );
        for bad in [
            "page_size=0",
            "page_size=-1",
            "page_size=abc",
            "page_size=1001",
        ] {
            assert!(matches!(paging(bad), Err(ApiError::BadRequest(_))), "{bad}");
        }
    }
}
