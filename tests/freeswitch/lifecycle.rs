//! pivot going away with calls on the real switch: a graceful shutdown (calls in progress
//! finish, new ones get the dialplan's fallback), the shutdown deadline, and pivot killed
//! (SIGKILL) between applications and in the middle of a long playback. Every way must end
//! the call on the switch in bounded time.

use std::time::Duration;

use crate::calls::{is, ms_between};
use crate::lab::Lab;
use crate::web::Reply;

const SECS: fn(u64) -> Duration = Duration::from_secs;

fn chain(nodes: Vec<serde_json::Value>) -> String {
    nodes
        .into_iter()
        .rev()
        .fold(serde_json::Value::Null, |next, mut node| {
            if !next.is_null() {
                node["children"] = serde_json::json!({ "_": next });
            }
            node
        })
        .to_string()
}

fn say(text: &str) -> serde_json::Value {
    serde_json::json!({"module": "say", "data": {"text": text}})
}

fn tone(ms: u64) -> serde_json::Value {
    serde_json::json!({"module": "play", "data": {"id": format!("tone_stream://%({ms},0,440)")}})
}

#[tokio::test]
async fn graceful_shutdown_lets_calls_in_progress_finish() {
    let Some(mut lab) = Lab::start("graceful_shutdown").await else {
        return;
    };
    let flow = chain(vec![say("One moment."), tone(4000), say("Done.")]);
    lab.web.script("/voice", [Reply::json(&flow)]);
    let first = lab.call("9000").voice_url(&lab.url("/voice")).start().await;
    let second = lab.call("9000").voice_url(&lab.url("/voice")).start().await;
    first.app_started("playback", SECS(20)).await;
    second.app_started("playback", SECS(20)).await;
    lab.pivot.sigterm();

    // A call that arrives now is not pivot's any more: the dialplan's fallback takes it.
    let late = lab.call("9000").voice_url(&lab.url("/voice")).start().await;
    let fallback = late.app_started("playback", SECS(20)).await;
    assert_eq!(fallback.variable("pivot_fallback"), Some("true"));

    // The calls in progress run to the end of their flow.
    for call in [&first, &second] {
        let done = call
            .wait_b(SECS(20), "the last prompt", |e| {
                is(e, "CHANNEL_EXECUTE_COMPLETE") && e.application_data() == Some("flite|slt|Done.")
            })
            .await;
        assert_eq!(done.hangup_cause(), None, "finished, not cut");
        let hangup = call.b_hangup(SECS(10)).await;
        assert_eq!(hangup.hangup_cause(), Some("NORMAL_CLEARING"));
    }
    assert_eq!(lab.pivot.wait_exit(SECS(20)).await, Some(0));
    late.b_hangup(SECS(20)).await;
    for call in [&first, &second, &late] {
        call.caller_hangs_up_if_up().await;
        call.gone(SECS(10)).await;
    }
    lab.finish().await;
}

#[tokio::test]
async fn shutdown_deadline_hangs_up_a_call_still_playing() {
    let Some(mut lab) = Lab::start_with("shutdown_deadline", "", SECS(2)).await else {
        return;
    };
    // pivot waits for the playback before it asks /next: nothing is queued behind it. (What
    // pivot had queued when it died still runs: a queued prompt and its hangup end the call
    // as the flow meant.)
    let next = serde_json::json!({"module": "pivot", "data": {"voice_url": lab.url("/next")}});
    lab.web
        .script("/voice", [Reply::json(&chain(vec![tone(60_000), next]))]);
    let call = lab.call("9000").voice_url(&lab.url("/voice")).start().await;
    let playing = call
        .wait_b(SECS(20), "PLAYBACK_START", |e| is(e, "PLAYBACK_START"))
        .await;
    lab.pivot.sigterm();
    let hangup = call.b_hangup(SECS(30)).await;
    let lasted = ms_between(&playing, &hangup);
    assert!(
        lasted < 15_000,
        "hung up {lasted} ms into a 60 s playback, grace 2 s"
    );
    assert_eq!(lab.pivot.wait_exit(SECS(20)).await, Some(0));
    call.caller_hangs_up_if_up().await;
    call.gone(SECS(10)).await;
    lab.finish().await;
}

/// The dialplan went on after `socket`: the fallback's marker is on the channel.
async fn assert_fallback_ran(call: &crate::calls::Call) {
    call.wait_b(SECS(5), "the fallback (pivot_fallback=true)", |e| {
        e.variable("pivot_fallback") == Some("true")
    })
    .await;
}

/// SIGKILL while pivot waits for the web app (nothing runs on the channel).
#[tokio::test]
async fn pivot_killed_between_applications_the_call_ends() {
    let Some(mut lab) = Lab::start("killed_between_apps").await else {
        return;
    };
    let flow = serde_json::json!({
        "module": "say", "data": {"text": "Hello."},
        "children": {"_": {"module": "pivot", "data": {"voice_url": lab.url("/slow")}}}
    });
    lab.web.script("/voice", [Reply::json(&flow.to_string())]);
    lab.web.script("/slow", [Reply::slow(SECS(30))]);
    let call = lab.call("9000").voice_url(&lab.url("/voice")).start().await;
    let said = call.app_done("speak", SECS(20)).await;
    lab.web.wait_for_requests(2).await;
    lab.pivot.sigkill().await;
    let hangup = call.b_hangup(SECS(60)).await;
    let lasted = ms_between(&said, &hangup);
    assert!(
        lasted < 15_000,
        "the call lasted {lasted} ms after pivot was killed"
    );
    assert_fallback_ran(&call).await;
    call.caller_hangs_up_if_up().await;
    call.gone(SECS(10)).await;
    lab.finish().await;
}

/// SIGKILL during a 60 s playback. Without socket_resume=true FreeSWITCH 1.10.12 plays the
/// whole minute before the dialplan goes on (issue 9); with it (freeswitch-conf) the
/// playback stops at once and the fallback ends the call.
#[tokio::test]
async fn pivot_killed_mid_playback_the_call_ends_in_bounded_time() {
    let Some(mut lab) = Lab::start("killed_mid_playback").await else {
        return;
    };
    // pivot waits for the playback before it asks /next: nothing is queued behind it. (What
    // pivot had queued when it died still runs: a queued prompt and its hangup end the call
    // as the flow meant.)
    let next = serde_json::json!({"module": "pivot", "data": {"voice_url": lab.url("/next")}});
    lab.web
        .script("/voice", [Reply::json(&chain(vec![tone(60_000), next]))]);
    let call = lab.call("9000").voice_url(&lab.url("/voice")).start().await;
    let playing = call
        .wait_b(SECS(20), "PLAYBACK_START", |e| is(e, "PLAYBACK_START"))
        .await;
    lab.pivot.sigkill().await;
    let hangup = call.b_hangup(SECS(90)).await;
    let lasted = ms_between(&playing, &hangup);
    assert!(
        lasted < 30_000,
        "the call went on {lasted} ms into a 60 s playback after pivot was killed"
    );
    // socket_resume=true (freeswitch-conf): the playback stopped when the connection
    // dropped and the dialplan's fallback ended the call.
    assert_fallback_ran(&call).await;
    call.caller_hangs_up_if_up().await;
    call.gone(SECS(10)).await;
    lab.finish().await;
}
