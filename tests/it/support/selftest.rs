//! Self-tests of the fake FreeSWITCH: a raw-TCP controller (selftest_ctl.rs) drives it and
//! checks frames and event order against what the real captures in fixtures/esl show.
#![allow(clippy::unwrap_used)] // tests may unwrap

use super::fake_fs::{AppScript, FakeCall, Park};
use super::selftest_ctl::start;
use super::transcript::{ArgForm, HangupBy, Linger};
use std::time::Duration;

/// A call whose CHANNEL_PARK comes right after `myevents` (what `Ctl::handshake` expects).
/// A fake call for the self-tests: queued messages run at once (no media frame), so each
/// test sees the queue's semantics apart from FreeSWITCH's clock (tested on its own).
pub fn fc() -> FakeCall {
    FakeCall::new()
        .park(Park::AfterMyevents)
        .frame(std::time::Duration::ZERO)
}

const EV1: &str = "255a2c68-77a9-4e60-8933-34ce915ba4d9";
const EV2: &str = "d987a2d5-be18-4023-af94-6933a115177b";

#[tokio::test]
async fn handshake_playback_hangup_app_exit() {
    let call = fc()
        .uuid("d3ce0a72-2926-49a4-97df-4106ee0a01eb")
        .var("pivot_voice_url", "http://127.0.0.1:9/flow?a=1&b=2");
    let (mut c, handle) = start(call).await;
    let reply = c.handshake("linger").await;
    assert_eq!(
        reply.get("Content-Length"),
        None,
        "connect reply has no body"
    );
    assert_eq!(reply.get("Reply-Text"), Some("%2BOK%0A"));
    let n = reply.headers.len();
    assert_eq!(reply.headers[n - 1], ("Control".into(), "full".into()));
    assert_eq!(reply.headers[n - 2], ("Socket-Mode".into(), "async".into()));
    assert_eq!(reply.headers[n - 4].1, "command/reply");
    assert_eq!(
        reply.get("Unique-ID"),
        Some("d3ce0a72-2926-49a4-97df-4106ee0a01eb")
    );
    assert_eq!(reply.get("Caller-Destination-Number"), Some("3004"));
    assert_eq!(reply.get("Caller-Caller-ID-Name"), Some("Lab%20Caller"));
    assert_eq!(
        reply.get("variable_pivot_voice_url"),
        Some("http%3A//127.0.0.1%3A9/flow%3Fa%3D1%26b%3D2")
    );

    c.execute("playback", "tone_stream://%(200,0,440)", EV1)
        .await;
    assert_eq!(c.label().await, "REPLY +OK");
    let exec = c.frame().await;
    assert_eq!(exec.label(), "EV CHANNEL_EXECUTE playback");
    assert_eq!(exec.event_header("Application-UUID").as_deref(), Some(EV1));
    assert_eq!(
        exec.event_header("Application-Data").as_deref(),
        Some("tone_stream%3A//%25(200,0,440)")
    );
    let done = c.frame().await;
    assert_eq!(
        done.label(),
        "EV CHANNEL_EXECUTE_COMPLETE playback FILE%20PLAYED"
    );
    assert_eq!(done.event_header("Application-UUID").as_deref(), Some(EV1));
    assert!(
        done.raw.starts_with(b"Content-Length: "),
        "events put Content-Length first"
    );

    c.execute("hangup", "NORMAL_CLEARING", EV2).await;
    let labels = c.labels_until("NOTICE").await;
    assert_eq!(
        labels,
        [
            "REPLY +OK",
            "EV CHANNEL_EXECUTE hangup",
            "EV CHANNEL_HANGUP",
            "EV CHANNEL_EXECUTE_COMPLETE hangup _none_",
            "EV CHANNEL_UNPARK",
            "EV CHANNEL_EXECUTE_COMPLETE socket _none_",
            "EV CHANNEL_STATE",
            "EV CHANNEL_STATE",
            "EV CHANNEL_HANGUP_COMPLETE",
            "NOTICE linger",
        ]
    );
    c.send("exit\n\n").await;
    assert_eq!(c.label().await, "REPLY +OK bye");
    let bye = c.frame().await;
    assert_eq!(bye.get("Content-Disposition"), Some("disconnect"));
    assert_eq!(bye.body.len(), 67);
    assert!(c.next().await.is_none(), "socket closed after exit");

    let t = handle.finish().await;
    t.assert_no_protocol_errors();
    assert_eq!(
        t.app_calls(),
        [
            ("playback", "tone_stream://%(200,0,440)"),
            ("hangup", "NORMAL_CLEARING")
        ]
    );
    assert_eq!(t.apps[0].event_uuid.as_deref(), Some(EV1));
    assert!(t.apps[0].event_lock);
    assert_eq!(t.apps[0].response.as_deref(), Some("FILE PLAYED"));
    assert_eq!(t.hangup_cause(), Some("NORMAL_CLEARING"));
    assert_eq!(t.hangup.as_ref().map(|h| h.by.clone()), Some(HangupBy::App));
    assert_eq!(t.linger, Linger::Forever);
    assert!(t.myevents && t.server_sent_exit && !t.server_closed);
    assert_eq!(t.frames_with_line("exit").len(), 1);
}

#[tokio::test]
async fn hangup_complete_carries_hangup_cause_twice() {
    let (mut c, handle) = start(fc()).await;
    c.handshake("linger").await;
    c.send("sendmsg\ncall-command: hangup\nhangup-cause: USER_BUSY\n\n")
        .await;
    let mut complete = None;
    while complete.is_none() {
        let f = c.frame().await;
        if f.event_header("Event-Name").as_deref() == Some("CHANNEL_HANGUP_COMPLETE") {
            complete = f.event();
        }
    }
    let causes: Vec<_> = complete
        .unwrap()
        .into_iter()
        .filter(|(n, _)| n == "Hangup-Cause")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(causes, ["USER_BUSY", "USER_BUSY"]);
    assert_eq!(c.label().await, "NOTICE linger");
    drop(c);
    let t = handle.finish().await;
    assert_eq!(t.hangup.map(|h| h.by), Some(HangupBy::Command));
}

#[tokio::test]
async fn killed_from_outside_during_playback_real_order() {
    let long =
        AppScript::new(Duration::from_secs(30), "FILE PLAYED").killed_response("PLAYBACK ERROR");
    let (mut c, handle) = start(fc().app("playback", long)).await;
    c.handshake("linger").await;
    c.execute("playback", "tone_stream://%(1000,0,440);loops=30", EV1)
        .await;
    assert_eq!(c.label().await, "REPLY +OK");
    assert_eq!(c.label().await, "EV CHANNEL_EXECUTE playback");
    handle.hangup_now();
    let labels = c.labels_until("EV CHANNEL_HANGUP_COMPLETE").await;
    assert_eq!(
        labels,
        [
            "EV CHANNEL_HANGUP",
            "NOTICE linger",
            "EV CHANNEL_EXECUTE_COMPLETE playback PLAYBACK%20ERROR",
            "EV CHANNEL_UNPARK",
            "EV CHANNEL_EXECUTE_COMPLETE socket _none_",
            "EV CHANNEL_STATE",
            "EV CHANNEL_STATE",
            "EV CHANNEL_HANGUP_COMPLETE",
        ]
    );
    // After the hangup a sendmsg is still +OK and does nothing.
    c.execute("playback", "x.wav", EV2).await;
    assert_eq!(c.label().await, "REPLY +OK");
    c.send("exit\n\n").await;
    assert_eq!(c.label().await, "REPLY +OK bye");
    assert_eq!(c.label().await, "NOTICE disconnect");
    let t = handle.finish().await;
    assert_eq!(t.executes_after_hangup().len(), 1);
    assert_eq!(t.app_names(), ["playback"], "nothing runs after the hangup");
    assert_eq!(t.hangup.map(|h| h.by), Some(HangupBy::Outside));
}

#[tokio::test]
async fn without_linger_the_socket_closes_after_channel_hangup() {
    let call = fc().hangup_when_app_starts("playback");
    let (mut c, handle) = start(call.app(
        "playback",
        AppScript::new(Duration::from_secs(30), "FILE PLAYED"),
    ))
    .await;
    c.handshake("").await;
    c.execute("playback", "a.wav", EV1).await;
    let labels = c.labels_until("NOTICE").await;
    assert_eq!(
        labels,
        [
            "REPLY +OK",
            "EV CHANNEL_EXECUTE playback",
            "EV CHANNEL_HANGUP",
            "NOTICE disconnect"
        ]
    );
    assert!(c.next().await.is_none());
    let t = handle.finish().await;
    assert_eq!(t.linger, Linger::Off);
    assert_eq!(t.apps[0].response, None, "its EXECUTE_COMPLETE was lost");
}

#[tokio::test]
async fn body_form_argument_and_uuid_name() {
    let (mut c, handle) = start(fc()).await;
    c.handshake("linger").await;
    let arg = "tone_stream://%(100,0,660)";
    c.send(&format!(
        "sendmsg\ncall-command: execute\nexecute-app-name: playback\nevent-lock: true\n\
         Event-UUID: {EV1}\nEvent-UUID-Name: tone660\ncontent-type: text/plain\n\
         content-length: {}\n\n{arg}",
        arg.len()
    ))
    .await;
    assert_eq!(c.label().await, "REPLY +OK");
    let exec = c.frame().await;
    assert_eq!(
        exec.event_header("Application-UUID-Name").as_deref(),
        Some("tone660")
    );
    assert_eq!(
        exec.event_header("Application-Data").as_deref(),
        Some("tone_stream%3A//%25(100,0,660)")
    );
    assert_eq!(
        c.label().await,
        "EV CHANNEL_EXECUTE_COMPLETE playback FILE%20PLAYED"
    );
    handle.hangup_now();
    c.labels_until("NOTICE").await;
    drop(c);
    let t = handle.finish().await;
    assert_eq!(t.apps[0].form, ArgForm::Body);
    assert_eq!(t.apps[0].arg, arg);
    assert!(t.server_closed);
}

#[tokio::test]
async fn event_name_filters_are_ored() {
    let (mut c, handle) = start(fc()).await;
    c.handshake("linger").await;
    for name in ["CHANNEL_EXECUTE_COMPLETE", "CHANNEL_HANGUP"] {
        c.send(&format!("filter Event-Name {name}\n\n")).await;
        assert_eq!(
            c.label().await,
            format!("REPLY +OK filter added. [Event-Name]=[{name}]")
        );
    }
    c.execute("set", "x=${y}", EV1).await;
    assert_eq!(c.label().await, "REPLY +OK");
    assert_eq!(c.label().await, "EV CHANNEL_EXECUTE_COMPLETE set _none_");
    c.execute("no_such_app", "x", EV2).await;
    let labels = c.labels_until("NOTICE").await;
    assert_eq!(
        labels,
        [
            "REPLY +OK",
            "EV CHANNEL_HANGUP",
            "EV CHANNEL_EXECUTE_COMPLETE socket _none_",
            "NOTICE linger"
        ]
    );
    drop(c);
    let t = handle.finish().await;
    assert_eq!(
        t.event_name_filters(),
        ["CHANNEL_EXECUTE_COMPLETE", "CHANNEL_HANGUP"]
    );
    assert_eq!(
        t.sent_events(),
        [
            "CHANNEL_PARK",
            "CHANNEL_EXECUTE_COMPLETE",
            "CHANNEL_HANGUP",
            "CHANNEL_EXECUTE_COMPLETE"
        ],
        "filters keep CHANNEL_EXECUTE, UNPARK, STATE and HANGUP_COMPLETE away"
    );
    assert_eq!(t.vars_set, [("x".to_string(), "${y}".to_string())]);
    assert_eq!(t.hangup_cause(), Some("DESTINATION_OUT_OF_ORDER"));
    assert!(t.apps[1].unknown && !t.apps[1].started);
}

#[tokio::test]
async fn default_park_comes_before_the_first_sendmsg_reply() {
    let (mut c, handle) = start(FakeCall::new()).await;
    c.send("connect\n\nmyevents\n\nlinger\n\n").await;
    c.frame().await;
    assert_eq!(c.label().await, "REPLY +OK Events Enabled");
    assert_eq!(c.label().await, "REPLY +OK will linger");
    c.execute("answer", "", EV1).await;
    let labels = c.labels_until("EV CHANNEL_EXECUTE_COMPLETE").await;
    assert_eq!(
        labels,
        [
            "EV CHANNEL_PARK",
            "REPLY +OK",
            "EV CHANNEL_EXECUTE answer",
            "EV CHANNEL_EXECUTE_COMPLETE answer _none_"
        ]
    );
    drop(c);
    let t = handle.finish().await;
    assert!(t.server_closed);
    assert_eq!(t.hangup.map(|h| h.by), Some(HangupBy::SocketGone));
}
