//! A real call's timeline: calls through the fake FreeSWITCH with debug on, then the
//! timeline read back through the REST API (`.../pivot/debug/{CALL_ID}/timeline`): the
//! steps in the order they happened, offsets that only grow, every request linked to its
//! debug records, isolation by account, and the bound.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Pivot, ACCOUNT, API_KEY, OTHER_ACCOUNT, OTHER_API_KEY};
use crate::support::debug_api::{get_json, login_at, records_until};
use crate::support::fake_fs::{AppScript, FakeCall, FakeFs};
use crate::support::web::{Reply, WebApp};

pub async fn login(pivot: &Pivot, key: &str) -> String {
    login_at(&pivot.api_url("/v2/api_auth"), key).await
}

fn timeline_path(account: &str, call_id: &str) -> String {
    format!("/v2/accounts/{account}/pivot/debug/{call_id}/timeline")
}

async fn get(pivot: &Pivot, token: &str, path: &str) -> (u16, Value) {
    get_json(&pivot.api_url(path), token).await
}

/// The call's timeline once the writer has it (it is written when the call ends, off the
/// call's path); panics after about ten seconds.
pub async fn timeline(pivot: &Pivot, token: &str, call_id: &str) -> Value {
    for _ in 0..400 {
        let (status, v) = get(pivot, token, &timeline_path(ACCOUNT, call_id)).await;
        if status == 200 {
            return v["data"].clone();
        }
        assert_eq!(status, 404, "{v:#}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("call {call_id} never had a timeline");
}

fn steps(entries: &[Value]) -> Vec<&str> {
    entries
        .iter()
        .map(|e| e["step"].as_str().unwrap())
        .collect()
}

/// Index of the first entry of `step` after `from` that `pred` accepts.
fn find(entries: &[Value], from: usize, step: &str, pred: impl Fn(&Value) -> bool) -> usize {
    entries
        .iter()
        .enumerate()
        .skip(from)
        .find(|(_, e)| e["step"] == step && pred(e))
        .map(|(i, _)| i)
        .unwrap_or_else(|| panic!("no {step} after #{from}: {:?}", steps(entries)))
}

/// A menu (a prompt a key interrupts, one digit), then a request that fails (500) and
/// takes the failback: a prompt, then the end.
fn script_menu(web: &WebApp) {
    let menu = serde_json::json!({
        "module": "say", "data": {"text": "Press 1"},
        "children": {"_": {
            "module": "collect_dtmf",
            "data": {"max_digits": 1, "collection_name": "menu", "timeout": 2000},
            "children": {"_": {
                "module": "pivot", "data": {"voice_url": web.url("/next"), "debug": true},
                "children": {"_": {"module": "say", "data": {"text": "sorry"}}}
            }}
        }}
    });
    web.script("/voice", [Reply::json(&menu.to_string())]);
    web.script("/next", [Reply::status(500)]);
}

#[tokio::test]
async fn a_debug_calls_timeline_is_what_happened_in_order_and_linked_to_its_records() {
    let web = WebApp::start().await;
    script_menu(&web);
    let pivot = Pivot::start().await;
    let speak =
        AppScript::new(Duration::from_secs(10), "_none_").dtmf(Duration::from_millis(10), '1');
    let call = FakeCall::new()
        .var("pivot_voice_url", &web.url("/voice"))
        .var("pivot_debug", "true")
        .caller_id("Alice", "1001")
        .app("speak", speak);
    let t = FakeFs::connect(pivot.esl, call).await.finish().await;
    let token = login(&pivot, API_KEY).await;
    let data = timeline(&pivot, &token, &t.uuid).await;
    assert_eq!(data["call_id"], t.uuid.as_str());
    assert_eq!(data["account_id"], ACCOUNT);
    let e = data["entries"].as_array().unwrap();

    let connected = &e[0];
    assert_eq!(connected["step"], "connected", "{e:#?}");
    assert_eq!(connected["from"], "1001");
    assert_eq!(connected["mode"], "async");
    let mut i = 0;
    for (step, pred) in [
        (
            "routed",
            &(|e: &Value| e["account"] == ACCOUNT) as &dyn Fn(&Value) -> bool,
        ),
        ("request", &|e| {
            e["iteration"] == 1 && e["url"].as_str().unwrap().contains("/voice")
        }),
        ("response", &|e| e["iteration"] == 1 && e["status"] == 200),
        ("execute", &|e| {
            e["app"] == "speak" && e["arg"] == "flite|slt|Press 1"
        }),
        ("dtmf", &|e| e["digit"] == "1"),
        ("collecting", &|e| e["name"] == "menu"),
        ("collected", &|e| e["digits"] == "1"),
        ("request", &|e| e["iteration"] == 2 && e["method"] == "GET"),
        ("failback", &|e| {
            e["iteration"] == 2 && e["kind"] == "http_status"
        }),
        ("execute", &|e| e["arg"] == "flite|slt|sorry"),
        ("hangup_sent", &|e| e["cause"] == "NORMAL_CLEARING"),
        ("ended", &|e| {
            e["cause"] == "NORMAL_CLEARING" && e["by"] == "pivot"
        }),
        ("exit", &|_| true),
    ] {
        i = find(e, i, step, pred);
    }
    assert_eq!(i, e.len() - 1, "exit is the last step: {:?}", steps(e));
    // Offsets from the call's start only grow.
    let offsets: Vec<u64> = e.iter().map(|x| x["t_ms"].as_u64().unwrap()).collect();
    assert!(offsets.windows(2).all(|w| w[0] <= w[1]), "{offsets:?}");
    assert_eq!(offsets[0], 0);
    // Every request of the timeline has its debug records, under the same iteration.
    let asked: BTreeSet<u64> = e
        .iter()
        .filter(|x| x["step"] == "request")
        .map(|x| x["iteration"].as_u64().unwrap())
        .collect();
    assert_eq!(asked, BTreeSet::from([1, 2]));
    let recs = records_until(&pivot, &token, &t.uuid, |r| {
        r.iter()
            .any(|x| x["iteration"] == 2 && x.get("error_kind").is_some())
    })
    .await;
    for n in &asked {
        let has_request = recs
            .iter()
            .any(|r| r["iteration"].as_u64() == Some(*n) && r.get("method").is_some());
        assert!(has_request, "request {n} has no debug record: {recs:#?}");
    }
    pivot.stop().await;
}

#[tokio::test]
async fn a_timeline_is_read_by_its_own_account_only() {
    let web = WebApp::start().await;
    web.script(
        "/voice",
        [Reply::json(r#"{"module":"say","data":{"text":"hi"}}"#)],
    );
    let pivot = Pivot::start().await;
    let debug = FakeCall::new()
        .var("pivot_voice_url", &web.url("/voice"))
        .var("pivot_debug", "true");
    let t = FakeFs::connect(pivot.esl, debug).await.finish().await;
    let plain = FakeCall::new().var("pivot_voice_url", &web.url("/voice"));
    let quiet = FakeFs::connect(pivot.esl, plain).await.finish().await;
    let token = login(&pivot, API_KEY).await;
    timeline(&pivot, &token, &t.uuid).await;

    let other = login(&pivot, OTHER_API_KEY).await;
    let (status, _) = get(&pivot, &other, &timeline_path(ACCOUNT, &t.uuid)).await;
    assert_eq!(status, 403, "another account's token");
    let (status, v) = get(&pivot, &other, &timeline_path(OTHER_ACCOUNT, &t.uuid)).await;
    assert_eq!(status, 404, "not the other account's call: {v:#}");
    assert_eq!(v["message"], "no timeline for this call id");
    let (status, _) = get(&pivot, "", &timeline_path(ACCOUNT, &t.uuid)).await;
    assert_eq!(status, 401);
    // A call without debug keeps no timeline (nor records).
    let (status, _) = get(&pivot, &token, &timeline_path(ACCOUNT, &quiet.uuid)).await;
    assert_eq!(status, 404);
    pivot.stop().await;
}

#[tokio::test]
async fn a_long_call_keeps_a_bounded_timeline_that_says_it_was_cut() {
    let web = WebApp::start().await;
    // Keys the flow never reads: each is a step of the timeline.
    web.script(
        "/voice",
        [Reply::json(
            r#"{"module":"play","data":{"id":"tone_stream://%(100,0,440)"}}"#,
        )],
    );
    let pivot = Pivot::start_with(
        |c| c.store.timeline_max_entries = 8,
        pivot::route::Router::empty(),
    )
    .await;
    let mut call = FakeCall::new()
        .var("pivot_voice_url", &web.url("/voice"))
        .var("pivot_debug", "true")
        .app(
            "playback",
            AppScript::new(Duration::from_secs(30), "FILE PLAYED"),
        )
        .hangup_after(Duration::from_millis(400));
    for n in 0..20u64 {
        call = call.dtmf_at(Duration::from_millis(50 + n * 10), '5');
    }
    let t = FakeFs::connect(pivot.esl, call).await.finish().await;
    let token = login(&pivot, API_KEY).await;
    let data = timeline(&pivot, &token, &t.uuid).await;
    let e = data["entries"].as_array().unwrap();
    assert_eq!(e.len(), 9, "{:?}", steps(e));
    let last = &e[8];
    assert_eq!(last["step"], "truncated");
    // 20 keys, the hangup and what follows did not fit.
    assert!(last["dropped"].as_u64().unwrap() > 20, "{last}");
    assert!(last["t_ms"].as_u64() >= e[7]["t_ms"].as_u64());
    pivot.stop().await;
}

#[tokio::test]
async fn the_caller_hanging_up_is_named_in_the_timeline() {
    let web = WebApp::start().await;
    web.script(
        "/voice",
        [Reply::json(
            r#"{"module":"play","data":{"id":"tone_stream://%(100,0,440)"}}"#,
        )],
    );
    let pivot = Pivot::start().await;
    let call = FakeCall::new()
        .var("pivot_voice_url", &web.url("/voice"))
        .var("pivot_debug", "true")
        .app(
            "playback",
            AppScript::new(Duration::from_secs(30), "FILE PLAYED"),
        )
        .hangup_after(Duration::from_millis(200));
    let t = FakeFs::connect(pivot.esl, call).await.finish().await;
    let token = login(&pivot, API_KEY).await;
    let data = timeline(&pivot, &token, &t.uuid).await;
    let e = data["entries"].as_array().unwrap();
    let ended = find(e, 0, "ended", |_| true);
    assert_eq!(e[ended]["by"], "caller", "{e:#?}");
    assert_eq!(e[ended]["cause"], "NORMAL_CLEARING");
    // pivot had queued its hangup behind the prompt: the caller was first all the same.
    let play = find(e, 0, "execute", |x| x["app"] == "playback");
    let queued = find(e, play, "hangup_sent", |_| true);
    find(e, queued, "disconnect", |_| true);
    pivot.stop().await;
}

/// The value of one series line of `/metrics`, 0 when absent.
async fn series(pivot: &Pivot, line: &str) -> u64 {
    let text = reqwest::get(pivot.api_url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(line)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn per_account_metrics_appear_and_the_label_cap_holds() {
    let web = WebApp::start().await;
    web.script(
        "/voice",
        [Reply::json(r#"{"module":"say","data":{"text":"hi"}}"#)],
    );
    web.script("/broken", [Reply::status(500)]);
    let pivot = Pivot::start_with(
        |c| c.api.metrics_max_accounts = 1,
        pivot::route::Router::empty(),
    )
    .await;
    let call = |path: &str, account: &str| {
        FakeCall::new()
            .var("pivot_voice_url", &web.url(path))
            .var("piston_account_id", account)
    };
    let third = "00000000000000000000000000000003";
    for (path, account) in [
        ("/voice", ACCOUNT),
        ("/broken", ACCOUNT),
        ("/voice", OTHER_ACCOUNT),
        ("/broken", third),
    ] {
        FakeFs::connect(pivot.esl, call(path, account))
            .await
            .finish()
            .await;
    }
    let first = format!("{{account=\"{ACCOUNT}\"}}");
    assert_eq!(
        series(&pivot, &format!("pivot_account_calls_total{first}")).await,
        2
    );
    assert_eq!(
        series(&pivot, &format!("pivot_account_requests_total{first}")).await,
        2
    );
    assert_eq!(
        series(&pivot, &format!("pivot_account_failbacks_total{first}")).await,
        1
    );
    let failures = format!(
        "pivot_account_request_failures_total{{account=\"{ACCOUNT}\",kind=\"http_status\"}}"
    );
    assert_eq!(series(&pivot, &failures).await, 1);
    let latency = format!("pivot_account_request_duration_seconds_count{first}");
    assert_eq!(series(&pivot, &latency).await, 2);
    // Past the cap of one account, the others share `other`.
    let other = "{account=\"other\"}";
    assert_eq!(
        series(&pivot, &format!("pivot_account_calls_total{other}")).await,
        2
    );
    assert_eq!(
        series(&pivot, &format!("pivot_account_failbacks_total{other}")).await,
        1
    );
    let text = reqwest::get(pivot.api_url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !text.contains(OTHER_ACCOUNT) && !text.contains(third),
        "{text}"
    );
    // The totals are still there, under their old names.
    assert_eq!(series(&pivot, "pivot_calls_total").await, 4);
    assert_eq!(series(&pivot, "pivot_failbacks_total").await, 2);
    pivot.stop().await;
}
