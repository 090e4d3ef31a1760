//! The TwiML and Kazoo features users meet first, through the real pivot and the fake
//! FreeSWITCH, with the exact commands each one sends: `<Play digits>` and Piston's
//! `send_dtmf`, `<Dial>`'s `hangupOnStar`, `record` and `answerOnBridge`, `<Number
//! sendDigits>`, `<Sip>` headers, and the `Call-Status` of Piston requests.

use std::time::Duration;

use crate::harness::Pivot;
use crate::support::fake_fs::{AppScript, FakeCall, FakeFs};
use crate::support::transcript::Transcript;
use crate::support::web::{Reply, WebApp};

fn doc(verbs: &str) -> Reply {
    Reply::xml(&format!("<Response>{verbs}</Response>"))
}

fn twiml_call(url: &str) -> FakeCall {
    FakeCall::new()
        .var("pivot_voice_url", url)
        .var("pivot_req_format", "twiml")
        .var("pivot_method", "POST")
}

async fn run(pivot: &Pivot, call: FakeCall) -> Transcript {
    FakeFs::connect(pivot.esl, call).await.finish().await
}

/// The executes and the `uuid_setvar`/`http_put` API commands after the handshake, in the
/// order the server sent them: `execute <app> <arg>`, `api <command>`.
fn commands(t: &Transcript) -> Vec<String> {
    t.frames
        .iter()
        .filter_map(|f| {
            if f.is_execute() {
                let arg = match f.header("execute-app-arg") {
                    Some(a) => a.to_string(),
                    None => String::from_utf8_lossy(f.body()).into_owned(),
                };
                let app = f.header("execute-app-name").unwrap_or("");
                return Some(format!("execute {app} {arg}").trim_end().to_string());
            }
            let line = f.line();
            let ours = ["api uuid_setvar", "api http_put", "api uuid_answer"]
                .iter()
                .any(|p| line.starts_with(p));
            (ours && !line.contains("app_disable_expand_variables")).then(|| line.to_string())
        })
        .collect()
}

fn long_bridge() -> AppScript {
    AppScript::new(Duration::from_secs(30), "_none_")
        .var("DIALSTATUS", "SUCCESS")
        .var("originate_disposition", "SUCCESS")
}

/// What every `<Dial>` sets on the caller's channel, in one command: a failed bridge must
/// not hang the caller up, an ended one must let the document go on.
const DIAL_VARS: &str = "continue_on_fail=true;hangup_after_bridge=false";
const RINGBACK: &str = "transfer_ringback=%(2000,4000,440,480)";

#[tokio::test]
async fn play_digits_sends_the_tones_then_waits_until_they_are_out() {
    let web = WebApp::start().await;
    web.script("/voice", [doc(r#"<Play digits="ww12#"/><Say>after</Say>"#)]);
    let pivot = Pivot::start().await;
    let t = run(&pivot, twiml_call(&web.url("/voice")).unanswered()).await;
    t.assert_no_protocol_errors();
    let answer = format!("api uuid_answer {}", t.uuid);
    assert_eq!(
        commands(&t),
        [
            answer.as_str(),
            "execute send_dtmf ww12#@250",
            // Two half-second waits and three 250 ms tones.
            "execute sleep 1750",
            "execute speak flite|slt|after",
        ],
        "{t}"
    );
    pivot.stop().await;
}

/// Kazoo's `send_dtmf` callflow module, as a Kazoo web app sends it.
#[tokio::test]
async fn piston_send_dtmf_takes_kazoos_fields() {
    let web = WebApp::start().await;
    let flow = serde_json::json!({
        "module": "send_dtmf", "data": {"digits": "1w2", "duration_ms": 100},
        "children": {"_": {"module": "send_dtmf", "data": {"digits": "#"}}}
    });
    web.script("/voice", [Reply::json(&flow.to_string())]);
    let pivot = Pivot::start().await;
    let call = FakeCall::new().var("pivot_voice_url", &web.url("/voice"));
    let t = run(&pivot, call).await;
    t.assert_no_protocol_errors();
    assert_eq!(
        commands(&t),
        [
            "execute send_dtmf 1w2@100",
            "execute sleep 700",
            // Kazoo's default tone: 2 s.
            "execute send_dtmf #@2000",
            "execute sleep 2000",
        ],
        "{t}"
    );
    let req = &web.requests_to("/voice")[0];
    assert_eq!(req.param("Call-Status").as_deref(), Some("in-progress"));
    pivot.stop().await;
}

/// The caller presses `*`: the bridge ends, the action is asked, the document goes on.
#[tokio::test]
async fn hangup_on_star_ends_the_bridge_and_the_document_goes_on() {
    let web = WebApp::start().await;
    web.script(
        "/voice",
        [doc(
            r#"<Dial hangupOnStar="true" action="/dialed">3005</Dial>"#,
        )],
    );
    web.script("/dialed", [doc("<Say>back with you</Say>")]);
    let pivot = Pivot::start().await;
    let call = twiml_call(&web.url("/voice")).app("bridge", long_bridge());
    let h = FakeFs::connect(pivot.esl, call).await;
    h.wait_for_app_start("bridge").await;
    h.send_dtmf('*');
    let t = h.finish().await;
    t.assert_no_protocol_errors();
    let uuid = &t.uuid;
    assert_eq!(
        commands(&t),
        [
            format!("api uuid_setvar_multi {uuid} {DIAL_VARS};bridge_terminate_key=*;{RINGBACK}"),
            "execute bridge {leg_timeout=30}sofia/gateway/carrier/3005".into(),
            // Removed again: a later <Dial> without hangupOnStar is not ended by a star.
            format!("api uuid_setvar {uuid} bridge_terminate_key"),
            "execute speak flite|slt|back with you".into(),
        ],
        "{t}"
    );
    let dialed = web.requests_to("/dialed");
    assert_eq!(
        dialed[0].param("DialCallStatus").as_deref(),
        Some("completed")
    );
    assert_eq!(dialed[0].param("RecordingUrl"), None);
    pivot.stop().await;
}

/// `record-from-answer`: the caller's channel records only while bridged; the file is
/// uploaded like `<Record>`'s and the action gets its URL and length.
#[tokio::test]
async fn a_recorded_dial_is_uploaded_and_its_url_sent_to_the_action() {
    let web = WebApp::start().await;
    web.script(
        "/voice",
        [doc(
            r#"<Say>connecting</Say><Dial record="record-from-answer" recordingUrl="/rec/" action="/dialed">3005</Dial>"#,
        )],
    );
    web.script("/dialed", [doc("<Hangup/>")]);
    let pivot = Pivot::start().await;
    // A ringing call: the recording needs its media, so pivot answers it first.
    let t = run(&pivot, twiml_call(&web.url("/voice")).unanswered()).await;
    t.assert_no_protocol_errors();
    let (uuid, file) = (&t.uuid, format!("/tmp/{}.wav", t.uuid));
    let upload = web.url(&format!("/rec/{uuid}.wav"));
    assert_eq!(
        commands(&t),
        [
            format!("api uuid_answer {uuid}"),
            "execute speak flite|slt|connecting".into(),
            format!("api uuid_setvar_multi {uuid} {DIAL_VARS};{RINGBACK}"),
            format!("execute record_session {file} {{RECORD_BRIDGE_REQ=true}}"),
            "execute bridge {leg_timeout=30}sofia/gateway/carrier/3005".into(),
            format!("execute stop_record_session {file}"),
            format!("api http_put {upload} {file}"),
        ],
        "{t}"
    );
    assert_eq!(web.uploads().len(), 1);
    let dialed = &web.requests_to("/dialed")[0];
    assert_eq!(dialed.param("DialCallStatus").as_deref(), Some("completed"));
    assert_eq!(dialed.param("RecordingUrl"), Some(upload));
    assert_eq!(dialed.param("RecordingDuration").as_deref(), Some("5"));
    pivot.stop().await;
}

/// The caller hangs up while connected: the hangup closes the recording; it is uploaded
/// and the action asked after CHANNEL_HANGUP_COMPLETE, nothing executed after the hangup.
#[tokio::test]
async fn a_recorded_dial_the_caller_ends_is_still_uploaded_and_reported() {
    let web = WebApp::start().await;
    web.script(
        "/voice",
        [doc(
            r#"<Dial record="record-from-ringing-dual" recordingUrl="/rec" action="/dialed">3005</Dial>"#,
        )],
    );
    web.script("/dialed", [doc("<Say>never run</Say>")]);
    let pivot = Pivot::start().await;
    let call = twiml_call(&web.url("/voice"))
        .app("bridge", long_bridge())
        .hangup_when_app_starts("bridge");
    let t = run(&pivot, call).await;
    t.assert_no_protocol_errors();
    assert!(t.executes_after_hangup().is_empty(), "{t}");
    let (uuid, file) = (&t.uuid, format!("/tmp/{}.wav", t.uuid));
    let upload = web.url(&format!("/rec/{uuid}.wav"));
    assert_eq!(
        commands(&t),
        [
            format!("api uuid_setvar_multi {uuid} {DIAL_VARS};{RINGBACK}"),
            format!("execute record_session {file} {{RECORD_STEREO=true}}"),
            "execute bridge {leg_timeout=30}sofia/gateway/carrier/3005".into(),
            format!("api http_put {upload} {file}"),
        ],
        "{t}"
    );
    let dialed = web.wait_for_requests(3).await;
    let dialed: Vec<_> = dialed.into_iter().filter(|r| r.path == "/dialed").collect();
    assert_eq!(dialed.len(), 1, "{t}");
    assert_eq!(dialed[0].param("CallStatus").as_deref(), Some("completed"));
    assert_eq!(dialed[0].param("RecordingUrl"), Some(upload));
    assert_eq!(dialed[0].param("RecordingDuration").as_deref(), Some("5"));
    pivot.stop().await;
}

#[tokio::test]
async fn send_digits_and_sip_headers_go_into_each_legs_variables() {
    let web = WebApp::start().await;
    web.script(
        "/voice",
        [doc(
            r#"<Dial timeLimit="60"><Number sendDigits="ww1928#">+1 415 555 1212</Number>
<Sip>bob@pbx.example.com?X-Customer=42&amp;X-Tier=gold%20plus</Sip></Dial>"#,
        )],
    );
    let pivot = Pivot::start().await;
    let t = run(&pivot, twiml_call(&web.url("/voice")).unanswered()).await;
    t.assert_no_protocol_errors();
    let vars = format!("api uuid_setvar_multi {} {DIAL_VARS}", t.uuid);
    assert_eq!(
        commands(&t),
        [
            vars.as_str(),
            "execute bridge {leg_timeout=30,execute_on_answer=sched_hangup +60 ALLOTTED_TIMEOUT}\
             [execute_on_answer_send_digits=send_dtmf ww1928#@250]sofia/gateway/carrier/+14155551212,\
             [sip_h_X-Customer=42,sip_h_X-Tier=gold plus]sofia/internal/bob@pbx.example.com"
        ],
        "{t}"
    );
    pivot.stop().await;
}

/// A ringing caller stays ringing through the bridge (it hears the callee's ringing and
/// early media), unless `answerOnBridge="false"` answers it first; an answered caller
/// hears a ringback, unless the dialplan chose its own `transfer_ringback`.
#[tokio::test]
async fn answer_on_bridge_and_the_ringback() {
    let web = WebApp::start().await;
    web.script("/true", [doc(r#"<Dial answerOnBridge="true">3005</Dial>"#)]);
    web.script(
        "/false",
        [doc(r#"<Dial answerOnBridge="false">3005</Dial>"#)],
    );
    let pivot = Pivot::start().await;
    let bridge = "execute bridge {leg_timeout=30}sofia/gateway/carrier/3005";
    let vars = |t: &Transcript| format!("api uuid_setvar_multi {} {DIAL_VARS}", t.uuid);
    let t = run(&pivot, twiml_call(&web.url("/true")).unanswered()).await;
    assert_eq!(commands(&t), [vars(&t).as_str(), bridge], "{t}");
    let t = run(&pivot, twiml_call(&web.url("/false")).unanswered()).await;
    let answer = format!("api uuid_answer {}", t.uuid);
    let ringback = format!("{};{RINGBACK}", vars(&t));
    assert_eq!(commands(&t), [&answer, &ringback, bridge], "{t}");
    let own = twiml_call(&web.url("/true")).var("transfer_ringback", "local_stream://moh");
    let t = run(&pivot, own).await;
    assert_eq!(commands(&t), [vars(&t).as_str(), bridge], "{t}");
    pivot.stop().await;
}

/// The failure a bad document leaves names the unsupported verb, not what is inside it.
#[tokio::test]
async fn an_unsupported_verb_is_named_before_its_children() {
    let web = WebApp::start().await;
    web.script(
        "/voice",
        [doc(
            r#"<Connect><Stream url="wss://h/s"><Parameter name="a" value="b"/></Stream></Connect>"#,
        )],
    );
    let pivot = Pivot::start().await;
    let t = run(&pivot, twiml_call(&web.url("/voice"))).await;
    let failure = t
        .vars_set
        .iter()
        .find(|(k, _)| k == "pivot_failure")
        .map(|(_, v)| v.clone())
        .unwrap();
    assert_eq!(
        failure,
        "invalid_twiml: invalid TwiML: line 1, column 11: <Connect> is a TwiML verb pivot does not support"
    );
    assert!(t.app_names().is_empty(), "{t}");
    pivot.stop().await;
}

/// Kazoo's `Call-Status`: `ringing` before the answer, `completed` in the CDR.
#[tokio::test]
async fn piston_requests_and_the_cdr_carry_the_call_status() {
    let web = WebApp::start().await;
    let entry = serde_json::json!({
        "module": "pivot",
        "data": {"voice_url": web.url("/voice"), "cdr_url": web.url("/cdr")}
    });
    web.script("/entry", [Reply::json(&entry.to_string())]);
    web.script("/voice", [Reply::json(r#"{"module": "hangup"}"#)]);
    web.script("/cdr", [Reply::status(204)]);
    let pivot = Pivot::start().await;
    let call = FakeCall::new()
        .var("pivot_voice_url", &web.url("/entry"))
        .unanswered();
    let _ = run(&pivot, call).await;
    let voice = &web.requests_to("/voice")[0];
    assert_eq!(voice.param("Call-Status").as_deref(), Some("ringing"));
    let cdr = web.wait_for_requests(3).await;
    let cdr = cdr.iter().find(|r| r.path == "/cdr").unwrap();
    assert_eq!(cdr.param("Call-Status").as_deref(), Some("completed"));
    pivot.stop().await;
}
