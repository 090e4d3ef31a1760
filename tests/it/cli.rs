//! The operator's commands: `pivot demo` (fast mode, through the library and the real
//! binary), `pivot simulate` against a scripted web app (a Piston IVR with digits, the
//! TwiML request format with digits, a failback), and `pivot check` on good and bad
//! documents; and a TwiML IVR (`<Gather>` across documents) under `simulate`.

use std::process::Output;
use std::time::Duration;

use pivot::sim::{self, DemoOptions, SimulateOptions, Source};

use crate::support::web::{Reply, WebApp};

const BIN: &str = env!("CARGO_BIN_EXE_pivot");

async fn pivot_cmd(args: &[&str], stdin: Option<&str>) -> Output {
    use tokio::io::AsyncWriteExt;
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(args)
        .env("RUST_LOG", "error")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(stdin.unwrap_or("").as_bytes())
        .await
        .unwrap();
    drop(input);
    child.wait_with_output().await.unwrap()
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Index of the first entry of `source` starting with `prefix`, after `from`.
fn find(entries: &[sim::Entry], from: usize, source: Source, prefix: &str) -> usize {
    entries
        .iter()
        .enumerate()
        .skip(from)
        .find(|(_, e)| e.source == source && e.text.starts_with(prefix))
        .map(|(i, _)| i)
        .unwrap_or_else(|| panic!("no {source:?} entry {prefix:?} after #{from}:\n{entries:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_timeline_holds_every_step_in_order() {
    let report = sim::demo(DemoOptions { fast: true }).await.unwrap();
    assert!(report.ok(), "{}", report.render());
    let e = report.timeline.entries();
    let mut i = 0;
    for (source, step) in [
        (Source::Switch, "← connect → channel data"),
        (Source::Pivot, "connected: call"),
        (Source::Pivot, "request: GET http://127.0.0.1:"),
        (Source::WebApp, "GET /voice"),
        (Source::Pivot, "response: 200"),
        (Source::Switch, "← api uuid_answer"),
        (Source::Switch, "← sendmsg execute speak flite|slt|Hello"),
        (Source::Pivot, "event: CHANNEL_EXECUTE_COMPLETE speak"),
        (Source::Switch, "← sendmsg execute playback tone_stream://"),
        (Source::Switch, "← sendmsg execute record /tmp/"),
        (Source::Switch, "the caller hangs up"),
        (Source::Switch, "→ disconnect notice (linger)"),
        (Source::Switch, "→ CHANNEL_HANGUP_COMPLETE"),
        (Source::WebApp, "PUT /recordings/"),
        (Source::Pivot, "upload: http://127.0.0.1:"),
        (Source::Pivot, "exit"),
        (Source::Switch, "← exit → +OK bye"),
    ] {
        i = find(&e, i, source, step);
    }
    // The handshake goes on while the first request is out, and ends before any
    // application is sent.
    let mut i = find(&e, 0, Source::Pivot, "connected: call");
    for step in [
        "← myevents",
        "← nixevent",
        "← linger",
        "← api sched_hangup +",
        "← api uuid_answer",
    ] {
        i = find(&e, i, Source::Switch, step);
    }
    // The record's completion carries the recording's result, after the hangup.
    let hangup = find(&e, 0, Source::Switch, "→ disconnect notice (linger)");
    find(
        &e,
        hangup,
        Source::Switch,
        "→ CHANNEL_EXECUTE_COMPLETE record",
    );
    assert!(
        e[find(&e, 0, Source::Pivot, "upload:")]
            .text
            .ends_with("-> +OK 201"),
        "{e:#?}"
    );
    // The recording arrived, named after the call, and the debug log came back.
    let call_id = &report.peer.call_id;
    assert_eq!(report.recordings.len(), 1);
    assert_eq!(report.recordings[0].name, format!("{call_id}.mp3"));
    assert_eq!(report.recordings[0].content_type, "audio/mpeg");
    let recs = &report.debug_records;
    assert_eq!(recs.len(), 3, "{recs:#?}");
    assert_eq!(recs[0]["method"], "get");
    assert!(recs[0]["uri"]
        .as_str()
        .unwrap()
        .contains(&format!("Call-ID={call_id}")));
    assert!(recs[1]["resp_body"]
        .as_str()
        .unwrap()
        .contains("record_caller"));
    assert_eq!(recs[2]["resp_status_code"], "200");
    assert_eq!(report.peer.hangup_cause.as_deref(), Some("NORMAL_CLEARING"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_binary_exits_zero_and_prints_the_story() {
    let out = pivot_cmd(&["demo", "--fast"], None).await;
    let stdout = text(&out);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "timeline of call ",
        "web app     GET /voice",
        "pivot       response: 200",
        "freeswitch  ← sendmsg execute record ",
        "pivot       upload: ",
        "recording: ",
        "PUT /v2/api_auth → 201",
        "→ 200, 3 records",
        "iteration 1  request   GET http://127.0.0.1:",
        "iteration 1  response  status 200, content-type application/json",
        "demo finished: the flow ran",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
}

/// A Piston IVR: a menu (one digit, collection `menu`), then an extension (up to 4 digits
/// ended by `#`), then goodbye.
fn script_piston_ivr(web: &WebApp) {
    let menu = serde_json::json!({
        "module": "tts", "data": {"text": "Press 1 for sales."},
        "children": {"_": {"module": "collect_dtmf",
            "data": {"max_digits": 1, "collection_name": "menu"},
            "children": {"_": {"module": "pivot", "data": {"voice_url": web.url("/ext")}}}}}
    });
    let ext = serde_json::json!({
        "module": "collect_dtmf", "data": {"max_digits": 4, "terminators": ["#"]},
        "children": {"_": {"module": "pivot", "data": {"voice_url": web.url("/bye")}}}
    });
    let bye = serde_json::json!({"module": "say", "data": {"text": "Goodbye."},
        "children": {"_": {"module": "hangup", "data": {}}}});
    web.script("/ivr", [Reply::json(&menu.to_string())]);
    web.script("/ext", [Reply::json(&ext.to_string())]);
    web.script("/bye", [Reply::json(&bye.to_string())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_a_piston_ivr_offers_each_digit_group_at_each_collection() {
    let web = WebApp::start().await;
    script_piston_ivr(&web);
    let report = sim::simulate(SimulateOptions {
        url: web.url("/ivr"),
        digits: sim::parse_digits("1,42#").unwrap(),
        from: "2002".into(),
        fast: true,
        ..SimulateOptions::default()
    })
    .await
    .unwrap();
    assert!(report.ok(), "{}", report.render());
    let reqs = web.requests();
    let paths: Vec<&str> = reqs.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/ivr", "/ext", "/bye"]);
    assert_eq!(reqs[0].param("From").as_deref(), Some("2002"));
    assert_eq!(reqs[0].param("Digits[menu]"), None);
    assert_eq!(reqs[1].param("Digits[menu]").as_deref(), Some("1"));
    assert_eq!(reqs[2].param("Digits[default]").as_deref(), Some("42"));
    let e = report.timeline.entries();
    let first = find(
        &e,
        0,
        Source::Pivot,
        "collect: waiting for digits (menu, up to 1)",
    );
    let i = find(&e, first, Source::Switch, "the caller presses 1");
    let i = find(&e, i, Source::Pivot, "collected: menu=1");
    let i = find(
        &e,
        i,
        Source::Pivot,
        "collect: waiting for digits (default, up to 4)",
    );
    let i = find(&e, i, Source::Switch, "the caller presses 4 2 #");
    for key in ["4", "2", "#"] {
        find(&e, i, Source::Switch, &format!("→ DTMF {key}"));
    }
    let i = find(&e, i, Source::Pivot, "collected: default=42");
    find(&e, i, Source::Switch, "← sendmsg hangup NORMAL_CLEARING");
    assert_eq!(report.to_json()["ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_sends_twiml_parameters_with_the_digits_as_a_string() {
    let web = WebApp::start().await;
    let gather = serde_json::json!({
        "module": "collect_dtmf", "data": {"max_digits": 3},
        "children": {"_": {"module": "pivot",
            "data": {"voice_url": web.url("/next"), "req_format": "twiml", "method": "post"}}}
    });
    web.script("/voice", [Reply::json(&gather.to_string())]);
    web.script("/next", [Reply::json(r#"{"module": "hangup"}"#)]);
    let report = sim::simulate(SimulateOptions {
        url: web.url("/voice"),
        format: "twiml".into(),
        method: "post".into(),
        digits: vec!["123".into()],
        fast: true,
        ..SimulateOptions::default()
    })
    .await
    .unwrap();
    assert!(report.ok(), "{}", report.render());
    let reqs = web.requests();
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(
        reqs[0].param("CallSid").as_deref(),
        Some(&*report.peer.call_id)
    );
    assert_eq!(reqs[0].param("ApiVersion").as_deref(), Some("2010-04-01"));
    assert_eq!(reqs[1].param("Digits").as_deref(), Some("123"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_a_twiml_ivr_gathers_digits_across_documents() {
    let web = WebApp::start().await;
    let menu = r#"<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Gather action="/menu" numDigits="1" timeout="3">
    <Say>Press 1 for sales, 2 for support.</Say>
  </Gather>
  <Say>We did not get your choice.</Say>
</Response>"#;
    let ext = r##"<Response><Gather action="ext" finishOnKey="#"><Say>Extension?</Say></Gather></Response>"##;
    let bye = r#"<Response><Say>Connecting you.</Say><Hangup/></Response>"#;
    web.script("/voice", [Reply::xml(menu)]);
    web.script("/menu", [Reply::xml(ext)]);
    web.script("/ext", [Reply::xml(bye)]);
    let report = sim::simulate(SimulateOptions {
        url: web.url("/voice"),
        format: "twiml".into(),
        digits: sim::parse_digits("2,305#").unwrap(),
        fast: true,
        ..SimulateOptions::default()
    })
    .await
    .unwrap();
    assert!(report.ok(), "{}", report.render());
    let reqs = web.requests();
    let paths: Vec<&str> = reqs.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/voice", "/menu", "/ext"]);
    // Actions are POSTed (Twilio's default) with the digits as a plain string.
    assert_eq!(reqs[1].method, "POST");
    assert_eq!(reqs[1].param("Digits").as_deref(), Some("2"));
    assert_eq!(reqs[2].param("Digits").as_deref(), Some("305"));
    assert_eq!(reqs[2].param("CallStatus").as_deref(), Some("in-progress"));
    let e = report.timeline.entries();
    let i = find(
        &e,
        0,
        Source::Pivot,
        "collect: waiting for digits (gather, up to 1)",
    );
    let i = find(&e, i, Source::Switch, "the caller presses 2");
    let i = find(&e, i, Source::Pivot, "execute: speak flite|slt|Extension?");
    let i = find(&e, i, Source::Switch, "the caller presses 3 0 5 #");
    find(
        &e,
        i,
        Source::Pivot,
        "execute: speak flite|slt|Connecting you.",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_exit_codes_say_whether_a_failback_happened() {
    let web = WebApp::start().await;
    script_piston_ivr(&web);
    web.script("/broken", [Reply::status(500)]);
    let ok = pivot_cmd(
        &[
            "simulate",
            "--url",
            &web.url("/ivr"),
            "--digits",
            "1,42#",
            "--fast",
        ],
        None,
    )
    .await;
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert!(text(&ok).contains("OK: the flow ran without a failback"));

    let failed = pivot_cmd(
        &["simulate", "--url", &web.url("/broken"), "--json", "--fast"],
        None,
    )
    .await;
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed));
    let json: serde_json::Value = serde_json::from_slice(&failed.stdout).unwrap();
    assert_eq!(json["ok"], false);
    assert!(
        json["failures"][0].as_str().unwrap().contains("500"),
        "{json:#}"
    );
    assert!(json["timeline"].as_array().unwrap().len() > 10);

    let usage = pivot_cmd(&["simulate", "--url", "ftp://nope", "--fast"], None).await;
    assert_eq!(usage.status.code(), Some(2));
    let digits = pivot_cmd(
        &["simulate", "--url", &web.url("/ivr"), "--digits", "1,x"],
        None,
    )
    .await;
    assert_eq!(digits.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_hangup_after_ends_a_call_that_would_go_on() {
    let web = WebApp::start().await;
    let endless = r#"{"module": "play", "data": {"id": "tone_stream://%(1000,0,440)", "endless_playback": true}}"#;
    web.script("/hold", [Reply::json(endless)]);
    let report = sim::simulate(SimulateOptions {
        url: web.url("/hold"),
        hangup_after: Some(Duration::from_millis(300)),
        fast: true,
        ..SimulateOptions::default()
    })
    .await
    .unwrap();
    assert!(report.ok(), "{}", report.render());
    let e = report.timeline.entries();
    let i = find(&e, 0, Source::Switch, "← sendmsg execute endless_playback");
    let i = find(
        &e,
        i,
        Source::Switch,
        "the caller hangs up (--hangup-after)",
    );
    // Killed mid-app: the linger notice comes before the app's completion.
    let i = find(&e, i, Source::Switch, "→ disconnect notice (linger)");
    find(
        &e,
        i,
        Source::Switch,
        "→ CHANNEL_EXECUTE_COMPLETE endless_playback PLAYBACK ERROR",
    );
}

#[tokio::test]
async fn check_reports_locations_hints_and_exit_codes() {
    let good = pivot_cmd(&["check", "fixtures/flows/voicemail.json"], None).await;
    assert_eq!(good.status.code(), Some(0));
    assert!(text(&good).contains("fixtures/flows/voicemail.json: OK (Piston JSON, 2 nodes)"));

    let bad = pivot_cmd(&["check", "fixtures/flows/bad-time-limit.json"], None).await;
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad).contains(
        "fixtures/flows/bad-time-limit.json: children._.data.time_limit: error: expected a number of seconds, got \"abc\""
    ));

    let typo = r#"{"module": "say", "data": {"text": "Hi"},
        "children": {"_": {"modul": "record_caller", "data": {"url": "http://r.example.com/", "time_limt": 9}}}}"#;
    let out = pivot_cmd(&["check", "-"], Some(typo)).await;
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out);
    assert!(
        stdout.contains("<stdin>: children._.module: error: required"),
        "{stdout}"
    );
    assert!(
        stdout.contains("<stdin>: children._.modul: warning: unknown key \"modul\", ignored\n  hint: did you mean \"module\"?"),
        "{stdout}"
    );

    let warn_only =
        r#"{"module": "record_caller", "data": {"url": "http://r.example.com/", "time_limt": 9}}"#;
    let out = pivot_cmd(&["check", "-"], Some(warn_only)).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("<stdin>: data.time_limt: warning: unknown record_caller field"));
    assert!(text(&out).contains("hint: did you mean \"time_limit\"?"));
    let strict = pivot_cmd(&["check", "--strict", "-"], Some(warn_only)).await;
    assert_eq!(strict.status.code(), Some(1));

    let syntax = pivot_cmd(&["check", "-"], Some("{\n  \"module\": \"say\",,\n}")).await;
    assert_eq!(syntax.status.code(), Some(1));
    assert!(
        text(&syntax).starts_with("<stdin>: 2:"),
        "{}",
        text(&syntax)
    );

    let twiml = pivot_cmd(&["check", "fixtures/twiml/gather.xml"], None).await;
    assert_eq!(twiml.status.code(), Some(0), "{}", text(&twiml));
    assert!(
        text(&twiml).contains("fixtures/twiml/gather.xml: OK (TwiML"),
        "{}",
        text(&twiml)
    );
    let bad_twiml = "<Response>\n  <Say>hi</Say>\n  <Dance/>\n</Response>";
    let out = pivot_cmd(&["check", "-"], Some(bad_twiml)).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).starts_with("<stdin>: 3:3: error:"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("Dance"), "{}", text(&out));

    let missing = pivot_cmd(&["check", "no/such/file.json"], None).await;
    assert_eq!(missing.status.code(), Some(2));
}
