//! Things going wrong on the real switch: the caller hanging up mid-prompt and
//! mid-recording (the flow stops, owed uploads and the action request still happen, no
//! channel is left); the web app down, slow or answering garbage (the failback runs on the
//! switch); pivot unreachable (the dialplan's fallback after `socket`).

use std::time::Duration;

use crate::calls::is;
use crate::gather::{twiml, LONG_TEXT};
use crate::lab::Lab;
use crate::voicemail::{check_sequence, sequence_of};
use crate::web::{Reply, WebApp};

const SECS: fn(u64) -> Duration = Duration::from_secs;

#[tokio::test]
async fn caller_hangs_up_mid_prompt_and_the_flow_stops() {
    let Some(lab) = Lab::start("hangup_mid_prompt").await else {
        return;
    };
    let flow = serde_json::json!({
        "module": "tts", "data": {"text": LONG_TEXT},
        "children": {"_": {"module": "say", "data": {"text": "never"}}}
    });
    lab.web.script("/voice", [Reply::json(&flow.to_string())]);
    let call = lab.call("9000").voice_url(&lab.url("/voice")).start().await;
    let b = call.b_uuid().await;
    call.app_started("speak", SECS(20)).await;
    call.caller_hangs_up().await;
    call.app_done("speak", SECS(10)).await;
    call.b_hangup(SECS(10)).await;
    call.gone(SECS(10)).await;
    let apps = call.b_apps().await;
    assert!(!apps.iter().any(|(_, d)| d.contains("never")), "{apps:?}");
    // pivot let go of the call: its connection is closed.
    wait_closed(&lab).await;
    let got = sequence_of(&lab, &b);
    check_sequence(
        &lab,
        "hangup_mid_prompt",
        "Piston tts (a long prompt) then say; the caller hangs up as the prompt starts.",
        &got,
    );
    lab.finish().await;
}

/// pivot's event socket connection of the lab's first call ends (bounded).
async fn wait_closed(lab: &Lab) {
    for _ in 0..100 {
        if lab.proxy.conns().first().is_some_and(|c| c.closed) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("pivot's connection is still open");
}

/// The usual voicemail: TwiML `<Record>`, the caller hangs up while recording. The upload
/// and the action request still go out (`CallStatus=completed`).
#[tokio::test]
async fn caller_hangs_up_mid_recording_and_the_upload_and_action_still_happen() {
    let Some(lab) = Lab::start("hangup_mid_record").await else {
        return;
    };
    lab.web.script(
        "/voice",
        [twiml(
            r#"<Record action="/vm" recordingUrl="/up/" playBeep="false"/><Say>never</Say>"#,
        )],
    );
    lab.web.script("/vm", [twiml("<Say>ignored</Say>")]);
    let call = lab
        .call("9000")
        .twiml_url(&lab.url("/voice"))
        .caller("9003")
        .start()
        .await;
    let b = call.b_uuid().await;
    call.wait_b(SECS(20), "RECORD_START", |e| is(e, "RECORD_START"))
        .await;
    tokio::time::sleep(SECS(2)).await; // the caller talks for two seconds
    call.caller_hangs_up().await;
    call.b_hangup(SECS(10)).await;
    let reqs = {
        let deadline = tokio::time::Instant::now() + SECS(20);
        loop {
            let reqs = lab.web.requests();
            let vm = reqs.iter().any(|r| r.path == "/vm");
            if vm || tokio::time::Instant::now() > deadline {
                break reqs;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let upload: Vec<_> = reqs.iter().filter(|r| r.method == "PUT").collect();
    assert_eq!(upload.len(), 1, "{reqs:#?}");
    assert_eq!(upload[0].path, format!("/up/{b}.wav"));
    assert!(upload[0].body.starts_with(b"RIFF"), "a WAV file");
    let vm: Vec<_> = reqs.iter().filter(|r| r.path == "/vm").collect();
    assert_eq!(vm.len(), 1, "the action after the hangup");
    assert_eq!(vm[0].param("CallStatus").as_deref(), Some("completed"));
    assert_eq!(
        vm[0].param("RecordingUrl"),
        Some(lab.url(&format!("/up/{b}.wav")))
    );
    let secs: u32 = vm[0].param("RecordingDuration").unwrap().parse().unwrap();
    assert!((1..=4).contains(&secs), "RecordingDuration {secs}");
    call.gone(SECS(10)).await;
    let apps = call.b_apps().await;
    assert!(
        !apps
            .iter()
            .any(|(_, d)| d.contains("never") || d.contains("ignored")),
        "{apps:?}"
    );
    lab.finish().await;
}

/// An entry document that pivots to `target` with a failback child.
fn entry(target: &str, timeout_ms: u64) -> String {
    serde_json::json!({
        "module": "pivot",
        "data": {"voice_url": target, "req_timeout_ms": timeout_ms},
        "children": {"_": {"module": "say", "data": {"text": "Sorry, try again later."}}}
    })
    .to_string()
}

/// The web app down, slow, or answering garbage: the failback speaks on the real switch,
/// and `pivot_failure` on the channel says why.
#[tokio::test]
async fn web_app_down_slow_or_garbage_runs_the_failback() {
    let Some(lab) = Lab::start("failback").await else {
        return;
    };
    lab.web.script("/slow", [Reply::slow(SECS(5))]);
    lab.web.script("/garbage", [Reply::json("{\"module\": ")]);
    lab.web
        .script("/teapot", [Reply::new(200, "text/plain", "I am a teapot")]);
    let cases = [
        ("down", WebApp::refused_url("/voice"), "connect:"),
        ("slow", lab.url("/slow"), "timeout:"),
        ("garbage", lab.url("/garbage"), "invalid_flow:"),
        ("teapot", lab.url("/teapot"), "unknown_format:"),
    ];
    for (name, target, failure) in cases {
        let path = format!("/entry-{name}");
        lab.web.script(&path, [Reply::json(&entry(&target, 1000))]);
        let call = lab.call("9000").voice_url(&lab.url(&path)).start().await;
        let said = call.app_done("speak", SECS(20)).await;
        assert_eq!(
            said.application_data(),
            Some("flite|slt|Sorry, try again later."),
            "{name}"
        );
        let why = said.variable("pivot_failure").unwrap_or("");
        assert!(why.starts_with(failure), "{name}: pivot_failure {why:?}");
        let hangup = call.b_hangup(SECS(10)).await;
        assert_eq!(hangup.hangup_cause(), Some("NORMAL_CLEARING"), "{name}");
        call.gone(SECS(10)).await;
    }
    lab.finish().await;
}

/// pivot is not there at all: `socket` returns and the dialplan's fallback plays the
/// fast-busy tone and hangs up (freeswitch-conf, extension 9000).
#[tokio::test]
async fn pivot_unreachable_the_dialplan_fallback_hangs_up() {
    let Some(lab) = Lab::start("pivot_unreachable").await else {
        return;
    };
    let nobody = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = nobody.local_addr().unwrap().port();
    drop(nobody);
    let call = lab
        .call("9000")
        .var("pivot_port", &port.to_string())
        .voice_url(&lab.url("/voice"))
        .start()
        .await;
    let socket = call.app_done("socket", SECS(10)).await;
    assert_eq!(
        socket.application_data(),
        Some(&*format!("{}:{port} async full", lab.settings.host))
    );
    let tone = call.app_started("playback", SECS(10)).await;
    assert_eq!(tone.variable("pivot_fallback"), Some("true"));
    let hangup = call.b_hangup(SECS(20)).await;
    assert_eq!(hangup.hangup_cause(), Some("NORMAL_TEMPORARY_FAILURE"));
    call.gone(SECS(10)).await;
    assert!(lab.web.requests().is_empty());
    lab.finish().await;
}
