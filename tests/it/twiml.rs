//! TwiML scenarios: the real pivot, the fake FreeSWITCH and a scripted web app answering
//! `text/xml`. For each verb: the HTTP parameters sent and the exact event socket commands;
//! Twilio's own sample documents (fixtures/twiml) run as a Twilio user expects; every bad
//! document takes the failback with nothing of it run.

use std::time::Duration;

use crate::harness::{Pivot, ACCOUNT};
use crate::support::fake_fs::{AppScript, FakeCall, FakeFs};
use crate::support::transcript::Transcript;
use crate::support::web::{Reply, Request, WebApp};

fn fixture(name: &str) -> String {
    let path = format!("{}/fixtures/twiml/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap()
}

fn doc(verbs: &str) -> Reply {
    Reply::xml(&format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response>{verbs}</Response>"
    ))
}

/// A call routed by channel variables to a TwiML app, asked the way Twilio asks (POST form).
fn twiml_call(url: &str) -> FakeCall {
    FakeCall::new()
        .var("pivot_voice_url", url)
        .var("pivot_req_format", "twiml")
        .var("pivot_method", "POST")
}

async fn run(pivot: &Pivot, call: FakeCall) -> Transcript {
    FakeFs::connect(pivot.esl, call).await.finish().await
}

fn apps(t: &Transcript) -> Vec<(String, String)> {
    t.app_calls()
        .into_iter()
        .map(|(n, a)| (n.to_string(), a.to_string()))
        .collect()
}

fn app(name: &str, arg: &str) -> (String, String) {
    (name.to_string(), arg.to_string())
}

fn param(r: &Request, name: &str) -> Option<String> {
    r.param(name)
}

/// Twilio's parameters every TwiML request carries.
fn assert_twilio_params(r: &Request, t: &Transcript, status: &str) {
    assert_eq!(r.method, "POST");
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded")));
    let names: Vec<String> = r.form().into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        names[..11],
        [
            "CallSid",
            "AccountSid",
            "From",
            "To",
            "FromRealm",
            "ToRealm",
            "CallerName",
            "CallerNumber",
            "CallStatus",
            "Direction",
            "ApiVersion"
        ]
    );
    let get = |k: &str| param(r, k);
    assert_eq!(get("CallSid").as_deref(), Some(t.uuid.as_str()));
    assert_eq!(get("AccountSid").as_deref(), Some(ACCOUNT));
    assert_eq!(get("From").as_deref(), Some("5551000"));
    assert_eq!(get("To").as_deref(), Some("3004"));
    assert_eq!(get("CallerName").as_deref(), Some("Lab Caller"));
    assert_eq!(get("CallerNumber").as_deref(), Some("5551000"));
    assert_eq!(get("CallStatus").as_deref(), Some(status));
    assert_eq!(get("Direction").as_deref(), Some("inbound"));
    assert_eq!(get("ApiVersion").as_deref(), Some("2010-04-01"));
    assert!(get("FromRealm").is_some() && get("ToRealm").is_some());
}

fn pivot_failure(t: &Transcript) -> Option<String> {
    t.vars_set
        .iter()
        .find(|(k, _)| k == "pivot_failure")
        .map(|(_, v)| v.clone())
}

#[tokio::test]
async fn twilio_hello_world_sample() {
    let web = WebApp::start().await;
    web.script("/voice", [Reply::xml(&fixture("hello-world.xml"))]);
    let pivot = Pivot::start().await;
    let t = run(&pivot, twiml_call(&web.url("/voice"))).await;
    t.assert_no_protocol_errors();
    let reqs = web.requests_to("/voice");
    assert_eq!(reqs.len(), 1);
    assert_twilio_params(&reqs[0], &t, "in-progress");
    assert_eq!(reqs[0].form().len(), 11, "no Digits or Recording* yet");
    assert_eq!(
        apps(&t),
        [
            app("speak", "flite|slt|Hello World"),
            app(
                "playback",
                "http_cache://https://api.twilio.com/Cowbell.mp3"
            ),
        ],
        "{t}"
    );
    // The document's end hangs up.
    assert_eq!(t.hangup_cause(), Some("NORMAL_CLEARING"));
    assert!(t.server_sent_exit, "{t}");
    pivot.stop().await;
}

#[tokio::test]
async fn say_pause_play_attributes_become_commands() {
    let web = WebApp::start().await;
    web.script(
        "/voice",
        [doc(
            r#"<Say voice="man" language="en-GB" loop="2">Hi &amp; ${x}</Say>
<Pause length="2"/><Play loop="3">/media/a.wav</Play><Say voice="alice">bye</Say>"#,
        )],
    );
    let pivot = Pivot::start().await;
    // A ringing call: media answers it first, and the request says so.
    let t = run(&pivot, twiml_call(&web.url("/voice")).unanswered()).await;
    t.assert_no_protocol_errors();
    let media = web.url("/media/a.wav");
    // Nothing was queued yet: answered at once with uuid_answer, not an application.
    assert!(t.answered_by_api, "{t}");
    assert_eq!(
        apps(&t),
        [
            app("speak", "flite|kal|Hi & ${x}"),
            app("speak", "flite|kal|Hi & ${x}"),
            app("sleep", "2000"),
            app("playback", &format!("http_cache://{media}")),
            app("speak", "flite|slt|bye"),
        ],
        "{t}"
    );
    let play = t.frames.iter().filter(|f| f.is_execute()).nth(3).unwrap();
    assert_eq!(play.header("loops"), Some("3"));
    assert_eq!(
        param(&web.requests_to("/voice")[0], "CallStatus").as_deref(),
        Some("ringing")
    );
    pivot.stop().await;
}

/// Menu → digits → answer: three documents, the digits in the second request.
#[tokio::test]
async fn gather_ivr_across_three_documents() {
    let web = WebApp::start().await;
    web.script(
        "/menu",
        [doc(r#"<Gather action="digits" numDigits="4">
  <Play>/menu.wav</Play><Say>never</Say>
</Gather><Say>No input</Say>"#)],
    );
    web.script(
        "/digits",
        [doc(
            r#"<Say>Thanks</Say><Redirect method="GET">answer?from=digits</Redirect>
<Say>never</Say>"#,
        )],
    );
    web.script(
        "/answer",
        [doc("<Say>Goodbye</Say><Hangup/><Say>never</Say>")],
    );
    let pivot = Pivot::start().await;
    // The first key interrupts the prompt (uuid_break) and the prompts after it; the other
    // keys come while collecting.
    let prompt =
        AppScript::new(Duration::from_secs(30), "FILE PLAYED").dtmf(Duration::from_millis(20), '4');
    let call = twiml_call(&web.url("/menu")).app("playback", prompt);
    let h = FakeFs::connect(pivot.esl, call).await;
    h.wait_until("the prompt was broken", |t| {
        t.api.iter().any(|a| a.command.starts_with("uuid_break "))
    })
    .await;
    h.send_dtmf('2');
    h.send_dtmf('#');
    let t = h.finish().await;
    t.assert_no_protocol_errors();

    let menu = web.requests_to("/menu");
    assert_eq!(menu.len(), 1);
    assert!(param(&menu[0], "Digits").is_none());
    let digits = web.requests_to("/digits");
    assert_eq!(digits.len(), 1, "{t}");
    assert_twilio_params(&digits[0], &t, "in-progress");
    assert_eq!(param(&digits[0], "Digits").as_deref(), Some("42"));
    let answer = web.requests_to("/answer");
    assert_eq!(answer.len(), 1);
    assert_eq!(answer[0].method, "GET");
    let q = answer[0].query_pairs();
    assert_eq!(q[0], ("from".to_string(), "digits".to_string()));
    assert_eq!(
        param(&answer[0], "ApiVersion").as_deref(),
        Some("2010-04-01")
    );
    assert!(
        param(&answer[0], "Digits").is_none(),
        "digits go to one request"
    );

    assert_eq!(
        apps(&t),
        [
            app(
                "playback",
                &format!("http_cache://{}", web.url("/menu.wav"))
            ),
            app("speak", "flite|slt|Thanks"),
            app("speak", "flite|slt|Goodbye"),
        ],
        "{t}"
    );
    assert!(t
        .vars_set
        .contains(&("playback_terminators".to_string(), "none".to_string())));
    let breaks: Vec<_> = t
        .api
        .iter()
        .filter(|a| a.command.starts_with("uuid_break"))
        .collect();
    assert_eq!(breaks.len(), 1);
    assert_eq!(breaks[0].command, format!("uuid_break {}", t.uuid));
    assert_eq!(t.hangup_cause(), Some("NORMAL_CLEARING"));
    pivot.stop().await;
}

#[tokio::test]
async fn gather_without_digits_goes_on_and_earlier_keys_do_not_count() {
    let web = WebApp::start().await;
    web.script(
        "/voice",
        [doc(r#"<Play>/intro.wav</Play>
<Gather action="/x" timeout="1" numDigits="1"><Say>menu</Say></Gather><Say>none</Say>"#)],
    );
    let pivot = Pivot::start().await;
    // A key during the intro, before the gather: Twilio does not count it.
    let intro = AppScript::new(Duration::from_millis(40), "FILE PLAYED")
        .dtmf(Duration::from_millis(5), '9');
    let call = twiml_call(&web.url("/voice")).app("playback", intro);
    let t = run(&pivot, call).await;
    t.assert_no_protocol_errors();
    let names: Vec<String> = apps(&t)
        .into_iter()
        .map(|(n, a)| format!("{n} {a}"))
        .collect();
    assert_eq!(
        names[1..],
        ["speak flite|slt|menu", "speak flite|slt|none"],
        "{t}"
    );
    assert!(web.requests_to("/x").is_empty());
    assert!(
        t.api.iter().all(|a| !a.command.starts_with("uuid_break")),
        "{t}"
    );
    pivot.stop().await;
}

#[tokio::test]
async fn twilio_record_voicemail_sample_with_its_action_request() {
    let web = WebApp::start().await;
    let sample = fixture("record-voicemail.xml").replace("http://foo.edu/", &web.url("/"));
    web.script("/voice", [Reply::xml(&sample)]);
    web.script("/handleRecording.php", [doc("<Say>Thank you</Say>")]);
    let rec = web.url("/recordings");
    let pivot = Pivot::start_with(
        |c| {
            let url: pivot::callflow::HttpUrl = rec.parse().unwrap();
            c.twiml.recording_url = Some(url.operator());
        },
        pivot::route::Router::empty(),
    )
    .await;
    let t = run(&pivot, twiml_call(&web.url("/voice"))).await;
    t.assert_no_protocol_errors();
    let file = format!("/tmp/{}.wav", t.uuid);
    assert_eq!(
        apps(&t),
        [
            app(
                "speak",
                "flite|slt|Please leave a message at the beep.\n        Press the star key when finished."
            ),
            app("playback", "tone_stream://%(250,0,800)"),
            app("record", &format!("{file} 20 200 5")),
            app("speak", "flite|slt|Thank you"),
        ],
        "{t}"
    );
    assert!(t
        .vars_set
        .contains(&("playback_terminators".to_string(), "*".to_string())));
    let upload = format!("{rec}/{}.wav", t.uuid);
    assert!(
        t.api
            .iter()
            .any(|a| a.command == format!("http_put {upload} {file}")),
        "{t}"
    );
    assert_eq!(web.uploads().len(), 1);
    let action = web.requests_to("/handleRecording.php");
    assert_eq!(action.len(), 1, "{t}");
    assert_eq!(action[0].method, "GET", "the sample asks for GET");
    assert_eq!(param(&action[0], "RecordingUrl"), Some(upload));
    assert_eq!(param(&action[0], "RecordingDuration").as_deref(), Some("3"));
    assert_eq!(param(&action[0], "CallSid"), Some(t.uuid.clone()));
    pivot.stop().await;
}

#[tokio::test]
async fn empty_recording_goes_to_the_next_verb() {
    let web = WebApp::start().await;
    web.script(
        "/voice",
        [doc(r#"<Record action="/done" playBeep="false" timeout="0" finishOnKey=""/><Say>nothing recorded</Say>"#)],
    );
    let pivot = Pivot::start().await;
    let silent = AppScript::new(Duration::from_millis(10), "_none_")
        .var("record_ms", "0")
        .var("record_seconds", "0");
    let t = run(&pivot, twiml_call(&web.url("/voice")).app("record", silent)).await;
    let file = format!("/tmp/{}.wav", t.uuid);
    assert_eq!(
        apps(&t),
        [
            app("record", &format!("{file} 3600 0 0")),
            app("speak", "flite|slt|nothing recorded"),
        ],
        "{t}"
    );
    assert!(t
        .vars_set
        .contains(&("playback_terminators".to_string(), "none".to_string())));
    assert!(web.requests_to("/done").is_empty());
    assert!(
        t.api.iter().all(|a| !a.command.starts_with("http_put")),
        "no upload URL"
    );
    pivot.stop().await;
}

/// The usual voicemail: the caller hangs up while recording. The upload and the action
/// request still go out, after the hangup; nothing is executed after it.
#[tokio::test]
async fn hangup_during_record_still_uploads_and_requests_the_action() {
    let web = WebApp::start().await;
    web.script(
        "/voice",
        [doc(
            r#"<Record action="/vm" recordingUrl="/up/"/><Say>never</Say>"#,
        )],
    );
    web.script("/vm", [doc("<Say>ignored</Say>")]);
    let pivot = Pivot::start().await;
    let long = AppScript::new(Duration::from_secs(30), "_none_")
        .var("record_ms", "7400")
        .var("record_seconds", "7");
    let call = twiml_call(&web.url("/voice"))
        .app("record", long)
        .hangup_when_app_starts("record");
    let t = run(&pivot, call).await;
    t.assert_no_protocol_errors();
    assert!(t.executes_after_hangup().is_empty(), "{t}");
    assert_eq!(t.app_names(), ["playback", "record"], "{t}");
    let upload = web.url(&format!("/up/{}.wav", t.uuid));
    assert_eq!(web.uploads().len(), 1);
    let vm = web.wait_for_requests(3).await;
    let vm: Vec<_> = vm.into_iter().filter(|r| r.path == "/vm").collect();
    assert_eq!(vm.len(), 1);
    assert_eq!(vm[0].method, "POST");
    assert_eq!(param(&vm[0], "RecordingUrl"), Some(upload));
    assert_eq!(param(&vm[0], "RecordingDuration").as_deref(), Some("7"));
    assert_eq!(param(&vm[0], "CallStatus").as_deref(), Some("completed"));
    pivot.stop().await;
}

#[tokio::test]
async fn dial_bridges_with_the_templates_and_reports_the_status() {
    let web = WebApp::start().await;
    web.script(
        "/voice",
        [doc(
            r#"<Dial action="/dialed" timeout="20" callerId="+15550001111" timeLimit="60">
  <Number>+1 415 555-1212</Number><Sip>sip:bob@pbx.example.com</Sip>
</Dial><Say>never</Say>"#,
        )],
    );
    web.script("/dialed", [doc("<Say>call ended</Say>")]);
    let pivot = Pivot::start().await;
    let t = run(&pivot, twiml_call(&web.url("/voice"))).await;
    t.assert_no_protocol_errors();
    assert_eq!(
        apps(&t),
        [
            app(
                "bridge",
                "{leg_timeout=20,origination_caller_id_number=+15550001111,\
                 execute_on_answer=sched_hangup +60 ALLOTTED_TIMEOUT}\
                 sofia/gateway/carrier/+14155551212,sofia/internal/bob@pbx.example.com"
            ),
            app("speak", "flite|slt|call ended"),
        ],
        "{t}"
    );
    let dialed = web.requests_to("/dialed");
    assert_eq!(dialed.len(), 1);
    assert_twilio_params(&dialed[0], &t, "in-progress");
    assert_eq!(
        param(&dialed[0], "DialCallStatus").as_deref(),
        Some("completed")
    );
    pivot.stop().await;
}

#[tokio::test]
async fn dial_results_map_to_twilio_statuses_and_no_action_goes_on() {
    let web = WebApp::start().await;
    web.script("/voice", [doc(r#"<Dial action="/dialed">3005</Dial>"#)]);
    web.script("/dialed", [doc("<Hangup/>")]);
    web.script("/plain", [doc("<Dial>3005</Dial><Say>after</Say>")]);
    let pivot = Pivot::start_with(
        |c| c.twiml.dial_number = "loopback/{number}/default".into(),
        pivot::route::Router::empty(),
    )
    .await;
    let cases = [
        ("DIALSTATUS", "BUSY", "busy"),
        ("DIALSTATUS", "NOANSWER", "no-answer"),
        ("originate_disposition", "ALLOTTED_TIMEOUT", "no-answer"),
        ("DIALSTATUS", "CHANUNAVAIL", "failed"),
    ];
    for (var, value, status) in cases {
        let bridge = AppScript::new(Duration::from_millis(5), "_none_").var(var, value);
        let t = run(&pivot, twiml_call(&web.url("/voice")).app("bridge", bridge)).await;
        assert_eq!(
            apps(&t),
            [app("bridge", "{leg_timeout=30}loopback/3005/default")],
            "{t}"
        );
        let last = web.requests_to("/dialed").pop().unwrap();
        assert_eq!(
            param(&last, "DialCallStatus").as_deref(),
            Some(status),
            "{value}"
        );
    }
    let t = run(&pivot, twiml_call(&web.url("/plain"))).await;
    assert_eq!(t.app_names(), ["bridge", "speak"], "{t}");
    pivot.stop().await;
}

#[tokio::test]
async fn reject_responds_before_answer_and_hangs_up() {
    let web = WebApp::start().await;
    web.script("/busy", [doc(r#"<Reject reason="busy"/><Say>never</Say>"#)]);
    web.script("/reject", [doc("<Reject/>")]);
    let pivot = Pivot::start().await;
    let t = run(&pivot, twiml_call(&web.url("/busy")).unanswered()).await;
    t.assert_no_protocol_errors();
    assert_eq!(apps(&t), [app("respond", "486 Busy Here")], "{t}");
    assert_eq!(t.hangup_cause(), Some("USER_BUSY"));
    let t = run(&pivot, twiml_call(&web.url("/reject")).unanswered()).await;
    assert_eq!(apps(&t), [app("respond", "603 Decline")], "{t}");
    assert_eq!(t.hangup_cause(), Some("CALL_REJECTED"));
    assert_eq!(
        param(&web.requests_to("/reject")[0], "CallStatus").as_deref(),
        Some("ringing")
    );
    pivot.stop().await;
}

#[tokio::test]
async fn redirect_chains_are_capped_by_the_request_limit() {
    let web = WebApp::start().await;
    web.script("/loop", [doc("<Redirect>/loop</Redirect>")]);
    let pivot = Pivot::start_with(
        |c| c.http.max_requests_per_call = 5,
        pivot::route::Router::empty(),
    )
    .await;
    let t = run(&pivot, twiml_call(&web.url("/loop"))).await;
    let reqs = web.requests_to("/loop");
    assert_eq!(reqs.len(), 5);
    assert!(
        reqs.iter().all(|r| r.method == "POST"),
        "Redirect defaults to POST"
    );
    let failure = pivot_failure(&t).unwrap();
    assert!(failure.starts_with("request_limit"), "{failure}");
    assert!(t.app_names().is_empty());
    assert_eq!(t.hangup_cause(), Some("NORMAL_CLEARING"));
    pivot.stop().await;
}

/// A JSON entry node pivoting to `target`, with or without a failback.
fn entry(target: &str, failback: bool) -> Reply {
    let mut node = serde_json::json!({
        "module": "pivot",
        "data": {"voice_url": target, "req_format": "twiml", "method": "post"}
    });
    if failback {
        node["children"] = serde_json::json!({"_": {"module": "say", "data": {"text": "sorry"}}});
    }
    Reply::json(&node.to_string())
}

/// Every way a TwiML document can be bad takes the failback with its line and column, and
/// nothing of the document runs (each starts with a good `<Say>`).
#[tokio::test]
async fn every_bad_document_takes_the_failback_and_runs_nothing() {
    let web = WebApp::start().await;
    let cases: [(&str, &str, &str); 6] = [
        (
            "malformed",
            "<Response><Say>first</Say>\n<Say>x</Play></Response>",
            "line 2, column 7",
        ),
        (
            "root",
            "<Reply><Say>first</Say></Reply>",
            "line 1, column 1",
        ),
        (
            "verb",
            "<Response><Say>first</Say>\n  <Dance/></Response>",
            "line 2, column 3",
        ),
        (
            "attribute",
            "<Response><Say>first</Say><Pause length=\"1\" colour=\"red\"/></Response>",
            "line 1, column 27",
        ),
        (
            "value",
            "<Response><Say>first</Say><Gather timeout=\"soon\"/></Response>",
            "line 1, column 27",
        ),
        (
            "sniffed",
            "  <Response><Say>first</Say><Say/></Response>",
            "line 1, column 29",
        ),
    ];
    let pivot = Pivot::start().await;
    let mut runs = Vec::new();
    for (name, body, pos) in cases {
        let reply = if name == "sniffed" {
            Reply::new(200, "text/plain", body)
        } else {
            Reply::xml(body)
        };
        web.script(&format!("/{name}"), [reply]);
        for failback in [true, false] {
            let path = format!("/entry-{name}-{failback}");
            web.script(&path, [entry(&web.url(&format!("/{name}")), failback)]);
            let call = FakeCall::new().var("pivot_voice_url", &web.url(&path));
            runs.push((name, pos, failback, call));
        }
    }
    let runs = runs.into_iter().map(|(name, pos, failback, call)| {
        let pivot = &pivot;
        async move { (name, pos, failback, run(pivot, call).await) }
    });
    for (name, pos, failback, t) in futures::future::join_all(runs).await {
        t.assert_no_protocol_errors();
        let failure = pivot_failure(&t).unwrap_or_else(|| panic!("{name}: no failure\n{t}"));
        let prefix = format!("invalid_twiml: invalid TwiML: {pos}: ");
        assert!(failure.starts_with(&prefix), "{name}: {failure}");
        if failback {
            assert_eq!(apps(&t), [app("speak", "flite|slt|sorry")], "{name}\n{t}");
        } else {
            assert!(t.app_names().is_empty(), "{name}\n{t}");
        }
        assert_eq!(t.hangup_cause(), Some("NORMAL_CLEARING"), "{name}");
    }
    pivot.stop().await;
}

/// A bad document from a verb's action: no failback branch is left, the call hangs up.
#[tokio::test]
async fn bad_document_from_an_action_hangs_up() {
    let web = WebApp::start().await;
    web.script(
        "/voice",
        [doc(
            r#"<Gather action="/bad" numDigits="1"><Say>menu</Say></Gather><Say>never</Say>"#,
        )],
    );
    web.script(
        "/bad",
        [Reply::xml("<Response><Say>x</Say><Bogus/></Response>")],
    );
    let pivot = Pivot::start().await;
    let menu =
        AppScript::new(Duration::from_secs(30), "_none_").dtmf(Duration::from_millis(10), '5');
    let t = run(&pivot, twiml_call(&web.url("/voice")).app("speak", menu)).await;
    assert_eq!(
        param(&web.requests_to("/bad")[0], "Digits").as_deref(),
        Some("5")
    );
    assert_eq!(apps(&t), [app("speak", "flite|slt|menu")], "{t}");
    let failure = pivot_failure(&t).unwrap();
    assert!(failure.contains("line 1, column 23"), "{failure}");
    assert_eq!(t.hangup_cause(), Some("NORMAL_CLEARING"));
    pivot.stop().await;
}

/// Each recording of a call has its own file; a failed upload sends no `RecordingUrl`.
#[tokio::test]
async fn second_recording_has_its_own_file_and_a_failed_upload_sends_no_url() {
    let uuid = "5f0c3a52-8d1e-4b7a-9c3f-2a6b1d0e4f71";
    let web = WebApp::start().await;
    let record = |action: &str| {
        doc(&format!(
            r#"<Record action="{action}" recordingUrl="/up" playBeep="false"/>"#
        ))
    };
    web.script("/voice", [record("/one")]);
    web.script("/one", [record("/two")]);
    web.script(&format!("/up/{uuid}-2.wav"), [Reply::status(500)]);
    web.script("/two", [doc("<Hangup/>")]);
    let pivot = Pivot::start().await;
    let t = run(&pivot, twiml_call(&web.url("/voice")).uuid(uuid)).await;
    t.assert_no_protocol_errors();
    assert_eq!(
        apps(&t),
        [
            app("record", &format!("/tmp/{uuid}.wav 3600 200 5")),
            app("record", &format!("/tmp/{uuid}-2.wav 3600 200 5")),
        ],
        "{t}"
    );
    let one = &web.requests_to("/one")[0];
    assert_eq!(
        param(one, "RecordingUrl"),
        Some(web.url(&format!("/up/{uuid}.wav")))
    );
    let two = &web.requests_to("/two")[0];
    assert_eq!(param(two, "RecordingUrl"), None, "the upload failed");
    assert_eq!(param(two, "RecordingDuration").as_deref(), Some("3"));
    pivot.stop().await;
}

/// Found on a real FreeSWITCH: the bridge answers the caller's channel itself, so later
/// requests say `in-progress` and pivot sends no `answer` of its own afterwards.
#[tokio::test]
async fn an_answered_dial_answers_the_caller_for_what_follows() {
    let web = WebApp::start().await;
    web.script("/voice", [doc(r#"<Dial action="/dialed">3005</Dial>"#)]);
    web.script("/dialed", [doc("<Say>call ended</Say>")]);
    let pivot = Pivot::start().await;
    let t = run(&pivot, twiml_call(&web.url("/voice")).unanswered()).await;
    t.assert_no_protocol_errors();
    assert_eq!(t.app_names(), ["bridge", "speak"], "{t}");
    let dialed = web.requests_to("/dialed");
    assert_eq!(
        param(&dialed[0], "CallStatus").as_deref(),
        Some("in-progress")
    );
    assert_eq!(
        param(&dialed[0], "DialCallStatus").as_deref(),
        Some("completed")
    );
    pivot.stop().await;
}

/// Found on a real FreeSWITCH: when the caller hangs up during `<Dial>`, CHANNEL_HANGUP
/// comes first and the bridge's EXECUTE_COMPLETE (DIALSTATUS=SUCCESS) after it. Twilio
/// requests the action when the dial ends; so does pivot, after the hangup.
#[tokio::test]
async fn the_dial_action_is_requested_when_the_caller_hangs_up_during_the_bridge() {
    let web = WebApp::start().await;
    web.script("/voice", [doc(r#"<Dial action="/dialed">3005</Dial>"#)]);
    web.script("/dialed", [doc("<Say>never run</Say>")]);
    let pivot = Pivot::start().await;
    let bridge = AppScript::new(Duration::from_secs(30), "_none_")
        .var("DIALSTATUS", "SUCCESS")
        .killed_response("_none_");
    let call = twiml_call(&web.url("/voice"))
        .app("bridge", bridge)
        .hangup_after(Duration::from_millis(300));
    let t = run(&pivot, call).await;
    assert_eq!(t.app_names(), ["bridge"], "{t}");
    assert!(t.executes_after_hangup().is_empty(), "{t}");
    let dialed = web.requests_to("/dialed");
    assert_eq!(dialed.len(), 1, "{t}");
    assert_eq!(
        param(&dialed[0], "DialCallStatus").as_deref(),
        Some("completed")
    );
    assert_eq!(
        param(&dialed[0], "CallStatus").as_deref(),
        Some("completed")
    );
    pivot.stop().await;
}
