//! The mod_httapi baseline (extension 9020): FreeSWITCH asks the web app itself and runs
//! the XML it gets back. Not pivot: this proves the comparison extension of
//! freeswitch-conf works ("fetch a flow, play a 200 ms tone, hang up", issue 10).

use std::time::Duration;

use crate::calls::{is, ms_between};
use crate::lab::Lab;
use crate::web::Reply;

const SECS: fn(u64) -> Duration = Duration::from_secs;

/// The httapi document of the comparison flow (extension 9020 answered the call first:
/// an `<answer/>` here would end the document).
pub const TONE_THEN_HANGUP: &str = r#"<document type="xml/freeswitch-httapi">
  <work>
    <playback file="tone_stream://%(200,0,440)"/>
    <hangup/>
  </work>
</document>"#;

#[tokio::test]
async fn httapi_extension_fetches_the_document_plays_the_tone_and_hangs_up() {
    let Some(lab) = Lab::start("httapi").await else {
        return;
    };
    lab.web
        .script("/httapi", [Reply::new(200, "text/xml", TONE_THEN_HANGUP)]);
    let call = lab
        .call("9020")
        .var("httapi_url", &lab.url("/httapi"))
        .start()
        .await;
    let start = call
        .wait_b(SECS(20), "PLAYBACK_START", |e| is(e, "PLAYBACK_START"))
        .await;
    let stop = call
        .wait_b(SECS(20), "PLAYBACK_STOP", |e| is(e, "PLAYBACK_STOP"))
        .await;
    assert_eq!(
        stop.header("Playback-File-Path"),
        Some("tone_stream://%(200,0,440)")
    );
    let played = ms_between(&start, &stop);
    assert!(
        (150..1000).contains(&played),
        "the 200 ms tone played {played} ms"
    );
    let hangup = call.b_hangup(SECS(10)).await;
    assert_eq!(hangup.hangup_cause(), Some("NORMAL_CLEARING"));
    call.wait_b(SECS(1), "CHANNEL_ANSWER", |e| is(e, "CHANNEL_ANSWER"))
        .await;
    // The document, then the notice httapi posts when the call ends (exiting=true).
    let reqs = lab.web.requests_to("/httapi");
    assert_eq!(reqs.len(), 2, "{reqs:#?}");
    assert!(reqs.iter().all(|r| r.method == "POST"));
    let b = call.b_uuid().await;
    assert_eq!(reqs[0].param("session_id").as_deref(), Some(b.as_str()));
    assert_eq!(reqs[0].param("exiting"), None);
    assert_eq!(reqs[1].param("exiting").as_deref(), Some("true"));
    assert!(lab.proxy.conns().is_empty(), "pivot took no part");
    call.caller_hangs_up_if_up().await;
    call.gone(SECS(10)).await;
    lab.finish().await;
}
