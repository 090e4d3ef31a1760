//! The debug log end to end: calls through the fake FreeSWITCH with `debug` on, then the
//! records read back through the REST API of the same running pivot.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{Pivot, ACCOUNT, API_KEY, OTHER_API_KEY};
use crate::support::debug_api::{get_json, login_at};
use crate::support::fake_fs::{FakeCall, FakeFs};
use crate::support::web::{Reply, WebApp};

async fn login(pivot: &Pivot, key: &str) -> String {
    login_at(&pivot.api_url("/v2/api_auth"), key).await
}

async fn get(pivot: &Pivot, token: &str, path: &str) -> (u16, Value) {
    get_json(&pivot.api_url(path), token).await
}

fn detail_path(call_id: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(call_id.as_bytes()).collect();
    format!("/v2/accounts/{ACCOUNT}/pivot/debug/{encoded}")
}

/// Polls the API until the call has `n` records (the writer thread is asynchronous).
async fn records(pivot: &Pivot, token: &str, call_id: &str, n: usize) -> Vec<Value> {
    for _ in 0..400 {
        let (status, v) = get(pivot, token, &detail_path(call_id)).await;
        if status == 200 {
            let data = v["data"].as_array().unwrap().clone();
            if data.len() >= n {
                return data;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("call {call_id} never had {n} debug records");
}

fn debug_call(url: &str) -> FakeCall {
    FakeCall::new()
        .var("pivot_voice_url", url)
        .var("pivot_debug", "true")
}

#[tokio::test]
async fn a_debug_call_can_be_read_back_through_the_api() {
    let web = WebApp::start().await;
    let flow = r#"{"module":"say","data":{"text":"hello"}}"#;
    web.script("/voice", [Reply::json(flow).header("X-Trace", "abc")]);
    let pivot = Pivot::start().await;
    let t = FakeFs::connect(pivot.esl, debug_call(&web.url("/voice?v=1")))
        .await
        .finish()
        .await;
    let token = login(&pivot, API_KEY).await;

    let recs = records(&pivot, &token, &t.uuid, 3).await;
    assert_eq!(recs.len(), 3);
    // The request, then the body, then the head: contract section 6.
    let req = &recs[0];
    assert_eq!(req["method"], "get");
    let uri = req["uri"].as_str().unwrap();
    assert!(uri.starts_with(&web.url("/voice?v=1&")), "{uri}");
    for name in [
        "Call-ID",
        "Account-ID",
        "From",
        "FromRealm",
        "To",
        "ToRealm",
        "Caller-ID-Name",
        "Caller-ID-Number",
        "Direction",
        "ApiVersion",
    ] {
        assert!(
            uri.contains(&format!("&{name}=")),
            "{name} missing from {uri}"
        );
    }
    assert_eq!(req["req_body"], "");
    assert_eq!(recs[1]["resp_body"], flow);
    assert_eq!(recs[2]["resp_status_code"], "200");
    let headers = recs[2]["resp_headers"].as_object().unwrap();
    assert_eq!(headers["x-trace"], "abc");
    assert!(headers.keys().all(|k| k == &k.to_ascii_lowercase()));
    for r in &recs {
        assert_eq!(r["call_id"], t.uuid.as_str());
        assert_eq!(r["iteration"], 1);
    }

    // The list names the call; another account's token sees nothing of it.
    let (status, list) = get(
        &pivot,
        &token,
        &format!("/v2/accounts/{ACCOUNT}/pivot/debug"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(list["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["call_id"] == t.uuid.as_str()));
    let other = login(&pivot, OTHER_API_KEY).await;
    let (status, _) = get(&pivot, &other, &detail_path(&t.uuid)).await;
    assert_eq!(status, 403);
    pivot.stop().await;
}

#[tokio::test]
async fn without_debug_nothing_is_stored() {
    let web = WebApp::start().await;
    web.script(
        "/voice",
        [Reply::json(r#"{"module":"say","data":{"text":"hi"}}"#)],
    );
    let pivot = Pivot::start().await;
    let quiet = FakeCall::new().var("pivot_voice_url", &web.url("/voice"));
    let t = FakeFs::connect(pivot.esl, quiet).await.finish().await;
    // A debug call after it: once its records are in, the quiet call's would be too.
    let loud = FakeFs::connect(pivot.esl, debug_call(&web.url("/voice")))
        .await
        .finish()
        .await;
    let token = login(&pivot, API_KEY).await;
    records(&pivot, &token, &loud.uuid, 3).await;
    let (status, _) = get(&pivot, &token, &detail_path(&t.uuid)).await;
    assert_eq!(status, 404);
    pivot.stop().await;
}

#[tokio::test]
async fn failed_requests_store_the_request_and_the_error() {
    let web = WebApp::start().await;
    web.script("/slow", [Reply::slow(Duration::from_secs(5))]);
    let pivot = Pivot::start().await;
    // Without retries: one attempt, so one request record (retries: tests/it/webhooks.rs).
    let refused = debug_call(&WebApp::refused_url("/voice")).var("pivot_retries", "0");
    let slow = debug_call(&web.url("/slow")).var("pivot_req_timeout", "0.3");
    let (a, b) = tokio::join!(
        async { FakeFs::connect(pivot.esl, refused).await.finish().await },
        async { FakeFs::connect(pivot.esl, slow).await.finish().await },
    );
    let token = login(&pivot, API_KEY).await;
    for (t, kind) in [(a, "connect"), (b, "timeout")] {
        let recs = records(&pivot, &token, &t.uuid, 2).await;
        assert_eq!(recs.len(), 2, "{recs:?}");
        assert_eq!(recs[0]["method"], "get");
        assert_eq!(recs[1]["error_kind"], kind);
        assert!(!recs[1]["error_message"].as_str().unwrap().is_empty());
    }
    pivot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_concurrent_debug_calls_keep_all_their_records() {
    let web = WebApp::start().await;
    web.script(
        "/voice",
        [Reply::json(r#"{"module":"say","data":{"text":"hi"}}"#)],
    );
    let pivot = Pivot::start().await;
    let url = web.url("/voice");
    let calls = pivot.calls_at_once(500, || debug_call(&url)).await;
    let ids: Vec<String> = calls.into_iter().map(|t| t.uuid).collect();
    let token = login(&pivot, API_KEY).await;
    for id in &ids {
        assert_eq!(records(&pivot, &token, id, 3).await.len(), 3);
    }
    let sink = pivot.engine.debug.as_ref().unwrap();
    assert_eq!(sink.dropped(), 0);
    pivot.stop().await;
}

#[tokio::test]
async fn calls_complete_when_the_database_is_deleted_under_the_server() {
    let web = WebApp::start().await;
    web.script(
        "/voice",
        [Reply::json(r#"{"module":"say","data":{"text":"hi"}}"#)],
    );
    let pivot = Pivot::start().await;
    let first = FakeFs::connect(pivot.esl, debug_call(&web.url("/voice")))
        .await
        .finish()
        .await;
    let token = login(&pivot, API_KEY).await;
    records(&pivot, &token, &first.uuid, 3).await;
    for f in ["pivot.db", "pivot.db-wal", "pivot.db-shm"] {
        let _ = std::fs::remove_file(pivot.dir.path().join(f));
    }
    let t = FakeFs::connect(pivot.esl, debug_call(&web.url("/voice")))
        .await
        .finish()
        .await;
    assert_eq!(t.app_names(), ["speak"], "{t}");
    assert_eq!(t.hangup_cause(), Some("NORMAL_CLEARING"));
    pivot.stop().await;
}

#[tokio::test]
async fn a_twiml_conversation_is_logged_request_by_request() {
    let web = WebApp::start().await;
    web.script(
        "/one",
        [Reply::xml("<Response><Redirect>/two</Redirect></Response>")],
    );
    web.script("/two", [Reply::xml("<Response><Say>hi</Say></Response>")]);
    let pivot = Pivot::start().await;
    let call = debug_call(&web.url("/one")).var("pivot_req_format", "twiml");
    let t = FakeFs::connect(pivot.esl, call).await.finish().await;
    assert_eq!(t.app_calls(), [("speak", "flite|slt|hi")], "{t}");
    let token = login(&pivot, API_KEY).await;
    let recs = records(&pivot, &token, &t.uuid, 6).await;
    let iterations: Vec<u64> = recs
        .iter()
        .map(|r| r["iteration"].as_u64().unwrap())
        .collect();
    assert_eq!(iterations, [1, 1, 1, 2, 2, 2]);
    // The Redirect is POSTed (Twilio's default) to the resolved URL, with Twilio's names.
    assert_eq!(recs[3]["method"], "post");
    assert_eq!(recs[3]["uri"], web.url("/two").as_str());
    assert!(recs[3]["req_body"].as_str().unwrap().contains("CallSid="));
    assert_eq!(recs[4]["resp_body"], "<Response><Say>hi</Say></Response>");
    assert_eq!(recs[5]["resp_status_code"], "200");
    pivot.stop().await;
}
