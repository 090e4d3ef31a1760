//! Scenario tests for the call engine: the real pivot server, the fake FreeSWITCH dialling it
//! the way `socket ... async full` does, and a scripted local web app.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::harness::Pivot;
use crate::support::fake_fs::{AppScript, FakeCall, FakeFs};
use crate::support::transcript::Transcript;
use crate::support::web::{Reply, WebApp};

/// The Pivot voicemail example of the contract.
fn voicemail(upload: &str) -> String {
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

fn say(text: &str) -> String {
    serde_json::json!({"module": "say", "data": {"text": text}}).to_string()
}

/// A call routed by channel variables to `url`.
fn call_to(url: &str) -> FakeCall {
    FakeCall::new().var("pivot_voice_url", url)
}

async fn run(pivot: &Pivot, call: FakeCall) -> Transcript {
    FakeFs::connect(pivot.esl, call).await.finish().await
}

fn speak_args(t: &Transcript) -> Vec<String> {
    t.app_calls()
        .into_iter()
        .filter(|(n, _)| *n == "speak")
        .map(|(_, a)| a.to_string())
        .collect()
}

async fn wait_until_no_calls(pivot: &Pivot) {
    let stats = &pivot.engine.stats;
    for _ in 0..500 {
        if stats.calls_active.load(Ordering::SeqCst) == 0 {
            return;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("call tasks still running");
}

#[tokio::test]
async fn seed_voicemail_example_end_to_end() {
    let web = WebApp::start().await;
    web.script("/voice", [Reply::json(&voicemail(&web.url("/recordings")))]);
    let pivot = Pivot::start().await;
    let call = call_to(&web.url("/voice?app=vm"))
        .caller_id("Lab Caller", "5551000")
        .destination("3004");
    let t = run(&pivot, call).await;
    t.assert_no_protocol_errors();

    // The request: GET, the voice_url's own query first, then every Piston parameter.
    let reqs = web.requests_to("/voice");
    assert_eq!(reqs.len(), 1);
    let q = reqs[0].query_pairs();
    assert_eq!(q[0], ("app".into(), "vm".into()));
    let get = |k: &str| reqs[0].param(k);
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(get("Call-ID").as_deref(), Some(t.uuid.as_str()));
    assert_eq!(get("Account-ID").as_deref(), Some(crate::harness::ACCOUNT));
    assert_eq!(get("To").as_deref(), Some("3004"));
    assert_eq!(get("Caller-ID-Number").as_deref(), Some("5551000"));
    assert_eq!(get("Caller-ID-Name").as_deref(), Some("Lab Caller"));
    assert_eq!(get("Direction").as_deref(), Some("inbound"));
    assert_eq!(get("ApiVersion").as_deref(), Some("2013-05-01"));
    assert!(get("From").is_some() && get("FromRealm").is_some() && get("ToRealm").is_some());
    assert!(get("Digits").is_none(), "no digits were collected");

    // The commands: TTS with the text, beep, record with .mp3 and 360 s, nothing else.
    let apps = t.app_calls();
    let names: Vec<&str> = apps.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["speak", "playback", "record"], "{t}");
    assert_eq!(
        apps[0].1,
        "flite|slt|Please leave a message after the beep."
    );
    let file = format!("/tmp/{}.mp3", t.uuid);
    assert_eq!(apps[2].1, format!("{file} 360 200 5"));

    // The upload to <url>/<call-id>.mp3 reached the web app.
    let uploads = web.uploads();
    assert_eq!(uploads.len(), 1, "{t}");
    assert_eq!(uploads[0].method, "PUT");
    assert_eq!(uploads[0].path, format!("/recordings/{}.mp3", t.uuid));

    // Hung up by pivot, then `exit`.
    assert_eq!(t.hangup_cause(), Some("NORMAL_CLEARING"));
    assert!(t.server_sent_exit, "{t}");
    assert!(t.executes_after_hangup().is_empty());
    pivot.stop().await;
}

#[tokio::test]
async fn handshake_asks_only_for_the_events_it_needs_and_disables_expansion() {
    let web = WebApp::start().await;
    web.script("/voice", [Reply::json(&say("hi"))]);
    let pivot = Pivot::start().await;
    let t = run(&pivot, call_to(&web.url("/voice"))).await;
    // myevents (this channel only), then only the three types pivot reads: the type
    // check runs before filters for every event of the switch, so no filter is set.
    assert!(t.myevents);
    assert!(t.event_name_filters().is_empty(), "{t}");
    assert_eq!(
        t.subscription.types(),
        [
            "CHANNEL_EXECUTE_COMPLETE",
            "CHANNEL_HANGUP_COMPLETE",
            "DTMF"
        ]
    );
    assert!(t
        .vars_set
        .iter()
        .any(|(k, v)| k == "app_disable_expand_variables" && v == "true"));
    // Every execute is event-locked and carries an Event-UUID.
    for f in t.frames.iter().filter(|f| f.is_execute()) {
        assert_eq!(f.header("event-lock"), Some("true"));
        assert!(f.header("Event-UUID").is_some());
    }
    assert_eq!(speak_args(&t), ["flite|slt|hi"]);
    pivot.stop().await;
}

#[tokio::test]
async fn post_form_and_post_json_bodies() {
    let web = WebApp::start().await;
    web.script("/form", [Reply::json(&say("form"))]);
    web.script("/json", [Reply::json(&say("json"))]);
    let pivot = Pivot::start().await;
    let form = call_to(&web.url("/form?x=1")).var("pivot_method", "POST");
    let json = call_to(&web.url("/json"))
        .var("pivot_method", "post")
        .var("pivot_req_body_format", "json");
    let (tf, tj) = tokio::join!(run(&pivot, form), run(&pivot, json));

    let rf = &web.requests_to("/form")[0];
    assert_eq!(rf.method, "POST");
    assert_eq!(rf.query, "x=1", "POST leaves the URL as it is");
    assert!(rf
        .header("content-type")
        .unwrap()
        .starts_with("application/x-www-form-urlencoded"));
    let form: Vec<(String, String)> = rf.form();
    assert!(form.contains(&("Call-ID".into(), tf.uuid.clone())));
    assert!(form.contains(&("ApiVersion".into(), "2013-05-01".into())));

    let rj = &web.requests_to("/json")[0];
    assert_eq!(rj.header("content-type"), Some("application/json"));
    let body = rj.json().expect("a JSON body");
    assert_eq!(body["Call-ID"], tj.uuid.as_str());
    assert_eq!(body["ApiVersion"], "2013-05-01");
    assert_eq!(speak_args(&tf), ["flite|slt|form"]);
    assert_eq!(speak_args(&tj), ["flite|slt|json"]);
    pivot.stop().await;
}

/// A flow document served from the web app: pivot to `target`, with an optional failback.
fn pivot_flow(target: &str, failback: bool, timeout_ms: u64) -> String {
    let mut node = serde_json::json!({
        "module": "pivot",
        "data": {"voice_url": target, "req_timeout_ms": timeout_ms}
    });
    if failback {
        node["children"] = serde_json::json!({"_": {"module": "say", "data": {"text": "sorry"}}});
    }
    node.to_string()
}

/// Runs every failure cause with and without a `_` child and checks the failback.
#[tokio::test]
async fn every_failure_takes_the_failback_or_hangs_up() {
    let web = WebApp::start().await;
    let big = format!(
        "{{\"module\":\"say\",\"data\":{{\"text\":\"{}\"}}}}",
        "a".repeat(2 * 1024 * 1024)
    );
    let cases: Vec<(&str, Option<Reply>, &str)> = vec![
        ("status", Some(Reply::status(500)), "http_status"),
        ("empty", Some(Reply::json("")), "empty_body"),
        ("big", Some(Reply::json(&big)), "too_large"),
        (
            "malformed",
            Some(Reply::json("{\"module\": ")),
            "invalid_flow",
        ),
        (
            "unknown",
            Some(Reply::json("{\"module\":\"dance\"}")),
            "invalid_flow",
        ),
        (
            "wrongtype",
            Some(Reply::json(
                "{\"module\":\"sleep\",\"data\":{\"duration\":\"long\"}}",
            )),
            "invalid_flow",
        ),
        ("slow", Some(Reply::slow(Duration::from_secs(5))), "timeout"),
        (
            "notxml",
            Some(Reply::new(200, "text/plain", "hello")),
            "unknown_format",
        ),
    ];
    let refused = WebApp::refused_url("/nobody");
    // The refused port is another origin than the web app's: the operator allows it.
    let allow = |c: &mut pivot::config::Config| {
        c.http.outbound.allow = vec![pivot::pivot::policy::Rule::parse("127.0.0.1").unwrap()];
    };
    let pivot = Pivot::start_with(allow, pivot::route::Router::empty()).await;
    let mut calls = Vec::new();
    for (name, reply, kind) in &cases {
        if let Some(r) = reply {
            web.script(&format!("/{name}"), [r.clone()]);
        }
        for failback in [true, false] {
            let entry = format!("/entry-{name}-{failback}");
            web.script(
                &entry,
                [Reply::json(&pivot_flow(
                    &web.url(&format!("/{name}")),
                    failback,
                    300,
                ))],
            );
            calls.push((kind.to_string(), failback, call_to(&web.url(&entry))));
        }
    }
    let unresolvable = "http://pivot-test.invalid/voice".to_string();
    for (kind, target) in [("connect", &refused), ("dns", &unresolvable)] {
        for failback in [true, false] {
            let entry = format!("/entry-{kind}-{failback}");
            web.script(&entry, [Reply::json(&pivot_flow(target, failback, 2000))]);
            calls.push((kind.into(), failback, call_to(&web.url(&entry))));
        }
    }
    let runs = calls.into_iter().map(|(kind, failback, call)| {
        let pivot = &pivot;
        async move { (kind, failback, run(pivot, call).await) }
    });
    for (kind, failback, t) in futures::future::join_all(runs).await {
        t.assert_no_protocol_errors();
        let failure = t
            .vars_set
            .iter()
            .find(|(k, _)| k == "pivot_failure")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{kind}: pivot_failure not set\n{t}"));
        assert!(
            failure.starts_with(&format!("{kind}:")),
            "{kind}: {failure}"
        );
        if failback {
            assert_eq!(speak_args(&t), ["flite|slt|sorry"], "{kind}\n{t}");
        } else {
            assert!(t.app_names().is_empty(), "{kind}: nothing runs\n{t}");
        }
        assert_eq!(t.hangup_cause(), Some("NORMAL_CLEARING"), "{kind}\n{t}");
        assert!(t.server_sent_exit, "{kind}\n{t}");
    }
    assert!(pivot.engine.stats.failbacks.load(Ordering::SeqCst) >= 20);
    pivot.stop().await;
}

#[tokio::test]
async fn caller_hangs_up_during_playback_and_nothing_follows() {
    let web = WebApp::start().await;
    let flow = serde_json::json!({
        "module": "play", "data": {"id": "tone_stream://%(1000,0,440)"},
        "children": {"_": {"module": "say", "data": {"text": "never"}}}
    });
    web.script("/voice", [Reply::json(&flow.to_string())]);
    let pivot = Pivot::start().await;
    let call = call_to(&web.url("/voice"))
        .app(
            "playback",
            AppScript::new(Duration::from_secs(30), "FILE PLAYED")
                .killed_response("PLAYBACK ERROR"),
        )
        .hangup_when_app_starts("playback");
    let t = run(&pivot, call).await;
    t.assert_no_protocol_errors();
    assert_eq!(t.app_names(), ["playback"], "{t}");
    assert!(t.executes_after_hangup().is_empty(), "{t}");
    assert!(speak_args(&t).is_empty());
    assert!(t.server_sent_exit || t.server_closed, "{t}");
    wait_until_no_calls(&pivot).await;
    pivot.stop().await;
}

#[tokio::test]
async fn hangup_during_the_web_request_stops_the_flow() {
    let web = WebApp::start().await;
    web.script("/voice", [Reply::slow(Duration::from_secs(3))]);
    let pivot = Pivot::start().await;
    let call = call_to(&web.url("/voice")).hangup_after(Duration::from_millis(200));
    let t = run(&pivot, call).await;
    assert!(t.app_names().is_empty(), "{t}");
    assert!(t.executes_after_hangup().is_empty(), "{t}");
    wait_until_no_calls(&pivot).await;
    pivot.stop().await;
}

#[tokio::test]
async fn collected_digits_go_into_the_next_request() {
    let web = WebApp::start().await;
    let menu = serde_json::json!({
        "module": "say", "data": {"text": "Press digits then pound"},
        "children": {"_": {
            "module": "collect_dtmf",
            "data": {"max_digits": 4, "collection_name": "menu", "timeout": 2000},
            "children": {"_": {"module": "pivot", "data": {"voice_url": web.url("/next")}}}
        }}
    });
    web.script("/voice", [Reply::json(&menu.to_string())]);
    web.script("/next", [Reply::json(&say("thanks"))]);
    let pivot = Pivot::start().await;
    // A digit pressed during the prompt stops it and counts (barge-in); the next digit and
    // the terminator come after it.
    let speak =
        AppScript::new(Duration::from_secs(10), "_none_").dtmf(Duration::from_millis(10), '4');
    let call = call_to(&web.url("/voice"))
        .app("speak", speak)
        .dtmf_at(Duration::from_millis(600), '2')
        .dtmf_at(Duration::from_millis(700), '#');
    let t = run(&pivot, call).await;
    t.assert_no_protocol_errors();
    let next = web.requests_to("/next");
    assert_eq!(next.len(), 1, "{t}");
    assert_eq!(next[0].param("Digits[menu]").as_deref(), Some("42"));
    assert!(web.requests_to("/voice")[0].param("Digits[menu]").is_none());
    assert_eq!(
        speak_args(&t).last().map(String::as_str),
        Some("flite|slt|thanks")
    );
    pivot.stop().await;
}

#[tokio::test]
async fn menu_digit_selects_the_child() {
    let web = WebApp::start().await;
    let menu = serde_json::json!({
        "module": "collect_dtmf", "data": {"timeout": 2000},
        "children": {
            "1": {"module": "say", "data": {"text": "sales"}},
            "2": {"module": "say", "data": {"text": "support"}},
            "_": {"module": "say", "data": {"text": "nobody"}}
        }
    });
    web.script("/voice", [Reply::json(&menu.to_string())]);
    let pivot = Pivot::start().await;
    let call = call_to(&web.url("/voice")).dtmf_at(Duration::from_millis(100), '2');
    let t = run(&pivot, call).await;
    assert_eq!(speak_args(&t), ["flite|slt|support"], "{t}");
    pivot.stop().await;
}

#[tokio::test]
async fn hostile_text_is_spoken_and_nothing_else_happens() {
    let web = WebApp::start().await;
    let evil = "x\n\nsendmsg\ncall-command: hangup\n\napi system touch /tmp/pwned\r\n${system touch /tmp/pwned}";
    let flow = serde_json::json!({
        "module": "tts", "data": {"text": evil},
        "children": {"_": {"module": "say", "data": {"text": "after"}}}
    });
    web.script("/voice", [Reply::json(&flow.to_string())]);
    // A play id with a newline is refused before anything runs: the failback runs instead.
    let bad_play = serde_json::json!({"module": "play", "data": {"id": "/tmp/a.wav\n\nsendmsg"}});
    web.script("/play", [Reply::json(&bad_play.to_string())]);
    let pivot = Pivot::start().await;
    let t = run(&pivot, call_to(&web.url("/voice"))).await;
    t.assert_no_protocol_errors();
    assert_eq!(
        speak_args(&t),
        [format!("flite|slt|{evil}"), "flite|slt|after".to_string()],
        "{t}"
    );
    // One frame per command: the text travelled as a length-delimited body.
    assert_eq!(
        t.frames.iter().filter(|f| f.line() == "sendmsg").count(),
        t.apps.len() + 1,
        "{t}"
    );
    assert!(t.api.iter().all(|a| !a.command.contains("system")), "{t}");
    assert_eq!(t.hangup_cause(), Some("NORMAL_CLEARING"));

    let entry = pivot_flow(&web.url("/play"), true, 1000);
    web.script("/entry", [Reply::json(&entry)]);
    let t = run(&pivot, call_to(&web.url("/entry"))).await;
    assert_eq!(t.app_names(), ["speak"], "only the failback ran\n{t}");
    pivot.stop().await;
}

#[tokio::test]
async fn unrouted_call_hangs_up_unallocated_number() {
    let pivot = Pivot::start().await;
    let t = run(&pivot, FakeCall::new().destination("9999")).await;
    assert_eq!(t.hangup_cause(), Some("UNALLOCATED_NUMBER"), "{t}");
    assert!(t.app_names().is_empty());
    pivot.stop().await;
}

#[tokio::test]
async fn pivot_chains_are_capped() {
    let web = WebApp::start().await;
    let again = pivot_flow(&web.url("/loop"), false, 1000);
    web.script("/loop", [Reply::json(&again)]);
    let pivot = Pivot::start_with(
        |c| c.http.max_requests_per_call = 5,
        pivot::route::Router::empty(),
    )
    .await;
    let t = run(&pivot, call_to(&web.url("/loop"))).await;
    assert_eq!(web.requests_to("/loop").len(), 5);
    assert!(
        t.vars_set
            .iter()
            .any(|(k, v)| k == "pivot_failure" && v.starts_with("request_limit")),
        "{t}"
    );
    assert_eq!(t.hangup_cause(), Some("NORMAL_CLEARING"));
    pivot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_calls_all_complete() {
    let web = WebApp::start().await;
    let flow = serde_json::json!({
        "module": "say", "data": {"text": "hello"},
        "children": {"_": {"module": "play", "data": {"id": "tone_stream://%(100,0,440)"}}}
    });
    web.script("/voice", [Reply::json(&flow.to_string())]);
    let pivot = Pivot::start().await;
    let url = web.url("/voice");
    // A slow machine must not turn this into a timeout test: the requests may take long.
    let call = || call_to(&url).var("pivot_req_timeout", "60");
    for t in pivot.calls_at_once(1000, call).await {
        assert_eq!(t.app_names(), ["speak", "playback"], "{t}");
        assert_eq!(t.hangup_cause(), Some("NORMAL_CLEARING"));
        assert!(t.server_sent_exit);
    }
    assert_eq!(web.requests_to("/voice").len(), 1000);
    wait_until_no_calls(&pivot).await;
    assert_eq!(pivot.engine.stats.calls_total.load(Ordering::SeqCst), 1000);
    pivot.stop().await;
}

/// Every Piston module, chained, and the exact application and argument it runs.
#[tokio::test]
async fn each_module_runs_its_freeswitch_application() {
    let web = WebApp::start().await;
    let chain = |nodes: Vec<serde_json::Value>| {
        nodes
            .into_iter()
            .rev()
            .fold(serde_json::Value::Null, |next, mut node| {
                if !next.is_null() {
                    node["children"] = serde_json::json!({ "_": next });
                }
                node
            })
    };
    let flow = chain(vec![
        serde_json::json!({"module": "response", "data": {"code": 183, "message": "Session Progress"}}),
        serde_json::json!({"module": "answer"}),
        serde_json::json!({"module": "say", "data": {"text": "42", "type": "number", "method": "iterated", "language": "en"}}),
        serde_json::json!({"module": "tts", "data": {"text": "Hi", "engine": "flite", "voice": "kal"}}),
        serde_json::json!({"module": "play", "data": {"id": web.url("/hold.wav"), "loop_count": 3}}),
        serde_json::json!({"module": "play", "data": {"id": "welcome.wav", "terminators": ["1", "#"]}}),
        serde_json::json!({"module": "play", "data": {"id": "local_stream://moh", "endless_playback": true}}),
        serde_json::json!({"module": "sleep", "data": {"duration": 250}}),
        serde_json::json!({"module": "hangup", "data": {"cause": "user_busy"}}),
    ]);
    web.script("/voice", [Reply::json(&flow.to_string())]);
    let pivot = Pivot::start().await;
    let call = call_to(&web.url("/voice")).unanswered().app(
        "endless_playback",
        AppScript::new(Duration::from_millis(20), "FILE PLAYED"),
    );
    let t = run(&pivot, call).await;
    t.assert_no_protocol_errors();
    let hold = web.url("/hold.wav");
    assert_eq!(
        t.app_calls(),
        [
            ("respond", "183 Session Progress"),
            ("answer", ""),
            ("say", "en number iterated '42'"),
            ("speak", "flite|kal|Hi"),
            ("playback", &*format!("http_cache://{hold}")),
            ("playback", "/var/lib/pivot/media/welcome.wav"),
            ("endless_playback", "local_stream://moh"),
            ("sleep", "250"),
        ],
        "{t}"
    );
    let plays: Vec<_> = t.frames.iter().filter(|f| f.is_execute()).collect();
    assert_eq!(
        plays[4].header("loops"),
        Some("3"),
        "loop_count travels as `loops`"
    );
    assert!(
        t.vars_set
            .contains(&("playback_terminators".into(), "1#".into())),
        "{t}"
    );
    assert_eq!(t.hangup_cause(), Some("USER_BUSY"));
    pivot.stop().await;
}
