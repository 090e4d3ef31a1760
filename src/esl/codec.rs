//! The tokio-util codecs: bytes from FreeSWITCH to [`Message`]s, [`Command`]s to bytes.
//! Owns the read buffer's bookkeeping (a resumable scan, so a frame trickling in byte by byte
//! costs linear time; room made ahead for a known body, a big buffer given back once drained);
//! does not own the socket or any timing.

use std::sync::Arc;

use bytes::{Buf, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::budget::{Charge, ReadBudget};
use super::command::{Command, CommandError};
use super::frame::{Found, Frame, FrameError, FrameScanner, Limits};
use super::message::{Message, MessageError};

/// Everything that can end an event socket connection.
#[derive(Debug, thiserror::Error)]
pub enum EslError {
    #[error("event socket i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad frame: {0}")]
    Frame(#[from] FrameError),
    #[error("bad message: {0}")]
    Message(#[from] MessageError),
    #[error("refused command: {0}")]
    Command(#[from] CommandError),
    #[error("connection closed in the middle of a frame ({pending} bytes pending)")]
    Truncated { pending: usize },
    #[error(
        "unfinished frames on all connections fill esl.read_budget_bytes ({total} bytes): \
         this one could not buffer {buffered} bytes"
    )]
    Budget { buffered: usize, total: usize },
    #[error(
        "a frame begun {ms} ms ago is not finished ({pending} bytes pending; esl.frame_timeout_ms)"
    )]
    FrameTimeout { ms: u128, pending: usize },
}

/// Decodes [`Frame`]s: for a fake FreeSWITCH reading commands, or for logging raw frames.
#[derive(Debug, Default)]
pub struct FrameCodec {
    limits: Limits,
    scanner: FrameScanner,
}

/// Room made ahead for a body whose length is known: bigger bodies grow the buffer as their
/// bytes arrive, so an announced length costs no memory before the bytes exist.
const RESERVE_AHEAD: usize = 64 << 10;

/// A read buffer this big or bigger is given back once it has been drained down to a small
/// remainder, so a connection doesn't keep the largest frame it ever saw.
const SHRINK_ABOVE: usize = 64 << 10;

/// What a read buffer starts again with (tokio-util's own initial size).
const FRESH_CAPACITY: usize = 8 << 10;

/// A drained read buffer is swapped for one this small: an idle call waits for its next
/// event with a quarter of a KiB, not the 8 KiB tokio-util starts with. A read this size
/// holds an event's outer header block (`Content-Length` and `Content-Type`, about 50
/// bytes) and a reply's; the body's room is then made in one step (`RESERVE_AHEAD`).
const IDLE_CAPACITY: usize = 256;

/// An empty write buffer bigger than this is swapped for a small one before a command is
/// written (commands are a few hundred bytes; tokio-util starts with 8 KiB).
const WRITE_CAPACITY: usize = 1 << 10;

impl FrameCodec {
    pub fn new(limits: Limits) -> Self {
        FrameCodec {
            limits,
            scanner: FrameScanner::default(),
        }
    }

    /// The next complete frame in `src`, left there for the caller, who then calls `consume`.
    fn next(&mut self, src: &mut BytesMut) -> Result<Option<Found>, EslError> {
        let found = self.scanner.find(src, &self.limits)?;
        if found.is_none() {
            if let Some(needed) = self.scanner.bytes_needed() {
                src.reserve(needed.saturating_sub(src.len()).min(RESERVE_AHEAD));
            }
        }
        Ok(found)
    }

    /// Drops a frame's bytes from the front of `src`, and a big emptied buffer with them.
    fn consume(src: &mut BytesMut, found: &Found) {
        src.advance(found.total);
        Self::tidy(src);
    }

    /// Swaps a big emptied (or mostly drained) buffer for a small one.
    fn tidy(src: &mut BytesMut) {
        if src.is_empty() && src.capacity() > IDLE_CAPACITY {
            *src = BytesMut::with_capacity(IDLE_CAPACITY);
        } else if src.capacity() > SHRINK_ABOVE && src.len() <= FRESH_CAPACITY / 2 {
            let mut fresh = BytesMut::with_capacity(FRESH_CAPACITY);
            fresh.extend_from_slice(src);
            *src = fresh;
        }
    }

    fn end_of_stream(&mut self, src: &mut BytesMut) -> Result<(), EslError> {
        // Blank lines between frames are not a frame cut short.
        if src.iter().all(|&b| b == b'\n' || b == b'\r') {
            src.clear();
            self.scanner = FrameScanner::default();
            return Ok(());
        }
        Err(EslError::Truncated { pending: src.len() })
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = EslError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, EslError> {
        let Some(found) = self.next(src)? else {
            return Ok(None);
        };
        let frame = self.scanner.take_frame(src, &found);
        Self::consume(src, &found);
        Ok(Some(frame))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, EslError> {
        if let Some(frame) = self.decode(src)? {
            return Ok(Some(frame));
        }
        self.end_of_stream(src).map(|()| None)
    }
}

/// FreeSWITCH's side of an outbound socket: decodes [`Message`]s, encodes [`Command`]s.
///
/// A frame is split off the read buffer (sharing its memory); an event keeps its body there,
/// other messages copy what they keep (the connect reply's header block, a reply's text), so
/// a decoded event costs one allocation (its index) and its headers are decoded only when
/// asked for.
#[derive(Debug, Default)]
pub struct EslCodec {
    frames: FrameCodec,
    /// This connection's share of the process's read budget, when it has one.
    charge: Option<Charge>,
}

impl EslCodec {
    pub fn new(limits: Limits) -> Self {
        EslCodec {
            frames: FrameCodec::new(limits),
            charge: None,
        }
    }

    /// A codec whose unfinished frames count against `budget` (see [`ReadBudget`]).
    pub fn with_budget(limits: Limits, budget: Arc<ReadBudget>) -> Self {
        EslCodec {
            frames: FrameCodec::new(limits),
            charge: Some(Charge::new(budget)),
        }
    }

    fn decode_one(&mut self, src: &mut BytesMut) -> Result<Option<Message>, EslError> {
        let codec = &mut self.frames;
        let Some(found) = codec.next(src)? else {
            return Ok(None);
        };
        // The frame leaves the read buffer as its own handle on the same memory: an event
        // keeps its body there (no copy), and the buffer's free tail goes on taking reads.
        let taken = src.split_to(found.total);
        let message = Message::from_found(&mut codec.scanner, taken, &found, &codec.limits);
        FrameCodec::tidy(src);
        Ok(Some(message?))
    }
}

impl Decoder for EslCodec {
    type Item = Message;
    type Error = EslError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, EslError> {
        let message = self.decode_one(src)?;
        // What is left in the buffer is what this connection holds from the budget: more
        // after a read that did not finish a frame, less after a frame completed.
        if let Some(charge) = &mut self.charge {
            charge.settle(src.len()).map_err(|spent| EslError::Budget {
                buffered: spent.buffered,
                total: spent.total,
            })?;
        }
        Ok(message)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Message>, EslError> {
        if let Some(message) = self.decode(src)? {
            return Ok(Some(message));
        }
        self.frames.end_of_stream(src).map(|()| None)
    }
}

impl Encoder<Command> for EslCodec {
    type Error = EslError;

    fn encode(&mut self, item: Command, dst: &mut BytesMut) -> Result<(), EslError> {
        self.encode(&item, dst)
    }
}

impl Encoder<&Command> for EslCodec {
    type Error = EslError;

    fn encode(&mut self, item: &Command, dst: &mut BytesMut) -> Result<(), EslError> {
        if dst.is_empty() && dst.capacity() > WRITE_CAPACITY {
            *dst = BytesMut::with_capacity(WRITE_CAPACITY / 4);
        }
        Ok(item.encode(dst)?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut EslCodec, chunks: &[&[u8]]) -> Vec<Message> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            while let Some(m) = codec.decode(&mut buf).unwrap() {
                out.push(m);
            }
        }
        if let Some(m) = codec.decode_eof(&mut buf).unwrap() {
            out.push(m);
        }
        out
    }

    const WIRE: &[u8] = b"Content-Type: command/reply\nReply-Text: +OK\n\n\
Content-Type: api/response\nContent-Length: 3\n\nabc\
Content-Type: text/disconnect-notice\nContent-Disposition: linger\nContent-Length: 0\n\n";

    #[test]
    fn split_coalesced_and_single_byte_reads_agree() {
        let whole = decode_all(&mut EslCodec::default(), &[WIRE]);
        assert_eq!(whole.len(), 3);
        let bytes: Vec<&[u8]> = WIRE.chunks(1).collect();
        assert_eq!(decode_all(&mut EslCodec::default(), &bytes), whole);
        let sevens: Vec<&[u8]> = WIRE.chunks(7).collect();
        assert_eq!(decode_all(&mut EslCodec::default(), &sevens), whole);
    }

    #[test]
    fn a_big_frame_in_one_byte_reads_is_linear() {
        // A rescan per read would be ~8e12 byte visits here and never finish.
        let mut wire = b"Content-Type: log/data\nContent-Length: 4194304\n\n".to_vec();
        wire.resize(wire.len() + (4 << 20), b'x');
        let mut codec = EslCodec::default();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for &b in &wire {
            buf.extend_from_slice(&[b]);
            got.extend(codec.decode(&mut buf).unwrap());
        }
        let [Message::Log(body)] = &got[..] else {
            panic!("expected one log message")
        };
        assert_eq!(body.len(), 4 << 20);
        assert!(buf.is_empty());
    }

    #[test]
    fn an_announced_body_reserves_at_most_64_kib_ahead() {
        // A peer announcing 16 MiB and sending nothing must not cost 16 MiB (the fuzz
        // targets' 513 MB RSS came from such inputs: one big reserve per execution).
        let mut buf = BytesMut::from(&b"Content-Type: log/data\nContent-Length: 16777216\n\n"[..]);
        assert!(EslCodec::default().decode(&mut buf).unwrap().is_none());
        assert!(buf.capacity() <= (64 << 10) + 64, "{}", buf.capacity());
    }

    #[test]
    fn a_drained_big_buffer_is_given_back() {
        let mut wire = b"Content-Type: log/data\nContent-Length: 200000\n\n".to_vec();
        wire.resize(wire.len() + 200_000, b'x');
        wire.extend_from_slice(b"Content-Type: command/reply\nReply-Text: +OK\n\n");
        let mut buf = BytesMut::from(&wire[..]);
        let mut codec = EslCodec::default();
        assert!(matches!(
            codec.decode(&mut buf).unwrap(),
            Some(Message::Log(_))
        ));
        assert!(buf.capacity() <= 8 << 10, "{}", buf.capacity());
        let reply = codec.decode(&mut buf).unwrap();
        assert!(matches!(reply, Some(Message::Reply(r)) if r.is_ok()));
    }

    #[test]
    fn drained_buffers_are_small_while_idle() {
        let mut codec = EslCodec::default();
        let mut read = BytesMut::with_capacity(8 << 10);
        read.extend_from_slice(&WIRE[..45]);
        assert!(matches!(
            codec.decode(&mut read).unwrap(),
            Some(Message::Reply(_))
        ));
        assert!(
            read.is_empty() && read.capacity() <= IDLE_CAPACITY,
            "{}",
            read.capacity()
        );
        let mut write = BytesMut::with_capacity(8 << 10);
        codec.encode(Command::Exit, &mut write).unwrap();
        assert_eq!(&write[..], b"exit\n\n");
        assert!(write.capacity() <= 1 << 10, "{}", write.capacity());
    }

    #[test]
    fn eof_inside_a_frame_is_an_error() {
        let mut buf = BytesMut::from(&WIRE[..20]);
        let err = EslCodec::default().decode_eof(&mut buf).unwrap_err();
        assert!(matches!(err, EslError::Truncated { pending: 20 }), "{err}");
        let mut blank = BytesMut::from(&b"\n\n"[..]);
        assert!(EslCodec::default()
            .decode_eof(&mut blank)
            .unwrap()
            .is_none());
    }

    #[test]
    fn encoder_refuses_and_writes_nothing() {
        let mut codec = EslCodec::default();
        let mut dst = BytesMut::new();
        let bad = Command::Api("a\nb".into());
        assert!(matches!(
            codec.encode(bad, &mut dst),
            Err(EslError::Command(_))
        ));
        assert!(dst.is_empty());
        codec.encode(Command::Connect, &mut dst).unwrap();
        assert_eq!(&dst[..], b"connect\n\n");
    }

    #[test]
    fn unfinished_frames_take_from_a_shared_budget_and_give_back_when_done() {
        let budget = ReadBudget::new(100 << 10);
        let mut first = EslCodec::with_budget(Limits::default(), budget.clone());
        let mut second = EslCodec::with_budget(Limits::default(), budget.clone());
        let head = b"Content-Type: log/data\nContent-Length: 90000\n\n";
        let mut a = BytesMut::from(&head[..]);
        a.extend_from_slice(&[b'x'; 80_000]);
        assert!(first.decode(&mut a).unwrap().is_none());
        let held = a.len() - super::super::FREE_BYTES;
        assert_eq!(budget.used(), held);
        // The second connection's unfinished frame does not fit beside the first.
        let mut b = BytesMut::from(&head[..]);
        b.extend_from_slice(&[b'x'; 80_000]);
        let err = second.decode(&mut b).unwrap_err();
        assert!(matches!(err, EslError::Budget { .. }), "{err}");
        assert!(err.to_string().contains("esl.read_budget_bytes"), "{err}");
        assert_eq!(budget.used(), held, "a refusal takes nothing");
        // The first frame completes: the budget is whole again.
        a.extend_from_slice(&[b'x'; 10_000]);
        assert!(matches!(
            first.decode(&mut a).unwrap(),
            Some(Message::Log(_))
        ));
        assert_eq!(budget.used(), 0);
        drop(second);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn limits_reach_the_decoder() {
        let limits = Limits {
            max_body: 2,
            ..Limits::default()
        };
        let mut buf = BytesMut::from(&WIRE[45..]);
        let err = EslCodec::new(limits).decode(&mut buf).unwrap_err();
        assert!(err.to_string().contains("max_body"), "{err}");
    }
}
