//! Reading the debug log back through the running pivot's REST API: log in, then poll a
//! call's records (the writer thread is asynchronous).

use std::time::Duration;

use serde_json::Value;

use crate::harness::{Pivot, ACCOUNT, API_KEY};

/// An `X-Auth-Token` for the example account.
pub async fn login(pivot: &Pivot) -> String {
    login_at(&pivot.api_url("/v2/api_auth"), API_KEY).await
}

/// Logs in with `key` at `url` (a node's `/v2/api_auth`); the token.
pub async fn login_at(url: &str, key: &str) -> String {
    let body = serde_json::json!({"data": {"api_key": key}});
    let resp = reqwest::Client::new()
        .put(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let v: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    v["auth_token"].as_str().unwrap().to_string()
}

/// `GET url` with the token: the status and the JSON body.
pub async fn get_json(url: &str, token: &str) -> (u16, Value) {
    request_json(reqwest::Method::GET, url, token).await
}

/// Any request to `url` with the token: the status and the JSON body.
pub async fn request_json(method: reqwest::Method, url: &str, token: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .request(method, url)
        .header("X-Auth-Token", token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (
        status,
        serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap(),
    )
}

/// The call's records once there are at least `n`; panics after about ten seconds.
pub async fn records(pivot: &Pivot, token: &str, call_id: &str, n: usize) -> Vec<Value> {
    records_until(pivot, token, call_id, |recs| recs.len() >= n).await
}

/// The call's records once `done` says they are all there; panics after about ten seconds.
pub async fn records_until(
    pivot: &Pivot,
    token: &str,
    call_id: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let encoded: String = url::form_urlencoded::byte_serialize(call_id.as_bytes()).collect();
    let url = pivot.api_url(&format!("/v2/accounts/{ACCOUNT}/pivot/debug/{encoded}"));
    let client = reqwest::Client::new();
    let mut last = Vec::new();
    for _ in 0..400 {
        let resp = client
            .get(&url)
            .header("X-Auth-Token", token)
            .send()
            .await
            .unwrap();
        if resp.status() == 200 {
            let v: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
            last = v["data"].as_array().cloned().unwrap_or_default();
            if done(&last) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("call {call_id}: the debug records never were complete: {last:#?}");
}
