//! What a call keeps of the connect reply's channel data once it is routed. The channel
//! data (every channel variable: kilobytes) is dropped after routing; these few values are
//! what the rest of the call reads.

use std::borrow::Cow;

use crate::esl::ChannelData;

use super::note::CallNote;
use super::session::SocketMode;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct ChannelFacts {
    pub call_id: String,
    pub from: String,
    pub to: String,
    pub answer_state: String,
    /// The switch (`Core-UUID`): which recording modules it has is asked once per switch.
    pub core_uuid: String,
    /// The dialplan set its own `transfer_ringback` (a Dial then leaves it alone).
    pub own_ringback: bool,
}

impl ChannelFacts {
    pub fn of(channel: &ChannelData) -> Self {
        let text = |v: Option<&str>| v.unwrap_or("").to_string();
        ChannelFacts {
            call_id: text(channel.unique_id()),
            from: text(channel.caller_id_number()),
            to: text(channel.destination_number()),
            answer_state: text(channel.answer_state()),
            core_uuid: text(channel.header("Core-UUID")),
            own_ringback: channel.variable("transfer_ringback").is_some(),
        }
    }

    /// The call's start, as the first step of its notes and timeline.
    pub fn connected_note(&self, mode: SocketMode) -> CallNote<'_> {
        CallNote::Connected {
            call_id: Cow::Borrowed(&self.call_id),
            from: Cow::Borrowed(&self.from),
            to: Cow::Borrowed(&self.to),
            answer_state: Cow::Borrowed(&self.answer_state),
            mode: match mode {
                SocketMode::Async => "async",
                SocketMode::Static => "static",
            }
            .into(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::esl::{Limits, Message};

    #[test]
    fn the_facts_come_from_the_connect_reply() {
        let raw = b"Content-Type: command/reply\nReply-Text: +OK\nUnique-ID: abc-1\n\
Core-UUID: core-9\nCaller-Caller-ID-Number: 1001\nCaller-Destination-Number: 3004\n\
Answer-State: ringing\nvariable_transfer_ringback: %(2000,4000,440,480)\n\n";
        let (frame, _) = crate::esl::parse_frame(raw, &Limits::default())
            .unwrap()
            .unwrap();
        let Message::ConnectReply(channel) = Message::from_frame(frame).unwrap() else {
            panic!("not a connect reply");
        };
        let facts = ChannelFacts::of(&channel);
        assert_eq!(facts.call_id, "abc-1");
        assert_eq!(facts.core_uuid, "core-9");
        assert_eq!((facts.from.as_str(), facts.to.as_str()), ("1001", "3004"));
        assert_eq!(facts.answer_state, "ringing");
        assert!(facts.own_ringback);
        let note = facts.connected_note(SocketMode::Static);
        let CallNote::Connected { mode, call_id, .. } = note else {
            panic!("not a connected note");
        };
        assert_eq!((call_id.as_ref(), mode.as_ref()), ("abc-1", "static"));
    }
}
