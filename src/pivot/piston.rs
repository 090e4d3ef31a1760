//! Piston JSON → flow model: reads one node (or a `{"flow": node}` wrapper), checks types and
//! values field by field, and names the path of anything wrong. Owns the JSON field names and
//! their defaults; the model's value rules live in `crate::callflow`, and nothing here runs.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

mod data;
mod fields;
mod hint;
#[cfg(test)]
mod tests;

use data::{join, key_segment, shown, Data};
pub use fields::{module_fields, MODULE_FIELDS, PIVOT_FIELDS};
use hint::unknown_module;

use crate::callflow::{
    BodyFormat, CollectDtmf, CustomHeader, DtmfSequence, FlowError, FlowLimits, HangupCause,
    HttpMethod, HttpUrl, InvalidValue, Module, Node, PivotRequest, Play, PlayId, ReasonPhrase,
    RecordCaller, RecordFormat, ReqFormat, Say, SayMethod, SendDtmf, Text, Timing, Token, Tts,
    UploadMethod,
};

/// Reads a web app's answer: one node `{"module", "data", "children"}` or `{"flow": node}`.
/// serde_json's recursion limit (128 levels) keeps hostile nesting off the stack.
pub fn parse_piston(body: &[u8], limits: &FlowLimits) -> Result<Node, FlowError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(FlowError::new("", "empty body"));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| FlowError::new("", format!("malformed JSON: {e}")))?;
    match value.as_object() {
        Some(obj) if !obj.contains_key("module") && obj.contains_key("flow") => {
            node_at(&obj["flow"], limits, "flow")
        }
        _ => node_from_value(&value, limits),
    }
}

/// Builds a flow from one node value; error paths are relative to it (`""` is the node).
pub fn node_from_value(v: &Value, limits: &FlowLimits) -> Result<Node, FlowError> {
    node_at(v, limits, "")
}

/// As [`node_from_value`], with every error path prefixed by `base` (e.g. `flow`).
pub(crate) fn node_at(v: &Value, limits: &FlowLimits, base: &str) -> Result<Node, FlowError> {
    let mut builder = Builder { limits, nodes: 0 };
    builder.node(v, base, 1)
}

struct Builder<'a> {
    limits: &'a FlowLimits,
    nodes: usize,
}

impl Builder<'_> {
    fn node(&mut self, v: &Value, path: &str, depth: usize) -> Result<Node, FlowError> {
        if depth > self.limits.max_depth {
            let msg = format!("flow nested deeper than {} nodes", self.limits.max_depth);
            return Err(FlowError::new(path, msg));
        }
        self.nodes += 1;
        if self.nodes > self.limits.max_nodes {
            let msg = format!("flow has more than {} nodes", self.limits.max_nodes);
            return Err(FlowError::new(path, msg));
        }
        let obj = v.as_object().ok_or_else(|| {
            let msg = format!(
                "expected a node object {{\"module\": ...}}, got {}",
                shown(v)
            );
            FlowError::new(path, msg)
        })?;
        let module = module(obj, path)?;
        if let (Module::Play(p), Some(roots)) = (&module, &self.limits.media_roots) {
            let at = join(&join(path, "data"), "id");
            roots.check(&p.id).map_err(|e| FlowError::new(at, e.0))?;
        }
        let children = self.children(obj.get("children"), path, depth)?;
        Ok(Node { module, children })
    }

    fn children(
        &mut self,
        v: Option<&Value>,
        path: &str,
        depth: usize,
    ) -> Result<BTreeMap<String, Node>, FlowError> {
        let mut out = BTreeMap::new();
        let here = join(path, "children");
        let map = match v {
            None | Some(Value::Null) => return Ok(out),
            Some(Value::Object(map)) => map,
            Some(other) => {
                let msg = format!("expected an object of child nodes, got {}", shown(other));
                return Err(FlowError::new(here, msg));
            }
        };
        for (key, child) in map {
            let child_path = join(&here, &key_segment(key));
            if key.is_empty() || key.len() > 64 || key.chars().any(char::is_control) {
                let msg = "a child key is 1 to 64 characters without control characters";
                return Err(FlowError::new(child_path, msg));
            }
            // Kazoo treats an empty child as no child at all.
            if child.is_null() || child.as_object().is_some_and(Map::is_empty) {
                continue;
            }
            let node = self.node(child, &child_path, depth + 1)?;
            out.insert(key.clone(), node);
        }
        Ok(out)
    }
}

fn module(obj: &Map<String, Value>, path: &str) -> Result<Module, FlowError> {
    let name = match obj.get("module") {
        Some(Value::String(s)) => s.as_str(),
        None | Some(Value::Null) => return Err(FlowError::new(join(path, "module"), "required")),
        Some(other) => {
            let msg = format!("expected a module name, got {}", shown(other));
            return Err(FlowError::new(join(path, "module"), msg));
        }
    };
    let data_path = join(path, "data");
    let empty = Map::new();
    let map = match obj.get("data") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(map)) => map,
        Some(other) => {
            let msg = format!("expected an object, got {}", shown(other));
            return Err(FlowError::new(data_path, msg));
        }
    };
    let d = Data {
        map,
        path: &data_path,
        fields: module_fields(name),
    };
    match name {
        "say" => say(&d),
        "tts" => tts(&d),
        "play" => play(&d),
        "record_caller" => record_caller(&d),
        "collect_dtmf" => collect_dtmf(&d),
        "pivot" => pivot(&d),
        "hangup" => Ok(Module::Hangup {
            cause: d.opt("cause", HangupCause::new)?,
        }),
        "answer" => Ok(Module::Answer),
        "sleep" => sleep(&d),
        "response" => response(&d),
        "send_dtmf" => send_dtmf(&d),
        other => Err(FlowError::new(join(path, "module"), unknown_module(other))),
    }
}

fn say(d: &Data) -> Result<Module, FlowError> {
    let text = d.req("text", Text::new)?;
    let say_type = d.opt("type", Token::new)?;
    let method = d.opt("method", SayMethod::parse)?.unwrap_or_default();
    let language = d.opt("language", Token::new)?;
    let language = language.unwrap_or_else(Say::default_language);
    let gender = d.opt("gender", Token::new)?;
    let say = Say::new(text, say_type, method, language, gender).map_err(|e| d.err("text", e))?;
    Ok(Module::Say(say))
}

fn tts(d: &Data) -> Result<Module, FlowError> {
    Ok(Module::Tts(Tts {
        text: d.req("text", Text::new)?,
        voice: d.opt("voice", Token::new)?,
        language: d.opt("language", Token::new)?,
        engine: d.opt("engine", Token::new)?,
        loops: 1,
    }))
}

fn play(d: &Data) -> Result<Module, FlowError> {
    let mut play = Play::new(d.req("id", PlayId::parse)?);
    play.answer = d.bool("answer")?.unwrap_or(play.answer);
    play.terminators = d.keys("terminators")?;
    if let Some(n) = d.whole("loop_count", "a number of times")? {
        d.at_least("loop_count", n, 1)?;
        play.loop_count = clamp_u32(n, Play::MAX_LOOP_COUNT);
    }
    play.endless = d.bool("endless_playback")?.unwrap_or(false);
    Ok(Module::Play(play))
}

fn record_caller(d: &Data) -> Result<Module, FlowError> {
    let mut rec = RecordCaller::new(d.req("url", HttpUrl::new)?);
    rec.format = d
        .opt("format", |s| match s.to_ascii_lowercase().as_str() {
            "mp3" => Ok(RecordFormat::Mp3),
            "wav" => Ok(RecordFormat::Wav),
            _ => Err(InvalidValue(format!(
                "expected \"mp3\" or \"wav\", got {s:?}"
            ))),
        })?
        .unwrap_or_default();
    if let Some(n) = d.whole("time_limit", "a number of seconds")? {
        d.at_least("time_limit", n, 1)?;
        rec.time_limit = clamp_u32(n, RecordCaller::MAX_TIME_LIMIT);
    }
    rec.method = d
        .opt("method", |s| match s.to_ascii_lowercase().as_str() {
            "put" => Ok(UploadMethod::Put),
            "post" => Ok(UploadMethod::Post),
            _ => Err(InvalidValue(format!(
                "expected \"put\" or \"post\", got {s:?}"
            ))),
        })?
        .unwrap_or_default();
    rec.beep = d.bool("beep")?.unwrap_or(true);
    Ok(Module::RecordCaller(rec))
}

fn collect_dtmf(d: &Data) -> Result<Module, FlowError> {
    let mut c = CollectDtmf::default();
    if let Some(n) = d.whole("max_digits", "a number of digits")? {
        d.at_least("max_digits", n, 1)?;
        c.max_digits = clamp_u32(n, CollectDtmf::MAX_DIGITS);
    }
    let ms = |key| -> Result<Option<Duration>, FlowError> {
        let n = d.whole(key, "a number of milliseconds")?;
        Ok(n.map(|n| Duration::from_millis(n).min(CollectDtmf::MAX_TIMEOUT)))
    };
    c.timeout = ms("timeout")?.unwrap_or(c.timeout);
    c.interdigit_timeout = ms("interdigit_timeout")?.unwrap_or(c.interdigit_timeout);
    c.terminators = d.keys("terminators")?.unwrap_or(c.terminators);
    c.collection_name = d
        .opt("collection_name", Token::new)?
        .unwrap_or(c.collection_name);
    Ok(Module::CollectDtmf(c))
}

fn pivot(d: &Data) -> Result<Module, FlowError> {
    let mut req = PivotRequest::new(d.req("voice_url", HttpUrl::new)?);
    req.req_format = d.opt("req_format", ReqFormat::parse)?.unwrap_or_default();
    req.method = d.opt("method", HttpMethod::parse)?.unwrap_or_default();
    req.body_format = d
        .opt("req_body_format", BodyFormat::parse)?
        .unwrap_or_default();
    let secs = d.number("req_timeout", "a number of seconds")?;
    let ms = d.number("req_timeout_ms", "a number of milliseconds")?;
    let timeout = match (ms, secs) {
        (Some(ms), _) => Some(("req_timeout_ms", ms / 1000.0)),
        (None, Some(secs)) => Some(("req_timeout", secs)),
        (None, None) => None,
    };
    if let Some((key, secs)) = timeout {
        req.timeout = request_timeout(secs).map_err(|e| d.err(key, e))?;
    }
    req.connect_timeout = timeout_ms(d, "connect_timeout_ms")?;
    req.read_timeout = timeout_ms(d, "read_timeout_ms")?;
    if let Some(n) = d.whole("retries", "a number of retries")? {
        req.retries = Some(clamp_u32(n, Timing::MAX_RETRIES));
    }
    req.fallback_url = d.opt("fallback_url", HttpUrl::new)?;
    req.debug = d.bool("debug")?.unwrap_or(false);
    req.cdr_url = d.opt("cdr_url", HttpUrl::new)?;
    req.custom_headers = custom_headers(d)?;
    Ok(Module::Pivot(Box::new(req)))
}

/// A timeout in milliseconds, bounded like `req_timeout`.
fn timeout_ms(d: &Data, key: &str) -> Result<Option<Duration>, FlowError> {
    match d.number(key, "a number of milliseconds")? {
        Some(ms) => request_timeout(ms / 1000.0)
            .map(Some)
            .map_err(|e| d.err(key, e)),
        None => Ok(None),
    }
}

/// Seconds (fractions allowed) → a request timeout: more than 0, clamped to the maximum.
pub(crate) fn request_timeout(secs: f64) -> Result<Duration, InvalidValue> {
    if secs <= 0.0 {
        return Err(InvalidValue("a timeout must be more than 0".into()));
    }
    let max = PivotRequest::MAX_TIMEOUT;
    let t = Duration::try_from_secs_f64(secs).unwrap_or(max).min(max);
    Ok(t.max(PivotRequest::MIN_TIMEOUT))
}

fn custom_headers(d: &Data) -> Result<Vec<CustomHeader>, FlowError> {
    let key = "custom_request_headers";
    let map = match d.get(key) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(map)) => map,
        Some(other) => {
            let msg = format!(
                "expected an object of header names to values, got {}",
                shown(other)
            );
            return Err(d.err(key, msg));
        }
    };
    if map.len() > PivotRequest::MAX_CUSTOM_HEADERS {
        let msg = format!("more than {} headers", PivotRequest::MAX_CUSTOM_HEADERS);
        return Err(d.err(key, msg));
    }
    let path = join(d.path, key);
    let mut out = Vec::with_capacity(map.len());
    for (name, value) in map {
        let here = join(&path, &key_segment(name));
        let value = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => {
                let msg = format!("expected a string, got {}", shown(other));
                return Err(FlowError::new(here, msg));
            }
        };
        let header = CustomHeader::new(name, &value).map_err(|e| FlowError::new(here, e.0))?;
        out.push(header);
    }
    Ok(out)
}

fn sleep(d: &Data) -> Result<Module, FlowError> {
    let n = d.whole("duration", "a number")?.unwrap_or(0);
    let unit_ms: u64 = match d.opt("unit", |s| Ok(s.to_ascii_lowercase()))?.as_deref() {
        None | Some("ms") => 1,
        Some("s") => 1000,
        Some("m") => 60_000,
        Some("h") => 3_600_000,
        Some(other) => {
            let msg = format!("expected \"ms\", \"s\", \"m\" or \"h\", got {other:?}");
            return Err(d.err("unit", msg));
        }
    };
    let duration = Duration::from_millis(n.saturating_mul(unit_ms)).min(Module::MAX_SLEEP);
    Ok(Module::Sleep { duration })
}

fn response(d: &Data) -> Result<Module, FlowError> {
    let code = d.whole("code", "a SIP status code")?;
    let code = code.unwrap_or(u64::from(Module::DEFAULT_RESPONSE_CODE));
    let code = u16::try_from(code)
        .ok()
        .filter(|c| Module::RESPONSE_CODES.contains(c))
        .ok_or_else(|| {
            d.err(
                "code",
                format!("expected a SIP status code 100 to 699, got {code}"),
            )
        })?;
    let message = d.opt("message", ReasonPhrase::new)?.unwrap_or_default();
    Ok(Module::Response { code, message })
}

/// Kazoo's `send_dtmf`: `digits`, each tone `duration_ms` long (Kazoo's default 2000).
fn send_dtmf(d: &Data) -> Result<Module, FlowError> {
    let digits = d.req("digits", DtmfSequence::new)?;
    let mut tone = SendDtmf::DEFAULT_TONE;
    if let Some(ms) = d.whole("duration_ms", "a number of milliseconds")? {
        let min = SendDtmf::MIN_TONE.as_millis() as u64;
        d.at_least("duration_ms", ms, min)?;
        tone = Duration::from_millis(ms).min(SendDtmf::MAX_TONE);
    }
    Ok(Module::SendDtmf(SendDtmf::new(digits, tone)))
}

fn clamp_u32(n: u64, max: u32) -> u32 {
    u32::try_from(n).unwrap_or(max).min(max)
}
