//! TwiML → flow model. The XML is read with quick-xml's streaming reader into a small
//! element tree with byte positions (frame first), then each verb is checked and turned into
//! model nodes (`verbs`), chained through their `_` children (interpret second). Every error
//! names its line and column (`FlowError::path` is `line L, column C`). Owns the TwiML verb
//! and attribute names; the model's value rules live in `crate::callflow`, nothing here runs.
//!
//! Bounded cost: no DTD (a `<!DOCTYPE>` is refused, so no entity can be declared, and
//! quick-xml never fetches anything), only XML's predefined and numeric character
//! references, at most [`MAX_ELEMENTS`] elements. Elements deeper than [`MAX_NESTING`] are
//! kept as bare names under their ancestor at that depth (their insides skipped), so the
//! verb or attribute a document gets wrong is reported before anything nested in it.

mod attrs;
mod dial;
mod names;
mod verbs;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_twilio;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::callflow::{FlowError, FlowLimits, Node};

/// Elements allowed in one document.
pub const MAX_ELEMENTS: usize = 4096;
/// `<Response>` → verb → noun (`<Gather><Say>`, `<Dial><Number>`): nothing goes deeper.
pub const MAX_NESTING: usize = 3;

/// Reads a TwiML document; `base` is the document's URL, against which relative `action`,
/// `<Play>` and `<Redirect>` URLs are resolved (RFC 3986). The whole document is checked
/// before anything is returned.
pub fn parse_twiml(body: &[u8], base: &url::Url, limits: &FlowLimits) -> Result<Node, FlowError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let text = std::str::from_utf8(body).map_err(|e| {
        let valid = &body[..e.valid_up_to()];
        // The valid prefix is UTF-8 by definition; lossy only to keep this panic-free.
        let prefix = String::from_utf8_lossy(valid);
        at(&prefix, prefix.len(), "the document is not UTF-8 text")
    })?;
    let root = read_tree(text)?;
    verbs::Verbs::new(text, base, limits).document(&root)
}

/// One element as read: name, attributes (values unescaped), text and children, and the byte
/// offsets of its `<` and of its first non-blank text.
#[derive(Debug, Default)]
pub(crate) struct Element {
    pub name: String,
    pub pos: usize,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub text_pos: Option<usize>,
    pub children: Vec<Element>,
}

/// A [`FlowError`] at byte `offset` of `text`: `line L, column C` (both from 1, columns in
/// characters).
pub(crate) fn at(text: &str, offset: usize, message: impl Into<String>) -> FlowError {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    FlowError::new(format!("line {line}, column {column}"), message)
}

/// The element tree of the whole document, its root checked to be `<Response>`.
fn read_tree(text: &str) -> Result<Element, FlowError> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut tree = Tree::default();
    loop {
        let pos = reader.buffer_position() as usize;
        let event = match reader.read_event() {
            Ok(ev) => ev,
            Err(e) => {
                let pos = reader.error_position() as usize;
                return Err(at(text, pos, format!("malformed XML: {e}")));
            }
        };
        match event {
            Event::Start(e) => tree.open(text, element(text, &e, pos)?)?,
            Event::Empty(e) => {
                tree.open(text, element(text, &e, pos)?)?;
                tree.close(text)?;
            }
            Event::End(_) => tree.close(text)?,
            Event::Text(t) => {
                let s = t
                    .unescape()
                    .map_err(|e| at(text, pos, format!("bad character reference: {e}")))?;
                tree.text(text, &s, pos)?;
            }
            Event::CData(c) => {
                let s = String::from_utf8_lossy(&c).into_owned();
                tree.text(text, &s, pos)?;
            }
            Event::Decl(d) => check_encoding(text, &d, pos)?,
            Event::DocType(_) => {
                return Err(at(text, pos, "a DOCTYPE is not allowed in TwiML"));
            }
            Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => return tree.finish(text),
        }
    }
}

fn check_encoding(
    text: &str,
    decl: &quick_xml::events::BytesDecl<'_>,
    pos: usize,
) -> Result<(), FlowError> {
    let Some(enc) = decl.encoding() else {
        return Ok(());
    };
    let enc = enc.map_err(|e| at(text, pos, format!("malformed XML declaration: {e}")))?;
    let enc = String::from_utf8_lossy(&enc).to_ascii_lowercase();
    if matches!(enc.as_str(), "utf-8" | "utf8" | "us-ascii" | "ascii") {
        return Ok(());
    }
    Err(at(
        text,
        pos,
        format!("encoding \"{enc}\" is not supported: send UTF-8"),
    ))
}

/// Builds an element from a start tag: name and unescaped attributes (duplicates refused).
fn element(text: &str, e: &BytesStart<'_>, pos: usize) -> Result<Element, FlowError> {
    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|err| at(text, pos, format!("malformed attribute: {err}")))?;
        let key = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        let value = attr.unescape_value().map_err(|err| {
            at(
                text,
                pos,
                format!("attribute {key}: bad character reference: {err}"),
            )
        })?;
        attrs.push((key, value.into_owned()));
    }
    Ok(Element {
        name,
        pos,
        attrs,
        ..Element::default()
    })
}

/// The open elements and the finished root while reading.
#[derive(Default)]
struct Tree {
    open: Vec<Element>,
    root: Option<Element>,
    count: usize,
    /// How deep the reader is inside an element kept as a bare name (0: not inside one).
    skipped: usize,
}

impl Tree {
    fn open(&mut self, text: &str, el: Element) -> Result<(), FlowError> {
        if self.root.is_some() {
            return Err(at(text, el.pos, "nothing may follow </Response>"));
        }
        self.count += 1;
        if self.count > MAX_ELEMENTS {
            let msg = format!("the document has more than {MAX_ELEMENTS} elements");
            return Err(at(text, el.pos, msg));
        }
        if self.skipped > 0 {
            self.skipped += 1;
            return Ok(());
        }
        let depth = self.open.len();
        match self.open.last_mut() {
            None if el.name != "Response" => {
                let msg = format!("the root element must be <Response>, got <{}>", el.name);
                return Err(at(text, el.pos, msg));
            }
            Some(parent) if depth >= MAX_NESTING => {
                // Kept by name only: whoever reads `parent` refuses it in its turn.
                parent.children.push(Element {
                    attrs: Vec::new(),
                    ..el
                });
                self.skipped = 1;
                return Ok(());
            }
            _ => {}
        }
        self.open.push(el);
        Ok(())
    }

    fn close(&mut self, text: &str) -> Result<(), FlowError> {
        if self.skipped > 0 {
            self.skipped -= 1;
            return Ok(());
        }
        let Some(el) = self.open.pop() else {
            return Err(at(text, text.len(), "an end tag without a start tag"));
        };
        match self.open.last_mut() {
            Some(parent) => parent.children.push(el),
            None => self.root = Some(el),
        }
        Ok(())
    }

    fn text(&mut self, text: &str, s: &str, pos: usize) -> Result<(), FlowError> {
        if self.skipped > 0 {
            return Ok(());
        }
        let blank = s.trim().is_empty();
        match self.open.last_mut() {
            Some(el) => {
                if el.text_pos.is_none() && !blank {
                    let lead = s.len() - s.trim_start().len();
                    el.text_pos = Some(pos + lead);
                }
                el.text.push_str(s);
                Ok(())
            }
            None if blank => Ok(()),
            None => {
                let lead = s.len() - s.trim_start().len();
                let msg = if self.root.is_some() {
                    "nothing may follow </Response>"
                } else {
                    "text outside of <Response>"
                };
                Err(at(text, pos + lead, msg))
            }
        }
    }

    fn finish(self, text: &str) -> Result<Element, FlowError> {
        if let Some(el) = self.open.last() {
            let msg = format!("<{}> is never closed", el.name);
            return Err(at(text, el.pos, msg));
        }
        self.root
            .ok_or_else(|| at(text, text.len(), "no <Response> element: empty document"))
    }
}
