#![allow(clippy::unwrap_used)] // tests may unwrap

use std::collections::HashMap;
use std::time::Duration;

use super::*;
use crate::callflow::{BodyFormat, HttpMethod, Module, ReqFormat};

const DEFAULT: &str = "ffffffffffffffffffffffffffffffff";

fn default_account() -> AccountId {
    DEFAULT.parse().unwrap()
}

fn no_vars(_: &str) -> Option<String> {
    None
}

fn write(dir: &Path, name: &str, body: &str) {
    std::fs::write(dir.join(name), body).unwrap();
}

fn doc(name: &str, extra: &str) -> String {
    format!(r#"{{"name": "{name}", {extra} "flow": {{"module": "answer"}}}}"#)
}

fn fixture_router() -> Router {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/flows/callflows");
    Router::load_dir(&dir, &FlowLimits::default()).unwrap()
}

fn doc_name(route: &Route) -> &str {
    match &route.source {
        RouteSource::Document(name) => name,
        RouteSource::ChannelVars => "<vars>",
    }
}

#[test]
fn account_id_is_32_hex_normalised_to_lower_case() {
    let id: AccountId = "0123456789ABCDEF0123456789abcdef".parse().unwrap();
    assert_eq!(id.to_string(), "0123456789abcdef0123456789abcdef");
    for bad in [
        "",
        "0123456789abcdef",
        "0123456789abcdef0123456789abcdeg",
        "0123456789abcdef0123456789abcdef0",
    ] {
        assert!(bad.parse::<AccountId>().is_err(), "{bad}");
    }
    assert_eq!(
        serde_json::to_string(&id).unwrap(),
        r#""0123456789abcdef0123456789abcdef""#
    );
    let back: AccountId = serde_json::from_str(r#""0123456789ABCDEF0123456789ABCDEF""#).unwrap();
    assert_eq!(back.as_str(), "0123456789abcdef0123456789abcdef");
    assert!(serde_json::from_str::<AccountId>(r#""nope""#).is_err());
}

#[test]
fn fixture_documents_load_in_file_name_order() {
    let router = fixture_router();
    let names: Vec<_> = router.docs().iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["main number", "catch-all"]);
    let main = &router.docs()[0];
    assert_eq!(
        main.account_id.as_ref().map(AccountId::as_str),
        Some("0123456789abcdef0123456789abcdef")
    );
    assert_eq!(main.numbers, ["3004", "+15551234567"]);
    assert!(main.source.ends_with("10-main.json"));
}

#[test]
fn numbers_win_over_patterns_and_patterns_keep_a_stable_order() {
    let router = fixture_router();
    let route = |dest: &str| router.route(dest, &no_vars, &default_account()).unwrap();
    // "3004" matches 20-catchall's pattern too, but numbers come first.
    assert_eq!(doc_name(&route("3004")), "main number");
    // "2001" matches ^2\d{3}$ (10-main) and ^2 (20-catchall): the first file wins.
    assert_eq!(doc_name(&route("2001")), "main number");
    assert_eq!(doc_name(&route("21")), "catch-all");
    assert_eq!(doc_name(&route("999")), "catch-all");
    let flow = route("999").flow;
    assert_eq!(flow.module.name(), "say");
}

#[test]
fn exact_numbers_of_a_later_document_beat_patterns_of_an_earlier_one() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.json",
        &doc("a", r#""patterns": ["^\\d+$"],"#),
    );
    write(dir.path(), "b.json", &doc("b", r#""numbers": ["100"],"#));
    let router = Router::load_dir(dir.path(), &FlowLimits::default()).unwrap();
    let route = |dest: &str| router.route(dest, &no_vars, &default_account()).unwrap();
    assert_eq!(doc_name(&route("100")), "b");
    assert_eq!(doc_name(&route("101")), "a");
}

#[test]
fn no_route_is_an_error_naming_the_destination() {
    let router = fixture_router();
    let e = router
        .route("sales", &no_vars, &default_account())
        .unwrap_err();
    assert!(matches!(&e, RouteError::NoRoute(d) if d == "sales"), "{e}");
    assert!(Router::empty()
        .route("3004", &no_vars, &default_account())
        .is_err());
}

#[test]
fn account_comes_from_the_variable_then_the_document_then_the_default() {
    let router = fixture_router();
    let var_account = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let with_var = |name: &str| (name == "piston_account_id").then(|| var_account.to_owned());
    let account = |dest: &str, vars: &dyn Fn(&str) -> Option<String>| {
        router
            .route(dest, vars, &default_account())
            .unwrap()
            .account_id
            .to_string()
    };
    assert_eq!(account("3004", &with_var), "a".repeat(32));
    assert_eq!(
        account("3004", &no_vars),
        "0123456789abcdef0123456789abcdef"
    );
    assert_eq!(account("999", &no_vars), DEFAULT);
    let bad = |name: &str| (name == "piston_account_id").then(|| "nope".to_owned());
    let e = router.route("3004", &bad, &default_account()).unwrap_err();
    assert!(
        matches!(&e, RouteError::ChannelVar { name, .. } if name == "piston_account_id"),
        "{e}"
    );
}

#[test]
fn channel_variables_win_and_build_one_pivot_node() {
    let vars: HashMap<&str, &str> = [
        ("pivot_voice_url", "https://app.example.com/voice?x=1"),
        ("pivot_req_format", "twiml"),
        ("pivot_method", "POST"),
        ("pivot_req_body_format", "json"),
        ("pivot_req_timeout", "3"),
        ("pivot_debug", "true"),
    ]
    .into_iter()
    .collect();
    let get = |name: &str| vars.get(name).map(|v| v.to_string());
    let route = fixture_router()
        .route("3004", &get, &default_account())
        .unwrap();
    assert_eq!(route.source, RouteSource::ChannelVars);
    assert_eq!(route.account_id.as_str(), DEFAULT);
    assert!(route.flow.children.is_empty());
    let Module::Pivot(p) = &route.flow.module else {
        panic!("not a pivot node")
    };
    assert_eq!(p.voice_url.as_str(), "https://app.example.com/voice?x=1");
    assert_eq!(
        (p.req_format, p.method, p.body_format),
        (ReqFormat::Twiml, HttpMethod::Post, BodyFormat::Json)
    );
    assert_eq!((p.timeout, p.debug), (Duration::from_secs(3), true));
    assert!(p.voice_url.is_trusted(), "the dialplan is the operator's");
}

#[test]
fn every_url_of_a_document_is_the_operators() {
    let dir = tempfile::tempdir().unwrap();
    let flow = r#"{"module": "pivot", "data": {"voice_url": "http://127.0.0.1:5000/v",
        "cdr_url": "http://10.0.0.9/cdr"},
        "children": {"_": {"module": "record_caller", "data": {"url": "http://10.0.0.9/up"}}}}"#;
    write(
        dir.path(),
        "a.json",
        &format!(r#"{{"numbers": ["1"], "flow": {flow}}}"#),
    );
    let router = Router::load_dir(dir.path(), &FlowLimits::default()).unwrap();
    let mut flow = router
        .route("1", &no_vars, &default_account())
        .unwrap()
        .flow;
    let mut trusts = Vec::new();
    flow.visit_urls(&mut |u| trusts.push(u.is_trusted()));
    assert_eq!(trusts, [true, true, true]);
}

#[test]
fn a_bad_channel_variable_is_an_error_naming_it() {
    let cases = [
        ("pivot_voice_url", "ftp://x/"),
        ("pivot_req_timeout", "soon"),
        ("pivot_method", "delete"),
        ("pivot_debug", "maybe"),
    ];
    for (bad_name, bad_value) in cases {
        let get = |name: &str| match name {
            n if n == bad_name => Some(bad_value.to_owned()),
            "pivot_voice_url" => Some("http://h/".to_owned()),
            _ => None,
        };
        let e = Router::empty()
            .route("1", &get, &default_account())
            .unwrap_err();
        assert!(
            matches!(&e, RouteError::ChannelVar { name, .. } if name == bad_name),
            "{e}"
        );
    }
}

#[test]
fn bad_documents_fail_the_load_naming_the_file_and_the_problem() {
    let cases = [
        ("{not json", "malformed JSON"),
        ("[]", "expected a JSON object"),
        (r#"{"name": "x"}"#, "flow: required"),
        (
            r#"{"flow": {"module": "record_caller", "data": {"url": "http://h/", "time_limit": "abc"}}}"#,
            "flow.data.time_limit: expected a number of seconds",
        ),
        (
            r#"{"account_id": "123", "flow": {"module": "answer"}}"#,
            "account_id: an account id is 32 hex digits",
        ),
        (
            r#"{"numbers": ["1", 2], "flow": {"module": "answer"}}"#,
            "numbers[1]: expected a non-empty string",
        ),
        (
            r#"{"patterns": ["("], "flow": {"module": "answer"}}"#,
            "patterns[0]: bad regex",
        ),
        (
            r#"{"patterns": ["\\w{1000}\\w{1000}"], "flow": {"module": "answer"}}"#,
            "patterns[0]: bad regex",
        ),
    ];
    for (body, message) in cases {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "ok.json", &doc("ok", ""));
        write(dir.path(), "broken.json", body);
        let e = Router::load_dir(dir.path(), &FlowLimits::default()).unwrap_err();
        let RouteError::Document { file, message: got } = &e else {
            panic!("{e}")
        };
        assert!(file.ends_with("broken.json"), "{e}");
        assert!(got.starts_with(message), "{body}: {got}");
        assert!(e.to_string().contains("broken.json"));
    }
}

#[test]
fn a_number_in_two_documents_names_both_files() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.json",
        &doc("a", r#""numbers": ["100", "100"],"#),
    );
    write(
        dir.path(),
        "b.json",
        &doc("b", r#""numbers": ["200", "100"],"#),
    );
    let e = Router::load_dir(dir.path(), &FlowLimits::default()).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("b.json") && text.contains("a.json") && text.contains("\"100\""),
        "{text}"
    );
}

#[test]
fn only_json_files_are_read_and_a_missing_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "notes.txt", "not a callflow");
    write(
        dir.path(),
        "only.json",
        &doc("only", r#""numbers": ["5"],"#),
    );
    let router = Router::load_dir(dir.path(), &FlowLimits::default()).unwrap();
    assert_eq!(router.docs().len(), 1);
    let missing = dir.path().join("nope");
    assert!(matches!(
        Router::load_dir(&missing, &FlowLimits::default()),
        Err(RouteError::Dir { .. })
    ));
}
