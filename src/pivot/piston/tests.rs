#![allow(clippy::unwrap_used)] // tests may unwrap

use std::time::Duration;

use super::*;
use crate::callflow::{DtmfKeys, FsSource, MediaId};

fn parse(json: &str) -> Result<Node, FlowError> {
    parse_piston(json.as_bytes(), &FlowLimits::default())
}

fn err(json: &str) -> FlowError {
    match parse(json) {
        Ok(node) => panic!("expected an error for {json}, got {node:?}"),
        Err(e) => e,
    }
}

fn node(module: &str, data: &str) -> String {
    format!(r#"{{"module": "{module}", "data": {data}}}"#)
}

fn only_module(json: &str) -> Module {
    parse(json).unwrap().module
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/fixtures/flows/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(path).unwrap()
}

fn voicemail() -> Node {
    let mut rec =
        RecordCaller::new(HttpUrl::new("http://recordings.example.com/voicemail/").unwrap());
    rec.time_limit = 360;
    let mut root = Node::leaf(Module::Say(Say::text(
        Text::new("Please leave a message after the beep.").unwrap(),
    )));
    root.children
        .insert("_".into(), Node::leaf(Module::RecordCaller(rec)));
    root
}

#[test]
fn seed_voicemail_parses_into_the_model() {
    let flow = parse_piston(&fixture("voicemail.json"), &FlowLimits::default()).unwrap();
    assert_eq!(flow, voicemail());
    let Module::RecordCaller(rec) = &flow.default_child().unwrap().module else {
        panic!("not a record_caller");
    };
    assert_eq!(
        (rec.format, rec.method, rec.beep),
        (RecordFormat::Mp3, UploadMethod::Put, true)
    );
}

#[test]
fn flow_wrapper_gives_the_same_model_and_prefixes_paths() {
    let flow = parse_piston(&fixture("voicemail-wrapped.json"), &FlowLimits::default()).unwrap();
    assert_eq!(flow, voicemail());
    let e = err(r#"{"flow": {"module": "sleep", "data": {"duration": "x"}}}"#);
    assert_eq!(e.path, "flow.data.duration");
}

#[test]
fn menu_fixture_reads_every_pivot_and_collect_field() {
    let flow = parse_piston(&fixture("menu.json"), &FlowLimits::default()).unwrap();
    let Module::Tts(tts) = &flow.module else {
        panic!("not tts")
    };
    assert_eq!(tts.voice.as_ref().map(Token::as_str), Some("slt"));
    assert_eq!(tts.language, None);
    let collect = flow.default_child().unwrap();
    let Module::CollectDtmf(c) = &collect.module else {
        panic!("not collect_dtmf")
    };
    assert_eq!(c.max_digits, 1);
    assert_eq!(
        (c.timeout, c.interdigit_timeout),
        (Duration::from_millis(8000), Duration::from_millis(1500))
    );
    assert_eq!(c.terminators.as_str(), "#*");
    assert_eq!(c.collection_name.as_str(), "menu");
    let pivot = collect.default_child().unwrap();
    let Module::Pivot(p) = &pivot.module else {
        panic!("not pivot")
    };
    assert_eq!(
        p.voice_url.as_str(),
        "https://app.example.com/ivr?step=menu"
    );
    assert_eq!(
        (p.req_format, p.method, p.body_format),
        (ReqFormat::Piston, HttpMethod::Post, BodyFormat::Json)
    );
    assert_eq!((p.timeout, p.debug), (Duration::from_secs(10), true));
    assert_eq!(
        p.cdr_url.as_ref().map(|u| u.as_str()),
        Some("https://app.example.com/cdr")
    );
    assert_eq!(
        p.custom_headers,
        vec![CustomHeader::new("X-Tenant", "acme").unwrap()]
    );
    let play = &pivot.default_child().unwrap().module;
    let expected = PlayId::Stream(FsSource::new("tone_stream://%(250,50,440)").unwrap());
    assert_eq!(play, &Module::Play(Play::new(expected)));
}

#[test]
fn all_modules_fixture_reads_values_and_ignores_unknown_fields() {
    let flow = parse_piston(&fixture("all-modules.json"), &FlowLimits::default()).unwrap();
    let mut chain = vec![flow.module.clone()];
    let mut at = &flow;
    while let Some(next) = at.default_child() {
        chain.push(next.module.clone());
        at = next;
    }
    let names: Vec<_> = chain.iter().map(Module::name).collect();
    assert_eq!(
        names,
        ["answer", "say", "play", "sleep", "response", "hangup"]
    );
    let Module::Say(say) = &chain[1] else {
        panic!()
    };
    assert_eq!(say.say_type.as_ref().map(Token::as_str), Some("number"));
    assert_eq!(say.method, SayMethod::Iterated);
    assert_eq!(say.gender.as_ref().map(Token::as_str), Some("masculine"));
    let Module::Play(play) = &chain[2] else {
        panic!()
    };
    assert!(matches!(&play.id, PlayId::Url(u) if u.host_str() == Some("media.example.com")));
    assert_eq!(
        (play.answer, play.loop_count, play.endless),
        (false, 3, false)
    );
    assert_eq!(play.terminators, Some(DtmfKeys::new("1#").unwrap()));
    assert_eq!(
        chain[3],
        Module::Sleep {
            duration: Duration::from_millis(1500)
        }
    );
    assert_eq!(
        chain[4],
        Module::Response {
            code: 486,
            message: ReasonPhrase::new("Busy Here").unwrap()
        }
    );
    assert_eq!(
        chain[5],
        Module::Hangup {
            cause: Some(HangupCause::new("USER_BUSY").unwrap())
        }
    );
}

#[test]
fn minimal_data_takes_the_contract_defaults() {
    let Module::CollectDtmf(c) = only_module(&node("collect_dtmf", "{}")) else {
        panic!()
    };
    assert_eq!(c, CollectDtmf::default());
    assert_eq!(
        (c.max_digits, c.timeout, c.interdigit_timeout),
        (1, Duration::from_millis(5000), Duration::from_millis(2000))
    );
    assert_eq!(
        (c.terminators.as_str(), c.collection_name.as_str()),
        ("#", "default")
    );
    let Module::Pivot(p) = only_module(&node("pivot", r#"{"voice_url": "http://h/x"}"#)) else {
        panic!()
    };
    assert_eq!(*p, PivotRequest::new(HttpUrl::new("http://h/x").unwrap()));
    assert_eq!(
        (p.req_format, p.method, p.body_format, p.timeout, p.debug),
        (
            ReqFormat::Piston,
            HttpMethod::Get,
            BodyFormat::Form,
            Duration::from_secs(5),
            false
        )
    );
    let Module::Say(s) = only_module(&node("say", r#"{"text": "hi"}"#)) else {
        panic!()
    };
    assert_eq!(
        (s.language.as_str(), s.method, s.say_type),
        ("en", SayMethod::Pronounced, None)
    );
    assert_eq!(only_module(r#"{"module": "answer"}"#), Module::Answer);
    assert_eq!(
        only_module(r#"{"module": "hangup", "data": null}"#),
        Module::Hangup { cause: None }
    );
    let r = only_module(&node("response", "{}"));
    assert_eq!(
        r,
        Module::Response {
            code: 486,
            message: ReasonPhrase::default()
        }
    );
    let Module::Play(p) = only_module(&node("play", r#"{"id": "welcome.wav"}"#)) else {
        panic!()
    };
    assert_eq!(
        p,
        Play::new(PlayId::Media(MediaId::new("welcome.wav").unwrap()))
    );
}

#[test]
fn each_validation_error_names_its_path() {
    let cases: &[(&str, &str, &str)] = &[
        (r#"{"module": "say"}"#, "data.text", "required"),
        (
            &node("say", r#"{"text": 42}"#),
            "data.text",
            "expected a string, got 42",
        ),
        (
            &node("say", r#"{"text": "a\u0000b"}"#),
            "data.text",
            "must not contain NUL",
        ),
        (
            &node("say", r#"{"text": "it's", "type": "name_spelled"}"#),
            "data.text",
            "quotes",
        ),
        (
            &node("say", r#"{"text": "1", "language": "en US"}"#),
            "data.language",
            "only letters",
        ),
        (
            &node("say", r#"{"text": "1", "method": "shouted"}"#),
            "data.method",
            "pronounced",
        ),
        (
            &node("tts", r#"{"text": "hi", "voice": "slt|x"}"#),
            "data.voice",
            "only letters",
        ),
        (
            &node("play", r#"{"id": "../../etc/passwd"}"#),
            "data.id",
            "\"..\"",
        ),
        (&node("play", r#"{"id": "a..b"}"#), "data.id", "\"..\""),
        (
            &node("play", r#"{"id": "/x/${system rm}"}"#),
            "data.id",
            "'$'",
        ),
        (
            &node("play", r#"{"id": "file_string://a!b"}"#),
            "data.id",
            "media id",
        ),
        (
            &node("play", r#"{"id": "x", "answer": "yes"}"#),
            "data.answer",
            "expected true or false",
        ),
        (
            &node("play", r#"{"id": "x", "terminators": "E"}"#),
            "data.terminators",
            "DTMF keys",
        ),
        (
            &node("play", r#"{"id": "x", "terminators": [1]}"#),
            "data.terminators[0]",
            "DTMF key string",
        ),
        (
            &node("play", r#"{"id": "x", "loop_count": 0}"#),
            "data.loop_count",
            "at least 1",
        ),
        (
            &node("record_caller", r#"{"url": "ftp://h/x"}"#),
            "data.url",
            "http:// or https://",
        ),
        (
            &node("record_caller", r#"{"url": "http://h/x", "format": "ogg"}"#),
            "data.format",
            "mp3",
        ),
        (
            &node(
                "record_caller",
                r#"{"url": "http://h/x", "time_limit": -5}"#,
            ),
            "data.time_limit",
            "a number of seconds",
        ),
        (
            &node(
                "record_caller",
                r#"{"url": "http://h/x", "time_limit": 1.5}"#,
            ),
            "data.time_limit",
            "whole number",
        ),
        (
            &node("collect_dtmf", r#"{"max_digits": 0}"#),
            "data.max_digits",
            "at least 1",
        ),
        (
            &node("collect_dtmf", r#"{"collection_name": "a b"}"#),
            "data.collection_name",
            "only letters",
        ),
        (&node("pivot", "{}"), "data.voice_url", "required"),
        (
            &node("pivot", r#"{"voice_url": "http://h/\nx"}"#),
            "data.voice_url",
            "control characters",
        ),
        (
            &node("pivot", r#"{"voice_url": "/relative"}"#),
            "data.voice_url",
            "not a valid URL",
        ),
        (
            &node("pivot", r#"{"voice_url": "http://h", "req_format": "xml"}"#),
            "data.req_format",
            "twiml",
        ),
        (
            &node("pivot", r#"{"voice_url": "http://h", "method": "put"}"#),
            "data.method",
            "get",
        ),
        (
            &node(
                "pivot",
                r#"{"voice_url": "http://h", "req_timeout": "abc"}"#,
            ),
            "data.req_timeout",
            "expected a number of seconds, got \"abc\"",
        ),
        (
            &node("pivot", r#"{"voice_url": "http://h", "req_timeout_ms": 0}"#),
            "data.req_timeout_ms",
            "more than 0",
        ),
        (
            &node(
                "pivot",
                r#"{"voice_url": "http://h", "cdr_url": "mailto:a@b"}"#,
            ),
            "data.cdr_url",
            "http://",
        ),
        (
            &node(
                "pivot",
                r#"{"voice_url": "http://h", "custom_request_headers": {"X-Evil": "a\r\nX-Injected: 1"}}"#,
            ),
            "data.custom_request_headers.X-Evil",
            "CR, LF",
        ),
        (
            &node(
                "pivot",
                r#"{"voice_url": "http://h", "custom_request_headers": {"Authorization": "x"}}"#,
            ),
            "data.custom_request_headers.Authorization",
            "\"X-\"",
        ),
        (
            &node(
                "pivot",
                r#"{"voice_url": "http://h", "custom_request_headers": {"X-A B": "x"}}"#,
            ),
            "data.custom_request_headers.\"X-A B\"",
            "header name",
        ),
        (
            &node(
                "pivot",
                r#"{"voice_url": "http://h", "custom_request_headers": {"X-A": {}}}"#,
            ),
            "data.custom_request_headers.X-A",
            "expected a string",
        ),
        (
            &node(
                "pivot",
                r#"{"voice_url": "http://h", "custom_request_headers": ["X-A"]}"#,
            ),
            "data.custom_request_headers",
            "object",
        ),
        (
            &node("hangup", r#"{"cause": "NORMAL CLEARING"}"#),
            "data.cause",
            "hangup cause",
        ),
        (
            &node("sleep", r#"{"duration": 1, "unit": "days"}"#),
            "data.unit",
            "\"ms\"",
        ),
        (
            &node("response", r#"{"code": 700}"#),
            "data.code",
            "100 to 699",
        ),
        (
            &node("response", r#"{"code": 200, "message": "OK\r\nX: y"}"#),
            "data.message",
            "control",
        ),
        (
            r#"{"module": "answer", "data": "x"}"#,
            "data",
            "expected an object",
        ),
        (r#"{"module": 5}"#, "module", "expected a module name"),
        (r#"{"data": {}}"#, "module", "required"),
        (r#"[1, 2]"#, "", "expected a node object"),
        (
            r#"{"module": "answer", "children": []}"#,
            "children",
            "object of child nodes",
        ),
        (
            r#"{"module": "answer", "children": {"_": 5}}"#,
            "children._",
            "expected a node object",
        ),
        (
            r#"{"module": "answer", "children": {"": {"module": "answer"}}}"#,
            "children.\"\"",
            "child key",
        ),
        (
            r#"{"module": "answer", "children": {"1": {"module": "answer", "children": {"a.b": {"module": "x"}}}}}"#,
            "children.1.children.\"a.b\".module",
            "unknown module",
        ),
    ];
    for (json, path, message) in cases {
        let e = err(json);
        assert_eq!(&e.path, path, "{json} gave {e}");
        assert!(
            e.message.contains(message),
            "{json}: {:?} lacks {message:?}",
            e.message
        );
    }
}

#[test]
fn error_display_joins_path_and_message() {
    let e = parse_piston(&fixture("bad-time-limit.json"), &FlowLimits::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"children._.data.time_limit: expected a number of seconds, got "abc""#
    );
    assert_eq!(err("{").path, "");
    assert!(err("{").to_string().starts_with("malformed JSON"));
    assert_eq!(err(" \n").to_string(), "empty body");
}

#[test]
fn unknown_module_is_named_with_a_hint_when_close() {
    let hint = |name: &str| err(&format!(r#"{{"module": "{name}"}}"#)).message;
    assert_eq!(hint("Say"), r#"unknown module "Say" (did you mean "say"?)"#);
    assert!(hint("recordcaller").ends_with(r#"(did you mean "record_caller"?)"#));
    assert!(hint("collect-dtmf").ends_with(r#"(did you mean "collect_dtmf"?)"#));
    assert!(hint("piovt").ends_with(r#"(did you mean "pivot"?)"#));
    let far = hint("voicemail");
    assert!(
        far.starts_with(r#"unknown module "voicemail"; known modules: say, tts"#),
        "{far}"
    );
}

#[test]
fn numbers_accept_numeric_strings_and_large_values_are_clamped() {
    let rec = only_module(&node(
        "record_caller",
        r#"{"url": "http://h/", "time_limit": "99999"}"#,
    ));
    assert!(matches!(rec, Module::RecordCaller(r) if r.time_limit == 10800));
    let rec = only_module(&node(
        "record_caller",
        r#"{"url": "http://h/", "time_limit": 1e300}"#,
    ));
    assert!(matches!(rec, Module::RecordCaller(r) if r.time_limit == 10800));
    let sleep = only_module(&node("sleep", r#"{"duration": 2, "unit": "h"}"#));
    assert_eq!(
        sleep,
        Module::Sleep {
            duration: Duration::from_secs(3600)
        }
    );
    let Module::CollectDtmf(c) = only_module(&node(
        "collect_dtmf",
        r#"{"timeout": 99999999, "max_digits": 1000}"#,
    )) else {
        panic!()
    };
    assert_eq!((c.timeout, c.max_digits), (Duration::from_secs(600), 128));
}

#[test]
fn req_timeout_ms_wins_and_seconds_may_be_fractional() {
    let timeout = |data: &str| match only_module(&node("pivot", data)) {
        Module::Pivot(p) => p.timeout,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        timeout(r#"{"voice_url": "http://h", "req_timeout": "2.5"}"#),
        Duration::from_millis(2500)
    );
    assert_eq!(
        timeout(r#"{"voice_url": "http://h", "req_timeout": 3, "req_timeout_ms": "750"}"#),
        Duration::from_millis(750)
    );
    assert_eq!(
        timeout(r#"{"voice_url": "http://h", "req_timeout": 86400}"#),
        Duration::from_secs(120)
    );
}

#[test]
fn enum_values_and_url_schemes_are_case_insensitive() {
    let Module::Pivot(p) = only_module(&node(
        "pivot",
        r#"{"voice_url": "HTTP://H/x", "req_format": "TwiML", "method": "Get", "req_body_format": "JSON"}"#,
    )) else {
        panic!()
    };
    assert_eq!(
        (p.req_format, p.method, p.body_format),
        (ReqFormat::Twiml, HttpMethod::Get, BodyFormat::Json)
    );
    assert_eq!(p.voice_url.as_str(), "http://h/x");
    let Module::Play(play) = only_module(&node(
        "play",
        r#"{"id": "HTTPS://media.example.com/a.mp3"}"#,
    )) else {
        panic!()
    };
    assert!(matches!(play.id, PlayId::Url(_)));
}

#[test]
fn empty_and_null_children_are_no_child_and_empty_strings_are_absent() {
    let flow = parse(r#"{"module": "answer", "children": {"_": {}, "1": null}}"#).unwrap();
    assert!(flow.children.is_empty());
    let Module::Pivot(p) = only_module(&node(
        "pivot",
        r#"{"voice_url": "http://h", "cdr_url": "", "method": ""}"#,
    )) else {
        panic!()
    };
    assert_eq!((p.cdr_url, p.method), (None, HttpMethod::Get));
}

fn chain(depth: usize) -> String {
    let mut json = r#"{"module": "answer"}"#.to_owned();
    for _ in 1..depth {
        json = format!(r#"{{"module": "answer", "children": {{"_": {json}}}}}"#);
    }
    json
}

#[test]
fn depth_cap_names_the_first_node_too_deep() {
    let limits = FlowLimits {
        max_nodes: 1000,
        max_depth: 3,
        ..FlowLimits::default()
    };
    assert!(parse_piston(chain(3).as_bytes(), &limits).is_ok());
    let e = parse_piston(chain(4).as_bytes(), &limits).unwrap_err();
    assert_eq!(
        e.to_string(),
        "children._.children._.children._: flow nested deeper than 3 nodes"
    );
    assert_eq!(parse(&chain(60)).unwrap().count(), 60);
}

#[test]
fn hostile_nesting_is_an_error_not_a_stack_overflow() {
    let deep_arrays = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(err(&deep_arrays).message.starts_with("malformed JSON"));
    let open = r#"{"module": "answer", "children": {"_": "#.repeat(100_000);
    let deep_nodes = format!(
        "{open}{}{}",
        r#"{"module": "answer"}"#,
        "}}".repeat(100_000)
    );
    assert!(err(&deep_nodes).message.contains("recursion limit"));
}

#[test]
fn node_count_cap_counts_the_whole_tree() {
    let limits = FlowLimits {
        max_nodes: 3,
        max_depth: 64,
        ..FlowLimits::default()
    };
    let three = r#"{"module": "answer", "children": {"1": {"module": "answer"}, "2": {"module": "answer"}}}"#;
    assert!(parse_piston(three.as_bytes(), &limits).is_ok());
    let four = r#"{"module": "answer", "children": {"1": {"module": "answer"}, "2": {"module": "answer", "children": {"_": {"module": "answer"}}}}}"#;
    let e = parse_piston(four.as_bytes(), &limits).unwrap_err();
    assert_eq!(
        (e.path.as_str(), e.message.as_str()),
        ("children.2.children._", "flow has more than 3 nodes")
    );
    let wide: Vec<String> = (0..1001)
        .map(|i| format!(r#""{i}": {{"module": "answer"}}"#))
        .collect();
    let wide = format!(
        r#"{{"module": "answer", "children": {{{}}}}}"#,
        wide.join(",")
    );
    assert!(err(&wide).message.contains("more than 1000 nodes"));
}

#[test]
fn node_from_value_reads_a_value_with_relative_paths() {
    let v: Value =
        serde_json::from_str(r#"{"module": "sleep", "data": {"duration": "1000"}}"#).unwrap();
    let n = node_from_value(&v, &FlowLimits::default()).unwrap();
    assert_eq!(
        n.module,
        Module::Sleep {
            duration: Duration::from_secs(1)
        }
    );
    let v: Value =
        serde_json::from_str(r#"{"module": "sleep", "data": {"duration": []}}"#).unwrap();
    assert_eq!(
        node_from_value(&v, &FlowLimits::default())
            .unwrap_err()
            .path,
        "data.duration"
    );
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
        let _ = parse_piston(&bytes, &FlowLimits::default());
    }

    #[test]
    fn arbitrary_data_values_never_panic(key in "[a-z_]{1,16}", value in "\\PC{0,12}", module in proptest::sample::select(Module::NAMES.to_vec())) {
        let json = serde_json::json!({"module": module, "data": {key: value, "text": value, "url": value, "id": value, "voice_url": value}});
        let _ = node_from_value(&json, &FlowLimits::default());
    }
}

#[test]
fn pivot_reads_the_timeouts_retries_and_fallback() {
    let data = r#"{"voice_url": "http://a/v", "req_timeout_ms": 4000,
        "connect_timeout_ms": 250, "read_timeout_ms": "1500", "retries": 9,
        "fallback_url": "http://b/v#rc=0"}"#;
    let Module::Pivot(p) = only_module(&node("pivot", data)) else {
        panic!("not a pivot node")
    };
    assert_eq!(p.timeout, Duration::from_secs(4));
    assert_eq!(p.connect_timeout, Some(Duration::from_millis(250)));
    assert_eq!(p.read_timeout, Some(Duration::from_millis(1500)));
    assert_eq!(p.retries, Some(5), "above the maximum becomes the maximum");
    let fallback = p.fallback_url.as_ref().unwrap();
    assert_eq!(fallback.as_str(), "http://b/v#rc=0");
    assert_eq!(p.timing(fallback).retries, 0);
    let e = err(&node(
        "pivot",
        r#"{"voice_url": "http://a/v", "fallback_url": "nope"}"#,
    ));
    assert_eq!(e.path, "data.fallback_url");
}

/// Kazoo's `send_dtmf` callflow module: `digits`, and `duration_ms` per tone (Kazoo's
/// default 2000).
#[test]
fn send_dtmf_reads_kazoos_fields() {
    let Module::SendDtmf(s) = only_module(&node("send_dtmf", r#"{"digits": "123ABC#"}"#)) else {
        panic!()
    };
    assert_eq!(s.digits.as_str(), "123ABC#");
    assert_eq!(s.tone, Duration::from_millis(2000));
    let json = node("send_dtmf", r#"{"digits": "1w2", "duration_ms": "100"}"#);
    let Module::SendDtmf(s) = only_module(&json) else {
        panic!()
    };
    assert_eq!(s.duration(), Duration::from_millis(100 + 500 + 100));
    let json = node("send_dtmf", r#"{"digits": "1", "duration_ms": 60000}"#);
    let Module::SendDtmf(s) = only_module(&json) else {
        panic!()
    };
    assert_eq!(s.tone, SendDtmf::MAX_TONE, "lowered to the maximum");
    let cases = [
        (r#"{}"#, "data.digits: required"),
        (r#"{"digits": "1 2"}"#, "data.digits: digits are 1 to 64"),
        (
            r#"{"digits": "1", "duration_ms": 10}"#,
            "data.duration_ms: must be at least 60, got 10",
        ),
        (
            r#"{"digits": "1", "duration_ms": "soon"}"#,
            "data.duration_ms: expected a number of milliseconds",
        ),
    ];
    for (data, expected) in cases {
        let e = err(&node("send_dtmf", data)).to_string();
        assert!(e.starts_with(expected), "{data}: {e}");
    }
}
