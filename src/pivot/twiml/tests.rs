#![allow(clippy::unwrap_used)] // tests may unwrap

use std::time::Duration;

use proptest::prelude::*;

use super::parse_twiml;
use crate::callflow::{
    DialTarget, FlowError, FlowLimits, HttpMethod, Module, Node, PlayId, Prompt, DEFAULT_CHILD,
};

const BASE: &str = "https://app.example.com/ivr/menu.xml?step=1";

fn base() -> url::Url {
    url::Url::parse(BASE).unwrap()
}

fn parse(xml: &str) -> Result<Node, FlowError> {
    parse_twiml(xml.as_bytes(), &base(), &FlowLimits::default())
}

fn err(xml: &str) -> FlowError {
    match parse(xml) {
        Ok(node) => panic!("expected an error for {xml:?}, got {node:?}"),
        Err(e) => e,
    }
}

/// The modules of a chain, following `_`; panics on other children.
fn chain(node: &Node) -> Vec<&Module> {
    let mut out = vec![&node.module];
    let mut n = node;
    while let Some(next) = n.default_child() {
        assert_eq!(n.children.len(), 1, "only `_` children in a TwiML chain");
        out.push(&next.module);
        n = next;
    }
    assert!(n.children.is_empty());
    out
}

fn fixture(name: &str) -> String {
    let path = format!("{}/fixtures/twiml/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap()
}

fn tts_text(m: &Module) -> &str {
    match m {
        Module::Tts(t) => t.text.as_str(),
        other => panic!("expected speech, got {other:?}"),
    }
}

/// Asserts an error at `line, column` whose message contains `part`.
fn assert_err(xml: &str, line: usize, column: usize, part: &str) {
    let e = err(xml);
    assert_eq!(
        e.path,
        format!("line {line}, column {column}"),
        "{xml}\n{e}"
    );
    assert!(e.message.contains(part), "{xml}\n{e}");
}

#[test]
fn twilio_hello_world() {
    let flow = parse(&fixture("hello-world.xml")).unwrap();
    let verbs = chain(&flow);
    assert_eq!(verbs.len(), 2);
    assert_eq!(tts_text(verbs[0]), "Hello World");
    let Module::Play(play) = verbs[1] else {
        panic!("{verbs:?}")
    };
    assert_eq!(
        play.id,
        PlayId::Url("https://api.twilio.com/Cowbell.mp3".parse().unwrap())
    );
    assert_eq!(play.loop_count, 1);
}

#[test]
fn twilio_gather_sample() {
    let flow = parse(&fixture("gather.xml")).unwrap();
    let verbs = chain(&flow);
    let Module::Gather(g) = verbs[0] else {
        panic!("{verbs:?}")
    };
    assert_eq!(
        g.action.url.as_str(),
        "https://app.example.com/process_gather.php"
    );
    assert_eq!(g.action.method, HttpMethod::Get);
    assert_eq!(g.timeout, Duration::from_secs(5));
    assert_eq!(g.finish_on_key.as_str(), "#");
    assert_eq!(g.num_digits, None);
    let [Prompt::Tts(t)] = g.prompts.as_slice() else {
        panic!("{:?}", g.prompts)
    };
    assert!(t
        .text
        .as_str()
        .starts_with("Please enter your account number,\n"));
    assert!(t.text.as_str().ends_with("followed by the pound sign"));
    assert_eq!(tts_text(verbs[1]), "We didn't receive any input. Goodbye!");
    assert_eq!(verbs.len(), 2);
}

#[test]
fn twilio_record_voicemail_sample() {
    let flow = parse(&fixture("record-voicemail.xml")).unwrap();
    let verbs = chain(&flow);
    let Module::Record(r) = verbs[1] else {
        panic!("{verbs:?}")
    };
    assert_eq!(r.action.url.as_str(), "http://foo.edu/handleRecording.php");
    assert_eq!(r.action.method, HttpMethod::Get);
    assert_eq!((r.max_length, r.timeout), (20, 5));
    assert_eq!(r.finish_on_key.as_str(), "*");
    assert!(r.play_beep);
    assert_eq!(r.upload_url, None);
    assert_eq!(tts_text(verbs[2]), "I did not receive a recording");
}

#[test]
fn say_play_and_pause_attributes() {
    let flow = parse(
        r#"<Response>
  <Say voice="Man" language="en-GB" loop="3">Hi &amp; bye &#x263A;</Say>
  <Say voice="Polly.Joanna" loop="0">forever</Say>
  <Play loop="2">../media/tone.wav</Play>
  <Pause/>
  <Pause length="7"/>
</Response>"#,
    )
    .unwrap();
    let verbs = chain(&flow);
    let Module::Tts(t) = verbs[0] else { panic!() };
    assert_eq!(t.text.as_str(), "Hi & bye ☺");
    assert_eq!(t.voice.as_ref().map(|v| v.as_str()), Some("man"));
    assert_eq!(t.language.as_ref().map(|v| v.as_str()), Some("en-GB"));
    assert_eq!(t.loops, 3);
    let Module::Tts(t) = verbs[1] else { panic!() };
    assert_eq!(
        t.voice, None,
        "voices other than Twilio's generic ones use the default"
    );
    assert_eq!(t.loops, super::verbs::MAX_LOOP, "loop=0 is capped");
    let Module::Play(p) = verbs[2] else { panic!() };
    assert_eq!(
        p.id,
        PlayId::Url("https://app.example.com/media/tone.wav".parse().unwrap())
    );
    assert_eq!(p.loop_count, 2);
    assert_eq!(
        verbs[3],
        &Module::Sleep {
            duration: Duration::from_secs(1)
        }
    );
    assert_eq!(
        verbs[4],
        &Module::Sleep {
            duration: Duration::from_secs(7)
        }
    );
}

#[test]
fn gather_attributes_and_prompts() {
    let flow = parse(
        r#"<Response><Gather action="next?x=1" method="post" timeout="9" finishOnKey=""
 numDigits="4"><Say>a</Say><Play>http://m.example.com/b.mp3</Play><Pause length="2"/></Gather></Response>"#,
    )
    .unwrap();
    let Module::Gather(g) = &flow.module else {
        panic!()
    };
    assert_eq!(
        g.action.url.as_str(),
        "https://app.example.com/ivr/next?x=1"
    );
    assert_eq!(g.action.method, HttpMethod::Post);
    assert_eq!(g.timeout, Duration::from_secs(9));
    assert!(g.finish_on_key.is_empty());
    assert_eq!(g.num_digits, Some(4));
    assert_eq!(g.prompts.len(), 3);
    assert!(matches!(g.prompts[2], Prompt::Pause(d) if d == Duration::from_secs(2)));
    assert!(
        flow.children.is_empty(),
        "the document ends after the gather"
    );
}

#[test]
fn actions_default_to_the_document_url_and_post() {
    let flow = parse("<Response><Gather/><Record/></Response>").unwrap();
    let verbs = chain(&flow);
    let (Module::Gather(g), Module::Record(r)) = (verbs[0], verbs[1]) else {
        panic!()
    };
    assert_eq!(g.action.url.as_str(), BASE);
    assert_eq!(g.action.method, HttpMethod::Post);
    assert_eq!(r.action.url.as_str(), BASE);
    assert_eq!(r.action.method, HttpMethod::Post);
    assert_eq!(r.finish_on_key.as_str(), "1234567890*#");
    assert_eq!((r.max_length, r.timeout, r.play_beep), (3600, 5, true));
}

#[test]
fn record_attributes() {
    let flow = parse(
        r##"<Response><Record action="/done" timeout="0" finishOnKey="#*" maxLength="14400" playBeep="false" recordingUrl="https://rec.example.com/up/"/></Response>"##,
    )
    .unwrap();
    let Module::Record(r) = &flow.module else {
        panic!()
    };
    assert_eq!(r.action.url.as_str(), "https://app.example.com/done");
    assert_eq!((r.timeout, r.max_length, r.play_beep), (0, 14400, false));
    assert_eq!(r.finish_on_key.as_str(), "#*");
    assert_eq!(
        r.upload_url.as_ref().map(|u| u.as_str()),
        Some("https://rec.example.com/up/")
    );
}

#[test]
fn relative_urls_resolve_as_rfc_3986_says() {
    let base = url::Url::parse("http://a/b/c/d;p?q").unwrap();
    // RFC 3986 section 5.4.1 examples.
    for (reference, expected) in [
        ("g", "http://a/b/c/g"),
        ("./g", "http://a/b/c/g"),
        ("g/", "http://a/b/c/g/"),
        ("/g", "http://a/g"),
        ("//g", "http://g/"),
        ("?y", "http://a/b/c/d;p?y"),
        ("g?y", "http://a/b/c/g?y"),
        ("#s", "http://a/b/c/d;p?q#s"),
        ("", "http://a/b/c/d;p?q"),
        ("..", "http://a/b/"),
        ("../g", "http://a/b/g"),
        ("../../g", "http://a/g"),
        ("../../../g", "http://a/g"),
        ("https://other.example.com/x", "https://other.example.com/x"),
    ] {
        let xml = format!("<Response><Redirect>{reference}</Redirect></Response>");
        let xml = xml.replace("<Redirect></Redirect>", "<Redirect method=\"GET\"/>");
        let node = parse_twiml(xml.as_bytes(), &base, &FlowLimits::default());
        if reference.is_empty() {
            // An empty <Redirect> has no URL to go to.
            assert!(node.is_err());
            continue;
        }
        let Module::Redirect(a) = &node.unwrap().module else {
            panic!()
        };
        assert_eq!(a.url.as_str(), expected, "{reference}");
        assert_eq!(a.method, HttpMethod::Post);
    }
    let gather = "<Response><Gather action=\"\"/></Response>";
    let Module::Gather(g) = &parse_twiml(gather.as_bytes(), &base, &FlowLimits::default())
        .unwrap()
        .module
    else {
        panic!()
    };
    assert_eq!(g.action.url.as_str(), "http://a/b/c/d;p?q");
}

#[test]
fn hangup_reject_and_redirect_end_the_document() {
    for (xml, code, cause) in [
        ("<Reject/>", 603, "CALL_REJECTED"),
        ("<Reject reason=\"rejected\"/>", 603, "CALL_REJECTED"),
        ("<Reject reason=\"busy\"/>", 486, "USER_BUSY"),
    ] {
        let flow = parse(&format!("<Response>{xml}<Say>never</Say></Response>")).unwrap();
        let verbs = chain(&flow);
        assert_eq!(verbs.len(), 2, "{xml}");
        assert!(matches!(verbs[0], Module::Response { code: c, .. } if *c == code));
        let Module::Hangup { cause: Some(c) } = verbs[1] else {
            panic!()
        };
        assert_eq!(c.as_str(), cause);
    }
    let flow = parse("<Response><Say>a</Say><Hangup/><Say>never</Say></Response>").unwrap();
    assert_eq!(chain(&flow).len(), 2);
    assert_eq!(chain(&flow)[1], &Module::Hangup { cause: None });
    let flow =
        parse("<Response><Redirect method=\"GET\">/x</Redirect><Say>no</Say></Response>").unwrap();
    assert_eq!(chain(&flow).len(), 1);
    // Verbs that never run are still checked.
    assert_err(
        "<Response><Hangup/>\n<Dance/></Response>",
        2,
        1,
        "unknown verb <Dance>",
    );
}

#[test]
fn empty_response_hangs_up() {
    for xml in ["<Response/>", "<Response>\n  <!-- nothing -->\n</Response>"] {
        let flow = parse(xml).unwrap();
        assert_eq!(flow.module, Module::Hangup { cause: None });
        assert!(flow.children.is_empty());
    }
}

#[test]
fn dial_nouns_and_attributes() {
    let flow = parse(
        r#"<Response><Dial action="/dialed" method="GET" timeout="20" callerId="+15550001111" timeLimit="60">
  <Number>+1 (415) 555-1212</Number>
  <Sip>sip:alice@pbx.example.com;transport=tcp</Sip>
</Dial></Response>"#,
    )
    .unwrap();
    let Module::Dial(d) = &flow.module else {
        panic!()
    };
    assert_eq!(d.targets.len(), 2);
    assert!(
        matches!(&d.targets[0], DialTarget::Number { number: n, send_digits: None } if n.as_str() == "+14155551212")
    );
    assert!(
        matches!(&d.targets[1], DialTarget::Sip(u) if u.as_str() == "alice@pbx.example.com;transport=tcp")
    );
    let action = d.action.as_ref().unwrap();
    assert_eq!(action.url.as_str(), "https://app.example.com/dialed");
    assert_eq!(action.method, HttpMethod::Get);
    assert_eq!(d.timeout, Duration::from_secs(20));
    assert_eq!(d.caller_id.as_ref().unwrap().as_str(), "+15550001111");
    assert_eq!(d.time_limit, Some(Duration::from_secs(60)));

    let flow = parse("<Response><Dial> 3005 </Dial><Say>after</Say></Response>").unwrap();
    let Module::Dial(d) = &flow.module else {
        panic!()
    };
    assert!(
        matches!(&d.targets[..], [DialTarget::Number { number: n, .. }] if n.as_str() == "3005")
    );
    assert_eq!(
        (d.action.is_none(), d.timeout),
        (true, Duration::from_secs(30))
    );
    assert_eq!(d.time_limit, None);
    assert_eq!(tts_text(&flow.default_child().unwrap().module), "after");
}

#[test]
fn malformed_xml_names_line_and_column() {
    assert_err(
        "<Response>\n  <Say>hi</Play>\n</Response>",
        2,
        10,
        "malformed XML",
    );
    assert_err("<Response>\n  <Say a=>x</Say>", 2, 3, "malformed");
    assert_err("<Response>\n  <Say>hi", 2, 3, "<Say> is never closed");
    assert_err("", 1, 1, "empty document");
    assert_err("<Response><Say>a < b</Say></Response>", 1, 18, "malformed");
}

#[test]
fn root_must_be_response_and_alone() {
    assert_err(
        "<?xml version=\"1.0\"?>\n<Reponse/>",
        2,
        1,
        "must be <Response>",
    );
    assert_err("<response></response>", 1, 1, "must be <Response>");
    assert_err("<Response/>\n<Response/>", 2, 1, "nothing may follow");
    assert_err("<Response/>\ntrailing", 2, 1, "nothing may follow");
    assert_err("hello <Response/>", 1, 1, "text outside of <Response>");
    assert_err(
        "<Response unknown=\"1\"/>",
        1,
        1,
        "unknown attribute unknown",
    );
    assert_err(
        "<Response>\n  stray text\n</Response>",
        2,
        3,
        "cannot hold text",
    );
}

#[test]
fn unknown_verbs_and_attributes_name_their_position() {
    assert_err(
        "<Response>\n    <say>hi</say>\n</Response>",
        2,
        5,
        "did you mean <Say>",
    );
    assert_err(
        "<Response><Conference>r</Conference></Response>",
        1,
        11,
        "does not support",
    );
    assert_err(
        "<Response><Number>1</Number></Response>",
        1,
        11,
        "only allowed inside <Dial>",
    );
    assert_err(
        "<Response>\n<Say voice=\"man\" rate=\"fast\">x</Say></Response>",
        2,
        1,
        "unknown attribute rate",
    );
    assert_err(
        "<Response><Hangup reason=\"x\"/></Response>",
        1,
        11,
        "it takes none",
    );
    assert_err(
        "<Response><Record transcribe=\"true\"/></Response>",
        1,
        11,
        "<Record> attribute transcribe is not supported by pivot",
    );
}

#[test]
fn bad_attribute_values_name_their_element() {
    let cases = [
        (
            "<Say loop=\"x\">a</Say>",
            "attribute loop: expected a whole number",
        ),
        ("<Say loop=\"1001\">a</Say>", "expected 0 to 1000"),
        ("<Say voice=\"a b\">a</Say>", "attribute voice"),
        ("<Pause length=\"-1\"/>", "attribute length"),
        (
            "<Gather timeout=\"0\"/>",
            "attribute timeout: expected 1 to 600",
        ),
        ("<Gather numDigits=\"0\"/>", "attribute numDigits"),
        (
            "<Gather finishOnKey=\"x\"/>",
            "attribute finishOnKey: DTMF keys",
        ),
        ("<Gather method=\"PUT\"/>", "attribute method"),
        (
            "<Gather action=\"ftp://x/y\"/>",
            "attribute action: URL must be http",
        ),
        (
            "<Gather action=\"a b\"/>",
            "attribute action: URL must not contain spaces",
        ),
        (
            "<Record playBeep=\"yes\"/>",
            "attribute playBeep: expected true or false",
        ),
        ("<Record maxLength=\"0\"/>", "attribute maxLength"),
        (
            "<Record recordingUrl=\"mailto:x@y\"/>",
            "attribute recordingUrl",
        ),
        ("<Reject reason=\"maybe\"/>", "attribute reason"),
        ("<Dial timeLimit=\"99999\">1</Dial>", "attribute timeLimit"),
        ("<Dial callerId=\"a,b\">1</Dial>", "attribute callerId"),
        (
            "<Redirect method=\"delete\">/x</Redirect>",
            "attribute method",
        ),
    ];
    for (verb, part) in cases {
        assert_err(&format!("<Response>\n {verb}</Response>"), 2, 2, part);
    }
}

#[test]
fn bad_text_and_children_are_refused() {
    assert_err(
        "<Response><Say>   </Say></Response>",
        1,
        11,
        "<Say>: must not be empty",
    );
    assert_err(
        "<Response><Play/></Response>",
        1,
        11,
        "<Play>: a URL is required",
    );
    assert_err(
        "<Response><Play>ftp://x/y.wav</Play></Response>",
        1,
        17,
        "must be http",
    );
    assert_err(
        "<Response><Say>a<break time=\"1s\"/></Say></Response>",
        1,
        17,
        "<break> is not allowed inside <Say>",
    );
    assert_err(
        "<Response><Gather>\n  <Dial>1</Dial>\n</Gather></Response>",
        2,
        3,
        "<Dial> is not allowed inside <Gather>",
    );
    assert_err(
        "<Response><Gather>press</Gather></Response>",
        1,
        19,
        "<Gather> cannot hold text",
    );
    assert_err("<Response><Dial/></Response>", 1, 11, "needs a number");
    assert_err(
        "<Response><Dial>1<Number>2</Number></Dial></Response>",
        1,
        17,
        "not both",
    );
    assert_err(
        "<Response><Dial><Number>12;x</Number></Dial></Response>",
        1,
        25,
        "<Number>: a number is",
    );
    assert_err(
        "<Response><Dial><Sip>sip:a,b@h</Sip></Dial></Response>",
        1,
        22,
        "<Sip>: not a SIP URI",
    );
    assert_err(
        "<Response><Dial><Sip>alice</Sip></Dial></Response>",
        1,
        22,
        "a SIP URI is sip:user@host, sips:user@host or user@host",
    );
    assert_err(
        "<Response><Dial><Number url=\"/x\">2</Number></Dial></Response>",
        1,
        17,
        "<Number> attribute url is not supported by pivot",
    );
    assert_err(
        "<Response><Say>x<Pause/></Say></Response>",
        1,
        17,
        "<Pause> is not allowed inside <Say>",
    );
    assert_err(
        "<Response><Gather><Say>a<b/></Say></Gather></Response>",
        1,
        25,
        "<b> is not allowed inside <Say>",
    );
}

#[test]
fn no_dtd_and_only_predefined_entities() {
    assert_err(
        "<!DOCTYPE r [<!ENTITY x \"boom\">]>\n<Response/>",
        1,
        1,
        "DOCTYPE is not allowed",
    );
    assert_err(
        "<Response>\n<Say>&lol;</Say></Response>",
        2,
        6,
        "bad character reference",
    );
    assert_err(
        "<Response><Play loop=\"&x;\">http://h/a</Play></Response>",
        1,
        11,
        "bad character reference",
    );
}

#[test]
fn encoding_must_be_utf8() {
    let mut bytes = b"<Response>\n<Say>caf".to_vec();
    bytes.extend_from_slice(&[0xE9, b'<']);
    bytes.extend_from_slice(b"/Say></Response>");
    let e = parse_twiml(&bytes, &base(), &FlowLimits::default()).unwrap_err();
    assert_eq!(e.path, "line 2, column 9");
    assert!(e.message.contains("not UTF-8"), "{e}");
    assert_err(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><Response/>",
        1,
        1,
        "not supported",
    );
    let bom = "\u{feff}<Response><Say>hi</Say></Response>";
    assert!(parse(bom).is_ok());
}

#[test]
fn verb_count_follows_the_flow_limits() {
    let says = "<Say>x</Say>".repeat(5);
    let xml = format!("<Response>{says}</Response>");
    let limits = FlowLimits {
        max_nodes: 1000,
        max_depth: 4,
        ..FlowLimits::default()
    };
    let e = parse_twiml(xml.as_bytes(), &base(), &limits).unwrap_err();
    assert_eq!(e.path, "line 1, column 59");
    assert!(e.message.contains("more than 4 verbs"), "{e}");
    let ok = format!("<Response>{}</Response>", "<Say>x</Say>".repeat(4));
    assert_eq!(
        chain(&parse_twiml(ok.as_bytes(), &base(), &limits).unwrap()).len(),
        4
    );
}

#[test]
fn element_count_and_nesting_are_capped() {
    let many = "<Pause/>".repeat(super::MAX_ELEMENTS);
    let e = err(&format!("<Response>{many}</Response>"));
    assert!(e.message.contains("more than 4096 elements"), "{e}");
    // 1 + 4095 elements: the 4096th <Pause/> is the one too many.
    assert_eq!(e.path, format!("line 1, column {}", 11 + 8 * 4095));
    // Elements below the third level are kept by name only (nothing inside them is read),
    // so deep nesting costs no more than wide; the verb check refuses the second <Gather>.
    let deep = format!(
        "<Response>{}{}</Response>",
        "<Gather>".repeat(2000),
        "</Gather>".repeat(2000)
    );
    assert_err(&deep, 1, 19, "<Gather> is not allowed inside <Gather>");
    assert_err(
        "<Response><Gather><Gather/></Gather></Response>",
        1,
        19,
        "<Gather> is not allowed inside <Gather>",
    );
}

#[test]
fn line_and_column_count_characters() {
    let e = super::at("ab\néé<x", 7, "m");
    assert_eq!(e.path, "line 2, column 3");
    assert_eq!(e.to_string(), "line 2, column 3: m");
    let e = super::at("abc", 99, "m");
    assert_eq!(e.path, "line 1, column 4");
}

#[test]
fn translate_sends_xml_here_with_kind_invalid_twiml() {
    use crate::pivot::fetch::Response;
    use crate::pivot::translate;
    let resp = |ct: &str, body: &str| Response {
        status: 200,
        headers: vec![("content-type".into(), ct.into())],
        body: bytes::Bytes::from(body.to_owned()),
        url: base(),
    };
    let limits = FlowLimits::default();
    let ok = translate(
        &resp("text/xml", "<Response><Hangup/></Response>"),
        &base(),
        &limits,
    );
    assert_eq!(ok.unwrap().module, Module::Hangup { cause: None });
    let sniffed = translate(&resp("text/html", " <Response/>"), &base(), &limits);
    assert!(sniffed.is_ok());
    let e = translate(
        &resp("application/xml", "<Response><Dance/></Response>"),
        &base(),
        &limits,
    )
    .unwrap_err();
    assert_eq!(e.kind(), "invalid_twiml");
    assert!(
        e.to_string()
            .starts_with("invalid TwiML: line 1, column 11: "),
        "{e}"
    );
}

#[test]
fn every_child_key_is_the_default_one() {
    let flow = parse("<Response><Say>a</Say><Pause/><Hangup/></Response>").unwrap();
    assert_eq!(
        flow.children.keys().collect::<Vec<_>>(),
        [&DEFAULT_CHILD.to_string()]
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_twiml(&bytes, &base(), &FlowLimits::default());
    }

    #[test]
    fn xml_like_soup_never_panics(parts in proptest::collection::vec(
        proptest::sample::select(vec![
            "<Response>", "</Response>", "<Say>", "</Say>", "<Gather>", "</Gather>", "<Dial>",
            "</Dial>", "<Number>", "</Number>", "<Pause/>", "<Play loop=\"0\">", "</Play>",
            "x", "&amp;", "&#0;", "&#xD800;", "<!--c-->", "<![CDATA[<]]>", " ", "\n", "é",
            "<Record timeout=\"3\"/>", "<Hangup/>", "<", ">", "\"", "=",
        ]),
        0..40,
    )) {
        let xml: String = parts.concat();
        if let Err(e) = parse(&xml) {
            prop_assert!(e.path.starts_with("line "), "{}", e);
        }
    }
}

#[test]
fn messages_read_well() {
    let cases = [
        (
            "<Response>\n<Say>x</Play></Response>",
            "line 2, column 7: malformed XML: ill-formed document: expected `</Say>`, but `</Play>` was found",
        ),
        (
            "<Response>\n\n    <Say voice=\"man\" rate=\"1\">x</Say></Response>",
            "line 3, column 5: <Say> has an unknown attribute rate (known: voice, language, loop)",
        ),
        (
            "<Response><Dance/></Response>",
            "line 1, column 11: unknown verb <Dance> inside <Response>; pivot runs Say, Play, \
             Pause, Gather, Record, Hangup, Reject, Redirect, Dial",
        ),
    ];
    for (xml, expected) in cases {
        assert_eq!(err(xml).to_string(), expected);
    }
}
