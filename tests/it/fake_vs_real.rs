//! The fakes stay honest: each scenario the conformance suite (tests/freeswitch) ran on a
//! real FreeSWITCH 1.10.12 is run here against the fake FreeSWITCH, and pivot must send the
//! same commands to both (application names and arguments, uuids and the web app's address
//! left out). The real sequences are fixtures/conformance/<scenario>.commands, written by
//! the conformance suite with `PIVOT_TEST_UPDATE_SEQUENCES=1`. A difference means pivot
//! reacts to the fake differently from the real switch: teach the fake, or re-record.

use std::time::Duration;

use crate::harness::Pivot;
use crate::support::fake_fs::{AppScript, FakeCall, FakeFs};
use crate::support::transcript::Transcript;
use crate::support::web::{Reply, WebApp};

#[path = "../freeswitch/sequence.rs"]
mod sequence;

const MS: fn(u64) -> Duration = Duration::from_millis;

/// A call like the suite's: to 9000, still ringing when pivot gets it (a loopback B leg
/// is answered by pivot), routed by channel variables, debug on.
fn call(voice_url: &str) -> FakeCall {
    FakeCall::new()
        .destination("9000")
        .unanswered()
        .var("pivot_voice_url", voice_url)
        .var("pivot_debug", "true")
}

fn twiml_call(voice_url: &str) -> FakeCall {
    call(voice_url)
        .var("pivot_req_format", "twiml")
        .var("pivot_method", "POST")
}

fn twiml(verbs: &str) -> Reply {
    Reply::xml(&format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response>{verbs}</Response>"
    ))
}

/// Runs `call`, then compares pivot's commands with the real switch's.
async fn assert_same_as_real(scenario: &str, web: &WebApp, call: FakeCall) {
    let pivot = Pivot::start().await;
    let t: Transcript = FakeFs::connect(pivot.esl, call).await.finish().await;
    pivot.stop().await;
    let raw: Vec<u8> = t.frames.iter().flat_map(|f| f.raw().to_vec()).collect();
    let got = sequence::normalize(&sequence::commands(&raw), &t.uuid, &web.url(""));
    let expected = sequence::read_fixture(scenario)
        .unwrap_or_else(|| panic!("fixtures/conformance/{scenario}.commands is missing"));
    if let Some(diff) = sequence::difference(&expected, &got) {
        panic!("{scenario}: pivot sent the fake other commands than the real switch\n{diff}\n{t}");
    }
}

#[tokio::test]
async fn voicemail_same_commands_as_on_the_real_switch() {
    let web = WebApp::start().await;
    let flow = serde_json::json!({
        "module": "say",
        "data": {"text": "Please leave a message after the beep."},
        "children": {"_": {
            "module": "record_caller",
            "data": {"url": web.url("/recordings"), "format": "mp3", "time_limit": 360}
        }}
    });
    web.script("/voice", [Reply::json(&flow.to_string())]);
    let c = call(&web.url("/voice")).hangup_when_app_starts("record");
    assert_same_as_real("voicemail", &web, c).await;
}

#[tokio::test]
async fn collect_dtmf_same_commands_as_on_the_real_switch() {
    let web = WebApp::start().await;
    let flow = serde_json::json!({
        "module": "say", "data": {"text": "For sales press 1. For support press 2."},
        "children": {"_": {
            "module": "collect_dtmf",
            "data": {"max_digits": 1, "collection_name": "menu", "timeout": 5000},
            "children": {
                "1": {"module": "say", "data": {"text": "sales"}},
                "2": {"module": "pivot", "data": {"voice_url": web.url("/support")}},
                "_": {"module": "say", "data": {"text": "nothing"}}
            }
        }}
    });
    web.script("/voice", [Reply::json(&flow.to_string())]);
    let thanks = r#"{"module": "say", "data": {"text": "Support, thank you."}}"#;
    web.script("/support", [Reply::json(thanks)]);
    // As on the switch: the prompt lasts about 3 s, the caller sends 2 half a second in.
    let prompt = AppScript::new(MS(3000), "_none_").dtmf(MS(500), '2');
    let c = call(&web.url("/voice")).app("speak", prompt);
    assert_same_as_real("collect_dtmf", &web, c).await;
}

#[tokio::test]
async fn gather_same_commands_as_on_the_real_switch() {
    let web = WebApp::start().await;
    web.script(
        "/voice",
        [twiml(r#"<Gather action="/digits" numDigits="2"><Say>Enter two digits.</Say></Gather><Say>No input.</Say>"#)],
    );
    web.script("/digits", [twiml("<Say>Thanks.</Say><Hangup/>")]);
    let prompt = AppScript::new(MS(1500), "_none_")
        .dtmf(MS(500), '4')
        .dtmf(MS(600), '2');
    let c = twiml_call(&web.url("/voice")).app("speak", prompt);
    assert_same_as_real("gather", &web, c).await;
}

#[tokio::test]
async fn say_redirect_play_same_commands_as_on_the_real_switch() {
    let web = WebApp::start().await;
    web.script(
        "/voice",
        [twiml(
            "<Say>Hello.</Say><Redirect>/second</Redirect><Say>never</Say>",
        )],
    );
    web.script("/second", [twiml("<Play>/media/beep.wav</Play>")]);
    assert_same_as_real("say_redirect_play", &web, twiml_call(&web.url("/voice"))).await;
}

#[tokio::test]
async fn reject_same_commands_as_on_the_real_switch() {
    let web = WebApp::start().await;
    web.script(
        "/voice",
        [twiml(r#"<Reject reason="busy"/><Say>never</Say>"#)],
    );
    assert_same_as_real("reject", &web, twiml_call(&web.url("/voice"))).await;
}

#[tokio::test]
async fn hangup_mid_prompt_same_commands_as_on_the_real_switch() {
    let web = WebApp::start().await;
    let text = "This is a long prompt that goes on and on so that a key pressed \
near its start can be told apart from its natural end. It keeps talking about nothing in \
particular, one sentence after the other, the way hold messages do, telling you that your \
call is important, that every agent is busy, that you may press a key at any time, and that \
you will be answered in the order your call was received, which is to say not very soon.";
    let flow = serde_json::json!({
        "module": "tts", "data": {"text": text},
        "children": {"_": {"module": "say", "data": {"text": "never"}}}
    });
    web.script("/voice", [Reply::json(&flow.to_string())]);
    let prompt = AppScript::new(Duration::from_secs(25), "_none_");
    let c = call(&web.url("/voice"))
        .app("speak", prompt)
        .hangup_when_app_starts("speak");
    assert_same_as_real("hangup_mid_prompt", &web, c).await;
}
