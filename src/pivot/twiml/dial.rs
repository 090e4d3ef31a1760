//! `<Dial>` → the `dial` module: its attributes (ringing, caller id, time limit, the star
//! key, recording, answering), and its nouns `<Number>` (with `sendDigits`) and `<Sip>`
//! (with `?X-Header=value` parts), or a bare number as its text.

use super::names;
use super::verbs::{secs, Verbs};
use super::Element;
use crate::callflow::{
    CallerId, Dial, DialRecord, DialTarget, DtmfSequence, FlowError, PhoneNumber, SipUri,
    TwimlAction,
};

impl Verbs<'_> {
    pub(super) fn dial(&self, el: &Element) -> Result<Dial, FlowError> {
        self.only_attrs(el)?;
        let mut d = Dial::new(self.dial_targets(el)?);
        let method = self.method(el)?;
        d.action = self
            .url_attr(el, "action")?
            .map(|url| TwimlAction { url, method });
        let max_timeout = Dial::MAX_TIMEOUT.as_secs() as u32;
        if let Some(t) = self.uint(el, "timeout", 1..=max_timeout)? {
            d.timeout = secs(t);
        }
        d.caller_id = self.opt(el, "callerId", CallerId::new)?;
        let max_limit = Dial::MAX_TIME_LIMIT.as_secs() as u32;
        d.time_limit = self.uint(el, "timeLimit", 1..=max_limit)?.map(secs);
        d.hangup_on_star = self.bool(el, "hangupOnStar")?.unwrap_or(false);
        d.record = self
            .opt(el, "record", DialRecord::parse)?
            .unwrap_or_default();
        d.upload_url = self.url_attr(el, "recordingUrl")?;
        d.answer_on_bridge = self.bool(el, "answerOnBridge")?;
        if d.record.is_on() && d.answer_on_bridge == Some(true) {
            let msg = "<Dial> attribute record: not with answerOnBridge=\"true\" (FreeSWITCH \
                       records the caller's channel, which answers its media)";
            return Err(self.err(el.pos, msg));
        }
        Ok(d)
    }

    /// `<Number>` and `<Sip>` nouns, or a bare number as the text; not both, not none.
    fn dial_targets(&self, el: &Element) -> Result<Vec<DialTarget>, FlowError> {
        let mut targets = Vec::new();
        for child in &el.children {
            if !names::NOUNS.contains(&child.name.as_str()) {
                let msg = names::not_a_dial_noun(&child.name);
                return Err(self.err(child.pos, msg));
            }
            self.only_attrs(child)?;
            self.no_children(child)?;
            targets.push(self.noun(child)?);
        }
        let bare = el.text.trim();
        match (bare.is_empty(), targets.is_empty()) {
            (false, true) => {
                let n = PhoneNumber::new(bare).map_err(|e| self.text_err(el, e))?;
                targets.push(DialTarget::number(n));
            }
            (false, false) => {
                let pos = el.text_pos.unwrap_or(el.pos);
                let msg = "<Dial> holds either a number or <Number>/<Sip> nouns, not both";
                return Err(self.err(pos, msg));
            }
            (true, true) => {
                let msg = "<Dial> needs a number, <Number> or <Sip>";
                return Err(self.err(el.pos, msg));
            }
            (true, false) => {}
        }
        if targets.len() > Dial::MAX_TARGETS {
            let msg = format!("<Dial> may ring at most {} parties", Dial::MAX_TARGETS);
            return Err(self.err(el.pos, msg));
        }
        Ok(targets)
    }

    /// One `<Number>` or `<Sip>` (attributes checked already).
    fn noun(&self, el: &Element) -> Result<DialTarget, FlowError> {
        let text = el.text.trim();
        if el.name == "Sip" {
            return SipUri::new(text)
                .map(DialTarget::Sip)
                .map_err(|e| self.text_err(el, e));
        }
        let number = PhoneNumber::new(text).map_err(|e| self.text_err(el, e))?;
        let send_digits = match self.attr(el, "sendDigits") {
            Some(d) if !d.trim().is_empty() => {
                Some(DtmfSequence::new(d.trim()).map_err(|e| self.attr_err(el, "sendDigits", e))?)
            }
            _ => None,
        };
        Ok(DialTarget::Number {
            number,
            send_digits,
        })
    }
}
