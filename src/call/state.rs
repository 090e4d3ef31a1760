//! What one call's channel is, as FreeSWITCH's replies and events describe it: one explicit
//! state ([`ChannelState`]) and why pivot itself stopped the flow ([`Stop`]). Pure data: the
//! session changes it as messages arrive; the flow reads it.

use crate::callflow::HangupCause;

/// The channel's life, in the order it can only move forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelState {
    /// Not answered yet.
    Ringing,
    /// pivot queued `answer`; FreeSWITCH has not confirmed it yet. Media may be queued
    /// behind it (the channel's queue runs in order).
    Answering,
    /// Answered: by pivot's `answer`, or by anything else (a `bridge` answers the caller's
    /// channel itself), as the events' `Answer-State` says.
    Answered,
    /// CHANNEL_HANGUP (or a linger notice) arrived: the flow stops; events still come.
    HungUp { cause: HangupCause, complete: bool },
    /// The socket is closed, or can no longer be trusted (a reply that never came).
    Gone { cause: Option<HangupCause> },
}

impl ChannelState {
    /// Up: the flow may still send applications.
    pub fn is_up(&self) -> bool {
        matches!(
            self,
            ChannelState::Ringing | ChannelState::Answering | ChannelState::Answered
        )
    }

    /// Answered, or about to be (an `answer` is queued ahead of anything sent now).
    pub fn is_answered(&self) -> bool {
        matches!(self, ChannelState::Answering | ChannelState::Answered)
    }

    /// Nothing more can be sent.
    pub fn is_gone(&self) -> bool {
        matches!(self, ChannelState::Gone { .. })
    }

    /// CHANNEL_HANGUP_COMPLETE arrived (or the socket closed: nothing more will come).
    pub fn is_settled(&self) -> bool {
        matches!(
            self,
            ChannelState::HungUp { complete: true, .. } | ChannelState::Gone { .. }
        )
    }

    pub fn hangup_cause(&self) -> Option<&HangupCause> {
        match self {
            ChannelState::HungUp { cause, .. } => Some(cause),
            ChannelState::Gone { cause } => cause.as_ref(),
            _ => None,
        }
    }

    /// The channel hung up with `cause` (the first cause seen is kept).
    pub fn hang_up(&mut self, cause: HangupCause) {
        if self.is_up() {
            *self = ChannelState::HungUp {
                cause,
                complete: false,
            };
        }
    }

    /// CHANNEL_HANGUP_COMPLETE: also a hangup when CHANNEL_HANGUP was missed. Its cause
    /// replaces an UNKNOWN one (a linger notice says that, not why).
    pub fn complete(&mut self, cause: HangupCause) {
        match self {
            ChannelState::HungUp {
                complete,
                cause: known,
            } => {
                *complete = true;
                if *known == causes::unknown() {
                    *known = cause;
                }
            }
            s if s.is_up() => {
                *s = ChannelState::HungUp {
                    cause,
                    complete: true,
                }
            }
            _ => {}
        }
    }

    /// The socket closed: keeps the cause already known.
    pub fn close(&mut self) {
        let cause = self.hangup_cause().cloned();
        *self = ChannelState::Gone { cause };
    }

    /// An event said `Answer-State: answered`.
    pub fn answered(&mut self) {
        if matches!(self, ChannelState::Ringing | ChannelState::Answering) {
            *self = ChannelState::Answered;
        }
    }
}

/// Why pivot stopped a call's flow on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The shutdown deadline passed.
    Shutdown,
    /// The call reached `esl.max_call_secs`.
    MaxDuration,
}

impl Stop {
    /// The cause pivot hangs up with.
    pub fn cause(self) -> HangupCause {
        match self {
            Stop::Shutdown => causes::system_shutdown(),
            Stop::MaxDuration => causes::allotted_timeout(),
        }
    }
}

/// The hangup causes pivot uses itself, as typed values.
pub mod causes {
    use crate::callflow::HangupCause;

    fn known(s: &str) -> HangupCause {
        HangupCause::new(s).unwrap_or_else(|_| unknown())
    }

    /// `UNKNOWN`: a hangup whose cause FreeSWITCH did not say (a linger notice).
    pub fn unknown() -> HangupCause {
        HangupCause::new("UNKNOWN").expect("UNKNOWN is letters only")
    }
    pub fn normal_clearing() -> HangupCause {
        known("NORMAL_CLEARING")
    }
    pub fn unallocated_number() -> HangupCause {
        known("UNALLOCATED_NUMBER")
    }
    pub fn system_shutdown() -> HangupCause {
        known("SYSTEM_SHUTDOWN")
    }
    pub fn allotted_timeout() -> HangupCause {
        known("ALLOTTED_TIMEOUT")
    }

    /// A cause from an event, or UNKNOWN when it is missing or malformed.
    pub fn from_event(value: Option<&str>) -> HangupCause {
        value
            .and_then(|v| HangupCause::new(v.trim()).ok())
            .unwrap_or_else(unknown)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_state_only_moves_forward() {
        let mut s = ChannelState::Ringing;
        s.answered();
        assert_eq!(s, ChannelState::Answered);
        s.hang_up(causes::normal_clearing());
        assert!(!s.is_up() && !s.is_settled());
        s.answered();
        s.hang_up(causes::unknown());
        assert_eq!(s.hangup_cause(), Some(&causes::normal_clearing()));
        s.complete(causes::unknown());
        assert!(s.is_settled());
        s.close();
        assert_eq!(
            s,
            ChannelState::Gone {
                cause: Some(causes::normal_clearing())
            }
        );
    }

    #[test]
    fn hangup_complete_without_hangup_is_a_hangup() {
        let mut s = ChannelState::Answering;
        s.complete(causes::from_event(Some("USER_BUSY")));
        assert_eq!(s.hangup_cause().map(|c| c.as_str()), Some("USER_BUSY"));
        assert!(s.is_settled());
    }

    #[test]
    fn odd_causes_become_unknown() {
        assert_eq!(causes::from_event(Some("x y")), causes::unknown());
        assert_eq!(causes::from_event(None), causes::unknown());
    }
}
