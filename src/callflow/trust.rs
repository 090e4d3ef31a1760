//! Marking the URLs of a flow with their [`Trust`]: every URL of an operator's flow, or the
//! URLs of a web app's answer that share the origin of the operator URL that fetched it.
//! Deciding what a trust level allows is `crate::pivot::policy`'s business.

use super::url::HttpUrl;
use super::{Module, Node, PlayId, Prompt};

impl Node {
    /// Every URL of the tree becomes [`super::Trust::Operator`]: the operator wrote the flow
    /// (a callflow document, the dialplan's channel variables).
    pub fn trust_all(&mut self) {
        self.visit_urls(&mut |url| *url = url.clone().operator());
    }

    /// The URLs with the origin of `source` become [`super::Trust::Operator`]: this tree is
    /// the answer of a request to `source`, an operator URL, so the operator's own web app may
    /// send the call on to its other pages, but not to another host or port.
    pub fn inherit_trust(&mut self, source: &HttpUrl) {
        if !source.is_trusted() {
            return;
        }
        self.visit_urls(&mut |url| {
            if source.same_origin(url) {
                *url = url.clone().operator();
            }
        });
    }

    /// Calls `f` on every URL pivot or FreeSWITCH may fetch or upload to.
    pub fn visit_urls(&mut self, f: &mut dyn FnMut(&mut HttpUrl)) {
        self.module.visit_urls(f);
        for child in self.children.values_mut() {
            child.visit_urls(f);
        }
    }
}

impl Module {
    fn visit_urls(&mut self, f: &mut dyn FnMut(&mut HttpUrl)) {
        match self {
            Module::Play(p) => play_url(&mut p.id, f),
            Module::RecordCaller(r) => f(&mut r.url),
            Module::Pivot(p) => {
                f(&mut p.voice_url);
                p.cdr_url.iter_mut().for_each(&mut *f);
                p.fallback_url.iter_mut().for_each(&mut *f);
            }
            Module::Gather(g) => {
                f(&mut g.action.url);
                for prompt in &mut g.prompts {
                    if let Prompt::Play(p) = prompt {
                        play_url(&mut p.id, f);
                    }
                }
            }
            Module::Record(r) => {
                f(&mut r.action.url);
                r.upload_url.iter_mut().for_each(&mut *f);
            }
            Module::Dial(d) => {
                d.action.iter_mut().for_each(|a| f(&mut a.url));
                d.upload_url.iter_mut().for_each(&mut *f);
            }
            Module::Redirect(a) => f(&mut a.url),
            Module::Say(_)
            | Module::Tts(_)
            | Module::CollectDtmf(_)
            | Module::Hangup { .. }
            | Module::Answer
            | Module::Sleep { .. }
            | Module::Response { .. }
            | Module::SendDtmf(_) => {}
        }
    }
}

fn play_url(id: &mut PlayId, f: &mut dyn FnMut(&mut HttpUrl)) {
    if let PlayId::Url(url) = id {
        f(url);
    }
}
