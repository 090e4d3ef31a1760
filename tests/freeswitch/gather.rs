//! Digits on the real switch: Piston `collect_dtmf` and TwiML `<Gather>` with keys really
//! sent into the call (the caller leg's `send_dtmf`, or `uuid_send_dtmf`), the branch taken,
//! the next request carrying the digits; and barge-in: a key pressed during a long prompt
//! ends the prompt long before its natural end (FreeSWITCH's own event times).

use std::time::Duration;

use crate::calls::{is, ms_between, Call};
use crate::lab::Lab;
use crate::voicemail::{check_sequence, sequence_of};
use crate::web::Reply;
use pivot::esl::Event;

const SECS: fn(u64) -> Duration = Duration::from_secs;

fn say(text: &str) -> serde_json::Value {
    serde_json::json!({"module": "say", "data": {"text": text}})
}

/// The Piston menu: a prompt, one key; 2 asks the web app again with the digits.
pub fn piston_menu(support: &str) -> String {
    serde_json::json!({
        "module": "say", "data": {"text": "For sales press 1. For support press 2."},
        "children": {"_": {
            "module": "collect_dtmf",
            "data": {"max_digits": 1, "collection_name": "menu", "timeout": 5000},
            "children": {
                "1": say("sales"),
                "2": {"module": "pivot", "data": {"voice_url": support}},
                "_": say("nothing")
            }
        }}
    })
    .to_string()
}

pub fn twiml(verbs: &str) -> Reply {
    Reply::xml(&format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response>{verbs}</Response>"
    ))
}

/// A prompt of about 25 seconds of flite speech.
pub const LONG_TEXT: &str = "This is a long prompt that goes on and on so that a key pressed \
near its start can be told apart from its natural end. It keeps talking about nothing in \
particular, one sentence after the other, the way hold messages do, telling you that your \
call is important, that every agent is busy, that you may press a key at any time, and that \
you will be answered in the order your call was received, which is to say not very soon.";

#[tokio::test]
async fn collect_dtmf_takes_the_branch_of_the_key_the_caller_sent() {
    let Some(lab) = Lab::start("collect_dtmf").await else {
        return;
    };
    lab.web
        .script("/voice", [Reply::json(&piston_menu(&lab.url("/support")))]);
    let thanks = serde_json::json!({"module": "say", "data": {"text": "Support, thank you."}});
    lab.web
        .script("/support", [Reply::json(&thanks.to_string())]);
    // The caller (extension 9002) sends 2 half a second after the answer.
    let call = lab
        .call("9000")
        .voice_url(&lab.url("/voice"))
        .caller("9002")
        .var("caller_dtmf", "2")
        .var("caller_dtmf_delay_ms", "500")
        .start()
        .await;
    let b = call.b_uuid().await;
    let dtmf = call.wait_b(SECS(10), "DTMF", |e| is(e, "DTMF")).await;
    assert_eq!(dtmf.dtmf_digit(), Some("2"));

    let support = lab.web.wait_for_requests(2).await;
    let support: Vec<_> = support.iter().filter(|r| r.path == "/support").collect();
    assert_eq!(support.len(), 1);
    assert_eq!(support[0].param("Digits[menu]").as_deref(), Some("2"));
    assert_eq!(support[0].param("Call-ID").as_deref(), Some(b.as_str()));
    let said = call.app_done("speak", SECS(10)).await;
    assert_eq!(
        said.application_data(),
        Some("flite|slt|For sales press 1. For support press 2.")
    );
    call.wait_b(SECS(20), "the support message", |e| {
        is(e, "CHANNEL_EXECUTE_COMPLETE")
            && e.application_data() == Some("flite|slt|Support, thank you.")
    })
    .await;
    call.b_hangup(SECS(10)).await;
    call.caller_hangs_up_if_up().await;
    call.gone(SECS(10)).await;
    let got = sequence_of(&lab, &b);
    check_sequence(
        &lab,
        "collect_dtmf",
        "Piston say + collect_dtmf (menu); the caller sends 2 during the prompt; branch 2\nasks /support, which says a message.",
        &got,
    );
    lab.finish().await;
}

#[tokio::test]
async fn twiml_gather_posts_the_digits_to_its_action() {
    let Some(lab) = Lab::start("gather").await else {
        return;
    };
    lab.web.script(
        "/voice",
        [twiml(r#"<Gather action="/digits" numDigits="2"><Say>Enter two digits.</Say></Gather><Say>No input.</Say>"#)],
    );
    lab.web
        .script("/digits", [twiml("<Say>Thanks.</Say><Hangup/>")]);
    let call = lab
        .call("9000")
        .twiml_url(&lab.url("/voice"))
        .caller("9002")
        .var("caller_dtmf", "42")
        .var("caller_dtmf_delay_ms", "500")
        .start()
        .await;
    let b = call.b_uuid().await;
    let reqs = lab.web.wait_for_requests(2).await;
    let digits: Vec<_> = reqs.iter().filter(|r| r.path == "/digits").collect();
    assert_eq!(digits.len(), 1, "{reqs:#?}");
    assert_eq!(digits[0].method, "POST");
    assert_eq!(digits[0].param("Digits").as_deref(), Some("42"));
    assert_eq!(digits[0].param("CallSid").as_deref(), Some(b.as_str()));
    assert_eq!(
        digits[0].param("CallStatus").as_deref(),
        Some("in-progress")
    );
    call.wait_b(SECS(20), "Thanks", |e| {
        is(e, "CHANNEL_EXECUTE_COMPLETE") && e.application_data() == Some("flite|slt|Thanks.")
    })
    .await;
    let apps: Vec<String> = call
        .b_apps()
        .await
        .into_iter()
        .map(|(a, d)| format!("{a} {d}"))
        .collect();
    assert!(!apps.iter().any(|a| a.contains("No input")), "{apps:?}");
    call.b_hangup(SECS(10)).await;
    call.caller_hangs_up_if_up().await;
    call.gone(SECS(10)).await;
    let got = sequence_of(&lab, &b);
    check_sequence(
        &lab,
        "gather",
        "TwiML <Gather numDigits=2> around a <Say>; the caller sends 42 during the prompt;\nthe action answers <Say>Thanks.</Say><Hangup/>.",
        &got,
    );
    lab.finish().await;
}

/// Presses a key as soon as the prompt runs; returns the prompt's start and end events and
/// how long after the key it ended (FreeSWITCH's clock).
async fn barge_in(call: &Call, app: &str) -> (Event, Event, i64) {
    let started = call.app_started(app, SECS(20)).await;
    call.press("5").await;
    let key = call.wait_b(SECS(10), "DTMF 5", |e| is(e, "DTMF")).await;
    let done = call.app_done(app, SECS(40)).await;
    let after_key = ms_between(&key, &done);
    (started, done, after_key)
}

/// The issue's case: a spoken prompt, then collect_dtmf. The key must stop `speak`.
#[tokio::test]
async fn piston_barge_in_a_key_stops_a_spoken_prompt() {
    let Some(lab) = Lab::start("barge_in_tts").await else {
        return;
    };
    let flow = serde_json::json!({
        "module": "tts", "data": {"text": LONG_TEXT},
        "children": {"_": {"module": "collect_dtmf", "data": {"max_digits": 1, "timeout": 3000},
            "children": {"_": say("Got it.")}}}
    });
    lab.web.script("/voice", [Reply::json(&flow.to_string())]);
    let call = lab.call("9000").voice_url(&lab.url("/voice")).start().await;
    let (started, done, after_key) = barge_in(&call, "speak").await;
    // The prompt is about 25 s long; stopped by the key it ends within a few seconds.
    assert!(
        after_key < 3000 && ms_between(&started, &done) < 10_000,
        "speak ran {} ms, {after_key} ms after the key: the key did not stop it",
        ms_between(&started, &done)
    );
    call.wait_b(SECS(20), "Got it.", |e| {
        is(e, "CHANNEL_EXECUTE_COMPLETE") && e.application_data() == Some("flite|slt|Got it.")
    })
    .await;
    call.b_hangup(SECS(10)).await;
    call.caller_hangs_up_if_up().await;
    call.gone(SECS(10)).await;
    lab.finish().await;
}

/// A 15 s `play` prompt, then collect_dtmf: the key stops the playback.
#[tokio::test]
async fn piston_barge_in_a_key_stops_a_played_prompt() {
    let Some(lab) = Lab::start("barge_in_play").await else {
        return;
    };
    let flow = serde_json::json!({
        "module": "play", "data": {"id": "tone_stream://%(15000,0,440)"},
        "children": {"_": {"module": "collect_dtmf", "data": {"max_digits": 1, "timeout": 3000},
            "children": {"_": say("Got it.")}}}
    });
    lab.web.script("/voice", [Reply::json(&flow.to_string())]);
    let call = lab.call("9000").voice_url(&lab.url("/voice")).start().await;
    let (started, done, after_key) = barge_in(&call, "playback").await;
    assert!(
        after_key < 3000 && ms_between(&started, &done) < 10_000,
        "the 15 s playback ran {} ms, {after_key} ms after the key",
        ms_between(&started, &done)
    );
    let stop = call
        .wait_b(SECS(5), "PLAYBACK_STOP", |e| is(e, "PLAYBACK_STOP"))
        .await;
    assert_ne!(
        stop.header("Playback-Status"),
        Some("done"),
        "stopped, not played out"
    );
    call.b_hangup(SECS(20)).await;
    call.caller_hangs_up_if_up().await;
    call.gone(SECS(10)).await;
    lab.finish().await;
}

/// TwiML `<Gather>` around a long `<Say>`: the first key stops the prompt (uuid_break).
#[tokio::test]
async fn twiml_gather_barge_in_a_key_stops_the_prompt() {
    let Some(lab) = Lab::start("barge_in_gather").await else {
        return;
    };
    let verbs = format!(
        r#"<Gather action="/digits" numDigits="1"><Say>{LONG_TEXT}</Say></Gather><Say>No input.</Say>"#
    );
    lab.web.script("/voice", [twiml(&verbs)]);
    lab.web.script("/digits", [twiml("<Hangup/>")]);
    let call = lab.call("9000").twiml_url(&lab.url("/voice")).start().await;
    let (started, done, after_key) = barge_in(&call, "speak").await;
    assert!(
        after_key < 3000 && ms_between(&started, &done) < 10_000,
        "speak ran {} ms, {after_key} ms after the key",
        ms_between(&started, &done)
    );
    let reqs = lab.web.wait_for_requests(2).await;
    let digits: Vec<_> = reqs.iter().filter(|r| r.path == "/digits").collect();
    assert_eq!(digits[0].param("Digits").as_deref(), Some("5"));
    call.b_hangup(SECS(10)).await;
    call.caller_hangs_up_if_up().await;
    call.gone(SECS(10)).await;
    lab.finish().await;
}
