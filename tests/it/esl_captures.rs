//! The real captures in fixtures/esl through `parse_frame`, `FrameCodec` and `EslCodec`: every
//! byte accounted for, the same frames whatever the read sizes, and the quirks in
//! docs esl-notes.md checked against what FreeSWITCH actually sent.
#![allow(clippy::unwrap_used)]

use bytes::BytesMut;
use pivot::esl::{
    parse_frame, Command, DisconnectKind, EslCodec, Frame, FrameCodec, Limits, Message,
};
use tokio_util::codec::Decoder;

// Expected frames, "<bytes> <kind> | ...", one entry per frame in the capture's order.
// Derived from the `<<< FS->SERVER N bytes [kind ...]` and `>>> SERVER->FS N bytes` entries of
// fixtures/esl/NAME.annotated.log (a connect reply is the `command/reply` whose Reply-Text is
// `%2BOK%0A`; a disconnect notice is named by its Content-Disposition; a command by its first
// line and, for sendmsg, its call-command). The two `*.inbound-esl` captures have no annotated
// log: their rows come from a separate throwaway script that split them on blank lines and
// Content-Length.
const FS_SENT: &[(&str, &str)] = &[
    ("catchall-777", "3788 connect | 60 reply | 57 reply"),
    (
        "close",
        "3750 connect | 60 reply | 57 reply | 45 reply | 2684 event:CHANNEL_PARK |\
          2909 event:CHANNEL_EXECUTE",
    ),
    ("closeidle", "3751 connect | 60 reply | 57 reply"),
    (
        "eventuuid",
        "3750 connect | 60 reply | 57 reply | 45 reply | 2684 event:CHANNEL_PARK |\
          2881 event:CHANNEL_EXECUTE | 3106 event:CHANNEL_EXECUTE_COMPLETE | 45 reply |\
          3008 event:CHANNEL_EXECUTE | 3104 event:CHANNEL_EXECUTE_COMPLETE | 45 reply |\
          3037 event:CHANNEL_EXECUTE | 3135 event:CHANNEL_EXECUTE_COMPLETE | 45 reply |\
          3014 event:CHANNEL_EXECUTE | 3100 event:CHANNEL_EXECUTE_COMPLETE | 45 reply |\
          3025 event:CHANNEL_HANGUP | 2958 event:CHANNEL_UNPARK |\
          3140 event:CHANNEL_EXECUTE_COMPLETE | 2082 event:CHANNEL_STATE |\
          2100 event:CHANNEL_STATE | 4724 event:CHANNEL_HANGUP_COMPLETE | 192 linger |\
          45 reply | 49 reply | 218 disconnect",
    ),
    (
        "full",
        "3749 connect | 60 reply | 57 reply | 2683 event:CHANNEL_PARK | 45 reply |\
          2880 event:CHANNEL_EXECUTE | 3105 event:CHANNEL_EXECUTE_COMPLETE | 45 reply |\
          2995 event:CHANNEL_EXECUTE | 3033 event:CHANNEL_EXECUTE_COMPLETE | 45 reply |\
          2995 event:CHANNEL_EXECUTE | 3091 event:CHANNEL_EXECUTE_COMPLETE | 45 reply |\
          3063 event:CHANNEL_EXECUTE | 3296 event:CHANNEL_EXECUTE_COMPLETE | 45 reply |\
          3226 event:CHANNEL_EXECUTE | 3145 event:CHANNEL_HANGUP |\
          3293 event:CHANNEL_EXECUTE_COMPLETE | 3078 event:CHANNEL_UNPARK |\
          3260 event:CHANNEL_EXECUTE_COMPLETE | 2073 event:CHANNEL_STATE |\
          2091 event:CHANNEL_STATE | 4811 event:CHANNEL_HANGUP_COMPLETE | 192 linger |\
          49 reply | 218 disconnect",
    ),
    (
        "hangupcmd",
        "3751 connect | 60 reply | 67 reply | 45 reply | 2882 event:CHANNEL_EXECUTE |\
          3107 event:CHANNEL_EXECUTE_COMPLETE | 45 reply | 2997 event:CHANNEL_EXECUTE |\
          3035 event:CHANNEL_EXECUTE_COMPLETE | 45 reply | 2997 event:CHANNEL_EXECUTE |\
          3093 event:CHANNEL_EXECUTE_COMPLETE | 45 reply | 3065 event:CHANNEL_EXECUTE |\
          3298 event:CHANNEL_EXECUTE_COMPLETE | 45 reply | 3108 event:CHANNEL_HANGUP |\
          3090 event:CHANNEL_UNPARK | 3272 event:CHANNEL_EXECUTE_COMPLETE |\
          2068 event:CHANNEL_STATE | 2086 event:CHANNEL_STATE |\
          4832 event:CHANNEL_HANGUP_COMPLETE | 191 linger | 218 disconnect",
    ),
    (
        "kill",
        "3750 connect | 60 reply | 57 reply | 2684 event:CHANNEL_PARK | 45 reply |\
          2909 event:CHANNEL_EXECUTE | 2797 event:CHANNEL_HANGUP | 192 linger |\
          3172 event:CHANNEL_EXECUTE_COMPLETE | 2916 event:CHANNEL_UNPARK |\
          3108 event:CHANNEL_EXECUTE_COMPLETE | 2073 event:CHANNEL_STATE |\
          2091 event:CHANNEL_STATE | 4680 event:CHANNEL_HANGUP_COMPLETE | 49 reply |\
          218 disconnect",
    ),
    (
        "nolinger",
        "3751 connect | 60 reply | 45 reply | 2685 event:CHANNEL_PARK |\
          2910 event:CHANNEL_EXECUTE | 2798 event:CHANNEL_HANGUP | 218 disconnect",
    ),
    (
        "queue",
        "3751 connect | 60 reply | 57 reply | 45 reply | 45 reply | 45 reply |\
          2884 event:CHANNEL_EXECUTE | 3110 event:CHANNEL_EXECUTE_COMPLETE |\
          3010 event:CHANNEL_EXECUTE | 3010 event:CHANNEL_EXECUTE |\
          3107 event:CHANNEL_EXECUTE_COMPLETE | 3058 event:CHANNEL_EXECUTE_COMPLETE |\
          45 reply | 2915 event:CHANNEL_HANGUP | 2897 event:CHANNEL_UNPARK |\
          3086 event:CHANNEL_EXECUTE_COMPLETE | 2074 event:CHANNEL_STATE |\
          2092 event:CHANNEL_STATE | 4647 event:CHANNEL_HANGUP_COMPLETE | 192 linger |\
          49 reply | 218 disconnect",
    ),
    (
        "full.inbound-esl",
        "28 unknown:auth/request | 54 reply | 74 reply | 139 reply |\
          2620 event:CHANNEL_CREATE | 2512 event:CHANNEL_CREATE |\
          2648 event:CHANNEL_ANSWER | 2574 event:CHANNEL_ANSWER |\
          3145 event:CHANNEL_HANGUP | 3438 event:CHANNEL_HANGUP |\
          4811 event:CHANNEL_HANGUP_COMPLETE | 5239 event:CHANNEL_HANGUP_COMPLETE |\
          5196 event:CHANNEL_DESTROY | 4768 event:CHANNEL_DESTROY | 57 api | 49 reply |\
          124 disconnect-other",
    ),
    (
        "kill.inbound-esl",
        "28 unknown:auth/request | 54 reply | 74 reply | 139 reply |\
          2621 event:CHANNEL_CREATE | 2513 event:CHANNEL_CREATE |\
          2649 event:CHANNEL_ANSWER | 2575 event:CHANNEL_ANSWER | 50 api |\
          2797 event:CHANNEL_HANGUP | 3494 event:CHANNEL_HANGUP |\
          5239 event:CHANNEL_HANGUP_COMPLETE | 4680 event:CHANNEL_HANGUP_COMPLETE |\
          5196 event:CHANNEL_DESTROY | 4637 event:CHANNEL_DESTROY | 57 api | 49 reply |\
          124 disconnect-other",
    ),
];
const SERVER_SENT: &[(&str, &str)] = &[
    ("catchall-777", "9 connect | 10 myevents | 8 linger"),
    (
        "close",
        "9 connect | 10 myevents | 8 linger | 178 sendmsg execute",
    ),
    ("closeidle", "9 connect | 10 myevents | 8 linger"),
    (
        "eventuuid",
        "9 connect | 10 myevents | 8 linger | 168 sendmsg execute | 119 sendmsg execute |\
          219 sendmsg execute | 162 sendmsg execute | 146 sendmsg execute |\
          168 sendmsg execute | 6 exit",
    ),
    (
        "full",
        "9 connect | 10 myevents | 8 linger | 168 sendmsg execute | 160 sendmsg execute |\
          160 sendmsg execute | 165 sendmsg execute | 155 sendmsg execute | 6 exit",
    ),
    (
        "hangupcmd",
        "9 connect | 10 myevents | 10 linger 2 | 168 sendmsg execute |\
          160 sendmsg execute | 160 sendmsg execute | 165 sendmsg execute |\
          54 sendmsg hangup",
    ),
    (
        "kill",
        "9 connect | 10 myevents | 8 linger | 178 sendmsg execute | 6 exit",
    ),
    ("nolinger", "9 connect | 10 myevents | 178 sendmsg execute"),
    (
        "queue",
        "9 connect | 10 myevents | 8 linger | 169 sendmsg execute | 151 sendmsg execute |\
          168 sendmsg execute | 60 sendmsg hangup | 6 exit",
    ),
];

fn expected(table: &str) -> Vec<(usize, String)> {
    table
        .split('|')
        .map(|row| {
            let (size, kind) = row.trim().split_once(' ').unwrap();
            (size.parse().unwrap(), kind.to_owned())
        })
        .collect()
}

fn capture(name: &str, side: &str) -> Vec<u8> {
    let path = format!(
        "{}/fixtures/esl/{name}.{side}.raw",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn message_kind(message: &Message) -> String {
    match message {
        Message::ConnectReply(_) => "connect".into(),
        Message::Reply(_) => "reply".into(),
        Message::ApiResponse(_) => "api".into(),
        Message::Event(e) => format!("event:{}", e.name().unwrap_or("?")),
        Message::Disconnect { kind, .. } => match kind {
            DisconnectKind::Linger => "linger".into(),
            DisconnectKind::Disconnect => "disconnect".into(),
            DisconnectKind::Other => "disconnect-other".into(),
        },
        Message::Log(_) => "log".into(),
        Message::RudeRejection(_) => "rude".into(),
        Message::Unknown(f) => format!("unknown:{}", f.content_type().unwrap_or("?")),
    }
}

fn command_kind(command: &Command) -> String {
    match command {
        Command::Connect => "connect".into(),
        Command::MyEvents => "myevents".into(),
        Command::Linger(None) => "linger".into(),
        Command::Linger(Some(secs)) => format!("linger {secs}"),
        Command::Exit => "exit".into(),
        Command::Execute(_) => "sendmsg execute".into(),
        Command::Hangup { .. } => "sendmsg hangup".into(),
        other => format!("{other:?}"),
    }
}

/// Frames and their sizes, by calling the stateless `parse_frame` on what is left.
fn parse_whole(bytes: &[u8]) -> Vec<(usize, Frame)> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (frame, used) = parse_frame(rest, &Limits::default()).unwrap().unwrap();
        out.push((used, frame));
        rest = &rest[used..];
    }
    out
}

/// Frames from the stateless `parse_frame` when bytes arrive in chunks of the given sizes.
fn parse_chunked(bytes: &[u8], sizes: impl Iterator<Item = usize>) -> Vec<Frame> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut fed = 0;
    for size in sizes {
        let end = (fed + size).min(bytes.len());
        buf.extend_from_slice(&bytes[fed..end]);
        fed = end;
        while let Some((frame, used)) = parse_frame(&buf, &Limits::default()).unwrap() {
            out.push(frame);
            buf.drain(..used);
        }
        if fed == bytes.len() {
            break;
        }
    }
    assert!(buf.is_empty(), "{} bytes left unparsed", buf.len());
    out
}

/// Items from a codec when bytes arrive in chunks of the given sizes, then end of stream.
fn decode_chunked<D: Decoder>(
    mut codec: D,
    bytes: &[u8],
    sizes: impl Iterator<Item = usize>,
) -> Vec<D::Item>
where
    D::Error: std::fmt::Debug,
{
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut fed = 0;
    for size in sizes {
        let end = (fed + size).min(bytes.len());
        buf.extend_from_slice(&bytes[fed..end]);
        fed = end;
        while let Some(item) = codec.decode(&mut buf).unwrap() {
            out.push(item);
        }
        if fed == bytes.len() {
            break;
        }
    }
    out.extend(codec.decode_eof(&mut buf).unwrap());
    assert!(buf.is_empty());
    out
}

/// Chunk sizes 1..=max from a fixed-seed xorshift, so a failure replays.
fn random_sizes(seed: u64, max: u64) -> impl Iterator<Item = usize> {
    let mut state = seed | 1;
    std::iter::from_fn(move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        Some((state % max + 1) as usize)
    })
}

/// The read patterns every capture must survive: whole, one byte at a time, random sizes.
fn read_patterns(len: usize) -> Vec<(&'static str, Box<dyn Iterator<Item = usize>>)> {
    vec![
        ("whole", Box::new(std::iter::once(len))),
        ("byte by byte", Box::new(std::iter::repeat(1))),
        ("random up to 7", Box::new(random_sizes(7, 7))),
        ("random up to 1500", Box::new(random_sizes(42, 1500))),
        ("random up to 9000", Box::new(random_sizes(1234, 9000))),
    ]
}

#[test]
fn fs_sent_captures_parse_into_the_annotated_frames() {
    for (name, table) in FS_SENT {
        let bytes = capture(name, "fs-sent");
        let frames = parse_whole(&bytes);
        let messages: Vec<Message> = frames
            .iter()
            .map(|(_, f)| Message::from_frame(f.clone()).unwrap())
            .collect();
        let got: Vec<(usize, String)> = frames
            .iter()
            .zip(&messages)
            .map(|((size, _), m)| (*size, message_kind(m)))
            .collect();
        assert_eq!(got, expected(table), "{name}");
        let frames: Vec<Frame> = frames.into_iter().map(|(_, f)| f).collect();
        for (pattern, sizes) in read_patterns(bytes.len()) {
            let via_codec = decode_chunked(EslCodec::default(), &bytes, sizes);
            assert_eq!(via_codec, messages, "{name}, EslCodec, {pattern}");
        }
        for (pattern, sizes) in read_patterns(bytes.len()) {
            let via_frames = decode_chunked(FrameCodec::default(), &bytes, sizes);
            assert_eq!(via_frames, frames, "{name}, FrameCodec, {pattern}");
        }
        // The stateless parser restarts from the front on every read: random chunks only.
        let chunked = parse_chunked(&bytes, random_sizes(99, 700));
        assert_eq!(chunked, frames, "{name}, parse_frame, random chunks");
    }
}

#[test]
fn parse_frame_fed_byte_by_byte() {
    // Every prefix of a frame is "need more", never an error or a wrong frame.
    let fs = FS_SENT.iter().map(|(n, _)| (n, "fs-sent"));
    let server = SERVER_SENT.iter().map(|(n, _)| (n, "server-sent"));
    for (name, side) in fs.chain(server) {
        let bytes = capture(name, side);
        let chunked = parse_chunked(&bytes, std::iter::repeat(1));
        let whole: Vec<Frame> = parse_whole(&bytes).into_iter().map(|(_, f)| f).collect();
        assert_eq!(chunked, whole, "{name}.{side}");
    }
}

#[test]
fn server_sent_captures_parse_into_the_annotated_commands() {
    for (name, table) in SERVER_SENT {
        let bytes = capture(name, "server-sent");
        let frames = parse_whole(&bytes);
        let got: Vec<(usize, String)> = frames
            .iter()
            .map(|(size, f)| (*size, command_kind(&Command::from_frame(f).unwrap())))
            .collect();
        assert_eq!(got, expected(table), "{name}");
        let frames: Vec<Frame> = frames.into_iter().map(|(_, f)| f).collect();
        for (pattern, sizes) in read_patterns(bytes.len()) {
            let via_frames = decode_chunked(FrameCodec::default(), &bytes, sizes);
            assert_eq!(via_frames, frames, "{name}, FrameCodec, {pattern}");
        }
        let chunked = parse_chunked(&bytes, random_sizes(5, 60));
        assert_eq!(chunked, frames, "{name}, parse_frame, random chunks");
        // FreeSWITCH never sends a command: EslCodec keeps such frames as Unknown.
        let messages = decode_chunked(EslCodec::default(), &bytes, random_sizes(3, 40));
        assert_eq!(messages.len(), frames.len());
        assert!(messages
            .iter()
            .all(|m| matches!(m, Message::Unknown(f) if f.command_line().is_some())));
    }
}

#[tokio::test]
async fn codec_over_an_async_reader() {
    use futures::StreamExt;
    let bytes = capture("full", "fs-sent");
    let reader = tokio::io::BufReader::with_capacity(100, &bytes[..]);
    let framed = tokio_util::codec::FramedRead::new(reader, EslCodec::default());
    let messages: Vec<Message> = framed.map(|m| m.unwrap()).collect().await;
    assert_eq!(messages.len(), 28);
    assert!(matches!(messages[0], Message::ConnectReply(_)));
}

fn messages(name: &str) -> Vec<Message> {
    let bytes = capture(name, "fs-sent");
    decode_chunked(EslCodec::default(), &bytes, std::iter::once(bytes.len()))
}

fn events(name: &str) -> Vec<pivot::esl::Event> {
    messages(name)
        .into_iter()
        .filter_map(|m| match m {
            Message::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

#[test]
fn connect_reply_is_the_channel_data() {
    let Message::ConnectReply(data) = &messages("full")[0] else {
        panic!("first frame is not the connect reply")
    };
    assert_eq!(data.header("Reply-Text"), Some("+OK\n"), "%2BOK%0A decoded");
    assert!(data.is_ok());
    assert_eq!(
        data.unique_id(),
        Some("d3ce0a72-2926-49a4-97df-4106ee0a01eb")
    );
    assert_eq!(data.destination_number(), Some("3004"));
    assert_eq!(data.caller_id_name(), Some("Lab Caller"));
    assert_eq!(data.caller_id_number(), Some("5551000"));
    assert_eq!(data.call_direction(), Some("inbound"));
    assert_eq!(data.header("Socket-Mode"), Some("async"));
    assert_eq!(data.header("control"), Some("full"));
    // 111 newlines in the 3749-byte block: 110 header lines and the blank line.
    assert_eq!(data.headers().len(), 110);
    assert_eq!(data.header("FreeSWITCH-IPv6"), Some("fd00::2"));
}

#[test]
fn percent_41_probe_decodes_once() {
    // `set lab_probe=100%41 a:b é+c` was sent; FreeSWITCH did not re-escape `%41`.
    let set = events("eventuuid")
        .into_iter()
        .find(|e| e.name() == Some("CHANNEL_EXECUTE_COMPLETE") && e.application() == Some("set"))
        .unwrap();
    assert_eq!(set.variable("lab_probe"), Some("100A a:b \u{e9}+c"));
    assert_eq!(set.application_data(), Some("lab_probe=100A a:b \u{e9}+c"));
}

#[test]
fn event_uuid_comes_back_as_application_uuid() {
    let bytes = capture("eventuuid", "server-sent");
    let sent: Vec<String> = parse_whole(&bytes)
        .iter()
        .filter_map(|(_, f)| match Command::from_frame(f).unwrap() {
            Command::Execute(e) if e.app == "playback" => e.event_uuid,
            _ => None,
        })
        .collect();
    let echoed: Vec<String> = events("eventuuid")
        .iter()
        .filter(|e| e.name() == Some("CHANNEL_EXECUTE") && e.application() == Some("playback"))
        .filter_map(|e| e.application_uuid().map(str::to_owned))
        .collect();
    // The second playback had no Event-UUID (FreeSWITCH made one up); the last one ran after
    // hangup and produced no event.
    assert_eq!(echoed.len(), 3);
    assert_eq!(echoed[0], sent[0]);
    assert_eq!(echoed[2], sent[1]);
}

#[test]
fn body_form_argument_in_the_capture_reads_back() {
    let bytes = capture("eventuuid", "server-sent");
    let frames = parse_whole(&bytes);
    let Command::Execute(exec) = Command::from_frame(&frames[5].1).unwrap() else {
        panic!("not an execute")
    };
    assert_eq!(exec.arg.as_deref(), Some("tone_stream://%(100,0,660)"));
    assert_eq!(
        exec.event_uuid.as_deref(),
        Some("258bb185-c8da-48cc-89b3-2fddf3868e04")
    );
    assert!(exec.event_lock);
}

#[test]
fn hangup_complete_repeats_hangup_cause() {
    let complete = events("full")
        .into_iter()
        .find(|e| e.name() == Some("CHANNEL_HANGUP_COMPLETE"))
        .unwrap();
    let causes: Vec<&str> = complete.headers().get_all("hangup-cause").collect();
    assert_eq!(causes, ["NORMAL_CLEARING", "NORMAL_CLEARING"]);
    assert_eq!(complete.hangup_cause(), Some("NORMAL_CLEARING"));
}

#[test]
fn playback_result_and_notices() {
    let all = messages("full");
    let played = all.iter().find_map(|m| match m {
        Message::Event(e) if e.application_response() == Some("FILE PLAYED") => Some(e),
        _ => None,
    });
    assert_eq!(played.unwrap().application(), Some("playback"));
    let Message::Disconnect { kind, body } = &all[all.len() - 1] else {
        panic!("last frame is not a disconnect notice")
    };
    assert_eq!(*kind, DisconnectKind::Disconnect);
    assert_eq!(body.len(), 67);
    assert!(body.starts_with("Disconnected, goodbye."));
    assert!(
        matches!(&all[all.len() - 3], Message::Disconnect { kind: DisconnectKind::Linger, body } if body.is_empty())
    );
}

#[test]
fn inbound_capture_api_response_and_bgapi_reply() {
    let all = messages("full.inbound-esl");
    assert!(all.contains(&Message::ApiResponse("\n0 total.\n".into())));
    let job = all.iter().find_map(|m| match m {
        Message::Reply(r) => r.job_uuid(),
        _ => None,
    });
    assert_eq!(job, Some("99f0854e-7a5e-4959-b4e0-3e5da8530c19"));
}

#[test]
fn synthetic_quirks_through_the_codec() {
    // Not in the captures: `_undef_`, raw non-UTF-8 bytes, and an event's own body.
    let inner = b"Event-Name: BACKGROUND_JOB\nvariable_empty: _undef_\nvariable_raw: a\xffb%FF\n\
Job-UUID: j1\nContent-Length: 4\n\n+OK\n";
    let mut wire = format!(
        "Content-Length: {}\nContent-Type: text/event-plain\n\n",
        inner.len()
    )
    .into_bytes();
    wire.extend_from_slice(inner);
    let got = decode_chunked(EslCodec::default(), &wire, std::iter::repeat(1));
    let [Message::Event(event)] = &got[..] else {
        panic!("expected one event: {got:?}")
    };
    assert_eq!(event.variable("empty"), None);
    assert_eq!(event.variable("raw"), Some("a\u{fffd}b\u{fffd}"));
    assert_eq!(event.job_uuid(), Some("j1"));
    assert_eq!(event.body(), Some(&b"+OK\n"[..]));
}
