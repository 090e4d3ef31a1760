//! TwiML verbs → model nodes: each verb's attributes and text are checked (unknown verb or
//! attribute, bad value: an error at the element's line and column) and turned into modules;
//! the verb list becomes a chain of `_` children. Verbs after `<Hangup>`, `<Reject>` or
//! `<Redirect>` are checked but never run, as in Twilio. Attribute and text reading is in
//! `attrs`, `<Dial>` in `dial`, the names and their messages in `names`.

use std::collections::BTreeMap;
use std::time::Duration;

use super::names;
use super::{at, Element};
use crate::callflow::{
    DtmfKeys, DtmfSequence, FlowError, FlowLimits, Gather, HangupCause, Module, Node, Play, PlayId,
    Prompt, ReasonPhrase, SendDtmf, Text, Token, Tts, TwimlAction, TwimlRecord, DEFAULT_CHILD,
};

/// Twilio's generic voices; other voice names (Polly.*, Google.*) use the default voice.
const GENERIC_VOICES: [&str; 3] = ["man", "woman", "alice"];

/// A `loop` of 0 means "until the call ends" in Twilio: pivot stops at this many.
pub const MAX_LOOP: u32 = 1000;

pub(super) struct Verbs<'a> {
    pub(super) text: &'a str,
    pub(super) base: &'a url::Url,
    pub(super) limits: &'a FlowLimits,
}

/// What one verb becomes: modules in order, and whether the document stops there.
struct Converted {
    modules: Vec<Module>,
    terminal: bool,
}

impl<'a> Verbs<'a> {
    pub fn new(text: &'a str, base: &'a url::Url, limits: &'a FlowLimits) -> Self {
        Verbs { text, base, limits }
    }

    pub(super) fn err(&self, pos: usize, msg: impl Into<String>) -> FlowError {
        at(self.text, pos, msg)
    }

    /// The flow of a whole `<Response>`; an empty one hangs up.
    pub fn document(&self, root: &Element) -> Result<Node, FlowError> {
        self.only_attrs(root)?;
        self.no_text(root)?;
        let mut chain: Vec<Module> = Vec::new();
        let mut ended = false;
        for el in &root.children {
            let converted = self.verb(el)?;
            if ended {
                continue;
            }
            ended = converted.terminal;
            chain.extend(converted.modules);
            let cap = self.limits.max_nodes.min(self.limits.max_depth);
            if chain.len() > cap {
                let msg = format!("the document has more than {cap} verbs (flow limits)");
                return Err(self.err(el.pos, msg));
            }
        }
        if chain.is_empty() {
            chain.push(Module::Hangup { cause: None });
        }
        Ok(link(chain))
    }

    fn verb(&self, el: &Element) -> Result<Converted, FlowError> {
        let one = |m: Module| Converted {
            modules: vec![m],
            terminal: false,
        };
        match el.name.as_str() {
            "Say" => Ok(one(Module::Tts(self.say(el)?))),
            "Play" => Ok(one(self.play_or_digits(el)?)),
            "Pause" => Ok(one(Module::Sleep {
                duration: self.pause(el)?,
            })),
            "Gather" => Ok(one(Module::Gather(Box::new(self.gather(el)?)))),
            "Record" => Ok(one(Module::Record(Box::new(self.record(el)?)))),
            "Dial" => Ok(one(Module::Dial(Box::new(self.dial(el)?)))),
            "Hangup" => {
                self.empty(el)?;
                Ok(Converted {
                    modules: vec![Module::Hangup { cause: None }],
                    terminal: true,
                })
            }
            "Reject" => self.reject(el),
            "Redirect" => Ok(Converted {
                modules: vec![Module::Redirect(self.redirect(el)?)],
                terminal: true,
            }),
            other => Err(self.err(el.pos, names::not_a_verb(other))),
        }
    }

    fn say(&self, el: &Element) -> Result<Tts, FlowError> {
        self.only_attrs(el)?;
        self.no_children(el)?;
        let text = Text::new(el.text.trim()).map_err(|e| self.text_err(el, e))?;
        let voice = match self.attr(el, "voice") {
            None => None,
            Some(v) => {
                let token = Token::new(v).map_err(|e| self.attr_err(el, "voice", e))?;
                let lower = v.to_ascii_lowercase();
                GENERIC_VOICES
                    .contains(&lower.as_str())
                    .then(|| Token::new(&lower).unwrap_or(token))
            }
        };
        let language = self.opt(el, "language", Token::new)?;
        let mut tts = Tts::text(text);
        tts.voice = voice;
        tts.language = language;
        tts.loops = self.loops(el)?;
        Ok(tts)
    }

    /// `<Play>`: the URL in its text, or `digits` to send (not both).
    fn play_or_digits(&self, el: &Element) -> Result<Module, FlowError> {
        let Some(digits) = self.attr(el, "digits").filter(|d| !d.trim().is_empty()) else {
            return Ok(Module::Play(self.play(el)?));
        };
        self.only_attrs(el)?;
        self.no_children(el)?;
        if let Some(pos) = el.text_pos {
            let msg = "<Play> plays a URL or sends digits, not both";
            return Err(self.err(pos, msg));
        }
        if self.attr(el, "loop").is_some() {
            let msg = "<Play> attribute loop: not with digits (they are sent once)";
            return Err(self.err(el.pos, msg));
        }
        let digits =
            DtmfSequence::new(digits.trim()).map_err(|e| self.attr_err(el, "digits", e))?;
        Ok(Module::SendDtmf(SendDtmf::new(
            digits,
            SendDtmf::TWIML_TONE,
        )))
    }

    /// `<Play>` of a URL (a `<Gather>` prompt too, where digits have no place).
    fn play(&self, el: &Element) -> Result<Play, FlowError> {
        self.only_attrs(el)?;
        self.no_children(el)?;
        if self
            .attr(el, "digits")
            .is_some_and(|d| !d.trim().is_empty())
        {
            let msg = "<Play> attribute digits: not allowed inside <Gather> (a prompt plays audio)";
            return Err(self.err(el.pos, msg));
        }
        let url = self.url_text(el)?;
        let mut play = Play::new(PlayId::Url(url));
        play.loop_count = self.loops(el)?;
        Ok(play)
    }

    fn pause(&self, el: &Element) -> Result<Duration, FlowError> {
        self.empty(el)?;
        let max = Module::MAX_SLEEP.as_secs() as u32;
        Ok(secs(self.uint(el, "length", 0..=max)?.unwrap_or(1)))
    }

    fn gather(&self, el: &Element) -> Result<Gather, FlowError> {
        self.only_attrs(el)?;
        self.no_text(el)?;
        let mut g = Gather::new(self.action(el)?);
        let max_timeout = Gather::MAX_TIMEOUT.as_secs() as u32;
        if let Some(t) = self.uint(el, "timeout", 1..=max_timeout)? {
            g.timeout = Duration::from_secs(u64::from(t));
        }
        if let Some(keys) = self.opt(el, "finishOnKey", DtmfKeys::new)? {
            g.finish_on_key = keys;
        }
        g.num_digits = self.uint(el, "numDigits", 1..=Gather::MAX_DIGITS)?;
        if el.children.len() > Gather::MAX_PROMPTS {
            let msg = format!("at most {} verbs inside <Gather>", Gather::MAX_PROMPTS);
            return Err(self.err(el.children[Gather::MAX_PROMPTS].pos, msg));
        }
        for child in &el.children {
            let prompt = match child.name.as_str() {
                "Say" => Prompt::Tts(self.say(child)?),
                "Play" => Prompt::Play(self.play(child)?),
                "Pause" => Prompt::Pause(self.pause(child)?),
                other => {
                    let msg = format!(
                        "<{other}> is not allowed inside <Gather> (only <Say>, <Play> and <Pause>)"
                    );
                    return Err(self.err(child.pos, msg));
                }
            };
            g.prompts.push(prompt);
        }
        Ok(g)
    }

    fn record(&self, el: &Element) -> Result<TwimlRecord, FlowError> {
        self.empty(el)?;
        let mut r = TwimlRecord::new(self.action(el)?);
        if let Some(t) = self.uint(el, "timeout", 0..=TwimlRecord::MAX_TIMEOUT)? {
            r.timeout = t;
        }
        if let Some(keys) = self.opt(el, "finishOnKey", DtmfKeys::new)? {
            r.finish_on_key = keys;
        }
        if let Some(n) = self.uint(el, "maxLength", 1..=TwimlRecord::MAX_LENGTH)? {
            r.max_length = n;
        }
        r.play_beep = self.bool(el, "playBeep")?.unwrap_or(true);
        r.upload_url = self.url_attr(el, "recordingUrl")?;
        Ok(r)
    }

    fn reject(&self, el: &Element) -> Result<Converted, FlowError> {
        self.empty(el)?;
        let (code, phrase, cause) = match self.attr(el, "reason") {
            None | Some("rejected") => (603, "Decline", "CALL_REJECTED"),
            Some("busy") => (486, "Busy Here", "USER_BUSY"),
            Some(other) => {
                let msg = format!(
                    "attribute reason: expected \"rejected\" or \"busy\", got {}",
                    crate::callflow::value::preview(other)
                );
                return Err(self.err(el.pos, msg));
            }
        };
        let message = ReasonPhrase::new(phrase).unwrap_or_default();
        let cause = HangupCause::new(cause).ok();
        Ok(Converted {
            modules: vec![Module::Response { code, message }, Module::Hangup { cause }],
            terminal: true,
        })
    }

    fn redirect(&self, el: &Element) -> Result<TwimlAction, FlowError> {
        self.only_attrs(el)?;
        self.no_children(el)?;
        Ok(TwimlAction {
            url: self.url_text(el)?,
            method: self.method(el)?,
        })
    }
}

pub(super) fn secs(n: u32) -> Duration {
    Duration::from_secs(u64::from(n))
}

/// Modules in order → a chain of nodes through `_`.
fn link(chain: Vec<Module>) -> Node {
    let mut next: Option<Node> = None;
    for module in chain.into_iter().rev() {
        let mut children = BTreeMap::new();
        if let Some(n) = next.take() {
            children.insert(DEFAULT_CHILD.to_string(), n);
        }
        next = Some(Node { module, children });
    }
    next.unwrap_or_else(|| Node::leaf(Module::Hangup { cause: None }))
}
