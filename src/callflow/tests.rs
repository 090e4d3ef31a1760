#![allow(clippy::unwrap_used)] // tests may unwrap

use proptest::prelude::*;

use super::*;

#[test]
fn play_ids_are_classified_per_the_contract() {
    let kind = |s: &str| match PlayId::parse(s).unwrap() {
        PlayId::Url(_) => "url",
        PlayId::Path(_) => "path",
        PlayId::Stream(_) => "stream",
        PlayId::Media(_) => "media",
    };
    assert_eq!(kind("https://m.example.com/a.wav"), "url");
    assert_eq!(kind("Http://m.example.com/a.wav"), "url");
    assert_eq!(kind("/usr/share/sounds/a.wav"), "path");
    assert_eq!(kind("tone_stream://%(200,0,440)"), "stream");
    assert_eq!(kind("silence_stream://500"), "stream");
    assert_eq!(kind("local_stream://moh"), "stream");
    assert_eq!(kind("greeting-1.wav"), "media");
    for bad in [
        "",
        "..",
        "a/b.wav",
        "a..b",
        "shout://x",
        "http_cache://http://x",
        "/a\nb",
        "/a$b",
    ] {
        assert!(PlayId::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn urls_must_be_http_with_a_host_and_hide_nothing() {
    assert!(HttpUrl::new("https://h:8443/p?q=1").is_ok());
    for bad in [
        "javascript:alert(1)",
        "file:///etc/passwd",
        "http://",
        "http://h/a\tb",
        "http://h/a b",
        "http://h/\r\nX: y",
    ] {
        assert!(HttpUrl::new(bad).is_err(), "{bad:?}");
    }
    let long = format!("http://h/{}", "a".repeat(HttpUrl::MAX_LEN));
    assert!(HttpUrl::new(&long).is_err());
}

#[test]
fn custom_headers_need_x_names_and_clean_values() {
    let h = CustomHeader::new("x-trace", "a\tb é").unwrap();
    assert_eq!((h.name(), h.value()), ("x-trace", "a\tb é"));
    for (name, value) in [
        ("X-A", "a\rb"),
        ("X-A", "a\nb"),
        ("X-A", "a\0b"),
        ("Host", "h"),
        ("X-", "v:"),
        ("X-A:", "v"),
        ("X-A\n", "v"),
        ("X-Pivot-Signature", "t=1,v1=00"),
        ("x-pivot-attempt", "1"),
    ] {
        let ok = CustomHeader::new(name, value).is_ok();
        assert_eq!(ok, name == "X-", "{name:?} {value:?}");
    }
    assert!(CustomHeader::new("X-Pivoted", "v").is_ok());
}

#[test]
fn operator_trust_passes_to_same_origin_urls_only() {
    let operator = HttpUrl::new("http://127.0.0.1:5000/voice")
        .unwrap()
        .operator();
    let node = |url: &str| {
        Node::leaf(Module::Pivot(Box::new(PivotRequest::new(
            HttpUrl::new(url).unwrap(),
        ))))
    };
    let trust_of = |n: &Node| match &n.module {
        Module::Pivot(p) => p.voice_url.trust(),
        _ => unreachable!(),
    };
    for (url, trust) in [
        ("http://127.0.0.1:5000/next", Trust::Operator),
        ("http://127.0.0.1:8000/next", Trust::WebApp),
        ("https://127.0.0.1:5000/next", Trust::WebApp),
        ("http://localhost:5000/next", Trust::WebApp),
    ] {
        let mut n = node(url);
        assert_eq!(trust_of(&n), Trust::WebApp, "parsed URLs start untrusted");
        n.inherit_trust(&operator);
        assert_eq!(trust_of(&n), trust, "{url}");
    }
    // An answer to a web app's URL passes nothing on, whatever its origin.
    let mut n = node("http://127.0.0.1:5000/next");
    n.inherit_trust(&HttpUrl::new("http://127.0.0.1:5000/voice").unwrap());
    assert_eq!(trust_of(&n), Trust::WebApp);
    n.trust_all();
    assert_eq!(trust_of(&n), Trust::Operator);
}

#[test]
fn dtmf_keys_are_normalised_and_deduplicated() {
    let keys = DtmfKeys::new("1#a#A*").unwrap();
    assert_eq!(keys.as_str(), "1#A*");
    assert!(keys.contains('a') && !keys.contains('2'));
    assert!(DtmfKeys::new("E").is_err() && DtmfKeys::new(" ").is_err());
}

#[test]
fn small_values_keep_to_their_charsets() {
    assert!(Token::new("en-US_x.1").is_ok());
    for bad in ["", "a b", "a|b", "a'b", "${x}", &"a".repeat(65)] {
        assert!(Token::new(bad).is_err(), "{bad:?}");
    }
    assert_eq!(HangupCause::new("user_busy").unwrap().as_str(), "USER_BUSY");
    assert!(HangupCause::new("USER BUSY").is_err() && HangupCause::new("A1").is_err());
    assert!(Text::new("line one\nline two | $x").is_ok());
    assert!(Text::new(" \n ").is_err() && Text::new(&"a".repeat(4097)).is_err());
    assert!(!Text::new("it's").unwrap().is_say_argument());
    assert!(Text::new("12.50").unwrap().is_say_argument());
    assert!(ReasonPhrase::new("").is_ok() && ReasonPhrase::new("Busy $x").is_err());
}

#[test]
fn say_with_a_type_refuses_text_that_would_break_its_argument() {
    let text = Text::new("a 'quoted' name").unwrap();
    let typed = Say::new(
        text.clone(),
        Some(Token::new("name_spelled").unwrap()),
        SayMethod::Iterated,
        Say::default_language(),
        None,
    );
    assert!(typed.is_err());
    let plain = Say::new(
        text.clone(),
        None,
        SayMethod::Pronounced,
        Say::default_language(),
        None,
    )
    .unwrap();
    assert_eq!(plain, Say::text(text));
}

proptest! {
    #[test]
    fn any_play_id_is_refused_or_free_of_control_characters(s in "\\PC{0,40}|[\\x00-\\x7f]{0,40}") {
        if let Ok(id) = PlayId::parse(&s) {
            let text = match &id {
                PlayId::Url(u) => u.as_str().to_owned(),
                PlayId::Path(p) | PlayId::Stream(p) => p.as_str().to_owned(),
                PlayId::Media(m) => m.as_str().to_owned(),
            };
            prop_assert!(!text.chars().any(char::is_control), "{text:?}");
            prop_assert!(!text.contains('$') || matches!(id, PlayId::Url(_)));
        }
    }
}

#[test]
fn dial_values_cannot_split_a_dial_string() {
    assert_eq!(
        PhoneNumber::new("+1 (415) 555-1212").unwrap().as_str(),
        "+14155551212"
    );
    assert_eq!(PhoneNumber::new("*98#").unwrap().as_str(), "*98#");
    for bad in [
        "",
        "  ",
        "12,34",
        "12|34",
        "1${x}",
        "1\n2",
        "abc",
        &"1".repeat(33),
    ] {
        assert!(PhoneNumber::new(bad).is_err(), "{bad:?}");
    }
    assert_eq!(
        SipUri::new("SIP:bob@pbx.example.com:5080;transport=tcp")
            .unwrap()
            .as_str(),
        "bob@pbx.example.com:5080;transport=tcp"
    );
    assert_eq!(
        SipUri::new("sips:h.example.com").unwrap().as_str(),
        "h.example.com"
    );
    assert_eq!(SipUri::new("bob@h").unwrap().as_str(), "bob@h");
    for bad in [
        "bob",
        "h.example.com",
        "tel:+15550001111@h",
        "@h",
        "sip:",
        "sip:a,b@h",
        "sip:a@h|sofia/x",
        "sip:{x=1}a@h",
        "sip:a@b@c",
        "sip:a@${h}",
        "sip:a @h",
        "sip:a@-h",
        "sip:é@h",
    ] {
        assert!(SipUri::new(bad).is_err(), "{bad:?}");
    }
    assert!(CallerId::new("+15550001111").is_ok());
    assert!(CallerId::new("alice.support-1").is_ok());
    for bad in ["", "a b", "a,b", "a}b", "a=b", "$x"] {
        assert!(CallerId::new(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn twiml_actions_take_the_fetching_request_but_twiml_form_and_their_own_method() {
    let mut base = PivotRequest::new(HttpUrl::new("http://app.example.com/first").unwrap());
    base.debug = true;
    base.timeout = std::time::Duration::from_millis(1500);
    base.body_format = BodyFormat::Json;
    let action = TwimlAction::post(HttpUrl::new("http://app.example.com/next").unwrap());
    let req = action.request(Some(&base));
    assert_eq!(req.voice_url.as_str(), "http://app.example.com/next");
    assert_eq!(
        (req.method, req.req_format, req.body_format),
        (HttpMethod::Post, ReqFormat::Twiml, BodyFormat::Form)
    );
    assert!(req.debug);
    assert_eq!(req.timeout, std::time::Duration::from_millis(1500));
    let alone = action.request(None);
    assert_eq!(alone.timeout, PivotRequest::DEFAULT_TIMEOUT);
    assert!(!alone.debug);
}

#[test]
fn timing_takes_the_fragment_then_the_node_then_the_defaults() {
    let url = |s: &str| HttpUrl::new(s).unwrap();
    let mut req = PivotRequest::new(url("http://app.example.com/v"));
    let defaults = req.timing(&req.voice_url);
    assert_eq!(defaults, Timing::with_total(Duration::from_secs(5)));
    assert_eq!(
        (defaults.connect, defaults.read, defaults.retries),
        (Duration::from_secs(2), Duration::from_secs(5), 1)
    );
    req.timeout = Duration::from_secs(8);
    req.connect_timeout = Some(Duration::from_millis(700));
    req.retries = Some(3);
    let node = req.timing(&req.voice_url);
    assert_eq!(
        (node.connect, node.read, node.total, node.retries),
        (
            Duration::from_millis(700),
            Duration::from_secs(8),
            Duration::from_secs(8),
            3
        )
    );
    let fragment = url("http://app.example.com/v#x=1&ct=300&rt=900&tt=1000&rc=0&rp=rt,5xx");
    let t = req.timing(&fragment);
    assert_eq!(
        (t.connect, t.read, t.total, t.retries),
        (
            Duration::from_millis(300),
            Duration::from_millis(900),
            Duration::from_secs(1),
            0
        )
    );
    assert_eq!(
        t.retry_on,
        RetryOn {
            read_timeout: true,
            status_5xx: true,
            status_4xx: false
        }
    );
    // Connect and read never exceed the total.
    let short = req.timing(&url("http://app.example.com/v#tt=200"));
    assert_eq!(
        (short.connect, short.read),
        (Duration::from_millis(200), Duration::from_millis(200))
    );
    for bad in [
        "#ct=0",
        "#rt=120001",
        "#tt=x",
        "#rc=6",
        "#rp=ct,sometimes",
        "#rc=-1",
    ] {
        let e = HttpUrl::new(&format!("http://h/v{bad}")).unwrap_err();
        assert!(e.0.starts_with('#'), "{bad}: {e}");
    }
    assert!(
        HttpUrl::new("http://h/v#section-2").is_ok(),
        "other fragments are left alone"
    );
}

#[test]
fn twiml_actions_keep_the_retries_and_fallback_of_the_fetching_request() {
    let mut base = PivotRequest::new(HttpUrl::new("http://app.example.com/first").unwrap());
    base.retries = Some(4);
    base.fallback_url = Some(HttpUrl::new("http://backup.example.com/v").unwrap());
    let action = TwimlAction::post(HttpUrl::new("http://app.example.com/next#rc=0").unwrap());
    let req = action.request(Some(&base));
    assert_eq!(req.fallback_url, base.fallback_url);
    assert_eq!(
        req.timing(&req.voice_url).retries,
        0,
        "the action's fragment wins"
    );
    assert_eq!(req.timing(req.fallback_url.as_ref().unwrap()).retries, 4);
}
