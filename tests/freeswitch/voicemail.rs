//! The seed voicemail flow on the real switch (speech, beep, an mp3 recording uploaded by
//! FreeSWITCH, three debug records), and the caller hanging up in the middle of it.

use std::time::Duration;

use crate::calls::{is, ms_between};
use crate::lab::Lab;
use crate::web::Reply;

const SECS: fn(u64) -> Duration = Duration::from_secs;

/// The Pivot voicemail example of the contract.
pub fn voicemail(upload: &str) -> String {
    serde_json::json!({
        "module": "say",
        "data": {"text": "Please leave a message after the beep."},
        "children": {"_": {
            "module": "record_caller",
            "data": {"url": upload, "format": "mp3", "time_limit": 360}
        }}
    })
    .to_string()
}

/// An mp3 file starts with an ID3 tag or an MPEG frame sync.
fn looks_like_mp3(bytes: &[u8]) -> bool {
    bytes.starts_with(b"ID3") || (bytes.len() > 1 && bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0)
}

/// The command sequence pivot sent on the lab's first call, normalized.
pub fn sequence_of(lab: &Lab, call: &str) -> Vec<String> {
    let conns = lab.proxy.conns();
    let cmds = crate::sequence::commands(&conns[0].server_sent);
    crate::sequence::normalize(&cmds, call, &lab.url(""))
}

/// Compares the sequence with fixtures/conformance/<scenario>.commands, or rewrites it.
pub fn check_sequence(lab: &Lab, scenario: &str, about: &str, got: &[String]) {
    if lab.settings.update_sequences {
        crate::sequence::write_fixture(scenario, about, got);
        return;
    }
    match crate::sequence::read_fixture(scenario) {
        None => panic!(
            "no fixtures/conformance/{scenario}.commands: run once with PIVOT_TEST_UPDATE_SEQUENCES=1"
        ),
        Some(expected) => {
            if let Some(diff) = crate::sequence::difference(&expected, got) {
                panic!(
                    "pivot's commands on the real switch are not the recorded ones \
                     (re-record with PIVOT_TEST_UPDATE_SEQUENCES=1 if pivot changed on purpose):\n{diff}"
                );
            }
        }
    }
}

#[tokio::test]
async fn seed_voicemail_speech_beep_mp3_upload_and_debug_records() {
    let Some(lab) = Lab::start("voicemail").await else {
        return;
    };
    lab.web
        .script("/voice", [Reply::json(&voicemail(&lab.url("/recordings")))]);
    let call = lab
        .call("9000")
        .voice_url(&lab.url("/voice"))
        .caller("9003")
        .start()
        .await;
    let b = call.b_uuid().await;

    // Speech, then the beep, then the recording into /tmp/<call-id>.mp3.
    let speak = call.app_done("speak", SECS(20)).await;
    assert_eq!(
        speak.application_data(),
        Some("flite|slt|Please leave a message after the beep.")
    );
    let beep = call
        .wait_b(SECS(10), "the beep's PLAYBACK_STOP", |e| {
            is(e, "PLAYBACK_STOP")
        })
        .await;
    assert_eq!(
        beep.header("Playback-File-Path"),
        Some("tone_stream://%(250,0,800)")
    );
    let record = call.app_started("record", SECS(10)).await;
    let file = format!("/tmp/{b}.mp3");
    assert_eq!(
        record.application_data(),
        Some(&*format!("{file} 360 200 5"))
    );
    call.wait_b(SECS(10), "RECORD_START", |e| is(e, "RECORD_START"))
        .await;

    // The caller talks for 3 seconds, then hangs up: the usual end of a voicemail.
    tokio::time::sleep(SECS(3)).await;
    call.caller_hangs_up().await;
    let stop = call
        .wait_b(SECS(10), "RECORD_STOP", |e| is(e, "RECORD_STOP"))
        .await;
    assert!(ms_between(&record, &stop) >= 2500, "recorded about 3 s");

    // FreeSWITCH uploaded the mp3 (http_put, run by pivot after the hangup).
    let uploads = {
        let mut web = lab.web.wait_for_requests(2).await;
        web.retain(|r| r.method == "PUT");
        web
    };
    assert_eq!(uploads.len(), 1, "{uploads:#?}");
    assert_eq!(uploads[0].path, format!("/recordings/{b}.mp3"));
    assert!(
        uploads[0].body.len() > 1000,
        "{} bytes",
        uploads[0].body.len()
    );
    assert!(
        looks_like_mp3(&uploads[0].body),
        "not an mp3: {:?}",
        &uploads[0].body[..16]
    );

    // The request's three debug records: request, response body, response head.
    let records = lab.pivot.debug_records(&b, 3).await;
    assert_eq!(records.len(), 3, "{records:#?}");

    call.gone(SECS(10)).await;
    let got = sequence_of(&lab, &b);
    check_sequence(
        &lab,
        "voicemail",
        "The seed voicemail flow: say, then record_caller (mp3); the caller hangs up 3 s\ninto the recording.",
        &got,
    );
    lab.finish().await;
}
