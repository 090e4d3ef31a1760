//! Every TwiML name pivot knows, in one table: the verbs and nouns it runs with the
//! attributes it reads, the Twilio attributes, verbs and nouns it knows of but does not
//! support, and the error messages that name them. The verb readers (`verbs`) and `pivot
//! check` go through this table, so what is accepted and what is reported cannot drift.

/// An element pivot runs: the attributes it reads, and Twilio's other attributes for it.
pub(super) struct Spec {
    pub name: &'static str,
    pub reads: &'static [&'static str],
    pub twilio_only: &'static [&'static str],
}

/// The elements pivot runs, `<Response>` included.
pub(super) const ELEMENTS: &[Spec] = &[
    Spec {
        name: "Response",
        reads: &[],
        twilio_only: &[],
    },
    Spec {
        name: "Say",
        reads: &["voice", "language", "loop"],
        twilio_only: &[],
    },
    Spec {
        name: "Play",
        reads: &["loop", "digits"],
        twilio_only: &[],
    },
    Spec {
        name: "Pause",
        reads: &["length"],
        twilio_only: &[],
    },
    Spec {
        name: "Gather",
        reads: &["action", "method", "timeout", "finishOnKey", "numDigits"],
        twilio_only: &[
            "input",
            "hints",
            "language",
            "speechTimeout",
            "speechModel",
            "maxSpeechTime",
            "profanityFilter",
            "partialResultCallback",
            "partialResultCallbackMethod",
            "enhanced",
            "actionOnEmptyResult",
            "bargeIn",
            "debug",
        ],
    },
    Spec {
        name: "Record",
        reads: &[
            "action",
            "method",
            "timeout",
            "finishOnKey",
            "maxLength",
            "playBeep",
            "recordingUrl",
        ],
        twilio_only: &[
            "trim",
            "transcribe",
            "transcribeCallback",
            "recordingStatusCallback",
            "recordingStatusCallbackMethod",
            "recordingStatusCallbackEvent",
            "storageUrl",
            "storageUrlMethod",
        ],
    },
    Spec {
        name: "Dial",
        reads: &[
            "action",
            "method",
            "timeout",
            "callerId",
            "timeLimit",
            "hangupOnStar",
            "record",
            "answerOnBridge",
            "recordingUrl",
        ],
        twilio_only: &[
            "ringTone",
            "recordingStatusCallback",
            "recordingStatusCallbackMethod",
            "recordingStatusCallbackEvent",
            "recordingTrack",
            "trim",
            "referUrl",
            "referMethod",
            "sequential",
            "events",
        ],
    },
    Spec {
        name: "Number",
        reads: &["sendDigits"],
        twilio_only: &[
            "url",
            "method",
            "statusCallback",
            "statusCallbackEvent",
            "statusCallbackMethod",
            "byoc",
            "machineDetection",
            "machineDetectionTimeout",
            "amdStatusCallback",
            "amdStatusCallbackMethod",
        ],
    },
    Spec {
        name: "Sip",
        reads: &[],
        twilio_only: &[
            "username",
            "password",
            "url",
            "method",
            "statusCallback",
            "statusCallbackEvent",
            "statusCallbackMethod",
            "machineDetection",
            "amdStatusCallback",
        ],
    },
    Spec {
        name: "Hangup",
        reads: &[],
        twilio_only: &[],
    },
    Spec {
        name: "Reject",
        reads: &["reason"],
        twilio_only: &[],
    },
    Spec {
        name: "Redirect",
        reads: &["method"],
        twilio_only: &[],
    },
];

/// The verbs pivot runs.
pub const VERBS: [&str; 9] = [
    "Say", "Play", "Pause", "Gather", "Record", "Hangup", "Reject", "Redirect", "Dial",
];

/// The nouns pivot dials (inside `<Dial>`).
pub(super) const NOUNS: [&str; 2] = ["Number", "Sip"];

/// Twilio verbs pivot knows of but does not run.
const UNSUPPORTED_VERBS: [&str; 10] = [
    "Connect", "Echo", "Enqueue", "Leave", "Pay", "Refer", "Start", "Stop", "Sms", "Message",
];

/// Twilio nouns pivot does not run, and the verbs they belong in.
const UNSUPPORTED_NOUNS: [(&str, &str); 18] = [
    ("Client", "<Dial>"),
    ("Conference", "<Dial>"),
    ("Queue", "<Dial>"),
    ("Sim", "<Dial>"),
    ("Application", "<Dial>"),
    ("WhatsApp", "<Dial>"),
    ("Stream", "<Connect> or <Start>"),
    ("Siprec", "<Start>"),
    ("Transcription", "<Start>"),
    ("Room", "<Connect>"),
    ("VirtualAgent", "<Connect>"),
    ("Conversation", "<Connect>"),
    ("ConversationRelay", "<Connect>"),
    ("Parameter", "<Stream> or <Client>"),
    ("Prompt", "<Pay>"),
    ("Task", "<Enqueue>"),
    ("Identifier", "<Client>"),
    ("Config", "<VirtualAgent>"),
];

/// The table entry of an element pivot runs.
pub(super) fn spec(name: &str) -> Option<&'static Spec> {
    ELEMENTS.iter().find(|s| s.name == name)
}

/// Why attribute `attr` of `<element>` is refused: Twilio's but not supported, a near miss
/// of one pivot reads, or unknown.
pub(super) fn attribute_error(element: &str, attr: &str) -> String {
    let Some(spec) = spec(element) else {
        return format!("<{element}> has an unknown attribute {attr}");
    };
    let reads = if spec.reads.is_empty() {
        "it takes none".to_string()
    } else {
        format!("known: {}", spec.reads.join(", "))
    };
    if spec.twilio_only.contains(&attr) {
        return format!("<{element}> attribute {attr} is not supported by pivot ({reads})");
    }
    if let Some(known) = spec.reads.iter().find(|k| k.eq_ignore_ascii_case(attr)) {
        return format!(
            "<{element}> has an unknown attribute {attr} (did you mean {known}? names are case-sensitive)"
        );
    }
    format!("<{element}> has an unknown attribute {attr} ({reads})")
}

/// Why `<name>` cannot be a verb of `<Response>`.
pub(super) fn not_a_verb(name: &str) -> String {
    if let Some(v) = VERBS.iter().find(|v| v.eq_ignore_ascii_case(name)) {
        return format!("unknown verb <{name}> (did you mean <{v}>? names are case-sensitive)");
    }
    if NOUNS.contains(&name) {
        return format!("<{name}> is a noun: it is only allowed inside <Dial>");
    }
    if UNSUPPORTED_VERBS.contains(&name) {
        return format!("<{name}> is a TwiML verb pivot does not support");
    }
    if let Some((_, parent)) = UNSUPPORTED_NOUNS.iter().find(|(n, _)| *n == name) {
        return format!(
            "<{name}> is a TwiML noun (it goes inside {parent}) that pivot does not support"
        );
    }
    format!(
        "unknown verb <{name}> inside <Response>; pivot runs {}",
        VERBS.join(", ")
    )
}

/// Why `<name>` cannot be a noun of `<Dial>`.
pub(super) fn not_a_dial_noun(name: &str) -> String {
    let dials = "pivot dials <Number> and <Sip>";
    if let Some(n) = NOUNS.iter().find(|n| n.eq_ignore_ascii_case(name)) {
        return format!("unknown noun <{name}> (did you mean <{n}>? names are case-sensitive)");
    }
    if UNSUPPORTED_NOUNS.iter().any(|(n, _)| *n == name) {
        return format!("<{name}> is a TwiML noun pivot does not support inside <Dial> ({dials})");
    }
    if VERBS.contains(&name) || UNSUPPORTED_VERBS.contains(&name) {
        return format!("<{name}> is a verb: it is not allowed inside <Dial> ({dials})");
    }
    format!("unknown noun <{name}> inside <Dial>; {dials}")
}
