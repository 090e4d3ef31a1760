//! The call flow model: a tree of [`Node`]s, each one [`Module`] with its validated data and
//! its children by key. Every value is checked when it is built (see [`value`]), so a
//! `Node` in hand is safe to run. Knows no JSON or XML (`crate::pivot` reads those) and does
//! not run anything (the call engine does).

mod collect;
mod dial;
mod dtmf;
mod gather;
mod play;
mod record;
mod request;
mod say;
mod sip;
mod timing;
mod trust;
mod url;
pub mod value;

use std::collections::BTreeMap;
use std::time::Duration;

pub use collect::CollectDtmf;
pub use dial::{CallerId, Dial, DialRecord, DialTarget, PhoneNumber};
pub use dtmf::{DtmfSequence, SendDtmf};
pub use gather::{Gather, Prompt};
pub use play::{MediaRoots, Play, PlayId};
pub use record::{RecordCaller, RecordFormat, TwimlRecord, UploadMethod};
pub use request::{BodyFormat, HttpMethod, PivotRequest, ReqFormat, TwimlAction};
pub use say::{Say, SayMethod, Tts};
pub use sip::{SipHeader, SipUri};
pub use timing::{RetryOn, Timing, UrlOverrides};
pub use value::{
    CustomHeader, DtmfKeys, FsSource, HangupCause, HttpUrl, InvalidValue, MediaId, ReasonPhrase,
    Text, Token, Trust,
};

/// The child key taken when a module finishes without a more specific result.
pub const DEFAULT_CHILD: &str = "_";

/// One step of a flow and where to go next.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub module: Module,
    /// `_` is the default branch; other keys are results such as menu digits.
    pub children: BTreeMap<String, Node>,
}

impl Node {
    /// A node without children.
    pub fn leaf(module: Module) -> Node {
        Node {
            module,
            children: BTreeMap::new(),
        }
    }

    /// The child under `key`, if any.
    pub fn child(&self, key: &str) -> Option<&Node> {
        self.children.get(key)
    }

    /// The `_` child, if any.
    pub fn default_child(&self) -> Option<&Node> {
        self.children.get(DEFAULT_CHILD)
    }

    /// Number of nodes in this tree, this one included.
    pub fn count(&self) -> usize {
        1 + self.children.values().map(Node::count).sum::<usize>()
    }
}

/// What a node does on the call.
#[derive(Debug, Clone, PartialEq)]
pub enum Module {
    Say(Say),
    Tts(Tts),
    Play(Play),
    RecordCaller(RecordCaller),
    CollectDtmf(CollectDtmf),
    /// Boxed, as the other large variants: a `Module` is moved through every step of a
    /// call's future, and its size is its largest variant's.
    Pivot(Box<PivotRequest>),
    /// `hangup` with an optional cause (FreeSWITCH's default is NORMAL_CLEARING).
    Hangup {
        cause: Option<HangupCause>,
    },
    Answer,
    /// At most [`Module::MAX_SLEEP`].
    Sleep {
        duration: Duration,
    },
    /// Tones to the caller (Piston `send_dtmf`, TwiML `<Play digits>`).
    SendDtmf(SendDtmf),
    /// `respond <code> <message>`; code in [`Module::RESPONSE_CODES`].
    Response {
        code: u16,
        message: ReasonPhrase,
    },
    /// TwiML `<Gather>`.
    Gather(Box<Gather>),
    /// TwiML `<Record>`.
    Record(Box<TwimlRecord>),
    /// TwiML `<Dial>`.
    Dial(Box<Dial>),
    /// TwiML `<Redirect>`: a new request whose document replaces the rest of this one.
    Redirect(TwimlAction),
}

impl Module {
    pub const MAX_SLEEP: Duration = Duration::from_secs(3600);
    pub const RESPONSE_CODES: std::ops::RangeInclusive<u16> = 100..=699;
    pub const DEFAULT_RESPONSE_CODE: u16 = 486;

    /// The module's name as written in Piston JSON; TwiML-only modules use their verb's
    /// name in lower case (`gather`, `record`, `dial`, `redirect`), which Piston JSON does
    /// not accept.
    pub fn name(&self) -> &'static str {
        match self {
            Module::Say(_) => "say",
            Module::Tts(_) => "tts",
            Module::Play(_) => "play",
            Module::RecordCaller(_) => "record_caller",
            Module::CollectDtmf(_) => "collect_dtmf",
            Module::Pivot(_) => "pivot",
            Module::Hangup { .. } => "hangup",
            Module::Answer => "answer",
            Module::Sleep { .. } => "sleep",
            Module::Response { .. } => "response",
            Module::SendDtmf(_) => "send_dtmf",
            Module::Gather(_) => "gather",
            Module::Record(_) => "record",
            Module::Dial(_) => "dial",
            Module::Redirect(_) => "redirect",
        }
    }

    /// Every module name Piston JSON accepts.
    pub const NAMES: [&'static str; 11] = [
        "say",
        "tts",
        "play",
        "record_caller",
        "collect_dtmf",
        "pivot",
        "hangup",
        "answer",
        "sleep",
        "response",
        "send_dtmf",
    ];
}

/// Caps on the size of a flow and on the files it may name, checked while it is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowLimits {
    /// Most nodes in one flow (default 1000).
    pub max_nodes: usize,
    /// Most nodes on one path from the root, the root being depth 1 (default 64).
    pub max_depth: usize,
    /// Where a `play` file may be: set for web apps' answers (`[media] media_roots`); None
    /// for the operator's own flows (callflow documents, channel variables).
    pub media_roots: Option<MediaRoots>,
}

impl Default for FlowLimits {
    fn default() -> FlowLimits {
        FlowLimits {
            max_nodes: 1000,
            max_depth: 64,
            media_roots: None,
        }
    }
}

/// A flow that could not be built: where (`path`, e.g. `children._.data.time_limit`; `""`
/// for the document root) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}{message}", path, if path.is_empty() { "" } else { ": " })]
pub struct FlowError {
    pub path: String,
    pub message: String,
}

impl FlowError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> FlowError {
        FlowError {
            path: path.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests;
