//! The Twilio features users meet first: `<Play digits>`, `<Dial>`'s `hangupOnStar`,
//! `record`, `answerOnBridge`, `<Number sendDigits>`, `<Sip>` without a scheme or with
//! headers, and errors that name the verb, noun or attribute a document gets wrong.
#![allow(clippy::unwrap_used)] // tests may unwrap

use std::time::Duration;

use super::parse_twiml;
use crate::callflow::{
    Dial, DialRecord, DialTarget, FlowError, FlowLimits, Module, Node, SendDtmf,
};

fn parse(xml: &str) -> Result<Node, FlowError> {
    let base = url::Url::parse("https://app.example.com/ivr/voice.xml").unwrap();
    parse_twiml(xml.as_bytes(), &base, &FlowLimits::default())
}

fn err(xml: &str) -> String {
    match parse(xml) {
        Ok(node) => panic!("expected an error for {xml:?}, got {node:?}"),
        Err(e) => e.to_string(),
    }
}

fn dial(xml: &str) -> Dial {
    match parse(xml).unwrap().module {
        Module::Dial(d) => *d,
        other => panic!("{other:?}"),
    }
}

#[test]
fn play_digits_sends_tones_with_freeswitchs_default_length() {
    let flow = parse(r#"<Response><Play digits="ww1234#"/><Say>after</Say></Response>"#).unwrap();
    let Module::SendDtmf(s) = &flow.module else {
        panic!("{flow:?}")
    };
    assert_eq!(s.digits.as_str(), "ww1234#");
    assert_eq!(s.tone, SendDtmf::TWIML_TONE);
    assert_eq!(s.duration(), Duration::from_millis(2 * 500 + 5 * 250));
    // An empty digits attribute counts as not given: the URL plays.
    let flow = parse(r#"<Response><Play digits="">https://h/a.wav</Play></Response>"#).unwrap();
    assert!(matches!(flow.module, Module::Play(_)));
    let cases = [
        (
            r#"<Play digits="12">https://h/a.wav</Play>"#,
            "line 1, column 29: <Play> plays a URL or sends digits, not both",
        ),
        (
            r#"<Play digits="12" loop="2"/>"#,
            "line 1, column 11: <Play> attribute loop: not with digits",
        ),
        (
            r#"<Play digits="1x"/>"#,
            "line 1, column 11: <Play> attribute digits: digits are 1 to 64 of 0-9",
        ),
        (
            r#"<Gather><Play digits="1"/></Gather>"#,
            "line 1, column 19: <Play> attribute digits: not allowed inside <Gather>",
        ),
    ];
    for (verb, expected) in cases {
        let e = err(&format!("<Response>{verb}</Response>"));
        assert!(e.starts_with(expected), "{e}");
    }
}

#[test]
fn dial_star_key_recording_and_answering() {
    let d = dial(
        r#"<Response><Dial hangupOnStar="true" record="record-from-answer-dual"
 recordingUrl="/rec/" answerOnBridge="false">1</Dial></Response>"#,
    );
    assert!(d.hangup_on_star);
    assert_eq!(d.record, DialRecord::FromAnswer { dual: true });
    assert_eq!(
        d.upload_url.unwrap().as_str(),
        "https://app.example.com/rec/"
    );
    assert_eq!(d.answer_on_bridge, Some(false));
    let d = dial("<Response><Dial>1</Dial></Response>");
    assert!(!d.hangup_on_star && !d.answers_first());
    assert_eq!((d.record, d.answer_on_bridge), (DialRecord::No, None));
    let records = [
        ("do-not-record", DialRecord::No),
        ("false", DialRecord::No),
        ("true", DialRecord::FromAnswer { dual: false }),
        ("record-from-answer", DialRecord::FromAnswer { dual: false }),
        (
            "record-from-ringing",
            DialRecord::FromRinging { dual: false },
        ),
        (
            "record-from-ringing-dual",
            DialRecord::FromRinging { dual: true },
        ),
    ];
    for (value, expected) in records {
        let d = dial(&format!(
            r#"<Response><Dial record="{value}">1</Dial></Response>"#
        ));
        assert_eq!(d.record, expected, "{value}");
        // A recording needs the caller's media: pivot answers first.
        assert_eq!(d.answers_first(), expected.is_on(), "{value}");
    }
    let e = err(r#"<Response><Dial record="yes">1</Dial></Response>"#);
    assert!(
        e.contains("<Dial> attribute record: expected do-not-record"),
        "{e}"
    );
    let e = err(r#"<Response><Dial hangupOnStar="1">1</Dial></Response>"#);
    assert!(
        e.contains("<Dial> attribute hangupOnStar: expected true or false"),
        "{e}"
    );
    let e = err(r#"<Response><Dial record="true" answerOnBridge="true">1</Dial></Response>"#);
    assert!(
        e.contains("attribute record: not with answerOnBridge"),
        "{e}"
    );
}

#[test]
fn number_send_digits_and_sip_without_scheme_or_with_headers() {
    let d = dial(
        r#"<Response><Dial>
  <Number sendDigits="ww1928#">+1 415 555 1212</Number>
  <Sip>bob@pbx.example.com</Sip>
  <Sip>sip:carol@pbx.example.com?X-Customer=42&amp;X-Tier=gold%20plus</Sip>
</Dial></Response>"#,
    );
    let DialTarget::Number {
        number,
        send_digits: Some(digits),
    } = &d.targets[0]
    else {
        panic!("{:?}", d.targets)
    };
    assert_eq!(
        (number.as_str(), digits.as_str()),
        ("+14155551212", "ww1928#")
    );
    let DialTarget::Sip(bob) = &d.targets[1] else {
        panic!()
    };
    assert_eq!(bob.as_str(), "bob@pbx.example.com");
    let DialTarget::Sip(carol) = &d.targets[2] else {
        panic!()
    };
    let headers: Vec<_> = carol
        .headers()
        .iter()
        .map(|h| (h.name(), h.value()))
        .collect();
    assert_eq!(headers, [("X-Customer", "42"), ("X-Tier", "gold plus")]);
    let e = err(r#"<Response><Dial><Number sendDigits="1,2">1</Number></Dial></Response>"#);
    assert!(
        e.contains("<Number> attribute sendDigits: digits are"),
        "{e}"
    );
    let e = err("<Response><Dial><Sip>sip:b@h?Subject=hi</Sip></Dial></Response>");
    assert!(
        e.contains("<Sip>: header \"Subject\": pivot passes custom headers only"),
        "{e}"
    );
    let e = err("<Response><Dial><Sip>sip:b@h?X-A=%7D</Sip></Dial></Response>");
    assert!(e.contains("<Sip>: header X-A: the value must be"), "{e}");
}

/// The verb, noun or attribute a document gets wrong is named first, even when something
/// nested inside it is wrong too; nouns are called nouns.
#[test]
fn errors_name_the_unsupported_verb_noun_or_attribute_first() {
    let cases = [
        (
            r#"<Connect><Stream url="wss://h/s"><Parameter name="a" value="b"/></Stream></Connect>"#,
            "line 1, column 11: <Connect> is a TwiML verb pivot does not support",
        ),
        (
            r#"<Gather input="speech"><Say>Hi<break time="1s"/></Say></Gather>"#,
            "line 1, column 11: <Gather> attribute input is not supported by pivot (known: action, \
             method, timeout, finishOnKey, numDigits)",
        ),
        (
            r##"<Gather finishonkey="#"/>"##,
            "line 1, column 11: <Gather> has an unknown attribute finishonkey (did you mean \
             finishOnKey? names are case-sensitive)",
        ),
        (
            r#"<Dial ringTone="us"><Conference>room</Conference></Dial>"#,
            "line 1, column 11: <Dial> attribute ringTone is not supported by pivot",
        ),
        (
            "<Dial><Conference>room</Conference></Dial>",
            "line 1, column 17: <Conference> is a TwiML noun pivot does not support inside \
             <Dial> (pivot dials <Number> and <Sip>)",
        ),
        (
            "<Dial><Say>hi</Say></Dial>",
            "line 1, column 17: <Say> is a verb: it is not allowed inside <Dial>",
        ),
        (
            "<Dial><number>1</number></Dial>",
            "line 1, column 17: unknown noun <number> (did you mean <Number>?",
        ),
        (
            "<Dial><Client>alice</Client></Dial>",
            "line 1, column 17: <Client> is a TwiML noun pivot does not support inside <Dial>",
        ),
        (
            "<Conference>room</Conference>",
            "line 1, column 11: <Conference> is a TwiML noun (it goes inside <Dial>) that \
             pivot does not support",
        ),
        (
            "<Sip>sip:a@h</Sip>",
            "line 1, column 11: <Sip> is a noun: it is only allowed inside <Dial>",
        ),
        (
            "<Dial><Number>1<x/></Number></Dial>",
            "line 1, column 26: <x> is not allowed inside <Number>",
        ),
    ];
    for (verbs, expected) in cases {
        let e = err(&format!("<Response>{verbs}</Response>"));
        assert!(e.starts_with(expected), "{verbs}\n{e}");
    }
}
