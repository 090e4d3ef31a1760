//! The pipelined call driver against the fake FreeSWITCH and its media clock (a parked
//! channel runs its queue once per 20 ms frame): a run of prompts goes out back to back
//! and waits one frame, not one per step; a hangup in the middle of a run stops it; a key
//! stops a Piston prompt that leads to a digit collection; a failed application in a run;
//! completions before their replies; other channels' events; the maximum call duration
//! and the safety net.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::harness::Pivot;
use crate::support::fake_fs::{AppScript, FakeCall, FakeFs};
use crate::support::transcript::{Dir, HangupBy, Transcript};
use crate::support::web::{Reply, WebApp};

fn call_to(url: &str) -> FakeCall {
    FakeCall::new().var("pivot_voice_url", url)
}

async fn run(pivot: &Pivot, call: FakeCall) -> Transcript {
    FakeFs::connect(pivot.esl, call).await.finish().await
}

fn json(v: serde_json::Value) -> Reply {
    Reply::json(&v.to_string())
}

/// Position in the timeline of the first entry in `dir` that starts with `prefix`.
fn at(t: &Transcript, dir: Dir, prefix: &str) -> usize {
    t.timeline
        .iter()
        .position(|e| e.dir == dir && e.what.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {dir:?} {prefix:?} in\n{t}"))
}

/// The IVR of the performance issue: fetch a flow, play a 200 ms tone, hang up.
#[tokio::test]
async fn a_run_of_applications_goes_out_back_to_back_and_waits_one_frame() {
    let web = WebApp::start().await;
    let tone = serde_json::json!({"module": "play", "data": {"id": "tone_stream://%(200,0,440)"}});
    web.script("/voice", [json(tone)]);
    let pivot = Pivot::start().await;
    let call = call_to(&web.url("/voice")).unanswered().app(
        "playback",
        AppScript::new(Duration::from_millis(200), "FILE PLAYED"),
    );
    let t = run(&pivot, call).await;
    t.assert_no_protocol_errors();
    // Answered at once (uuid_answer: no application, no frame), then the tone.
    assert!(t.answered_by_api, "{t}");
    assert_eq!(t.app_names(), ["playback"], "{t}");
    assert_eq!(t.hangup.as_ref().map(|h| &h.by), Some(&HangupBy::Command));
    // The playback and the hangup were both sent before FreeSWITCH reported anything
    // done: nothing waited for an EXECUTE_COMPLETE...
    let first_done = at(&t, Dir::Out, "event Event-Name=CHANNEL_EXECUTE_COMPLETE");
    let hangup = at(&t, Dir::In, "sendmsg | call-command: hangup");
    assert!(hangup < first_done, "{t}");
    // ...so the channel waited for one frame, not one per application.
    assert_eq!(t.park_waits, 1, "{t}");
    assert!(t.executes_after_hangup().is_empty());
}

#[tokio::test]
async fn a_hangup_in_the_middle_of_a_run_stops_everything_queued_after_it() {
    let web = WebApp::start().await;
    let flow = serde_json::json!({
        "module": "say", "data": {"text": "first"},
        "children": {"_": {"module": "play", "data": {"id": "/sounds/a.wav"},
            "children": {"_": {"module": "say", "data": {"text": "never"}}}}}
    });
    web.script("/voice", [json(flow)]);
    let pivot = Pivot::start().await;
    let call = call_to(&web.url("/voice"))
        .app("speak", AppScript::new(Duration::from_secs(5), "_none_"))
        .hangup_when_app_starts("speak");
    let t = run(&pivot, call).await;
    t.assert_no_protocol_errors();
    // The rest of the run was queued, and FreeSWITCH dropped it with the hangup.
    assert_eq!(t.app_names(), ["speak"], "{t}");
    assert_eq!(t.apps.len(), 3, "{t}");
    assert!(t.executes_after_hangup().is_empty(), "{t}");
    assert!(t.server_sent_exit);
}

/// Found on a real FreeSWITCH: `speak` ignores keys (only playback_terminators stop it), so
/// a key pressed during a prompt before `collect_dtmf` must stop it, as Kazoo does.
#[tokio::test]
async fn a_key_during_a_piston_prompt_stops_it_and_is_collected() {
    let web = WebApp::start().await;
    let menu = serde_json::json!({
        "module": "say", "data": {"text": "Press 1 for sales. This prompt is long."},
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
            AppScript::new(Duration::from_secs(15), "_none_").dtmf(Duration::from_millis(300), '1'),
        )
        // Without the barge-in the prompt would run its 15 s.
        .finish_timeout(Duration::from_secs(8));
    let t = run(&pivot, call).await;
    t.assert_no_protocol_errors();
    let brk = format!("uuid_break {}", t.uuid);
    assert!(t.api.iter().any(|a| a.command == brk), "{t}");
    let sales = web.requests_to("/sales");
    assert_eq!(sales.len(), 1);
    assert_eq!(sales[0].param("Digits[default]").as_deref(), Some("1"));
}

#[tokio::test]
async fn a_prompt_not_followed_by_a_collection_plays_on_through_keys() {
    let web = WebApp::start().await;
    let flow = serde_json::json!({"module": "say", "data": {"text": "an announcement"}});
    web.script("/voice", [json(flow)]);
    let pivot = Pivot::start().await;
    let call = call_to(&web.url("/voice")).app(
        "speak",
        AppScript::new(Duration::from_millis(300), "_none_").dtmf(Duration::from_millis(50), '5'),
    );
    let t = run(&pivot, call).await;
    assert!(
        t.api.iter().all(|a| !a.command.starts_with("uuid_break")),
        "{t}"
    );
}

#[tokio::test]
async fn a_failed_application_in_a_run_does_not_stop_the_run() {
    let web = WebApp::start().await;
    let flow = serde_json::json!({
        "module": "play", "data": {"id": "/sounds/missing.wav"},
        "children": {"_": {"module": "say", "data": {"text": "after"}}}
    });
    web.script("/voice", [json(flow)]);
    let pivot = Pivot::start().await;
    let call = call_to(&web.url("/voice"))
        .app("playback", AppScript::new(Duration::ZERO, "FILE NOT FOUND"));
    let t = run(&pivot, call).await;
    t.assert_no_protocol_errors();
    assert_eq!(t.app_names(), ["playback", "speak"], "{t}");
    assert_eq!(t.hangup_cause(), Some("NORMAL_CLEARING"));
}

#[tokio::test]
async fn an_application_freeswitch_does_not_know_ends_the_run_and_the_call() {
    let web = WebApp::start().await;
    let flow = serde_json::json!({
        "module": "play", "data": {"id": "/sounds/a.wav"},
        "children": {"_": {"module": "say", "data": {"text": "never"}}}
    });
    web.script("/voice", [json(flow)]);
    let pivot = Pivot::start().await;
    let t = run(&pivot, call_to(&web.url("/voice")).unknown_app("playback")).await;
    assert_eq!(t.hangup_cause(), Some("DESTINATION_OUT_OF_ORDER"), "{t}");
    assert!(t.app_names().is_empty(), "{t}");
    assert!(t.executes_after_hangup().is_empty(), "{t}");
    assert!(t.server_sent_exit);
}

/// A peer may send an application's EXECUTE_COMPLETE before the `+OK` to its `sendmsg`;
/// the completion is kept (it used to be dropped, and the call waited forever).
#[tokio::test]
async fn a_completion_that_arrives_before_its_reply_is_kept() {
    let web = WebApp::start().await;
    let flow = serde_json::json!({
        "module": "say", "data": {"text": "menu"},
        "children": {"_": {"module": "collect_dtmf", "data": {"timeout": 200}}}
    });
    web.script("/voice", [json(flow)]);
    let pivot = Pivot::start().await;
    let call = call_to(&web.url("/voice"))
        .reply_after_run()
        .frame(Duration::ZERO)
        .app("speak", AppScript::instant())
        .finish_timeout(Duration::from_secs(5));
    let t = run(&pivot, call).await;
    assert_eq!(t.app_names(), ["speak"], "{t}");
    assert!(t.server_sent_exit, "{t}");
}

#[tokio::test]
async fn events_of_another_channel_are_ignored_and_counted() {
    let web = WebApp::start().await;
    let flow = serde_json::json!({
        "module": "say", "data": {"text": "one"},
        "children": {"_": {"module": "collect_dtmf", "data": {"timeout": 300},
            "children": {"_": {"module": "say", "data": {"text": "two"}}}}}
    });
    web.script("/voice", [json(flow)]);
    let pivot = Pivot::start().await;
    let call = call_to(&web.url("/voice"))
        .app(
            "speak",
            AppScript::new(Duration::from_millis(100), "_none_"),
        )
        .foreign_events_when_app_starts("speak");
    let t = run(&pivot, call).await;
    // Neither the other channel's hangup nor its key touched this call.
    assert_eq!(t.app_names(), ["speak", "speak"], "{t}");
    assert_eq!(t.hangup.as_ref().map(|h| &h.by), Some(&HangupBy::Command));
    assert!(t.api.iter().all(|a| !a.command.starts_with("uuid_break")));
    let foreign = pivot.engine.stats.foreign_events.load(Ordering::SeqCst);
    assert_eq!(foreign, 4, "two events at each of the two prompts");
}

#[tokio::test]
async fn a_call_over_its_maximum_duration_is_hung_up_allotted_timeout() {
    let web = WebApp::start().await;
    let flow = serde_json::json!({"module": "play",
        "data": {"id": "tone_stream://%(1000,0,440)", "endless_playback": true}});
    web.script("/voice", [json(flow)]);
    let pivot = Pivot::start_with(
        |c| c.esl.max_call_duration = Duration::from_millis(400),
        pivot::route::Router::empty(),
    )
    .await;
    let call = call_to(&web.url("/voice")).app(
        "endless_playback",
        AppScript::new(Duration::from_secs(60), "FILE PLAYED"),
    );
    let t = run(&pivot, call).await;
    // The playback is event-locked: a `sendmsg hangup` would wait behind it.
    let kill = format!("uuid_kill {} ALLOTTED_TIMEOUT", t.uuid);
    assert!(t.api.iter().any(|a| a.command == kill), "{t}");
    assert_eq!(t.hangup_cause(), Some("ALLOTTED_TIMEOUT"));
    assert!(t.server_sent_exit);
}

/// If pivot goes away in the middle of a call, FreeSWITCH still ends it: the handshake
/// asks for `sched_hangup` a minute after pivot's own maximum duration.
#[tokio::test]
async fn the_handshake_sets_a_safety_net_on_the_switch() {
    let web = WebApp::start().await;
    web.script("/voice", [json(serde_json::json!({"module": "hangup"}))]);
    let pivot = Pivot::start_with(
        |c| c.esl.max_call_duration = Duration::from_secs(600),
        pivot::route::Router::empty(),
    )
    .await;
    let t = run(&pivot, call_to(&web.url("/voice"))).await;
    let net = format!("sched_hangup +660 {} ALLOTTED_TIMEOUT", t.uuid);
    assert!(t.api.iter().any(|a| a.command == net), "{t}");
    // Sent with the handshake, before any application.
    let sched = at(&t, Dir::In, "api sched_hangup");
    let first_app = at(&t, Dir::In, "sendmsg");
    assert!(sched < first_app, "{t}");
}

/// The fake honours `sched_hangup`: a call whose controller stopped answering is ended by
/// the switch at the time pivot asked for.
#[tokio::test]
async fn the_safety_net_ends_a_call_whose_controller_went_silent() {
    let web = WebApp::start().await;
    let flow = serde_json::json!({"module": "play",
        "data": {"id": "/sounds/long.wav"}});
    web.script("/voice", [json(flow)]);
    let pivot = Pivot::start_with(
        |c| c.esl.max_call_duration = Duration::from_secs(3600),
        pivot::route::Router::empty(),
    )
    .await;
    // One second of the switch's clock lasts 1 ms: the net (3660 s) falls 3.66 s in.
    let call = call_to(&web.url("/voice"))
        .second(Duration::from_millis(1))
        .app(
            "playback",
            AppScript::new(Duration::from_secs(60), "FILE PLAYED"),
        )
        .finish_timeout(Duration::from_secs(15));
    let t = run(&pivot, call).await;
    assert_eq!(t.hangup_cause(), Some("ALLOTTED_TIMEOUT"), "{t}");
    assert_eq!(t.hangup.as_ref().map(|h| &h.by), Some(&HangupBy::Outside));
}
