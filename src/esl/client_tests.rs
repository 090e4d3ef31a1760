//! The inbound client against a scripted peer that sends the bytes FreeSWITCH 1.10.12 sent
//! in fixtures/esl/*.inbound-esl.fs-sent.raw, one group of frames per command it receives.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::esl::Message;
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio_util::codec::Decoder;

/// One answer of the peer: the command it expects (by prefix) and the bytes it then sends.
struct Step {
    expect: String,
    send: Vec<u8>,
}

fn step(expect: &str, send: &[u8]) -> Step {
    Step {
        expect: expect.to_string(),
        send: send.to_vec(),
    }
}

fn capture(name: &str) -> Vec<u8> {
    let path = format!("{}/fixtures/esl/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(path).unwrap()
}

/// The capture cut into groups: each reply or api response with the events after it (the
/// first group is the auth/request greeting).
fn groups(raw: &[u8]) -> Vec<Vec<u8>> {
    let mut codec = EslCodec::default();
    let mut buf = BytesMut::from(raw);
    let mut groups: Vec<Vec<u8>> = Vec::new();
    loop {
        let before = buf.clone();
        let Some(message) = codec.decode(&mut buf).unwrap() else {
            break;
        };
        let frame = &before[..before.len() - buf.len()];
        let starts_group = matches!(
            message,
            Message::Reply(_) | Message::ApiResponse(_) | Message::Unknown(_)
        );
        match groups.last_mut() {
            Some(last) if !starts_group => last.extend_from_slice(frame),
            _ => groups.push(frame.to_vec()),
        }
    }
    assert!(buf.is_empty(), "the capture ends with a whole frame");
    groups
}

fn background_job(job: &str, body: &str) -> Vec<u8> {
    let inner = format!(
        "Event-Name: BACKGROUND_JOB\nJob-UUID: {job}\nJob-Command: originate\nContent-Length: {}\n\n{body}",
        body.len()
    );
    let mut out = format!(
        "Content-Length: {}\nContent-Type: text/event-plain\n\n",
        inner.len()
    )
    .into_bytes();
    out.extend_from_slice(inner.as_bytes());
    out
}

/// Plays `steps` (the first one is sent at once) and returns the command lines received.
/// After the last step it closes on the next command (or at once after `exit`).
async fn peer(mut io: DuplexStream, steps: Vec<Step>) -> Vec<String> {
    let mut received = Vec::new();
    let mut steps = steps.into_iter();
    let first = steps.next().unwrap();
    io.write_all(&first.send).await.unwrap();
    let mut buf = BytesMut::new();
    for step in steps {
        let line = loop {
            if let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
                let frame = buf.split_to(end + 2);
                break String::from_utf8_lossy(&frame[..end]).into_owned();
            }
            if io.read_buf(&mut buf).await.unwrap() == 0 {
                return received;
            }
        };
        assert!(
            line.starts_with(&step.expect),
            "expected {:?}, got {line:?}",
            step.expect
        );
        received.push(line);
        io.write_all(&step.send).await.unwrap();
    }
    // Like FreeSWITCH, close after `exit`; otherwise stay until the client says more.
    if received.last().is_some_and(|l| l != "exit") {
        while !buf.windows(2).any(|w| w == b"\n\n") {
            if io.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                break;
            }
        }
    }
    received
}

async fn start(steps: Vec<Step>) -> (Client, JoinHandle<Vec<String>>) {
    let (ours, theirs) = tokio::io::duplex(1 << 20);
    let peer = tokio::spawn(peer(theirs, steps));
    let client = Client::handshake(ours, "ClueCon", Options::default())
        .await
        .unwrap();
    (client, peer)
}

const SUBSCRIBED: &[u8] =
    b"Content-Type: command/reply\nReply-Text: +OK event listener enabled plain\n\n";
const CALL_EVENTS: &[&str] = &[
    "CHANNEL_CREATE",
    "CHANNEL_ANSWER",
    "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE",
    "CHANNEL_DESTROY",
];

#[tokio::test]
async fn full_capture_originate_events_api_and_exit() {
    let g = groups(&capture("full.inbound-esl.fs-sent.raw"));
    assert_eq!(g.len(), 6);
    let job = "99f0854e-7a5e-4959-b4e0-3e5da8530c19";
    let mut originate = g[3].clone();
    originate.extend(background_job(
        job,
        "+OK 580bfe76-c262-4b39-9b0e-a0661e8c3053\n",
    ));
    let (fs, peer) = start(vec![
        step("", &g[0]),
        step("auth ClueCon", &g[1]),
        step("event plain BACKGROUND_JOB", SUBSCRIBED),
        step("event plain CHANNEL_CREATE", &g[2]),
        step("bgapi originate", &originate),
        step("api show channels", &g[4]),
        step("exit", &g[5]),
    ])
    .await;
    fs.subscribe(CALL_EVENTS).await.unwrap();
    let started = fs
        .bgapi_job("originate loopback/3004/default &park()")
        .await
        .unwrap();
    assert_eq!(started.uuid(), job);
    let result = started.result(Duration::from_secs(5)).await.unwrap();
    assert_eq!(result, "+OK 580bfe76-c262-4b39-9b0e-a0661e8c3053\n");

    let mut names = Vec::new();
    for _ in 0..10 {
        let event = fs.next_event().await.unwrap();
        names.push(event.name().unwrap().to_string());
    }
    assert_eq!(
        names[..3],
        ["CHANNEL_CREATE", "CHANNEL_CREATE", "CHANNEL_ANSWER"]
    );
    assert_eq!(names[9], "CHANNEL_DESTROY");
    assert!(
        !names.iter().any(|n| n == "BACKGROUND_JOB"),
        "the job went to its bgapi"
    );

    assert_eq!(fs.api("show channels").await.unwrap(), "\n0 total.\n");
    fs.clone().exit().await.unwrap();
    assert_eq!(peer.await.unwrap().len(), 6);
    let err = fs.api("status").await.unwrap_err();
    assert!(matches!(err, ClientError::Closed(_)), "{err}");
    assert!(err.to_string().contains("disconnect notice"), "{err}");
    assert!(fs.is_closed());
}

#[tokio::test]
async fn kill_capture_api_answer_arrives_between_events() {
    let g = groups(&capture("kill.inbound-esl.fs-sent.raw"));
    assert_eq!(g.len(), 7);
    let (fs, peer) = start(vec![
        step("", &g[0]),
        step("auth ClueCon", &g[1]),
        step("event plain BACKGROUND_JOB", SUBSCRIBED),
        step("event plain CHANNEL_CREATE", &g[2]),
        step("bgapi originate", &g[3]),
        step("api uuid_kill", &g[4]),
        step("api show channels", &g[5]),
        step("exit", &g[6]),
    ])
    .await;
    fs.subscribe(CALL_EVENTS).await.unwrap();
    let job = fs
        .bgapi_job("originate loopback/3004/default &park()")
        .await;
    assert_eq!(job.unwrap().uuid(), "883a4a64-34fa-4c7b-b12f-96478eac0304");
    let wait = Duration::from_secs(5);
    let answered = fs
        .wait_for_event(wait, |e| {
            e.name() == Some("CHANNEL_ANSWER") && e.variable("loopback_leg") == Some("B")
        })
        .await
        .unwrap();
    let b_leg = answered.unique_id().unwrap().to_string();
    assert_eq!(b_leg, "2f61a3e9-ae42-4bd4-85b7-6fded046288c");
    assert_eq!(
        fs.api(&format!("uuid_kill {b_leg}")).await.unwrap(),
        "+OK\n"
    );
    let done = fs
        .wait_for_event(wait, |e| e.name() == Some("CHANNEL_HANGUP_COMPLETE"))
        .await
        .unwrap();
    assert_eq!(done.hangup_cause(), Some("NORMAL_CLEARING"));
    assert_eq!(fs.api("show channels").await.unwrap(), "\n0 total.\n");
    fs.exit().await.unwrap();
    assert_eq!(peer.await.unwrap().len(), 7);
}

#[tokio::test]
async fn a_refused_password_is_an_auth_error() {
    let (ours, theirs) = tokio::io::duplex(4096);
    let greeting = b"Content-Type: auth/request\n\n";
    let refused = b"Content-Type: command/reply\nReply-Text: -ERR invalid\n\n\
Content-Type: text/disconnect-notice\nContent-Length: 0\n\n";
    let peer = tokio::spawn(peer(
        theirs,
        vec![step("", greeting), step("auth wrong", refused)],
    ));
    let err = Client::handshake(ours, "wrong", Options::default()).await;
    assert!(
        matches!(&err, Err(ClientError::AuthFailed(t)) if t == "-ERR invalid"),
        "{:?}",
        err.err()
    );
    assert_eq!(peer.await.unwrap(), ["auth wrong"]);
}

#[tokio::test]
async fn a_password_with_a_line_break_is_never_sent() {
    let (ours, _theirs) = tokio::io::duplex(64);
    let err = Client::handshake(ours, "x\n\napi system id", Options::default()).await;
    assert!(matches!(err, Err(ClientError::BadPassword)));
}

#[tokio::test]
async fn a_rude_rejection_is_reported() {
    let (ours, theirs) = tokio::io::duplex(4096);
    let rude = b"Content-Type: text/rude-rejection\nContent-Length: 22\n\nAccess Denied, go away";
    let _peer = tokio::spawn(peer(theirs, vec![step("", rude)]));
    let err = Client::handshake(ours, "ClueCon", Options::default()).await;
    assert!(matches!(&err, Err(ClientError::Rejected(t)) if t.contains("go away")));
}

#[tokio::test(start_paused = true)]
async fn a_late_answer_keeps_its_place_and_never_answers_the_next_command() {
    let api = |body: &str| {
        format!(
            "Content-Type: api/response\nContent-Length: {}\n\n{body}",
            body.len()
        )
    };
    let both = format!("{}{}", api("status"), api("version"));
    let (fs, _peer) = start(vec![
        step("", b"Content-Type: auth/request\n\n"),
        step(
            "auth ClueCon",
            b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n",
        ),
        step("event plain BACKGROUND_JOB", SUBSCRIBED),
        step("api status", b""),
        step("api version", both.as_bytes()),
    ])
    .await;
    let err = fs.api("status").await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Timeout { what, .. } if what == "api status"),
        "{err}"
    );
    // The late answer to `status` comes first, then the answer to `version`.
    assert_eq!(fs.api("version").await.unwrap(), "version");
}

#[tokio::test(start_paused = true)]
async fn events_beyond_the_capacity_are_counted_not_blocking() {
    let job = "11111111-2222-3333-4444-555555555555";
    let mut burst = b"Content-Type: command/reply\nReply-Text: +OK Job-UUID: 11111111-2222-3333-4444-555555555555\n\n".to_vec();
    for _ in 0..5 {
        burst.extend(
            b"Content-Length: 23\nContent-Type: text/event-plain\n\nEvent-Name: HEARTBEAT\n\n",
        );
    }
    burst.extend(background_job(job, "+OK done\n"));
    let (ours, theirs) = tokio::io::duplex(1 << 16);
    let _peer = tokio::spawn(peer(
        theirs,
        vec![
            step("", b"Content-Type: auth/request\n\n"),
            step(
                "auth ClueCon",
                b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n",
            ),
            step("event plain BACKGROUND_JOB", SUBSCRIBED),
            step("bgapi status", &burst),
        ],
    ));
    let options = Options {
        event_capacity: 2,
        ..Options::default()
    };
    let fs = Client::handshake(ours, "ClueCon", options).await.unwrap();
    // Nobody reads events, yet the job's result still gets through.
    assert_eq!(fs.bgapi("status").await.unwrap(), "+OK done\n");
    let err = fs.next_event().await.unwrap_err();
    assert!(matches!(err, ClientError::Lagged { lost: 3 }), "{err}");
    assert_eq!(fs.next_event().await.unwrap().name(), Some("HEARTBEAT"));
    assert_eq!(fs.next_event().await.unwrap().name(), Some("HEARTBEAT"));
    let err = fs.next_event().await.unwrap_err();
    assert!(matches!(err, ClientError::Timeout { .. }), "{err}");
}

#[tokio::test]
async fn a_command_the_encoder_refuses_takes_no_place_in_line() {
    let g = groups(&capture("full.inbound-esl.fs-sent.raw"));
    let (fs, _peer) = start(vec![
        step("", &g[0]),
        step("auth ClueCon", &g[1]),
        step("event plain BACKGROUND_JOB", SUBSCRIBED),
        step("api show channels", &g[4]),
    ])
    .await;
    let err = fs.api("show channels\n\napi system id").await.unwrap_err();
    assert!(
        matches!(err, ClientError::Esl(EslError::Command(_))),
        "{err}"
    );
    assert_eq!(fs.api("show channels").await.unwrap(), "\n0 total.\n");
}

#[tokio::test]
async fn waiters_wake_when_the_connection_drops() {
    let (fs, peer) = start(vec![
        step("", b"Content-Type: auth/request\n\n"),
        step(
            "auth ClueCon",
            b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n",
        ),
        step("event plain BACKGROUND_JOB", SUBSCRIBED),
    ])
    .await;
    // No step is left for `api status`: the peer closes the connection instead.
    let err = fs.api("status").await.unwrap_err();
    assert!(matches!(err, ClientError::Closed(_)), "{err}");
    let err = fs.next_event().await.unwrap_err();
    assert!(matches!(err, ClientError::Closed(_)), "{err}");
    assert_eq!(peer.await.unwrap().len(), 2);
}
