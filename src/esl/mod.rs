//! The event socket wire layer: frames, headers, typed messages and events, the command
//! encoder, and the tokio-util codec that joins them. It does no I/O of its own (the codec
//! runs over whatever stream the caller owns) and knows nothing about call flows.
//!
//! Layers, bottom up: `frame` (bytes → [`Frame`], limits) → `headers` (decoding, lookup) →
//! `message`/`event` (a frame by its Content-Type) → `codec` ([`EslCodec`]). Outgoing:
//! `command` (the one encoder, where injection is refused). See docs/esl.md.

mod block;
mod budget;
pub mod client;
mod codec;
mod command;
mod command_parse;
mod decode;
mod event;
mod frame;
mod headers;
mod message;

pub use budget::{ReadBudget, FREE_BYTES};
pub use codec::{EslCodec, EslError, FrameCodec};
pub use command::{Command, CommandError, Execute};
pub use event::{ChannelData, Event, EventError};
pub use frame::{parse_frame, Frame, FrameError, FrameScanner, Limits};
pub use headers::{percent_decode, Headers};
pub use message::{DisconnectKind, Message, MessageError, Reply};

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod proptests;
