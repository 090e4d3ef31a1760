//! The parameters sent to the web app: what is known of the call ([`CallInfo`], read from
//! the channel data), named per request format (Piston or TwiML), and encoded as a GET query,
//! a form body or a JSON body. Sends nothing; the HTTP request is built elsewhere.

use std::collections::BTreeMap;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

const DOMAIN: &str = "variable_domain_name";
const HOST_IP: &str = "FreeSWITCH-IPv4";

/// What the web app is told about the call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallInfo {
    pub call_id: String,
    pub account_id: String,
    pub from: String,
    pub from_realm: String,
    pub to: String,
    pub to_realm: String,
    pub caller_id_name: String,
    pub caller_id_number: String,
    pub direction: String,
    pub request: Option<String>,
    pub request_realm: Option<String>,
    pub language: Option<String>,
    pub answered: bool,
}

impl CallInfo {
    /// Fills the call's facts from channel data headers (already URL-decoded) through `get`;
    /// empty and `_undef_` values count as absent.
    pub fn from_channel(get: &dyn Fn(&str) -> Option<String>, account_id: &str) -> CallInfo {
        let get = |name: &str| get(name).filter(|v| !v.is_empty() && v != "_undef_");
        let first = |names: &[&str]| names.iter().find_map(|n| get(n)).unwrap_or_default();
        CallInfo {
            call_id: first(&["Unique-ID"]),
            account_id: account_id.to_owned(),
            from: first(&["variable_sip_from_user", "Caller-Caller-ID-Number"]),
            from_realm: first(&["variable_sip_from_host", DOMAIN, HOST_IP]),
            to: first(&["Caller-Destination-Number"]),
            to_realm: first(&["variable_sip_to_host", DOMAIN, HOST_IP]),
            caller_id_name: first(&["Caller-Caller-ID-Name"]),
            caller_id_number: first(&["Caller-Caller-ID-Number"]),
            direction: first(&["Call-Direction"]),
            request: get("variable_sip_req_user"),
            request_realm: get("variable_sip_req_host"),
            language: get("variable_default_language"),
            answered: get("Answer-State").as_deref() == Some("answered"),
        }
    }

    /// Kazoo's and Twilio's call status while the call is up: `ringing` before the answer,
    /// `in-progress` after.
    pub fn call_status(&self) -> &'static str {
        if self.answered {
            "in-progress"
        } else {
            "ringing"
        }
    }
}

/// One parameter value: a string, or a map that forms encode with brackets
/// (`Digits[default]=42`) and JSON nests (`{"Digits": {"default": "42"}}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    Str(String),
    Map(BTreeMap<String, String>),
}

pub type Params = Vec<(String, ParamValue)>;

fn push(params: &mut Params, name: &str, value: &str) {
    params.push((name.to_owned(), ParamValue::Str(value.to_owned())));
}

/// Parameters for `req_format: Piston`; `digits` maps collection names to collected digits
/// and is sent as `Digits` only when not empty.
pub fn piston_params(info: &CallInfo, digits: &BTreeMap<String, String>) -> Params {
    let mut p = Params::new();
    push(&mut p, "Call-ID", &info.call_id);
    push(&mut p, "Account-ID", &info.account_id);
    push(&mut p, "From", &info.from);
    push(&mut p, "FromRealm", &info.from_realm);
    push(&mut p, "To", &info.to);
    push(&mut p, "ToRealm", &info.to_realm);
    push(&mut p, "Caller-ID-Name", &info.caller_id_name);
    push(&mut p, "Caller-ID-Number", &info.caller_id_number);
    push(&mut p, "Direction", &info.direction);
    push(&mut p, "ApiVersion", "2013-05-01");
    push(&mut p, "Call-Status", info.call_status());
    let optional = [
        ("Request", &info.request),
        ("Request-Realm", &info.request_realm),
        ("Language", &info.language),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            push(&mut p, name, value);
        }
    }
    if !digits.is_empty() {
        p.push(("Digits".to_owned(), ParamValue::Map(digits.clone())));
    }
    p
}

/// What a TwiML request may add to the call's facts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TwimlExtra {
    /// The digits of the last `Gather`.
    pub digits: Option<String>,
    pub recording_url: Option<String>,
    /// Seconds.
    pub recording_duration: Option<u64>,
    /// The result of a `<Dial>`: `completed`, `busy`, `no-answer` or `failed`.
    pub dial_call_status: Option<String>,
    /// Replaces the `CallStatus` the call's state gives (`completed` once it has ended).
    pub call_status: Option<String>,
}

/// Parameters for `req_format: twiml`, with Twilio's names.
pub fn twiml_params(info: &CallInfo, extra: &TwimlExtra) -> Params {
    let mut p = Params::new();
    push(&mut p, "CallSid", &info.call_id);
    push(&mut p, "AccountSid", &info.account_id);
    push(&mut p, "From", &info.from);
    push(&mut p, "To", &info.to);
    push(&mut p, "FromRealm", &info.from_realm);
    push(&mut p, "ToRealm", &info.to_realm);
    push(&mut p, "CallerName", &info.caller_id_name);
    push(&mut p, "CallerNumber", &info.caller_id_number);
    push(
        &mut p,
        "CallStatus",
        extra.call_status.as_deref().unwrap_or(info.call_status()),
    );
    push(&mut p, "Direction", &info.direction);
    push(&mut p, "ApiVersion", "2010-04-01");
    if let Some(digits) = &extra.digits {
        push(&mut p, "Digits", digits);
    }
    if let Some(url) = &extra.recording_url {
        push(&mut p, "RecordingUrl", url);
    }
    if let Some(secs) = extra.recording_duration {
        push(&mut p, "RecordingDuration", &secs.to_string());
    }
    if let Some(status) = &extra.dial_call_status {
        push(&mut p, "DialCallStatus", status);
    }
    p
}

/// Everything but RFC 3986 unreserved characters is escaped; a space becomes `%20`.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn enc(s: &str) -> percent_encoding::PercentEncode<'_> {
    utf8_percent_encode(s, COMPONENT)
}

/// `name=value&...`, maps as `name[key]=value`; the same text serves as a GET query and as an
/// `application/x-www-form-urlencoded` body.
pub fn form_body(params: &[(String, ParamValue)]) -> String {
    let mut pairs = Vec::with_capacity(params.len());
    for (name, value) in params {
        match value {
            ParamValue::Str(v) => pairs.push(format!("{}={}", enc(name), enc(v))),
            ParamValue::Map(map) => pairs.extend(
                map.iter()
                    .map(|(k, v)| format!("{}[{}]={}", enc(name), enc(k), enc(v))),
            ),
        }
    }
    pairs.join("&")
}

/// `url` with the parameters after its own query, joined with `&`.
pub fn append_query(url: &url::Url, params: &[(String, ParamValue)]) -> url::Url {
    let ours = form_body(params);
    if ours.is_empty() {
        return url.clone();
    }
    let query = match url.query() {
        None | Some("") => ours,
        Some(own) if own.ends_with('&') => format!("{own}{ours}"),
        Some(own) => format!("{own}&{ours}"),
    };
    let mut out = url.clone();
    out.set_query(Some(&query));
    out
}

/// A JSON object with the same keys; maps nest.
pub fn json_body(params: &[(String, ParamValue)]) -> serde_json::Value {
    let object = params
        .iter()
        .map(|(name, value)| {
            let value = match value {
                ParamValue::Str(s) => serde_json::Value::String(s.clone()),
                ParamValue::Map(map) => serde_json::Value::Object(
                    map.iter()
                        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                        .collect(),
                ),
            };
            (name.clone(), value)
        })
        .collect();
    serde_json::Value::Object(object)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests may unwrap

    use std::collections::HashMap;

    use super::*;

    /// The first header block of a capture, `%XX`-decoded (never `+` to space).
    fn channel_data(capture: &str) -> HashMap<String, String> {
        let path = format!("{}/fixtures/esl/{capture}", env!("CARGO_MANIFEST_DIR"));
        let raw = std::fs::read(path).unwrap();
        let end = raw.windows(2).position(|w| w == b"\n\n").unwrap();
        let block = String::from_utf8_lossy(&raw[..end]).into_owned();
        let mut headers = HashMap::new();
        for line in block.lines() {
            let (name, value) = line.split_once(": ").unwrap();
            let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
            headers.entry(name.to_owned()).or_insert(value.into_owned());
        }
        headers
    }

    fn capture_info() -> CallInfo {
        let headers = channel_data("full.fs-sent.raw");
        let get = |name: &str| headers.get(name).cloned();
        CallInfo::from_channel(&get, "0123456789abcdef0123456789abcdef")
    }

    fn s(v: &str) -> ParamValue {
        ParamValue::Str(v.to_owned())
    }

    fn digits(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn piston_params_from_the_real_connect_reply() {
        let params = piston_params(&capture_info(), &BTreeMap::new());
        let expected = [
            ("Call-ID", "d3ce0a72-2926-49a4-97df-4106ee0a01eb"),
            ("Account-ID", "0123456789abcdef0123456789abcdef"),
            ("From", "5551000"),
            ("FromRealm", "192.0.2.2"),
            ("To", "3004"),
            ("ToRealm", "192.0.2.2"),
            ("Caller-ID-Name", "Lab Caller"),
            ("Caller-ID-Number", "5551000"),
            ("Direction", "inbound"),
            ("ApiVersion", "2013-05-01"),
            ("Call-Status", "in-progress"),
        ];
        let expected: Params = expected
            .iter()
            .map(|(k, v)| (k.to_string(), s(v)))
            .collect();
        assert_eq!(params, expected);
    }

    #[test]
    fn sip_headers_win_over_fallbacks_and_undef_is_absent() {
        let headers: HashMap<&str, &str> = [
            ("variable_sip_from_user", "alice"),
            ("variable_sip_from_host", "a.example.com"),
            ("variable_domain_name", "d.example.com"),
            ("Caller-Caller-ID-Number", "5551000"),
            ("variable_sip_req_user", "3004"),
            ("variable_sip_req_host", "pbx.example.com"),
            ("variable_default_language", "fr"),
            ("variable_sip_to_host", "_undef_"),
            ("Answer-State", "ringing"),
        ]
        .into_iter()
        .collect();
        let get = |name: &str| headers.get(name).map(|v| v.to_string());
        let info = CallInfo::from_channel(&get, "acc");
        assert_eq!(
            (info.from.as_str(), info.from_realm.as_str()),
            ("alice", "a.example.com")
        );
        assert_eq!(info.to_realm, "d.example.com");
        assert!(!info.answered);
        let params = piston_params(&info, &BTreeMap::new());
        let tail: Vec<_> = params[11..]
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        assert_eq!(
            tail,
            [
                ("Request", s("3004")),
                ("Request-Realm", s("pbx.example.com")),
                ("Language", s("fr"))
            ]
        );
    }

    #[test]
    fn digits_only_when_collected_with_brackets_in_forms_and_nesting_in_json() {
        let info = capture_info();
        let params = piston_params(&info, &digits(&[("default", "42"), ("menu", "1#")]));
        let (name, value) = params.last().unwrap();
        assert_eq!(name, "Digits");
        assert_eq!(
            value,
            &ParamValue::Map(digits(&[("default", "42"), ("menu", "1#")]))
        );
        let form = form_body(&params);
        assert!(
            form.ends_with("&Digits[default]=42&Digits[menu]=1%23"),
            "{form}"
        );
        assert!(form.contains("&Caller-ID-Name=Lab%20Caller&"), "{form}");
        let json = json_body(&params);
        assert_eq!(
            json["Digits"],
            serde_json::json!({"default": "42", "menu": "1#"})
        );
        assert_eq!(json["Caller-ID-Name"], "Lab Caller");
        assert!(!form_body(&piston_params(&info, &BTreeMap::new())).contains("Digits"));
    }

    #[test]
    fn get_query_goes_after_the_urls_own_query() {
        let params = vec![
            ("To".to_owned(), s("3004")),
            ("X y".to_owned(), s("a&b=c+d/é")),
        ];
        let url = url::Url::parse("https://app.example.com/ivr?step=menu#top").unwrap();
        let out = append_query(&url, &params);
        assert_eq!(
            out.as_str(),
            "https://app.example.com/ivr?step=menu&To=3004&X%20y=a%26b%3Dc%2Bd%2F%C3%A9#top"
        );
        let pairs: Vec<(String, String)> = out.query_pairs().into_owned().collect();
        assert_eq!(pairs[2], ("X y".to_owned(), "a&b=c+d/é".to_owned()));
        let bare = url::Url::parse("http://h/x").unwrap();
        assert_eq!(
            append_query(&bare, &params[..1]).as_str(),
            "http://h/x?To=3004"
        );
        let trailing = url::Url::parse("http://h/x?a=1&").unwrap();
        assert_eq!(
            append_query(&trailing, &params[..1]).as_str(),
            "http://h/x?a=1&To=3004"
        );
        assert_eq!(append_query(&bare, &[]), bare);
    }

    #[test]
    fn twiml_params_use_twilio_names_and_call_status() {
        let mut info = capture_info();
        let extra = TwimlExtra {
            digits: Some("42".into()),
            recording_url: Some("http://r/x.mp3".into()),
            recording_duration: Some(7),
            dial_call_status: Some("busy".into()),
            call_status: None,
        };
        let json = json_body(&twiml_params(&info, &extra));
        let expected = serde_json::json!({
            "CallSid": "d3ce0a72-2926-49a4-97df-4106ee0a01eb",
            "AccountSid": "0123456789abcdef0123456789abcdef",
            "From": "5551000", "To": "3004", "FromRealm": "192.0.2.2", "ToRealm": "192.0.2.2",
            "CallerName": "Lab Caller", "CallerNumber": "5551000", "CallStatus": "in-progress",
            "Direction": "inbound", "ApiVersion": "2010-04-01", "Digits": "42",
            "RecordingUrl": "http://r/x.mp3", "RecordingDuration": "7", "DialCallStatus": "busy"
        });
        assert_eq!(json, expected);
        info.answered = false;
        let params = twiml_params(&info, &TwimlExtra::default());
        assert_eq!(params.len(), 11);
        assert_eq!(json_body(&params)["CallStatus"], "ringing");
        let over = TwimlExtra {
            call_status: Some("completed".into()),
            ..TwimlExtra::default()
        };
        assert_eq!(
            json_body(&twiml_params(&info, &over))["CallStatus"],
            "completed"
        );
    }
}
