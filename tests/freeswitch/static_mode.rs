//! FreeSWITCH's static socket mode on the real switch (`socket ... static full`, the word
//! `static` ignored by FreeSWITCH: without `async` the socket is static; the call carries
//! `pivot_socket_mode=static`): the first audio without the park loop's frame, barge-in by
//! FreeSWITCH's own playback terminators, digits read with `sleep`, the seed voicemail.

use std::time::Duration;

use crate::calls::{is, ms_between};
use crate::gather::LONG_TEXT;
use crate::lab::Lab;
use crate::web::Reply;

const SECS: fn(u64) -> Duration = Duration::from_secs;

fn say(text: &str) -> serde_json::Value {
    serde_json::json!({"module": "say", "data": {"text": text}})
}

/// A 200 ms tone: no park loop (whose first frame async mode waits for) ever runs on the
/// channel; the tone starts within a tick or two of the channel's creation (FreeSWITCH
/// stamps events with its 20 ms clock).
#[tokio::test]
async fn static_mode_plays_the_first_audio_without_waiting_for_a_frame() {
    let Some(lab) = Lab::start("static_first_audio").await else {
        return;
    };
    let tone = serde_json::json!({"module": "play", "data": {"id": "tone_stream://%(200,0,440)"}});
    lab.web.script("/voice", [Reply::json(&tone.to_string())]);
    let call = lab
        .call("9000")
        .var("pivot_socket_mode", "static")
        .voice_url(&lab.url("/voice"))
        .start()
        .await;
    let created = call
        .wait_b(SECS(20), "CHANNEL_CREATE", |e| is(e, "CHANNEL_CREATE"))
        .await;
    let playing = call
        .wait_b(SECS(20), "PLAYBACK_START", |e| is(e, "PLAYBACK_START"))
        .await;
    let first_audio = ms_between(&created, &playing);
    assert!(
        first_audio <= 40,
        "the tone started {first_audio} ms after CHANNEL_CREATE"
    );
    let parked = call.b_events().await.iter().any(|e| is(e, "CHANNEL_PARK"));
    assert!(!parked, "a static socket never parks the channel");
    let hangup = call.b_hangup(SECS(10)).await;
    assert_eq!(hangup.hangup_cause(), Some("NORMAL_CLEARING"));
    call.gone(SECS(10)).await;
    lab.finish().await;
}

/// A key during a 25 s spoken prompt before collect_dtmf: FreeSWITCH stops it (pivot set
/// playback_terminators=any around it), the key is collected, the branch runs.
#[tokio::test]
async fn static_mode_barge_in_a_key_stops_the_prompt_and_is_collected() {
    let Some(lab) = Lab::start("static_barge_in").await else {
        return;
    };
    let flow = serde_json::json!({
        "module": "tts", "data": {"text": LONG_TEXT},
        "children": {"_": {"module": "collect_dtmf", "data": {"max_digits": 1, "timeout": 3000},
            "children": {"5": say("Five."), "_": say("Nothing.")}}}
    });
    lab.web.script("/voice", [Reply::json(&flow.to_string())]);
    let call = lab
        .call("9000")
        .var("pivot_socket_mode", "static")
        .voice_url(&lab.url("/voice"))
        .start()
        .await;
    let started = call.app_started("speak", SECS(20)).await;
    call.press("5").await;
    let done = call.app_done("speak", SECS(40)).await;
    assert!(
        ms_between(&started, &done) < 10_000,
        "speak ran {} ms: the key did not stop it",
        ms_between(&started, &done)
    );
    call.wait_b(SECS(20), "Five.", |e| {
        is(e, "CHANNEL_EXECUTE_COMPLETE") && e.application_data() == Some("flite|slt|Five.")
    })
    .await;
    call.b_hangup(SECS(10)).await;
    call.caller_hangs_up_if_up().await;
    call.gone(SECS(10)).await;
    lab.finish().await;
}

/// Keys pressed after the prompt reach pivot through `sleep` (sleep_eat_digits): the
/// caller (extension 9002) sends 42# a moment after the short prompt.
#[tokio::test]
async fn static_mode_digits_after_the_prompt_go_into_the_next_request() {
    let Some(lab) = Lab::start("static_digits").await else {
        return;
    };
    let flow = serde_json::json!({
        "module": "say", "data": {"text": "Code."},
        "children": {"_": {"module": "collect_dtmf",
            "data": {"max_digits": 4, "timeout": 8000, "interdigit_timeout": 3000},
            "children": {"_": {"module": "pivot", "data": {"voice_url": lab.url("/code")}}}}}
    });
    lab.web.script("/voice", [Reply::json(&flow.to_string())]);
    lab.web
        .script("/code", [Reply::json(&say("Thank you.").to_string())]);
    let call = lab
        .call("9000")
        .var("pivot_socket_mode", "static")
        .var("caller_dtmf", "42#")
        .var("caller_dtmf_delay_ms", "2500")
        .caller("9002")
        .voice_url(&lab.url("/voice"))
        .start()
        .await;
    call.wait_b(SECS(30), "Thank you.", |e| {
        is(e, "CHANNEL_EXECUTE_COMPLETE") && e.application_data() == Some("flite|slt|Thank you.")
    })
    .await;
    let code = lab.web.requests_to("/code");
    assert_eq!(code.len(), 1);
    assert_eq!(code[0].param("Digits[default]").as_deref(), Some("42"));
    call.b_hangup(SECS(10)).await;
    call.caller_hangs_up_if_up().await;
    call.gone(SECS(10)).await;
    lab.finish().await;
}
