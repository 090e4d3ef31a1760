//! The outbound URL policy against an attacking web app (issue 11, SSRF): a web app that
//! names an internal address — directly, through an HTTP redirect, or through a name that
//! resolves to loopback — gets the failback, and nothing of the internal service's answer
//! is stored. The operator's own URLs, and their same-origin pages, are not checked; the
//! operator's `[http] allow` opens the rest.

use serde_json::json;

use crate::harness::Pivot;
use crate::support::debug_api::{login, records};
use crate::support::fake_fs::{FakeCall, FakeFs};
use crate::support::transcript::Transcript;
use crate::support::web::{Reply, WebApp};
use pivot::config::Config;
use pivot::pivot::policy::Rule;
use pivot::route::Router;

const SECRET: &str = "internal-credentials-7f3a";

/// An internal service whose answer must never reach a tenant.
async fn internal_service() -> WebApp {
    let internal = WebApp::start().await;
    let flow = json!({"module": "say", "data": {"text": SECRET}});
    internal.script("/secret", [Reply::json(&flow.to_string())]);
    internal
}

/// A nested pivot node to `url` with the debug log on, and a failback that says "refused".
fn nested_pivot(url: &str) -> String {
    json!({
        "module": "pivot",
        "data": {"voice_url": url, "debug": true},
        "children": {"_": {"module": "say", "data": {"text": "refused"}}}
    })
    .to_string()
}

fn debug_call(url: &str) -> FakeCall {
    FakeCall::new()
        .var("pivot_voice_url", url)
        .var("pivot_debug", "true")
}

async fn run(pivot: &Pivot, call: FakeCall) -> Transcript {
    FakeFs::connect(pivot.esl, call).await.finish().await
}

fn spoken(t: &Transcript) -> Vec<String> {
    t.app_calls()
        .into_iter()
        .filter(|(n, _)| *n == "speak")
        .map(|(_, a)| a.to_string())
        .collect()
}

fn failure(t: &Transcript) -> String {
    t.vars_set
        .iter()
        .find(|(k, _)| k == "pivot_failure")
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

fn allowing(rules: &'static [&'static str]) -> impl FnOnce(&mut Config) {
    move |c| c.http.outbound.allow = rules.iter().map(|r| Rule::parse(r).unwrap()).collect()
}

/// The call took the failback because of the policy, and the internal service saw nothing.
fn assert_refused(t: &Transcript, internal: &WebApp) {
    t.assert_no_protocol_errors();
    assert!(internal.requests().is_empty(), "{:?}", internal.requests());
    assert_eq!(spoken(t), ["flite|slt|refused"], "{t}");
    let f = failure(t);
    assert!(f.starts_with("forbidden_destination: "), "{f}");
}

#[tokio::test]
async fn a_nested_pivot_to_an_internal_address_is_refused_and_nothing_is_stored() {
    let internal = internal_service().await;
    let tenant = WebApp::start().await;
    tenant.script(
        "/voice",
        [Reply::json(&nested_pivot(&internal.url("/secret")))],
    );
    let pivot = Pivot::start().await;
    let t = run(&pivot, debug_call(&tenant.url("/voice"))).await;
    assert_refused(&t, &internal);

    // The tenant reads its debug log: its own answer, then the refused request and an
    // error record, and no body of any kind after it.
    let token = login(&pivot).await;
    let recs = records(&pivot, &token, &t.uuid, 5).await;
    let text = serde_json::to_string(&recs).unwrap();
    assert!(!text.contains(SECRET), "{text}");
    let uri = recs[3]["uri"].as_str().unwrap();
    assert!(uri.starts_with(&internal.url("/secret?")), "{recs:#?}");
    assert_eq!(recs[4]["error_kind"], "forbidden_destination");
    assert!(recs[4]["error_message"]
        .as_str()
        .unwrap()
        .contains("loopback"));
    assert!(recs[3..].iter().all(|r| r.get("resp_body").is_none()));
    let by_cause = pivot.engine.stats.failbacks_by_cause.snapshot();
    assert!(
        by_cause.contains(&("forbidden_destination".into(), 1)),
        "{by_cause:?}"
    );
    pivot.stop().await;
}

#[tokio::test]
async fn a_name_that_resolves_to_loopback_is_refused() {
    let internal = internal_service().await;
    let tenant = WebApp::start().await;
    let by_name = format!("http://localhost:{}/secret", internal.addr().port());
    tenant.script("/voice", [Reply::json(&nested_pivot(&by_name))]);
    let pivot = Pivot::start().await;
    let t = run(&pivot, debug_call(&tenant.url("/voice"))).await;
    assert_refused(&t, &internal);
    pivot.stop().await;
}

#[tokio::test]
async fn a_redirect_to_an_internal_address_is_refused() {
    let internal = internal_service().await;
    // The tenant's host, 127.0.0.2, is allowed by the operator; its redirect is checked
    // as the URL it names.
    let tenant = WebApp::start_on([127, 0, 0, 2]).await;
    tenant.script("/hop", [Reply::redirect(&internal.url("/secret"))]);
    let entry = WebApp::start().await;
    entry.script("/voice", [Reply::json(&nested_pivot(&tenant.url("/hop")))]);
    let pivot = Pivot::start_with(allowing(&["127.0.0.2"]), Router::empty()).await;
    let t = run(&pivot, debug_call(&entry.url("/voice"))).await;
    assert_refused(&t, &internal);
    assert_eq!(
        tenant.requests_to("/hop").len(),
        1,
        "the allowed hop was asked"
    );

    // An operator URL keeps its trust only on its own origin: its redirect elsewhere is
    // checked too.
    entry.script("/moved", [Reply::redirect(&internal.url("/secret"))]);
    let call = debug_call(&entry.url("/moved"));
    let t = run(&pivot, call).await;
    assert!(internal.requests().is_empty());
    assert!(failure(&t).starts_with("forbidden_destination: "), "{t}");
    pivot.stop().await;
}

#[tokio::test]
async fn the_operators_allow_list_opens_an_internal_address() {
    let internal = internal_service().await;
    let tenant = WebApp::start().await;
    tenant.script(
        "/voice",
        [Reply::json(&nested_pivot(&internal.url("/secret")))],
    );
    let pivot = Pivot::start_with(allowing(&["127.0.0.0/8"]), Router::empty()).await;
    let t = run(&pivot, debug_call(&tenant.url("/voice"))).await;
    t.assert_no_protocol_errors();
    assert_eq!(internal.requests_to("/secret").len(), 1);
    assert_eq!(spoken(&t), [format!("flite|slt|{SECRET}")], "{t}");
    pivot.stop().await;
}

#[tokio::test]
async fn the_operators_web_app_chains_to_its_own_origin_but_not_to_another_port() {
    let internal = internal_service().await;
    let web = WebApp::start().await;
    let doc = |body: &str| Reply::xml(&format!("<Response>{body}</Response>"));
    web.script("/voice", [doc("<Redirect>/next</Redirect>")]);
    let next = format!(
        "<Say>on my own page</Say><Redirect>{}</Redirect>",
        internal.url("/secret")
    );
    web.script("/next", [doc(&next)]);
    let pivot = Pivot::start().await;
    let call = debug_call(&web.url("/voice")).var("pivot_req_format", "twiml");
    let t = run(&pivot, call).await;
    t.assert_no_protocol_errors();
    assert_eq!(web.requests_to("/next").len(), 1);
    assert_eq!(spoken(&t), ["flite|slt|on my own page"], "{t}");
    assert!(internal.requests().is_empty());
    assert!(failure(&t).starts_with("forbidden_destination: "), "{t}");
    pivot.stop().await;
}

#[tokio::test]
async fn uploads_and_cdrs_to_an_internal_address_are_not_sent() {
    let internal = internal_service().await;
    let tenant = WebApp::start().await;
    let next = json!({"module": "pivot", "data": {
        "voice_url": tenant.url("/record"),
        "cdr_url": internal.url("/cdr"),
    }});
    tenant.script("/voice", [Reply::json(&next.to_string())]);
    let record = json!({"module": "record_caller", "data": {"url": internal.url("/up")}});
    tenant.script("/record", [Reply::json(&record.to_string())]);
    let pivot = Pivot::start().await;
    let t = run(&pivot, debug_call(&tenant.url("/voice"))).await;
    pivot.stop().await;
    t.assert_no_protocol_errors();
    assert!(t.app_names().contains(&"record"), "{t}");
    assert!(
        t.api.iter().all(|a| !a.command.starts_with("http_put")),
        "pivot must not ask FreeSWITCH to upload to an internal address\n{t}"
    );
    assert!(internal.requests().is_empty(), "{:?}", internal.requests());
}
