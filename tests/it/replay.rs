//! The operator's commands on a real call, through the binary: `pivot timeline` prints the
//! call's timeline with the demo's renderer (and `--json`), `pivot replay` sends a logged
//! request again and shows the changed answer, its diff and whether pivot would run it,
//! signed like pivot signs.

use std::process::Output;

use serde_json::Value;

use crate::harness::{Pivot, ACCOUNT, API_KEY};
use crate::support::fake_fs::{FakeCall, FakeFs};
use crate::support::scenario::{hmac_hex, signing, url_of};
use crate::support::web::{Reply, WebApp};
use crate::timeline::{login, timeline};

const BIN: &str = env!("CARGO_BIN_EXE_pivot");
const SECRET: &str = "whsec-replay-0123456789";

async fn pivot_cmd(args: &[&str]) -> Output {
    tokio::process::Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "error")
        .output()
        .await
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A debug call whose web app answers 500; returns its id once its timeline is stored.
async fn failing_call(pivot: &Pivot, web: &WebApp) -> String {
    web.script(
        "/voice",
        [Reply::status(500).header("content-type", "text/plain")],
    );
    let call = FakeCall::new()
        .var("pivot_voice_url", &web.url("/voice?lang=en"))
        .var("pivot_debug", "true");
    let t = FakeFs::connect(pivot.esl, call).await.finish().await;
    let token = login(pivot, API_KEY).await;
    timeline(pivot, &token, &t.uuid).await;
    t.uuid
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pivot_timeline_prints_the_call_like_the_demo_and_as_json() {
    let web = WebApp::start().await;
    let pivot = Pivot::start().await;
    let call_id = failing_call(&pivot, &web).await;
    let api = pivot.api_url("");
    let out = pivot_cmd(&["timeline", &call_id, "--api", &api, "--api-key", API_KEY]).await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.starts_with(&format!("timeline of call {call_id} (account {ACCOUNT}")));
    for line in [
        format!("pivot       connected: call {call_id}"),
        "pivot       request: GET http://".into(),
        "pivot       failback: http_status: ".into(),
        "pivot       call ended: NORMAL_CLEARING, hung up by pivot".into(),
        "pivot       exit".into(),
    ] {
        assert!(text.contains(&line), "missing {line:?} in:\n{text}");
    }
    let out = pivot_cmd(&[
        "timeline",
        &call_id,
        "--api",
        &api,
        "--api-key",
        API_KEY,
        "--json",
    ])
    .await;
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["call_id"], call_id.as_str());
    assert_eq!(json["entries"][0]["step"], "connected");

    let unknown = pivot_cmd(&[
        "timeline",
        "no-such-call",
        "--api",
        &api,
        "--api-key",
        API_KEY,
    ])
    .await;
    assert_eq!(unknown.status.code(), Some(3));
    let no_account = pivot_cmd(&["timeline", &call_id, "--api", &api, "--token", "t"]).await;
    assert_eq!(no_account.status.code(), Some(2));
    let bad_key = pivot_cmd(&[
        "timeline",
        &call_id,
        "--api",
        &api,
        "--api-key",
        "wrong-key",
    ])
    .await;
    assert_eq!(bad_key.status.code(), Some(4));
    pivot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pivot_replay_shows_the_fixed_answer_its_diff_and_that_it_now_works() {
    let web = WebApp::start().await;
    let pivot = Pivot::start_with(signing(&[SECRET]), pivot::route::Router::empty()).await;
    let call_id = failing_call(&pivot, &web).await;
    let logged = web.requests_to("/voice");
    assert_eq!(logged.len(), 1);
    // The developer fixes the web app.
    let fixed = r#"{"module":"say","data":{"text":"fixed"}}"#;
    web.script("/voice", [Reply::json(fixed)]);
    let api = pivot.api_url("");
    let out = pivot_cmd(&[
        "replay",
        &call_id,
        "--api",
        &api,
        "--api-key",
        API_KEY,
        "--signing-secret",
        SECRET,
    ])
    .await;
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        format!("replay of call {call_id}, request 1: GET http://"),
        "  logged: 500 (text/plain, 0 bytes)".into(),
        "  now:    200 (application/json, ".into(),
        "--- logged (500)".into(),
        "+++ now (200)".into(),
        "+  \"module\": \"say\"".into(),
        "OK (Piston JSON, 1 nodes)".into(),
        "the call would now run the web app's flow".into(),
    ] {
        assert!(text.contains(&line), "missing {line:?} in:\n{text}");
    }
    // The same request: method, URL (parameters), headers; signed anew with the secret.
    let again = web.requests_to("/voice");
    assert_eq!(again.len(), 2);
    let (first, second) = (&logged[0], &again[1]);
    assert_eq!(
        (&second.method, &second.query),
        (&first.method, &first.query)
    );
    assert_eq!(second.header("user-agent"), first.header("user-agent"));
    let header = second.header("x-pivot-signature").unwrap();
    let (t, v1) = header.split_once(",v1=").unwrap();
    let t = t.strip_prefix("t=").unwrap();
    let url = url_of(&web, second);
    assert_eq!(v1, hmac_hex(SECRET, t, "GET", &url, &second.body));
    pivot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pivot_replay_says_when_the_answer_still_would_not_run() {
    let web = WebApp::start().await;
    let pivot = Pivot::start().await;
    let call_id = failing_call(&pivot, &web).await;
    web.script("/voice", [Reply::json(r#"{"module":"sya","data":{}}"#)]);
    let api = pivot.api_url("");
    let out = pivot_cmd(&[
        "replay",
        &call_id,
        "--iteration",
        "1",
        "--api",
        &api,
        "--api-key",
        API_KEY,
        "--json",
    ])
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["works"], false);
    assert_eq!(json["now"]["status"], 200);
    assert_eq!(json["logged"]["status"], 500);
    assert!(json["check"].as_str().unwrap().contains("sya"), "{json:#}");
    assert!(json["diff"]
        .as_str()
        .unwrap()
        .contains("+  \"module\": \"sya\""));
    assert!(web.requests_to("/voice")[1]
        .header("x-pivot-signature")
        .is_none());

    let missing = pivot_cmd(&[
        "replay",
        &call_id,
        "--iteration",
        "7",
        "--api",
        &api,
        "--api-key",
        API_KEY,
    ])
    .await;
    assert_eq!(missing.status.code(), Some(3));
    pivot.stop().await;
}
