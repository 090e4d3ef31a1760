//! The simulated FreeSWITCH seen from pivot's side of the wire: `crate::esl`'s codec plays
//! pivot, so every frame the peer writes must decode as pivot decodes it.

use futures::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::codec::Framed;

use super::*;
use crate::esl::{DisconnectKind, EslCodec, Event, Message};

type Pivot = Framed<TcpStream, EslCodec>;

async fn start(
    call: SimCall,
) -> (
    Pivot,
    mpsc::UnboundedSender<()>,
    tokio::task::JoinHandle<Result<PeerReport, SimError>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let peer = tokio::spawn(place_call(addr, call, Timeline::new(), rx));
    let (sock, _) = listener.accept().await.unwrap();
    (Framed::new(sock, EslCodec::default()), tx, peer)
}

async fn next(io: &mut Pivot) -> Message {
    io.next().await.unwrap().unwrap()
}

async fn reply(io: &mut Pivot, cmd: Command) -> String {
    io.send(cmd).await.unwrap();
    match next(io).await {
        Message::Reply(r) => r.text,
        Message::ApiResponse(body) => body,
        other => panic!("expected a reply, got {other:?}"),
    }
}

async fn event(io: &mut Pivot) -> Event {
    match next(io).await {
        Message::Event(ev) => ev,
        other => panic!("expected an event, got {other:?}"),
    }
}

fn fast() -> SimCall {
    let mut call = SimCall::new();
    call.fast = true;
    call
}

#[tokio::test]
async fn handshake_execute_dtmf_hangup_and_exit_as_freeswitch_sends_them() {
    let mut call = fast().var("pivot_voice_url", "http://127.0.0.1:1/x");
    call.digits = vec!["7".into()];
    let uuid = call.uuid.clone();
    let (mut io, collects, peer) = start(call).await;

    io.send(Command::Connect).await.unwrap();
    let Message::ConnectReply(data) = next(&mut io).await else {
        panic!("no connect reply")
    };
    assert!(data.is_ok());
    assert_eq!(data.unique_id(), Some(uuid.as_str()));
    assert_eq!(data.header("Socket-Mode"), Some("async"));
    assert_eq!(data.header("Control"), Some("full"));
    assert_eq!(data.answer_state(), Some("ringing"));
    assert_eq!(
        data.variable("pivot_voice_url"),
        Some("http://127.0.0.1:1/x")
    );

    assert_eq!(
        reply(&mut io, Command::MyEvents).await,
        "+OK Events Enabled"
    );
    for name in ["CHANNEL_EXECUTE_COMPLETE", "DTMF"] {
        let filter = Command::Filter {
            header: "Event-Name".into(),
            value: name.into(),
        };
        assert!(reply(&mut io, filter)
            .await
            .starts_with("+OK filter added."));
    }
    assert_eq!(
        reply(&mut io, Command::Linger(None)).await,
        "+OK will linger"
    );

    // The filters keep CHANNEL_EXECUTE out: the next event is the completion, tagged with
    // the command's Event-UUID.
    let play = Execute::new("playback")
        .arg("silence_stream://20")
        .event_uuid("app-1");
    assert_eq!(reply(&mut io, Command::Execute(play)).await, "+OK");
    let done = event(&mut io).await;
    assert_eq!(done.name(), Some("CHANNEL_EXECUTE_COMPLETE"));
    assert_eq!(done.application_uuid(), Some("app-1"));
    assert_eq!(done.application_response(), Some("FILE PLAYED"));
    assert_eq!(done.application_data(), Some("silence_stream://20"));

    collects.send(()).unwrap();
    assert_eq!(event(&mut io).await.dtmf_digit(), Some("7"));

    let hangup = Command::Hangup {
        cause: Some("USER_BUSY".into()),
    };
    assert_eq!(reply(&mut io, hangup).await, "+OK");
    // CHANNEL_HANGUP(_COMPLETE) are filtered out; the linger notice is not an event.
    assert!(matches!(
        next(&mut io).await,
        Message::Disconnect {
            kind: DisconnectKind::Linger,
            ..
        }
    ));
    let late = Execute::new("playback").arg("x").event_uuid("app-2");
    assert_eq!(reply(&mut io, Command::Execute(late)).await, "+OK");
    let setvar = Command::Api(format!("uuid_setvar {uuid} a b"));
    assert_eq!(reply(&mut io, setvar).await, "-ERR No such channel!\n");

    assert_eq!(reply(&mut io, Command::Exit).await, "+OK bye");
    assert!(matches!(
        next(&mut io).await,
        Message::Disconnect {
            kind: DisconnectKind::Disconnect,
            ..
        }
    ));
    assert!(
        io.next().await.is_none(),
        "the socket closes after the goodbye"
    );
    let report = peer.await.unwrap().unwrap();
    assert!(report.exited);
    assert_eq!(report.hangup_cause.as_deref(), Some("USER_BUSY"));
}

#[tokio::test]
async fn an_unknown_application_hangs_up_without_execute_events() {
    let (mut io, _collects, peer) = start(fast()).await;
    io.send(Command::Connect).await.unwrap();
    assert!(matches!(next(&mut io).await, Message::ConnectReply(_)));
    reply(&mut io, Command::MyEvents).await;
    reply(&mut io, Command::Linger(None)).await;
    let bad = Execute::new("conference").arg("room").event_uuid("app-1");
    assert_eq!(reply(&mut io, Command::Execute(bad)).await, "+OK");
    let hangup = event(&mut io).await;
    assert_eq!(hangup.name(), Some("CHANNEL_HANGUP"));
    assert_eq!(hangup.hangup_cause(), Some("DESTINATION_OUT_OF_ORDER"));
    assert_eq!(event(&mut io).await.name(), Some("CHANNEL_HANGUP_COMPLETE"));
    assert!(matches!(
        next(&mut io).await,
        Message::Disconnect {
            kind: DisconnectKind::Linger,
            ..
        }
    ));
    let put = Command::Api("http_put http://127.0.0.1:1/r.mp3 /tmp/none.mp3".into());
    assert_eq!(reply(&mut io, put).await, "-ERR 0");
    drop(io);
    let report = peer.await.unwrap().unwrap();
    assert!(!report.exited, "pivot closed the socket without exit");
}

#[tokio::test]
async fn uuid_break_ends_the_running_app_and_the_next_one_starts() {
    // Normal mode: the endless playback runs until the break.
    let call = SimCall::new();
    let uuid = call.uuid.clone();
    let (mut io, _collects, peer) = start(call).await;
    io.send(Command::Connect).await.unwrap();
    next(&mut io).await;
    reply(&mut io, Command::MyEvents).await;
    let filter = Command::Filter {
        header: "Event-Name".into(),
        value: "CHANNEL_EXECUTE_COMPLETE".into(),
    };
    reply(&mut io, filter).await;
    let started = Command::Filter {
        header: "Event-Name".into(),
        value: "CHANNEL_EXECUTE".into(),
    };
    reply(&mut io, started).await;
    let endless = Execute::new("endless_playback")
        .arg("tone_stream://%(1,0,1)")
        .event_uuid("a");
    let queued = Execute::new("answer").event_uuid("b");
    reply(&mut io, Command::Execute(endless)).await;
    reply(&mut io, Command::Execute(queued)).await;
    // The parked channel starts it at its next frame.
    let execute = event(&mut io).await;
    assert_eq!(execute.name(), Some("CHANNEL_EXECUTE"));
    assert_eq!(execute.application_uuid(), Some("a"));
    assert_eq!(
        reply(&mut io, Command::Api(format!("uuid_break {uuid}"))).await,
        "+OK\n"
    );
    let first = event(&mut io).await;
    assert_eq!(
        (first.application_uuid(), first.application_response()),
        (Some("a"), Some("FILE PLAYED"))
    );
    let second = event(&mut io).await;
    assert_eq!(
        (second.name(), second.application_uuid()),
        (Some("CHANNEL_EXECUTE"), Some("b"))
    );
    drop(io);
    peer.await.unwrap().unwrap();
}
