//! TwiML on the real switch: Say → Redirect → Play (the media fetched by mod_http_cache from
//! the web app), `<Dial>` to the test extensions (answered, unanswered with its timeout,
//! busy, the caller hanging up during it) with the DialCallStatus and CallStatus the action
//! request carries, and `<Reject>` before the answer.

use std::time::Duration;

use crate::calls::{is, ms_between, Call};
use crate::gather::twiml;
use crate::lab::Lab;
use crate::voicemail::{check_sequence, sequence_of};
use crate::web::{Reply, Request};

const SECS: fn(u64) -> Duration = Duration::from_secs;

/// Half a second of a 440 Hz tone as an 8 kHz 16-bit mono WAV file.
fn beep_wav() -> Vec<u8> {
    let samples: Vec<i16> = (0..4000)
        .map(|i| ((i as f64 * 440.0 * std::f64::consts::TAU / 8000.0).sin() * 8000.0) as i16)
        .collect();
    let data_len = (samples.len() * 2) as u32;
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&8000u32.to_le_bytes());
    wav.extend_from_slice(&16000u32.to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        wav.extend_from_slice(&s.to_le_bytes());
    }
    wav
}

/// The requests to `path` once there are `n` (bounded wait).
async fn requests_to(lab: &Lab, path: &str, n: usize) -> Vec<Request> {
    let deadline = tokio::time::Instant::now() + SECS(90);
    loop {
        let reqs = lab.web.requests_to(path);
        if reqs.len() >= n || tokio::time::Instant::now() > deadline {
            return reqs;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn end(lab: Lab, call: &Call) {
    call.b_hangup(SECS(30)).await;
    call.caller_hangs_up_if_up().await;
    call.gone(SECS(10)).await;
    lab.finish().await;
}

#[tokio::test]
async fn twiml_say_redirect_play_fetches_and_plays_the_media() {
    let Some(lab) = Lab::start("say_redirect_play").await else {
        return;
    };
    lab.web.script(
        "/voice",
        [twiml(
            "<Say>Hello.</Say><Redirect>/second</Redirect><Say>never</Say>",
        )],
    );
    lab.web
        .script("/second", [twiml("<Play>/media/beep.wav</Play>")]);
    lab.web.script(
        "/media/beep.wav",
        [Reply::new(200, "audio/wav", beep_wav())],
    );
    let call = lab.call("9000").twiml_url(&lab.url("/voice")).start().await;
    let b = call.b_uuid().await;
    let hello = call.app_done("speak", SECS(20)).await;
    assert_eq!(hello.application_data(), Some("flite|slt|Hello."));
    let played = call.app_done("playback", SECS(20)).await;
    let url = lab.url("/media/beep.wav");
    assert_eq!(
        played.application_data(),
        Some(&*format!("http_cache://{url}"))
    );
    assert_eq!(played.application_response(), Some("FILE PLAYED"));
    // FreeSWITCH itself fetched the media (mod_http_cache), after pivot asked for /second.
    let media = requests_to(&lab, "/media/beep.wav", 1).await;
    assert_eq!(media.len(), 1);
    assert!(
        media[0]
            .header("user-agent")
            .unwrap_or("")
            .contains("freeswitch"),
        "{media:?}"
    );
    let second = lab.web.requests_to("/second");
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].method, "POST", "Redirect defaults to POST");
    assert_eq!(
        second[0].param("CallStatus").as_deref(),
        Some("in-progress")
    );
    let apps = call.b_apps().await;
    assert!(!apps.iter().any(|(_, d)| d.contains("never")), "{apps:?}");
    end_with_sequence(
        lab,
        &call,
        &b,
        "say_redirect_play",
        "TwiML <Say> then <Redirect> to a document with <Play> of a WAV the web app serves.",
    )
    .await;
}

async fn end_with_sequence(lab: Lab, call: &Call, b: &str, scenario: &str, about: &str) {
    call.b_hangup(SECS(30)).await;
    call.caller_hangs_up_if_up().await;
    call.gone(SECS(10)).await;
    let got = sequence_of(&lab, b);
    check_sequence(&lab, scenario, about, &got);
    lab.finish().await;
}

/// `<Dial action="/dialed">` to `target` and the action request it ends with.
async fn dial(lab: &Lab, target: &str, attrs: &str) -> (Call, Request) {
    lab.web.script(
        "/voice",
        [twiml(&format!(
            r#"<Dial action="/dialed"{attrs}>{target}</Dial><Say>never</Say>"#
        ))],
    );
    lab.web.script("/dialed", [twiml("<Hangup/>")]);
    let call = lab.call("9000").twiml_url(&lab.url("/voice")).start().await;
    let dialed = requests_to(lab, "/dialed", 1).await;
    assert_eq!(
        dialed.len(),
        1,
        "no action request\n{}",
        lab.events.summary()
    );
    (call, dialed[0].clone())
}

#[tokio::test]
async fn twiml_dial_answered_reports_completed_and_the_call_in_progress() {
    let Some(lab) = Lab::start("dial_answered").await else {
        return;
    };
    let (call, dialed) = dial(&lab, "9010", r#" timeout="10""#).await;
    let b = call.b_uuid().await;
    let bridge = call.app_done("bridge", SECS(5)).await;
    assert_eq!(
        bridge.application_data(),
        // leg_timeout: FreeSWITCH 1.10 ignores call_timeout inside a dial string.
        Some("{leg_timeout=10}loopback/9010/default")
    );
    assert_eq!(bridge.variable("DIALSTATUS"), Some("SUCCESS"));
    assert_eq!(dialed.param("DialCallStatus").as_deref(), Some("completed"));
    // The bridge answered the caller's channel: the call is in progress (issue 9).
    assert_eq!(
        dialed.param("CallStatus").as_deref(),
        Some("in-progress"),
        "after an answered bridge the call is no longer ringing"
    );
    let answers = call
        .b_events()
        .await
        .iter()
        .filter(|e| is(e, "CHANNEL_EXECUTE") && e.application() == Some("answer"))
        .count();
    assert_eq!(
        answers, 0,
        "no redundant answer after the bridge answered the call"
    );
    end_with_sequence(
        lab,
        &call,
        &b,
        "dial_answered",
        "TwiML <Dial timeout=10> to 9010 (answers, 2 s, hangs up); the action answers <Hangup/>.",
    )
    .await;
}

#[tokio::test]
async fn twiml_dial_unanswered_ends_at_its_timeout_with_no_answer() {
    let Some(lab) = Lab::start("dial_no_answer").await else {
        return;
    };
    let (call, dialed) = dial(&lab, "9011", r#" timeout="3""#).await;
    let started = call.app_started("bridge", SECS(5)).await;
    let done = call.app_done("bridge", SECS(5)).await;
    let rang = ms_between(&started, &done);
    assert_eq!(dialed.param("DialCallStatus").as_deref(), Some("no-answer"));
    assert!(
        rang < 10_000,
        "<Dial timeout=\"3\"> rang for {rang} ms (the timeout was ignored)"
    );
    end(lab, &call).await;
}

#[tokio::test]
async fn twiml_dial_busy_reports_busy() {
    let Some(lab) = Lab::start("dial_busy").await else {
        return;
    };
    let (call, dialed) = dial(&lab, "9012", "").await;
    let done = call.app_done("bridge", SECS(5)).await;
    assert_eq!(done.variable("DIALSTATUS"), Some("BUSY"));
    assert_eq!(dialed.param("DialCallStatus").as_deref(), Some("busy"));
    end(lab, &call).await;
}

/// Twilio requests the action when the Dial ends, even when the caller hung up.
#[tokio::test]
async fn twiml_dial_the_caller_hangs_up_and_the_action_is_still_requested() {
    let Some(lab) = Lab::start("dial_caller_hangs_up").await else {
        return;
    };
    lab.web.script(
        "/voice",
        [twiml(r#"<Dial action="/dialed" timeout="10">9010</Dial>"#)],
    );
    lab.web.script("/dialed", [twiml("<Hangup/>")]);
    let call = lab
        .call("9000")
        .twiml_url(&lab.url("/voice"))
        .var("target_ms", "30000")
        .start()
        .await;
    call.wait_b(SECS(20), "CHANNEL_BRIDGE", |e| is(e, "CHANNEL_BRIDGE"))
        .await;
    call.caller_hangs_up().await;
    let bridge = call.app_done("bridge", SECS(10)).await;
    assert_eq!(bridge.variable("DIALSTATUS"), Some("SUCCESS"));
    let dialed = requests_to(&lab, "/dialed", 1).await;
    assert_eq!(
        dialed.len(),
        1,
        "the action was not requested after the caller hung up"
    );
    assert_eq!(dialed[0].param("CallStatus").as_deref(), Some("completed"));
    assert_eq!(
        dialed[0].param("DialCallStatus").as_deref(),
        Some("completed")
    );
    end(lab, &call).await;
}

#[tokio::test]
async fn twiml_reject_responds_before_answer_and_the_caller_sees_busy() {
    let Some(lab) = Lab::start("reject").await else {
        return;
    };
    lab.web.script(
        "/voice",
        [twiml(r#"<Reject reason="busy"/><Say>never</Say>"#)],
    );
    let call = lab.call("9000").twiml_url(&lab.url("/voice")).start().await;
    let b = call.b_uuid().await;
    let respond = call.app_done("respond", SECS(10)).await;
    assert_eq!(respond.application_data(), Some("486 Busy Here"));
    let hangup = call.b_hangup(SECS(10)).await;
    assert_eq!(hangup.hangup_cause(), Some("USER_BUSY"));
    let events = call.b_events().await;
    assert!(
        !events.iter().any(|e| is(e, "CHANNEL_ANSWER")),
        "answered before the reject"
    );
    let result = call.originate_result(SECS(10)).await;
    assert_eq!(result.trim(), "-ERR USER_BUSY");
    let voice = lab.web.requests_to("/voice");
    assert_eq!(voice[0].param("CallStatus").as_deref(), Some("ringing"));
    call.gone(SECS(10)).await;
    let got = sequence_of(&lab, &b);
    check_sequence(
        &lab,
        "reject",
        "TwiML <Reject reason=\"busy\"/> on a ringing call.",
        &got,
    );
    lab.finish().await;
}
