use super::*;
use crate::callflow::Module;

fn check(name: &str, doc: &str) -> CheckReport {
    check_bytes(name, doc.as_bytes())
}

fn at<'a>(r: &'a CheckReport, location: &str) -> &'a Problem {
    r.problems
        .iter()
        .find(|p| p.location == location)
        .unwrap_or_else(|| panic!("no problem at {location}: {:#?}", r.problems))
}

#[test]
fn the_fixture_flows_are_valid() {
    for (name, doc) in [
        (
            "voicemail.json",
            &include_bytes!("../../fixtures/flows/voicemail.json")[..],
        ),
        (
            "menu.json",
            include_bytes!("../../fixtures/flows/menu.json"),
        ),
        (
            "wrapped.json",
            include_bytes!("../../fixtures/flows/voicemail-wrapped.json"),
        ),
    ] {
        let r = check_bytes(name, doc);
        assert!(r.problems.is_empty(), "{name}: {:#?}", r.problems);
        assert!(r.passes(true));
        assert!(r.render().contains(": OK (Piston JSON"), "{}", r.render());
    }
}

#[test]
fn an_ignored_data_field_is_a_warning_at_its_path() {
    let r = check_bytes(
        "all.json",
        include_bytes!("../../fixtures/flows/all-modules.json"),
    );
    assert_eq!(r.errors(), 0);
    let p = at(&r, "children._.children._.data.unknown_field");
    assert_eq!(p.severity, Severity::Warning);
    assert_eq!(p.hint, None);
    assert!(r.passes(false) && !r.passes(true));
}

#[test]
fn a_misspelt_module_key_is_an_error_with_a_hint() {
    let r = check(
        "x.json",
        r#"{"module": "say", "data": {"text": "hi"},
        "children": {"_": {"modul": "hangup"}}}"#,
    );
    assert_eq!(at(&r, "children._.module").message, "required");
    let typo = at(&r, "children._.modul");
    assert_eq!(typo.hint.as_deref(), Some("did you mean \"module\"?"));
    let out = r.render();
    assert!(
        out.contains("x.json: children._.module: error: required"),
        "{out}"
    );
    assert!(out.contains("  hint: did you mean \"module\"?"), "{out}");
    assert!(!r.passes(false));
}

#[test]
fn misspelt_data_fields_get_the_module_s_own_names() {
    let r = check(
        "x.json",
        r#"{"module": "record_caller",
        "data": {"url": "http://rec.example.com/", "time_limt": 5, "Beep": false}}"#,
    );
    assert_eq!(r.errors(), 0);
    let p = at(&r, "data.time_limt");
    assert_eq!(p.hint.as_deref(), Some("did you mean \"time_limit\"?"));
    assert!(p.message.contains("record_caller field"), "{}", p.message);
    assert_eq!(
        at(&r, "data.Beep").hint.as_deref(),
        Some("did you mean \"beep\"?")
    );
    assert!(r.passes(false) && !r.passes(true));
}

#[test]
fn server_errors_keep_the_validator_s_path() {
    let r = check_bytes(
        "bad.json",
        include_bytes!("../../fixtures/flows/bad-time-limit.json"),
    );
    let p = at(&r, "children._.data.time_limit");
    assert_eq!(p.severity, Severity::Error);
    assert!(p.message.contains("\"abc\""), "{}", p.message);
    let r = check("x.json", r#"{"module": "sya", "data": {}}"#);
    assert!(at(&r, "module").message.contains("did you mean \"say\""));
}

#[test]
fn syntax_errors_are_located_by_line_and_column() {
    let r = check(
        "x.json",
        "{\n  \"module\": \"say\",\n  \"data\": {\"text\": \"hi\",}\n}",
    );
    assert_eq!(r.problems.len(), 1, "{:#?}", r.problems);
    let p = &r.problems[0];
    assert!(p.location.starts_with("3:"), "{}", p.location);
    assert!(!p.message.contains(" at line "), "{}", p.message);
    let r = check("x.json", "  \n");
    assert_eq!(r.problems[0].message, "empty document");
}

#[test]
fn wrapper_keys_are_checked_too() {
    let r = check(
        "doc.json",
        r#"{"name": "main", "numbrs": ["3004"],
        "flow": {"module": "hangup", "data": {"cuase": "USER_BUSY"}}}"#,
    );
    assert_eq!(
        at(&r, "numbrs").hint.as_deref(),
        Some("did you mean \"numbers\"?")
    );
    assert_eq!(
        at(&r, "flow.data.cuase").hint.as_deref(),
        Some("did you mean \"cause\"?")
    );
    assert_eq!(r.nodes, 1);
}

#[test]
fn far_off_names_get_no_hint() {
    let r = check(
        "x.json",
        r#"{"module": "answer", "colour": "blue", "id": 1}"#,
    );
    assert_eq!(at(&r, "colour").hint, None);
    assert_eq!(at(&r, "id").hint, None);
}

#[test]
fn the_format_comes_from_the_extension_then_the_first_byte() {
    let r = check("flow.xml", "{}");
    assert_eq!(r.kind, DocKind::Twiml);
    assert!(!r.passes(false));
    assert_eq!(check("-", " <Response/>").kind, DocKind::Twiml);
    let r = check("notes.txt", "hello");
    assert_eq!(r.kind, DocKind::Unknown);
    assert!(r.problems[0].message.contains("cannot tell the format"));
}

#[test]
fn every_module_has_its_fields_listed() {
    for name in Module::NAMES {
        assert!(
            piston::MODULE_FIELDS.iter().any(|(m, _)| *m == name),
            "module {name} is missing from MODULE_FIELDS"
        );
    }
}

#[test]
fn hostile_documents_cost_little() {
    let deep = "[".repeat(100_000);
    let r = check("x.json", &deep);
    assert_eq!(r.errors(), 1);
    let mut nested = String::new();
    for _ in 0..120 {
        nested.push_str(r#"{"module":"answer","children":{"_":"#);
    }
    nested.push_str(r#"{"module":"answer"}"#);
    nested.push_str(&"}}".repeat(120));
    let r = check("x.json", &nested);
    assert!(r.errors() >= 1, "deeper than the server allows");
}

#[test]
fn the_request_fields_are_known_and_validated() {
    let ok = check(
        "x.json",
        r#"{"module": "pivot", "data": {"voice_url": "https://a.example.com/v#ct=500&rc=2&rp=rt,5xx",
        "fallback_url": "https://b.example.com/v", "connect_timeout_ms": 800,
        "read_timeout_ms": "3000", "retries": 2}}"#,
    );
    assert!(ok.passes(true), "{}", ok.render());
    for (doc, location, message) in [
        (
            r#"{"module": "pivot", "data": {"voice_url": "http://a/v#ct=0"}}"#,
            "data.voice_url",
            "#ct: expected milliseconds from 1 to 120000",
        ),
        (
            r#"{"module": "pivot", "data": {"voice_url": "http://a/v#rc=9"}}"#,
            "data.voice_url",
            "#rc: expected a number of retries from 0 to 5",
        ),
        (
            r#"{"module": "pivot", "data": {"voice_url": "http://a/v#rp=sometimes"}}"#,
            "data.voice_url",
            "#rp: expected ct, rt, 4xx, 5xx or all",
        ),
        (
            r#"{"module": "pivot", "data": {"voice_url": "http://a/v", "fallback_url": "ftp://b/"}}"#,
            "data.fallback_url",
            "URL must be http:// or https://",
        ),
        (
            r#"{"module": "pivot", "data": {"voice_url": "http://a/v", "retries": -1}}"#,
            "data.retries",
            "expected a number of retries",
        ),
        (
            r#"{"module": "pivot", "data": {"voice_url": "http://a/v", "connect_timeout_ms": 0}}"#,
            "data.connect_timeout_ms",
            "a timeout must be more than 0",
        ),
    ] {
        let r = check("x.json", doc);
        let p = at(&r, location);
        assert_eq!(p.severity, Severity::Error, "{doc}");
        assert!(p.message.contains(message), "{doc}: {}", p.message);
    }
}

#[test]
fn a_fallback_equal_to_the_primary_and_unknown_fragment_keys_are_warnings() {
    let r = check(
        "x.json",
        r#"{"module": "pivot", "data": {"voice_url": "http://a/v#cc=100",
        "fallback_url": "http://a/v#cc=100"}}"#,
    );
    assert_eq!(r.errors(), 0, "{}", r.render());
    let same = at(&r, "data.fallback_url");
    assert!(
        same.message.contains("fallback_url is voice_url"),
        "{}",
        same.message
    );
    let typo = at(&r, "data.voice_url");
    assert_eq!(typo.hint.as_deref(), Some("did you mean \"#ct=\"?"));
    assert!(!r.passes(true));
}

#[test]
fn twiml_action_urls_have_their_fragments_checked() {
    let r = check(
        "x.xml",
        r#"<Response><Redirect>/next#tt=abc</Redirect></Response>"#,
    );
    assert_eq!(r.errors(), 1, "{}", r.render());
    assert!(
        r.problems[0].message.contains("#tt: expected milliseconds"),
        "{}",
        r.render()
    );
    let ok = check(
        "x.xml",
        r#"<Response><Redirect>/next#tt=2000&amp;rc=0</Redirect></Response>"#,
    );
    assert!(ok.passes(true), "{}", ok.render());
}

/// The check reads the parser's own tables: a new module field or TwiML attribute is known
/// to both at once.
#[test]
fn send_dtmf_and_the_new_twiml_attributes_are_known_to_the_check() {
    let r = check(
        "x.json",
        r#"{"module": "send_dtmf", "data": {"digits": "1w2", "duration": 100}}"#,
    );
    assert_eq!(r.errors(), 0, "{}", r.render());
    let p = at(&r, "data.duration");
    assert_eq!(p.hint.as_deref(), Some("did you mean \"duration_ms\"?"));
    let ok = check(
        "x.xml",
        r#"<Response><Play digits="ww12"/><Dial hangupOnStar="true" record="record-from-answer" answerOnBridge="false"><Number sendDigits="1#">123</Number><Sip>bob@pbx.example.com?X-A=1</Sip></Dial></Response>"#,
    );
    assert!(ok.passes(true), "{}", ok.render());
    let r = check(
        "x.xml",
        r#"<Response><Dial ringTone="us">1</Dial></Response>"#,
    );
    assert!(
        r.render()
            .contains("x.xml: 1:11: error: <Dial> attribute ringTone is not supported by pivot"),
        "{}",
        r.render()
    );
}
