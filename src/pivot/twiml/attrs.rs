//! Reading a TwiML element's attributes and text into model values: unknown attributes,
//! bad values and stray text or children become errors at the element's line and column.
//! URLs are resolved here against the document's URL (RFC 3986).

use std::ops::RangeInclusive;

use super::names;
use super::verbs::{Verbs, MAX_LOOP};
use super::Element;
use crate::callflow::value::preview;
use crate::callflow::{FlowError, HttpMethod, HttpUrl, InvalidValue, TwimlAction};

impl Verbs<'_> {
    pub(super) fn attr<'e>(&self, el: &'e Element, name: &str) -> Option<&'e str> {
        el.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn attr_err(&self, el: &Element, name: &str, e: InvalidValue) -> FlowError {
        self.err(el.pos, format!("<{}> attribute {name}: {}", el.name, e.0))
    }

    pub(super) fn text_err(&self, el: &Element, e: InvalidValue) -> FlowError {
        let pos = el.text_pos.unwrap_or(el.pos);
        self.err(pos, format!("<{}>: {}", el.name, e.0))
    }

    /// Every attribute is one pivot reads for this element (see `names`); the first that
    /// is not is named, before anything inside the element is looked at.
    pub(super) fn only_attrs(&self, el: &Element) -> Result<(), FlowError> {
        let reads = names::spec(&el.name).map_or(&[][..], |s| s.reads);
        match el.attrs.iter().find(|(k, _)| !reads.contains(&k.as_str())) {
            Some((key, _)) => Err(self.err(el.pos, names::attribute_error(&el.name, key))),
            None => Ok(()),
        }
    }

    pub(super) fn no_text(&self, el: &Element) -> Result<(), FlowError> {
        match el.text_pos {
            Some(pos) => Err(self.err(pos, format!("<{}> cannot hold text", el.name))),
            None => Ok(()),
        }
    }

    pub(super) fn no_children(&self, el: &Element) -> Result<(), FlowError> {
        match el.children.first() {
            Some(c) => {
                let msg = format!("<{}> is not allowed inside <{}>", c.name, el.name);
                Err(self.err(c.pos, msg))
            }
            None => Ok(()),
        }
    }

    pub(super) fn empty(&self, el: &Element) -> Result<(), FlowError> {
        self.only_attrs(el)?;
        self.no_children(el)?;
        self.no_text(el)
    }

    pub(super) fn opt<T>(
        &self,
        el: &Element,
        name: &str,
        parse: impl Fn(&str) -> Result<T, InvalidValue>,
    ) -> Result<Option<T>, FlowError> {
        self.attr(el, name)
            .map(|v| parse(v).map_err(|e| self.attr_err(el, name, e)))
            .transpose()
    }

    pub(super) fn uint(
        &self,
        el: &Element,
        name: &str,
        range: RangeInclusive<u32>,
    ) -> Result<Option<u32>, FlowError> {
        self.opt(el, name, |v| {
            let n: u32 = v.trim().parse().map_err(|_| {
                InvalidValue(format!("expected a whole number, got {}", preview(v)))
            })?;
            if !range.contains(&n) {
                return Err(InvalidValue(format!(
                    "expected {} to {}, got {n}",
                    range.start(),
                    range.end()
                )));
            }
            Ok(n)
        })
    }

    pub(super) fn bool(&self, el: &Element, name: &str) -> Result<Option<bool>, FlowError> {
        self.opt(el, name, |v| match v.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(InvalidValue(format!(
                "expected true or false, got {}",
                preview(v)
            ))),
        })
    }

    /// `method`: GET or POST (any case); TwiML's default is POST.
    pub(super) fn method(&self, el: &Element) -> Result<HttpMethod, FlowError> {
        Ok(self
            .opt(el, "method", HttpMethod::parse)?
            .unwrap_or(HttpMethod::Post))
    }

    /// `action` resolved against the document's URL; by default the document's URL itself.
    pub(super) fn action(&self, el: &Element) -> Result<TwimlAction, FlowError> {
        let url = match self.url_attr(el, "action")? {
            Some(url) => url,
            None => HttpUrl::from_url(self.base.clone())
                .map_err(|e| self.err(el.pos, format!("the document URL: {}", e.0)))?,
        };
        Ok(TwimlAction {
            url,
            method: self.method(el)?,
        })
    }

    /// A URL attribute; an empty one counts as not given.
    pub(super) fn url_attr(&self, el: &Element, name: &str) -> Result<Option<HttpUrl>, FlowError> {
        match self.attr(el, name) {
            Some(v) if v.trim().is_empty() => Ok(None),
            _ => self.opt(el, name, |v| self.resolve(v)),
        }
    }

    pub(super) fn url_text(&self, el: &Element) -> Result<HttpUrl, FlowError> {
        self.resolve(el.text.trim())
            .map_err(|e| self.text_err(el, e))
    }

    /// RFC 3986 reference resolution against the document's URL; the result must be an
    /// http(s) URL without spaces or control characters.
    pub(super) fn resolve(&self, s: &str) -> Result<HttpUrl, InvalidValue> {
        if s.is_empty() {
            return Err(InvalidValue("a URL is required".into()));
        }
        if s.len() > HttpUrl::MAX_LEN {
            return Err(InvalidValue(format!(
                "URL longer than {} bytes",
                HttpUrl::MAX_LEN
            )));
        }
        if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(InvalidValue(format!(
                "URL must not contain spaces or control characters, got {}",
                preview(s)
            )));
        }
        let url = self
            .base
            .join(s)
            .map_err(|e| InvalidValue(format!("not a valid URL ({e}): {}", preview(s))))?;
        HttpUrl::from_url(url)
    }

    pub(super) fn loops(&self, el: &Element) -> Result<u32, FlowError> {
        let n = self.uint(el, "loop", 0..=MAX_LOOP)?.unwrap_or(1);
        Ok(if n == 0 { MAX_LOOP } else { n })
    }
}
