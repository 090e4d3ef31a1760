//! The tokio-util codecs: bytes from FreeSWITCH to [`Message`]s, [`Command`]s to bytes.
//! Owns the read buffer's bookkeeping (a resumable scan, so a frame trickling in byte by byte
//! costs linear time); does not own the socket or any timing.

use bytes::{Buf, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::command::{Command, CommandError};
use super::frame::{Frame, FrameError, FrameScanner, Limits};
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
}

/// Decodes [`Frame`]s: for a fake FreeSWITCH reading commands, or for logging raw frames.
#[derive(Debug, Default)]
pub struct FrameCodec {
    limits: Limits,
    scanner: FrameScanner,
}

impl FrameCodec {
    pub fn new(limits: Limits) -> Self {
        FrameCodec {
            limits,
            scanner: FrameScanner::default(),
        }
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = EslError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, EslError> {
        match self.scanner.scan(src, &self.limits)? {
            Some((frame, used)) => {
                src.advance(used);
                Ok(Some(frame))
            }
            None => {
                // Once the body length is known, make room for it in one go.
                if let Some(needed) = self.scanner.bytes_needed() {
                    src.reserve(needed.saturating_sub(src.len()));
                }
                Ok(None)
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, EslError> {
        if let Some(frame) = self.decode(src)? {
            return Ok(Some(frame));
        }
        // Blank lines between frames are not a frame cut short.
        if src.iter().all(|&b| b == b'\n' || b == b'\r') {
            src.clear();
            self.scanner = FrameScanner::default();
            return Ok(None);
        }
        Err(EslError::Truncated { pending: src.len() })
    }
}

/// FreeSWITCH's side of an outbound socket: decodes [`Message`]s, encodes [`Command`]s.
#[derive(Debug, Default)]
pub struct EslCodec {
    frames: FrameCodec,
}

impl EslCodec {
    pub fn new(limits: Limits) -> Self {
        EslCodec {
            frames: FrameCodec::new(limits),
        }
    }

    fn interpret(&self, frame: Option<Frame>) -> Result<Option<Message>, EslError> {
        match frame {
            Some(frame) => Ok(Some(Message::from_frame_with(frame, &self.frames.limits)?)),
            None => Ok(None),
        }
    }
}

impl Decoder for EslCodec {
    type Item = Message;
    type Error = EslError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, EslError> {
        let frame = self.frames.decode(src)?;
        self.interpret(frame)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Message>, EslError> {
        let frame = self.frames.decode_eof(src)?;
        self.interpret(frame)
    }
}

impl Encoder<Command> for EslCodec {
    type Error = EslError;

    fn encode(&mut self, item: Command, dst: &mut BytesMut) -> Result<(), EslError> {
        Ok(item.encode(dst)?)
    }
}

impl Encoder<&Command> for EslCodec {
    type Error = EslError;

    fn encode(&mut self, item: &Command, dst: &mut BytesMut) -> Result<(), EslError> {
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
