//! Recordings on a switch without mod_shout or mod_http_cache (issue: the docker image may
//! lack them): pivot asks once per switch (`module_exists`), records wav instead of mp3,
//! and uploads the file itself from the recordings directory it shares with FreeSWITCH.

use crate::harness::Pivot;
use crate::support::fake_fs::{FakeCall, FakeFs};
use crate::support::transcript::Transcript;
use crate::support::web::{Reply, WebApp};

fn voicemail(upload: &str) -> Reply {
    let flow = serde_json::json!({
        "module": "record_caller",
        "data": {"url": upload, "format": "mp3", "time_limit": 60, "beep": false}
    });
    Reply::json(&flow.to_string())
}

async fn run(pivot: &Pivot, call: FakeCall) -> Transcript {
    FakeFs::connect(pivot.esl, call).await.finish().await
}

fn module_checks(t: &Transcript) -> Vec<&str> {
    t.api
        .iter()
        .filter(|a| a.command.starts_with("module_exists"))
        .map(|a| a.command.as_str())
        .collect()
}

#[tokio::test]
async fn without_mod_shout_the_recording_is_a_wav() {
    let web = WebApp::start().await;
    web.script("/voice", [voicemail(&web.url("/rec"))]);
    let pivot = Pivot::start().await;
    let call = FakeCall::new()
        .var("pivot_voice_url", &web.url("/voice"))
        .api_answer("module_exists mod_shout", "false");
    let t = run(&pivot, call).await;
    t.assert_no_protocol_errors();
    let record = t.app_calls().into_iter().find(|(n, _)| *n == "record");
    let arg = record.map(|(_, a)| a.to_string()).unwrap_or_default();
    assert!(arg.starts_with(&format!("/tmp/{}.wav ", t.uuid)), "{t}");
    let uploads = web.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].path, format!("/rec/{}.wav", t.uuid));
    // FreeSWITCH still PUTs it (mod_http_cache is there).
    assert!(t.api.iter().any(|a| a.command.starts_with("http_put")));
}

#[tokio::test]
async fn without_mod_http_cache_pivot_uploads_the_file_itself() {
    let dir = tempfile::tempdir().unwrap();
    let recordings = dir.path().to_str().unwrap().to_string();
    let web = WebApp::start().await;
    web.script("/voice", [voicemail(&web.url("/rec"))]);
    let rec_dir = recordings.clone();
    let pivot = Pivot::start_with(
        move |c| {
            c.media.recordings_dir = rec_dir;
            c.media.keep_recordings = true;
        },
        pivot::route::Router::empty(),
    )
    .await;
    let call = FakeCall::new()
        .var("pivot_voice_url", &web.url("/voice"))
        .api_answer("module_exists mod_http_cache", "false");
    let t = run(&pivot, call).await;
    t.assert_no_protocol_errors();
    assert!(
        t.api.iter().all(|a| !a.command.starts_with("http_put")),
        "{t}"
    );
    let uploads = web.uploads();
    assert_eq!(uploads.len(), 1, "{t}");
    assert_eq!(uploads[0].method, "PUT");
    assert_eq!(uploads[0].path, format!("/rec/{}.mp3", t.uuid));
    // The bytes are the file the switch wrote into the shared directory.
    let file = std::fs::read(format!("{recordings}/{}.mp3", t.uuid)).unwrap();
    assert_eq!(uploads[0].body, file);
}

#[tokio::test]
async fn the_switch_is_asked_once_and_calls_without_recordings_are_not_asked() {
    let web = WebApp::start().await;
    web.script(
        "/voice",
        [voicemail(&web.url("/rec")), voicemail(&web.url("/rec"))],
    );
    web.script(
        "/plain",
        [Reply::json(r#"{"module": "say", "data": {"text": "hi"}}"#)],
    );
    let pivot = Pivot::start().await;
    let plain = run(
        &pivot,
        FakeCall::new().var("pivot_voice_url", &web.url("/plain")),
    )
    .await;
    assert!(module_checks(&plain).is_empty(), "{plain}");
    let first = run(
        &pivot,
        FakeCall::new().var("pivot_voice_url", &web.url("/voice")),
    )
    .await;
    assert_eq!(
        module_checks(&first),
        ["module_exists mod_shout", "module_exists mod_http_cache"]
    );
    let second = run(
        &pivot,
        FakeCall::new().var("pivot_voice_url", &web.url("/voice")),
    )
    .await;
    assert!(module_checks(&second).is_empty(), "{second}");
}
