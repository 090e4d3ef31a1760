//! The `data` fields each Piston module reads, in one table: the reader is held to it
//! (`data::Data` checks every field it reads in debug builds) and `pivot check` warns about
//! any other field from it.

/// The `data` fields each module reads: the one list the reader is held to (see
/// `super::data::Data`) and `pivot check` warns from.
pub const MODULE_FIELDS: &[(&str, &[&str])] = &[
    ("say", &["text", "type", "method", "language", "gender"]),
    ("tts", &["text", "voice", "language", "engine"]),
    (
        "play",
        &[
            "id",
            "answer",
            "terminators",
            "loop_count",
            "endless_playback",
        ],
    ),
    (
        "record_caller",
        &["url", "format", "time_limit", "method", "beep"],
    ),
    (
        "collect_dtmf",
        &[
            "max_digits",
            "timeout",
            "interdigit_timeout",
            "terminators",
            "collection_name",
        ],
    ),
    ("pivot", PIVOT_FIELDS),
    ("hangup", &["cause"]),
    ("answer", &[]),
    ("sleep", &["duration", "unit"]),
    ("response", &["code", "message"]),
    ("send_dtmf", &["digits", "duration_ms"]),
];

/// The fields module `name` reads (none for an unknown module).
pub fn module_fields(name: &str) -> &'static [&'static str] {
    MODULE_FIELDS
        .iter()
        .find(|(m, _)| *m == name)
        .map_or(&[], |(_, fields)| fields)
}

/// The `data` fields of a `pivot` node (`pivot check` warns about any other).
pub const PIVOT_FIELDS: &[&str] = &[
    "voice_url",
    "req_format",
    "method",
    "req_body_format",
    "req_timeout",
    "req_timeout_ms",
    "connect_timeout_ms",
    "read_timeout_ms",
    "retries",
    "fallback_url",
    "debug",
    "cdr_url",
    "custom_request_headers",
];
