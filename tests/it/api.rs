//! The REST API end to end: a real store in a temp dir, the real router on 127.0.0.1:0,
//! records fed through `DebugSink`, everything read back over HTTP with reqwest.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use pivot::api::{self, ApiAccount, ApiConfig, ApiStore};
use pivot::store::{self, DebugRecord, DebugSink, Entry, StoreConfig, StoreWriter};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const ACC1: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
const ACC2: &str = "ffeeddccbbaa99887766554433221100";
const KEY1: &str = "key-one-0123456789abcdef";
const KEY2: &str = "key-two-0123456789abcdef";

struct Api {
    base: String,
    http: reqwest::Client,
    sink: DebugSink,
    writer: Arc<StoreWriter>,
    _dir: tempfile::TempDir,
}

struct Answer {
    status: StatusCode,
    body: Value,
    request_id_header: String,
}

async fn start(token_ttl: Duration) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(&StoreConfig::new(dir.path().join("d.db")))
        .await
        .unwrap();
    let config = ApiConfig {
        token_ttl,
        ..ApiConfig::new(vec![
            ApiAccount::new(ACC1, "Account One", KEY1),
            ApiAccount::new(ACC2, "Account Two", KEY2),
        ])
    };
    let app = api::router(
        config,
        ApiStore {
            reader: store.reader,
            sessions: store.sessions,
            status: store.sink.status(),
            draining: Default::default(),
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = api::ConnLimits {
        max_connections: 64,
        max_per_address: 64,
        header_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(10),
    };
    tokio::spawn(api::serve(
        listener,
        app,
        limits,
        Default::default(),
        Default::default(),
    ));
    Api {
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        sink: store.sink,
        writer: Arc::new(store.writer),
        _dir: dir,
    }
}

impl Api {
    async fn send(&self, method: Method, path: &str, token: Option<&str>, body: &str) -> Answer {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.header("X-Auth-Token", token);
        }
        if !body.is_empty() {
            req = req.body(body.to_owned());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert_eq!(content_type, "application/json", "{path}");
        let request_id_header = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
        let bytes = resp.bytes().await.unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        Answer {
            status,
            body,
            request_id_header,
        }
    }

    async fn get(&self, path: &str, token: &str) -> Answer {
        self.send(Method::GET, path, Some(token), "").await
    }

    async fn login(&self, key: &str) -> String {
        let body = json!({"data": {"api_key": key}}).to_string();
        let ans = self.send(Method::PUT, "/v2/api_auth", None, &body).await;
        assert_eq!(ans.status, StatusCode::CREATED, "{}", ans.body);
        ans.body["auth_token"].as_str().unwrap().to_owned()
    }

    async fn flush(&self) {
        self.writer.flush().await.unwrap();
    }

    /// One failed and one successful attempt: five records.
    fn call(&self, account: &str, call_id: &str, created: SystemTime) {
        let rec = |iteration, entry| DebugRecord {
            call_id: call_id.to_owned(),
            account_id: account.to_owned(),
            iteration,
            created,
            entry,
        };
        let request = |i: u32| Entry::Request {
            method: "GET".into(),
            uri: format!("http://app.test/voice?Call-ID={call_id}&n={i}"),
            req_headers: vec![("Accept".into(), "application/json".into())],
            req_body: String::new(),
        };
        self.sink.record(rec(1, request(1)));
        self.sink.record(rec(
            1,
            Entry::Error {
                kind: "timeout".into(),
                message: "no answer in 5000 ms".into(),
            },
        ));
        self.sink.record(rec(2, request(2)));
        self.sink.record(rec(
            2,
            Entry::ResponseBody {
                resp_body: r#"{"module":"hangup"}"#.into(),
            },
        ));
        self.sink.record(rec(
            2,
            Entry::ResponseHead {
                status_code: 200,
                headers: vec![("Content-Type".into(), "application/json".into())],
            },
        ));
    }
}

fn debug_path(account: &str, call_id: &str) -> String {
    let encoded = utf8_percent_encode(call_id, NON_ALPHANUMERIC);
    format!("/v2/accounts/{account}/pivot/debug/{encoded}")
}

fn assert_envelope(ans: &Answer, status: &str) {
    let b = &ans.body;
    assert_eq!(b["status"], status, "{b}");
    let rid = b["request_id"].as_str().unwrap();
    assert!(!rid.is_empty());
    assert_eq!(rid, ans.request_id_header);
    assert!(
        b["revision"].is_string() && b["auth_token"].is_string(),
        "{b}"
    );
    assert!(b.get("data").is_some(), "{b}");
}

fn assert_error(ans: &Answer, code: StatusCode) {
    assert_eq!(ans.status, code, "{}", ans.body);
    assert_envelope(ans, "error");
    assert_eq!(ans.body["error"], code.as_u16().to_string());
    assert!(!ans.body["message"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn health_needs_no_token_and_each_request_gets_its_own_id() {
    let api = start(Duration::from_secs(3600)).await;
    let a = api.send(Method::GET, "/health", None, "").await;
    let b = api.send(Method::GET, "/health", None, "").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_envelope(&a, "success");
    assert_ne!(a.body["request_id"], b.body["request_id"]);
}

#[tokio::test]
async fn login_answers_201_with_token_account_and_name() {
    let api = start(Duration::from_secs(3600)).await;
    let body = json!({"data": {"api_key": KEY2}}).to_string();
    let ans = api.send(Method::PUT, "/v2/api_auth", None, &body).await;
    assert_eq!(ans.status, StatusCode::CREATED);
    assert_envelope(&ans, "success");
    let token = ans.body["auth_token"].as_str().unwrap();
    assert_eq!(token.len(), 64);
    assert_eq!(
        ans.body["data"],
        json!({"account_id": ACC2, "name": "Account Two"})
    );
    let list = api
        .get(&format!("/v2/accounts/{ACC2}/pivot/debug"), token)
        .await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["auth_token"], token);
}

#[tokio::test]
async fn records_come_back_per_call_oldest_first_in_an_envelope() {
    let api = start(Duration::from_secs(3600)).await;
    let now = SystemTime::now();
    api.call(ACC1, "call-a", now);
    api.call(ACC1, "call-b", now);
    api.flush().await;
    let token = api.login(KEY1).await;

    let ans = api.get(&debug_path(ACC1, "call-a"), &token).await;
    assert_eq!(ans.status, StatusCode::OK);
    assert_envelope(&ans, "success");
    let recs = ans.body["data"].as_array().unwrap();
    assert_eq!(recs.len(), 5);
    assert!(recs
        .iter()
        .all(|r| r["call_id"] == "call-a" && r["account_id"] == ACC1));
    let ids: Vec<i64> = recs.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert_eq!(recs[0]["method"], "GET");
    assert_eq!(recs[0]["req_body"], "");
    assert_eq!(
        recs[0]["req_headers"],
        json!({"Accept": "application/json"})
    );
    assert_eq!(recs[0]["iteration"], 1);
    assert_eq!(recs[1]["error_kind"], "timeout");
    assert_eq!(recs[1]["error_message"], "no answer in 5000 ms");
    assert_eq!(recs[3]["resp_body"], r#"{"module":"hangup"}"#);
    assert_eq!(recs[4]["resp_status_code"], "200");
    assert_eq!(
        recs[4]["resp_headers"],
        json!({"content-type": "application/json"})
    );
    assert_eq!(recs[4]["iteration"], 2);
    let created = recs[4]["created"].as_i64().unwrap();
    let now_s = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert_eq!(created, now_s);

    let missing = api.get(&debug_path(ACC1, "call-c"), &token).await;
    assert_error(&missing, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn paging_walks_25_calls_newest_first_without_repeats() {
    let api = start(Duration::from_secs(3600)).await;
    let base = SystemTime::now() - Duration::from_secs(600);
    for i in 0..25u64 {
        api.call(ACC1, &format!("call-{i:02}"), base + Duration::from_secs(i));
    }
    api.flush().await;
    let token = api.login(KEY1).await;
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut query = "page_size=10".to_owned();
    loop {
        let path = format!("/v2/accounts/{ACC1}/pivot/debug?{query}");
        let ans = api.get(&path, &token).await;
        assert_eq!(ans.status, StatusCode::OK, "{}", ans.body);
        let items = ans.body["data"].as_array().unwrap();
        sizes.push(ans.body["page_size"].as_u64().unwrap());
        for item in items {
            assert_eq!(item["iterations"], 2);
            assert_eq!(item["status_code"], "200");
            seen.push(item["call_id"].as_str().unwrap().to_owned());
        }
        match ans.body["next_start_key"].as_str() {
            Some(key) => query = format!("page_size=10&start_key={key}"),
            None => break,
        }
    }
    let expected: Vec<_> = (0..25).rev().map(|i| format!("call-{i:02}")).collect();
    assert_eq!(seen, expected);
    assert_eq!(sizes, [10, 10, 5]);

    let path = format!("/v2/accounts/{ACC1}/pivot/debug?start_key=garbage");
    assert_error(&api.get(&path, &token).await, StatusCode::BAD_REQUEST);
    let path = format!("/v2/accounts/{ACC1}/pivot/debug?page_size=0");
    assert_error(&api.get(&path, &token).await, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_concurrent_calls_all_land() {
    let api = Arc::new(start(Duration::from_secs(3600)).await);
    let mut tasks = Vec::new();
    for t in 0..50 {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            for c in 0..10 {
                api.call(ACC1, &format!("call-{t}-{c}"), SystemTime::now());
                tokio::task::yield_now().await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    api.flush().await;
    assert_eq!((api.sink.written(), api.sink.dropped()), (2500, 0));

    let token = api.login(KEY1).await;
    let list = api
        .get(
            &format!("/v2/accounts/{ACC1}/pivot/debug?page_size=1000"),
            &token,
        )
        .await;
    let items = list.body["data"].as_array().unwrap();
    assert_eq!(items.len(), 500);
    assert!(list.body.get("next_start_key").is_none());
    for t in 0..50 {
        for c in 0..10 {
            let ans = api
                .get(&debug_path(ACC1, &format!("call-{t}-{c}")), &token)
                .await;
            let recs = ans.body["data"].as_array().unwrap();
            let iterations: Vec<_> = recs
                .iter()
                .map(|r| r["iteration"].as_u64().unwrap())
                .collect();
            assert_eq!(iterations, [1, 1, 2, 2, 2], "call-{t}-{c}");
        }
    }
}

#[tokio::test]
async fn auth_failures_are_401_and_other_accounts_403() {
    let api = Arc::new(start(Duration::from_secs(3600)).await);
    api.call(ACC2, "secret-call", SystemTime::now());
    api.flush().await;
    let list = format!("/v2/accounts/{ACC2}/pivot/debug");
    let detail = debug_path(ACC2, "secret-call");

    for path in [&list, &detail] {
        let none = api.send(Method::GET, path, None, "").await;
        assert_error(&none, StatusCode::UNAUTHORIZED);
        let bad = api.get(path, &"ab".repeat(32)).await;
        assert_error(&bad, StatusCode::UNAUTHORIZED);
        let junk = api.get(path, "not hex' OR '1'='1").await;
        assert_error(&junk, StatusCode::UNAUTHORIZED);
    }
    let latin1 = reqwest::header::HeaderValue::from_bytes(b"caf\xe9").unwrap();
    let resp = api
        .http
        .get(format!("{}{list}", api.base))
        .header("X-Auth-Token", latin1)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    let token1 = api.login(KEY1).await;
    for path in [&list, &detail] {
        let other = api.get(path, &token1).await;
        assert_error(&other, StatusCode::FORBIDDEN);
        assert!(!other.body.to_string().contains("secret-call"));
        assert_eq!(other.body["data"], json!({}));
    }
    // Account one's own listing does not show account two's call either.
    let own = api
        .get(&format!("/v2/accounts/{ACC1}/pivot/debug"), &token1)
        .await;
    assert_eq!(own.body["data"], json!([]));
    assert_error(
        &api.get(&debug_path(ACC1, "secret-call"), &token1).await,
        StatusCode::NOT_FOUND,
    );

    let wrong = json!({"data": {"api_key": "key-two-0123456789abcdeX"}}).to_string();
    let ans = api.send(Method::PUT, "/v2/api_auth", None, &wrong).await;
    assert_error(&ans, StatusCode::UNAUTHORIZED);
    assert_eq!(ans.body["auth_token"], "");
}

#[tokio::test]
async fn an_expired_token_is_401() {
    // A zero lifetime: the token is already expired when first used, no waiting needed.
    let api = start(Duration::ZERO).await;
    let token = api.login(KEY1).await;
    let ans = api
        .get(&format!("/v2/accounts/{ACC1}/pivot/debug"), &token)
        .await;
    assert_error(&ans, StatusCode::UNAUTHORIZED);
    assert_eq!(ans.body["message"], "invalid or expired auth token");
}

#[tokio::test]
async fn malformed_requests_and_unknown_routes_get_error_envelopes() {
    let api = start(Duration::from_secs(3600)).await;
    let auth = "/v2/api_auth";
    for body in [
        "{not json",
        "",
        "[]",
        r#"{"data": {}}"#,
        r#"{"data": {"api_key": 5}}"#,
    ] {
        let ans = api.send(Method::PUT, auth, None, body).await;
        assert_error(&ans, StatusCode::BAD_REQUEST);
    }
    let huge = format!(
        r#"{{"data": {{"api_key": "{}"}}}}"#,
        "k".repeat(api::BODY_MAX)
    );
    assert_error(
        &api.send(Method::PUT, auth, None, &huge).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    );
    for path in ["/", "/v2", "/v2/accounts/x/pivot/nothing", "/v1/api_auth"] {
        let ans = api.send(Method::GET, path, None, "").await;
        assert_error(&ans, StatusCode::NOT_FOUND);
    }
    let ans = api.send(Method::POST, auth, None, "").await;
    assert_error(&ans, StatusCode::METHOD_NOT_ALLOWED);
    let ans = api.send(Method::DELETE, auth, None, "").await;
    assert_error(&ans, StatusCode::UNAUTHORIZED);
    let ans = api.send(Method::POST, "/health", None, "").await;
    assert_error(&ans, StatusCode::METHOD_NOT_ALLOWED);
    let token = api.login(KEY1).await;
    // %FF does not decode to UTF-8: a clear 400, not a panic.
    let ans = api
        .get(&format!("/v2/accounts/{ACC1}/pivot/debug/%FF"), &token)
        .await;
    assert_error(&ans, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn encoded_and_sql_looking_call_ids_match_exactly() {
    let api = start(Duration::from_secs(3600)).await;
    let ids = ["a/b@c%d", "x' OR '1'='1", "x", "a", "a/b@c%d2"];
    for (i, id) in ids.iter().enumerate() {
        api.call(ACC1, id, SystemTime::now() + Duration::from_secs(i as u64));
    }
    api.flush().await;
    let token = api.login(KEY1).await;

    let ans = api
        .get(
            &format!("/v2/accounts/{ACC1}/pivot/debug/a%2Fb%40c%25d"),
            &token,
        )
        .await;
    assert_eq!(ans.status, StatusCode::OK, "{}", ans.body);
    let recs = ans.body["data"].as_array().unwrap();
    assert_eq!(recs.len(), 5);
    assert!(recs.iter().all(|r| r["call_id"] == "a/b@c%d"));

    let ans = api.get(&debug_path(ACC1, "x' OR '1'='1"), &token).await;
    let recs = ans.body["data"].as_array().unwrap();
    assert_eq!(recs.len(), 5);
    assert!(recs.iter().all(|r| r["call_id"] == "x' OR '1'='1"));

    for near_miss in ["a/b@c", "x' OR '1'='", "%", "a%2Fb"] {
        let ans = api.get(&debug_path(ACC1, near_miss), &token).await;
        assert_error(&ans, StatusCode::NOT_FOUND);
    }
    let list = api
        .get(&format!("/v2/accounts/{ACC1}/pivot/debug"), &token)
        .await;
    let listed: Vec<_> = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["call_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, ["a/b@c%d2", "a", "x", "x' OR '1'='1", "a/b@c%d"]);
}
