//! FreeSWITCH's static socket mode (`socket host:port full`, without `async`) against the
//! fake FreeSWITCH: the channel's own thread reads the socket and runs each application as
//! it arrives (no park frame to wait for), answers its `sendmsg` when it is over, and reads
//! nothing else meanwhile. So pivot stops a prompt with FreeSWITCH's playback terminators
//! instead of `uuid_break`, and waits for keys with `sleep` (keys reach it only while an
//! application reads them).

use std::time::Duration;

use crate::harness::Pivot;
use crate::support::fake_fs::{AppScript, FakeCall, FakeFs};
use crate::support::transcript::Transcript;
use crate::support::web::{Reply, WebApp};

fn call_to(url: &str) -> FakeCall {
    FakeCall::new().static_socket().var("pivot_voice_url", url)
}

async fn run(pivot: &Pivot, call: FakeCall) -> Transcript {
    FakeFs::connect(pivot.esl, call).await.finish().await
}

fn json(v: serde_json::Value) -> Reply {
    Reply::json(&v.to_string())
}

/// Every `api` command pivot sent but the handshake's, in order.
fn apis(t: &Transcript) -> Vec<String> {
    t.api
        .iter()
        .map(|a| a.command.replace(&t.uuid, "<call>"))
        .filter(|c| !c.starts_with("sched_hangup") && !c.contains("app_disable_expand"))
        .collect()
}

#[tokio::test]
async fn the_first_audio_waits_for_no_frame_and_the_handshake_prepares_static_mode() {
    let web = WebApp::start().await;
    let tone = serde_json::json!({"module": "play", "data": {"id": "tone_stream://%(200,0,440)"}});
    web.script("/voice", [json(tone)]);
    let pivot = Pivot::start_with(
        |c| c.esl.max_call_duration = Duration::from_secs(600),
        pivot::route::Router::empty(),
    )
    .await;
    let call = call_to(&web.url("/voice")).unanswered().app(
        "playback",
        AppScript::new(Duration::from_millis(200), "FILE PLAYED"),
    );
    let t = run(&pivot, call).await;
    t.assert_no_protocol_errors();
    assert_eq!(t.park_waits, 0, "no park loop in static mode\n{t}");
    assert!(t.answered_by_api, "{t}");
    assert_eq!(t.app_names(), ["playback"]);
    let uuid = &t.uuid;
    let expected = [
        format!("uuid_setvar_multi {uuid} app_disable_expand_variables=true;sleep_eat_digits=true"),
        // pivot cannot stop an application while it runs: the switch ends the call itself
        // at the maximum duration (no margin).
        format!("sched_hangup +600 {uuid} ALLOTTED_TIMEOUT"),
    ];
    for cmd in expected {
        assert!(t.api.iter().any(|a| a.command == cmd), "{cmd}\n{t}");
    }
    assert_eq!(t.hangup_cause(), Some("NORMAL_CLEARING"));
    assert!(t.server_sent_exit);
}

/// A key during a prompt that leads to `collect_dtmf` stops it: FreeSWITCH itself, by the
/// playback terminators pivot sets around the prompt (it could not read a `uuid_break`).
#[tokio::test]
async fn a_key_stops_a_prompt_by_the_terminators_and_is_collected() {
    let web = WebApp::start().await;
    let menu = serde_json::json!({
        "module": "say", "data": {"text": "Press 1 for sales."},
        "children": {"_": {"module": "collect_dtmf", "data": {"max_digits": 1},
            "children": {"1": {"module": "pivot",
                "data": {"voice_url": web.url("/sales")}}}}}
    });
    web.script("/voice", [json(menu)]);
    web.script("/sales", [json(serde_json::json!({"module": "hangup"}))]);
    let pivot = Pivot::start().await;
    let call = call_to(&web.url("/voice"))
        .app(
            "speak",
            AppScript::new(Duration::from_secs(15), "_none_").dtmf(Duration::from_millis(200), '1'),
        )
        .finish_timeout(Duration::from_secs(8));
    let t = run(&pivot, call).await;
    t.assert_no_protocol_errors();
    assert_eq!(
        apis(&t),
        [
            "uuid_setvar <call> playback_terminators any",
            // Put back as it was (unset) once the prompt is over.
            "uuid_setvar <call> playback_terminators",
        ],
        "{t}"
    );
    let sales = web.requests_to("/sales");
    assert_eq!(sales.len(), 1, "{t}");
    assert_eq!(sales[0].param("Digits[default]").as_deref(), Some("1"));
}

/// Keys pressed while no application runs wait in FreeSWITCH's queue: pivot reads them with
/// `sleep` (ended by any key), as long as the collection's timeout.
#[tokio::test]
async fn digits_after_the_prompt_are_read_with_sleep() {
    let web = WebApp::start().await;
    let menu = serde_json::json!({
        "module": "say", "data": {"text": "Your code, then pound."},
        "children": {"_": {"module": "collect_dtmf",
            "data": {"max_digits": 4, "timeout": 3000, "interdigit_timeout": 2000},
            "children": {"_": {"module": "pivot", "data": {"voice_url": web.url("/code")}}}}}
    });
    web.script("/voice", [json(menu)]);
    web.script("/code", [json(serde_json::json!({"module": "hangup"}))]);
    let pivot = Pivot::start().await;
    let call = call_to(&web.url("/voice"))
        .app(
            "speak",
            AppScript::new(Duration::from_millis(100), "_none_"),
        )
        .dtmf_at(Duration::from_millis(500), '4')
        .dtmf_at(Duration::from_millis(600), '2')
        .dtmf_at(Duration::from_millis(700), '#');
    let t = run(&pivot, call).await;
    t.assert_no_protocol_errors();
    let code = web.requests_to("/code");
    assert_eq!(code.len(), 1, "{t}");
    assert_eq!(code[0].param("Digits[default]").as_deref(), Some("42"));
    // Each digit was read by a sleep that it ended.
    let sleeps = t.app_names().iter().filter(|n| **n == "sleep").count();
    assert!(sleeps >= 3, "{t}");
    assert!(t.api.iter().all(|a| !a.command.starts_with("uuid_break")));
}

#[tokio::test]
async fn a_collection_without_keys_ends_at_its_timeout() {
    let web = WebApp::start().await;
    let menu = serde_json::json!({
        "module": "collect_dtmf", "data": {"max_digits": 1, "timeout": 300},
        "children": {"_": {"module": "say", "data": {"text": "nothing pressed"}}}
    });
    web.script("/voice", [json(menu)]);
    let pivot = Pivot::start().await;
    let t = run(&pivot, call_to(&web.url("/voice"))).await;
    t.assert_no_protocol_errors();
    // Sleeps that add up to the timeout (the first asks for all of it), then the `_` child.
    let calls = t.app_calls();
    let first: u32 = calls[0].1.parse().unwrap();
    assert_eq!(calls[0].0, "sleep", "{t}");
    assert!((250..=300).contains(&first), "{t}");
    let after: Vec<_> = calls.iter().filter(|(n, _)| *n != "sleep").collect();
    assert_eq!(after, [&("speak", "flite|slt|nothing pressed")], "{t}");
}

/// The seed voicemail works the same in static mode: speech, beep, recording, upload.
#[tokio::test]
async fn the_seed_voicemail_in_static_mode() {
    let web = WebApp::start().await;
    let vm = serde_json::json!({
        "module": "say", "data": {"text": "Leave a message."},
        "children": {"_": {"module": "record_caller",
            "data": {"url": web.url("/recordings"), "format": "mp3", "time_limit": 360}}}
    });
    web.script("/voice", [json(vm)]);
    let pivot = Pivot::start().await;
    let t = run(&pivot, call_to(&web.url("/voice"))).await;
    t.assert_no_protocol_errors();
    assert_eq!(t.app_names(), ["speak", "playback", "record"], "{t}");
    let uploads = web.uploads();
    assert_eq!(uploads.len(), 1, "{t}");
    assert_eq!(uploads[0].path, format!("/recordings/{}.mp3", t.uuid));
    assert!(t.server_sent_exit);
}

/// Static mode, the caller hangs up during `<Record>`: CHANNEL_HANGUP_COMPLETE only comes
/// after pivot leaves (the channel's thread is in the socket), so the recording's length
/// comes from the record's own completion; the upload and the action still happen.
#[tokio::test]
async fn a_recording_the_caller_ends_is_uploaded_and_reported_without_hangup_complete() {
    let web = WebApp::start().await;
    let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
<Response><Record action="/vm" recordingUrl="/up/" playBeep="false"/><Say>never</Say></Response>"#;
    web.script("/voice", [Reply::xml(doc)]);
    web.script(
        "/vm",
        [Reply::xml("<Response><Say>ignored</Say></Response>")],
    );
    let pivot = Pivot::start().await;
    let call = call_to(&web.url("/voice"))
        .var("pivot_req_format", "twiml")
        .var("pivot_method", "POST")
        .app(
            "record",
            AppScript::new(Duration::from_secs(30), "_none_")
                .var("record_ms", "4000")
                .var("record_seconds", "4"),
        )
        .hangup_when_app_starts("record");
    let t = run(&pivot, call).await;
    t.assert_no_protocol_errors();
    assert!(t.executes_after_hangup().is_empty(), "{t}");
    let vm = web.wait_for_requests(3).await;
    let vm: Vec<_> = vm.into_iter().filter(|r| r.path == "/vm").collect();
    assert_eq!(vm.len(), 1, "{t}");
    assert_eq!(vm[0].param("RecordingDuration").as_deref(), Some("4"));
    assert_eq!(vm[0].param("CallStatus").as_deref(), Some("completed"));
    assert_eq!(web.uploads().len(), 1);
    assert_eq!(t.hangup_cause(), Some("NORMAL_CLEARING"));
}
