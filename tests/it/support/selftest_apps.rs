//! Self-tests of the fake FreeSWITCH's applications and API: uuid_break, queue nesting,
//! DTMF and terminators, http_put to the web app, `linger N`, and the frame shapes compared
//! with the real capture fixtures/esl/full.fs-sent.raw.
#![allow(clippy::unwrap_used)] // tests may unwrap

use super::fake_fs::AppScript;
use super::selftest::fc;
use super::selftest_ctl::{start, Frame};
use super::transcript::HangupBy;
use super::web::{Reply, WebApp};
use std::time::Duration;

const A: &str = "c38ce079-abd4-4f06-bc5d-9ec325b6073a";
const B: &str = "460d2ba0-3a1f-43e4-b62b-f0a575d564cb";
const C: &str = "13e74127-77c0-4b7e-820a-f9b12a6f604c";

fn long_playback() -> AppScript {
    AppScript::new(Duration::from_secs(30), "FILE PLAYED").killed_response("PLAYBACK ERROR")
}

/// FreeSWITCH's park loop: what arrives while nothing runs waits for the next media frame,
/// then everything queued runs back to back; what arrives while an app runs follows it
/// without waiting.
#[tokio::test]
async fn a_parked_channel_runs_its_queue_at_the_next_frame() {
    let call = fc().frame(Duration::from_millis(20)).app(
        "playback",
        AppScript::new(Duration::from_millis(50), "FILE PLAYED"),
    );
    let (mut c, handle) = start(call).await;
    c.handshake("linger").await;
    c.execute("answer", "", A).await;
    c.execute("playback", "tone.wav", B).await;
    assert_eq!(c.labels_until("REPLY +OK").await, ["REPLY +OK"]);
    assert_eq!(
        c.labels_until("EV CHANNEL_EXECUTE_COMPLETE playback").await,
        [
            "REPLY +OK",
            "EV CHANNEL_EXECUTE answer",
            "EV CHANNEL_EXECUTE_COMPLETE answer _none_",
            "EV CHANNEL_EXECUTE playback",
            "EV CHANNEL_EXECUTE_COMPLETE playback FILE%20PLAYED",
        ]
    );
    assert_eq!(handle.snapshot().park_waits, 1, "one frame for both");
    // Parked again: the next message waits for a frame of its own.
    c.execute("speak", "flite|slt|hi", C).await;
    c.labels_until("EV CHANNEL_EXECUTE_COMPLETE speak").await;
    assert_eq!(handle.snapshot().park_waits, 2);
}

#[tokio::test]
async fn uuid_break_ends_the_running_playback_with_file_played() {
    let (mut c, handle) = start(fc().app("playback", long_playback())).await;
    c.handshake("linger").await;
    c.execute("playback", "long.wav", A).await;
    c.execute("speak", "flite|slt|hi", B).await;
    let labels = c.labels_until("EV CHANNEL_EXECUTE").await;
    assert_eq!(labels, ["REPLY +OK", "EV CHANNEL_EXECUTE playback"]);
    assert_eq!(
        c.label().await,
        "REPLY +OK",
        "speak is queued behind the locked playback"
    );
    c.send(&format!("api uuid_break {}\n\n", handle.uuid()))
        .await;
    let labels = c.labels_until("EV CHANNEL_EXECUTE_COMPLETE speak").await;
    assert_eq!(
        labels,
        [
            "API +OK\n",
            "EV CHANNEL_EXECUTE_COMPLETE playback FILE%20PLAYED",
            "EV CHANNEL_EXECUTE speak",
            "EV CHANNEL_EXECUTE_COMPLETE speak _none_",
        ]
    );
    c.send("api uuid_break 00000000-0000-0000-0000-000000000000\n\n")
        .await;
    assert_eq!(c.label().await, "API -ERR No such channel!\n");
    c.send(&format!("api uuid_kill {} USER_BUSY\n\n", handle.uuid()))
        .await;
    assert_eq!(c.label().await, "API +OK\n");
    assert_eq!(
        c.labels_until("NOTICE").await.last().unwrap(),
        "NOTICE linger"
    );
    drop(c);
    let t = handle.finish().await;
    assert_eq!(t.hangup_cause(), Some("USER_BUSY"));
    assert_eq!(t.hangup.map(|h| h.by), Some(HangupBy::Outside));
    assert_eq!(t.api.len(), 3);
}

/// fixtures/esl/queue: A locked, B unlocked, C locked: C runs nested inside B.
#[tokio::test]
async fn an_unlocked_app_lets_the_next_one_run_nested() {
    let tone = AppScript::new(Duration::from_millis(30), "FILE PLAYED");
    let (mut c, handle) = start(fc().app("playback", tone)).await;
    c.handshake("linger").await;
    c.execute("playback", "a", A).await;
    c.send(&format!(
        "sendmsg\ncall-command: execute\nexecute-app-name: playback\nexecute-app-arg: b\nEvent-UUID: {B}\n\n"
    ))
    .await;
    c.execute("playback", "c", C).await;
    let mut order = Vec::new();
    while order.len() < 6 {
        let f = c.frame().await;
        if let (Some(name), Some(id)) = (
            f.event_header("Event-Name"),
            f.event_header("Application-UUID"),
        ) {
            let who = [(A, "A"), (B, "B"), (C, "C")]
                .iter()
                .find(|(u, _)| *u == id)
                .unwrap()
                .1;
            order.push(format!("{name} {who}"));
        }
    }
    let e = "CHANNEL_EXECUTE";
    let d = "CHANNEL_EXECUTE_COMPLETE";
    assert_eq!(
        order,
        [
            format!("{e} A"),
            format!("{d} A"),
            format!("{e} B"),
            format!("{e} C"),
            format!("{d} C"),
            format!("{d} B")
        ]
    );
    drop(c);
    let t = handle.finish().await;
    assert_eq!(
        t.apps.iter().map(|a| a.nested).collect::<Vec<_>>(),
        [false, false, true]
    );
    assert!(!t.apps[1].event_lock);
}

#[tokio::test]
async fn dtmf_events_and_the_playback_terminator() {
    let play = long_playback().dtmf(Duration::from_millis(5), '5');
    let (mut c, handle) = start(fc().app("playback", play)).await;
    c.handshake("linger").await;
    c.execute("playback", "menu.wav", A).await;
    let labels = c.labels_until("EV DTMF").await;
    assert_eq!(labels.last().unwrap(), "EV DTMF");
    handle.send_dtmf('*');
    let dtmf = c.frame().await;
    assert_eq!(dtmf.event_header("DTMF-Digit").as_deref(), Some("*"));
    let done = c.frame().await;
    assert_eq!(
        done.label(),
        "EV CHANNEL_EXECUTE_COMPLETE playback FILE%20PLAYED"
    );
    assert_eq!(
        done.event_header("variable_playback_terminator_used")
            .as_deref(),
        Some("*")
    );
    drop(c);
    handle.finish().await;
}

#[tokio::test]
async fn http_put_uploads_to_the_web_app_for_real() {
    let web = WebApp::start().await;
    web.script("/fail", [Reply::status(500)]);
    let (mut c, handle) = start(fc()).await;
    c.handshake("linger").await;
    c.send(&format!(
        "api http_put {} /tmp/rec.wav\n\n",
        web.url("/rec/1.wav")
    ))
    .await;
    assert_eq!(c.label().await, "API +OK 201");
    c.send(&format!(
        "api http_put {} /tmp/rec.mp3\n\n",
        web.url("/fail")
    ))
    .await;
    assert_eq!(c.label().await, "API -ERR 500");
    c.send(&format!(
        "api http_put {} /tmp/rec.wav\n\n",
        WebApp::refused_url("/x")
    ))
    .await;
    assert_eq!(c.label().await, "API -ERR 0");
    drop(c);
    let t = handle.finish().await;
    let ups = web.uploads();
    assert_eq!(ups.len(), 2);
    assert_eq!(ups[0].path, "/rec/1.wav");
    assert_eq!(ups[0].header("content-type"), Some("audio/x-wav"));
    assert!(ups[0].body.starts_with(b"RIFF"));
    assert_eq!(
        t.uploads.iter().map(|u| u.status).collect::<Vec<_>>(),
        [Some(201), Some(500), None]
    );
}

#[tokio::test]
async fn linger_n_closes_by_itself_after_the_hangup() {
    let call = fc().linger_second(Duration::from_millis(10));
    let (mut c, handle) = start(call).await;
    c.handshake("linger 2").await;
    c.send("sendmsg\ncall-command: hangup\nhangup-cause: USER_BUSY\n\n")
        .await;
    let labels = c.labels_until("NOTICE").await;
    assert_eq!(labels.first().unwrap(), "REPLY +OK");
    assert_eq!(labels.last().unwrap(), "NOTICE linger");
    assert_eq!(c.label().await, "NOTICE disconnect");
    assert!(c.next().await.is_none(), "closed without exit");
    let t = handle.finish().await;
    assert!(!t.server_sent_exit);
    assert_eq!(t.hangup_cause(), Some("USER_BUSY"));
}

#[tokio::test]
#[should_panic(expected = "did not end")]
async fn finish_fails_the_test_when_the_server_never_ends_the_call() {
    let (_c, handle) = start(fc().finish_timeout(Duration::from_millis(100))).await;
    handle.finish().await;
}

fn fixture_first_frames() -> Vec<Frame> {
    let raw = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/esl/full.fs-sent.raw"
    ))
    .unwrap();
    let text = String::from_utf8_lossy(&raw);
    // connect reply: first block; first CHANNEL_EXECUTE: found by its header.
    let connect = text.split("\n\n").next().unwrap().to_string();
    let start = text.find("Event-Name: CHANNEL_EXECUTE\n").unwrap();
    let exec = text[start..].split("\n\n").next().unwrap().to_string();
    [connect, exec]
        .iter()
        .map(|b| Frame {
            raw: Vec::new(),
            headers: b
                .lines()
                .map(|l| {
                    let (n, v) = l.split_once(": ").unwrap();
                    (n.to_string(), v.to_string())
                })
                .collect(),
            body: Vec::new(),
        })
        .collect()
}

fn names(f: &[(String, String)], vars: bool) -> Vec<String> {
    f.iter()
        .map(|(n, _)| n.clone())
        .filter(|n| vars || !n.starts_with("variable_"))
        .collect()
}

#[tokio::test]
async fn frames_have_the_shape_of_the_real_capture() {
    let real = fixture_first_frames();
    let call = fc().uuid("d3ce0a72-2926-49a4-97df-4106ee0a01eb");
    let (mut c, handle) = start(call).await;
    let reply = c.handshake("linger").await;
    assert_eq!(names(&reply.headers, true), names(&real[0].headers, true));
    for same in [
        "Channel-Channel-Name",
        "Caller-Caller-ID-Name",
        "variable_current_application_data",
        "Reply-Text",
    ] {
        assert_eq!(reply.get(same), real[0].get(same), "{same}");
    }
    c.execute(
        "playback",
        "tone_stream://%(200,0,440)",
        "255a2c68-77a9-4e60-8933-34ce915ba4d9",
    )
    .await;
    c.frame().await;
    let exec = c.frame().await.event().unwrap();
    assert_eq!(names(&exec, false), names(&real[1].headers, false));
    let ours: Vec<_> = exec
        .iter()
        .filter(|(n, _)| n.starts_with("Application"))
        .collect();
    let theirs: Vec<_> = real[1]
        .headers
        .iter()
        .filter(|(n, _)| n.starts_with("Application"))
        .collect();
    assert_eq!(ours, theirs);
    drop(c);
    handle.finish().await;
}

#[tokio::test]
async fn record_writes_the_file_even_when_the_caller_hangs_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("call.wav").to_string_lossy().into_owned();
    let rec = AppScript::new(Duration::from_secs(30), "_none_");
    let call = fc().app("record", rec).hangup_when_app_starts("record");
    let (mut c, handle) = start(call).await;
    c.handshake("linger").await;
    c.execute("record", &format!("{path} 3600 200 5"), A).await;
    let labels = c.labels_until("EV CHANNEL_HANGUP_COMPLETE").await;
    assert!(labels.contains(&"EV CHANNEL_EXECUTE_COMPLETE record _none_".to_string()));
    assert!(std::fs::read(&path).unwrap().starts_with(b"RIFF"));
    // The upload after the hangup (during linger) sends the file's own bytes.
    let web = WebApp::start().await;
    c.send(&format!(
        "api http_put {} {path}\n\n",
        web.url("/up/call.wav")
    ))
    .await;
    assert_eq!(c.label().await, "API +OK 201");
    assert_eq!(web.uploads()[0].body, std::fs::read(&path).unwrap());
    drop(c);
    let t = handle.finish().await;
    assert_eq!(t.recordings, [path]);
    assert!(t.executes_after_hangup().is_empty());
    assert_eq!(
        t.after_hangup.len(),
        1,
        "the api call came after the hangup"
    );
}

/// `bridge` reports its result in the channel variables of its EXECUTE_COMPLETE, as
/// FreeSWITCH sets DIALSTATUS and originate_disposition; a script can change them.
#[tokio::test]
async fn bridge_reports_dialstatus_in_its_execute_complete() {
    for (script, expected) in [
        (None, "SUCCESS"),
        (
            Some(AppScript::new(Duration::from_millis(5), "_none_").var("DIALSTATUS", "BUSY")),
            "BUSY",
        ),
    ] {
        let call = match script {
            Some(s) => fc().app("bridge", s),
            None => fc(),
        };
        let (mut c, handle) = start(call).await;
        c.handshake("linger").await;
        c.execute("bridge", "{leg_timeout=5}sofia/gateway/carrier/1000", A)
            .await;
        let done = loop {
            let f = c.frame().await;
            if f.event_header("Event-Name").as_deref() == Some("CHANNEL_EXECUTE_COMPLETE") {
                break f;
            }
        };
        assert_eq!(done.event_header("Application").as_deref(), Some("bridge"));
        assert_eq!(
            done.event_header("variable_DIALSTATUS").as_deref(),
            Some(expected)
        );
        drop(c);
        handle.finish().await;
    }
}
