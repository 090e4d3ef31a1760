//! Self-tests of what the fake does for `<Dial>`'s extras, as FreeSWITCH 1.10 does them:
//! the caller's `bridge_terminate_key` ends a bridge (mod_dptools' bridge_on_dtmf),
//! `uuid_setvar` without a value removes a variable (mod_commands), and `record_session`
//! records until `stop_record_session` or the hangup, whose close sets `record_ms`...
#![allow(clippy::unwrap_used)] // tests may unwrap

use super::fake_fs::AppScript;
use super::selftest::fc;
use super::selftest_ctl::{start, Ctl};
use std::time::Duration;

const A: &str = "7d1f1f0e-3c55-4c0c-9a53-2c7b7a1c0d11";
const B: &str = "a2b1c3d4-0e9f-4a8b-b7c6-d5e4f3a2b1c0";

fn long_bridge() -> AppScript {
    AppScript::new(Duration::from_secs(30), "_none_")
        .var("DIALSTATUS", "SUCCESS")
        .var("originate_disposition", "SUCCESS")
}

/// The frames up to the EXECUTE_COMPLETE of `app` (which is the last one).
async fn until_complete(c: &mut Ctl, app: &str) -> Vec<String> {
    c.labels_until(&format!("EV CHANNEL_EXECUTE_COMPLETE {app}"))
        .await
}

#[tokio::test]
async fn the_callers_terminate_key_ends_the_bridge_and_an_empty_setvar_removes_it() {
    let (mut c, handle) = start(fc().app("bridge", long_bridge())).await;
    c.handshake("linger").await;
    let uuid = handle.uuid().to_string();
    c.send(&format!(
        "api uuid_setvar {uuid} bridge_terminate_key *\n\n"
    ))
    .await;
    assert_eq!(c.label().await, "API +OK");
    c.execute("bridge", "{leg_timeout=5}sofia/gateway/carrier/1000", A)
        .await;
    c.labels_until("EV CHANNEL_EXECUTE bridge").await;
    handle.send_dtmf('1');
    assert_eq!(
        c.label().await,
        "EV DTMF",
        "1 is passed on, the bridge goes on"
    );
    handle.send_dtmf('*');
    let labels = until_complete(&mut c, "bridge").await;
    assert_eq!(
        labels,
        ["EV DTMF", "EV CHANNEL_EXECUTE_COMPLETE bridge _none_"]
    );
    // Removed: a star no longer ends the next bridge.
    c.send(&format!("api uuid_setvar {uuid} bridge_terminate_key\n\n"))
        .await;
    assert_eq!(c.label().await, "API +OK");
    c.execute("bridge", "{leg_timeout=5}sofia/gateway/carrier/1000", B)
        .await;
    c.labels_until("EV CHANNEL_EXECUTE bridge").await;
    handle.send_dtmf('*');
    assert_eq!(c.label().await, "EV DTMF");
    handle.hangup_now();
    drop(c);
    let t = handle.finish().await;
    assert_eq!(t.apps[1].response.as_deref(), Some("_none_"));
}

#[tokio::test]
async fn record_session_closes_on_stop_or_hangup_with_its_variables() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dial.wav").to_string_lossy().into_owned();
    let (mut c, handle) = start(fc()).await;
    c.handshake("linger").await;
    c.execute(
        "record_session",
        &format!("{path} {{RECORD_BRIDGE_REQ=true}}"),
        A,
    )
    .await;
    let labels = until_complete(&mut c, "record_session").await;
    assert_eq!(labels.len(), 3, "{labels:?}");
    assert!(std::fs::metadata(&path).is_err(), "open until stopped");
    c.execute("stop_record_session", &path, B).await;
    let done = loop {
        let f = c.frame().await;
        if f.label()
            .starts_with("EV CHANNEL_EXECUTE_COMPLETE stop_record_session")
        {
            break f;
        }
    };
    assert_eq!(
        done.event_header("variable_record_ms").as_deref(),
        Some("5200")
    );
    assert!(std::fs::read(&path).unwrap().starts_with(b"RIFF"));
    std::fs::remove_file(&path).unwrap();
    // A recording still open when the call hangs up is closed by the hangup.
    c.execute("record_session", &path, A).await;
    until_complete(&mut c, "record_session").await;
    handle.hangup_now();
    let complete = loop {
        let f = c.frame().await;
        if f.label().starts_with("EV CHANNEL_HANGUP_COMPLETE") {
            break f;
        }
    };
    assert_eq!(
        complete.event_header("variable_record_seconds").as_deref(),
        Some("5")
    );
    assert!(std::fs::read(&path).unwrap().starts_with(b"RIFF"));
    drop(c);
    handle.finish().await;
}
