//! `pivot check`: validates a Piston JSON document offline with the validator the server
//! uses (`crate::pivot::piston::parse_piston`), and adds what that validator leaves out on
//! purpose: keys it ignores (as Kazoo does) are reported as warnings, with a hint for
//! near-miss names (`"modul"` → `module`). Owns the list of known keys per module and the
//! report; does not run anything. TwiML documents go through the server's TwiML parser.

use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;

use serde_json::{Map, Value};

use crate::callflow::{FlowLimits, UrlOverrides};
use crate::pivot::{detect_format, piston, Format};

/// Largest document read.
pub const MAX_DOCUMENT: u64 = 16 * 1024 * 1024;

/// Keys of a node.
const NODE_KEYS: &[&str] = &["module", "data", "children"];
/// Keys of a `{"flow": node}` wrapper (a callflow document has the others).
const WRAPPER_KEYS: &[&str] = &["flow", "name", "account_id", "numbers", "patterns"];
/// Why a document could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is larger than {MAX_DOCUMENT} bytes")]
    TooLarge { path: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    /// Something pivot ignores: the document runs, maybe not as meant.
    Warning,
}

/// One problem and where it is: a JSON path (`children._.data.time_limit`), `line:column`
/// for a syntax error, or `(document)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub severity: Severity,
    pub location: String,
    pub message: String,
    /// `did you mean "module"?`
    pub hint: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    PistonJson,
    Twiml,
    Unknown,
}

#[derive(Debug, Clone)]
pub struct CheckReport {
    /// The name the report prints (the path, or `<stdin>`).
    pub name: String,
    pub kind: DocKind,
    pub problems: Vec<Problem>,
    /// Nodes in the flow.
    pub nodes: usize,
}

/// Reads `path` (`-` is standard input) and checks it.
pub fn check_path(path: &str) -> Result<CheckReport, CheckError> {
    let read_err = |source| CheckError::Read {
        path: path.to_string(),
        source,
    };
    let mut bytes = Vec::new();
    let (name, reader): (String, Box<dyn Read>) = if path == "-" {
        ("<stdin>".into(), Box::new(std::io::stdin()))
    } else {
        let file = std::fs::File::open(path).map_err(read_err)?;
        (path.to_string(), Box::new(file))
    };
    reader
        .take(MAX_DOCUMENT + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_DOCUMENT {
        return Err(CheckError::TooLarge { path: name });
    }
    Ok(check_bytes(&name, &bytes))
}

/// Checks a document; `name`'s extension (`.json`, `.xml`) picks the format, else the
/// first non-blank byte does.
pub fn check_bytes(name: &str, bytes: &[u8]) -> CheckReport {
    let ext = Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let format = match ext.as_deref() {
        Some("json") => Some(Format::Json),
        Some("xml") => Some(Format::Xml),
        _ => detect_format(None, bytes),
    };
    let mut report = CheckReport {
        name: name.to_string(),
        kind: DocKind::Unknown,
        problems: Vec::new(),
        nodes: 0,
    };
    match format {
        Some(Format::Json) => {
            report.kind = DocKind::PistonJson;
            check_json(bytes, &mut report);
        }
        Some(Format::Xml) => {
            report.kind = DocKind::Twiml;
            check_twiml(bytes, &mut report);
        }
        None => report.problems.push(error(
            "(document)",
            "cannot tell the format: expected Piston JSON (`{`) or TwiML (`<Response>`)",
        )),
    }
    report
}

fn error(location: &str, message: &str) -> Problem {
    Problem {
        severity: Severity::Error,
        location: location.to_string(),
        message: message.to_string(),
        hint: None,
    }
}

/// The server's TwiML validator. Relative `action`/`Redirect` URLs resolve against a
/// placeholder document URL, as they would against the real one.
fn check_twiml(bytes: &[u8], report: &mut CheckReport) {
    let base = url::Url::parse("http://document.invalid/voice").expect("a constant URL parses");
    match crate::pivot::twiml::parse_twiml(bytes, &base, &FlowLimits::default()) {
        Ok(node) => report.nodes = node.count(),
        Err(e) => {
            let location = e
                .path
                .strip_prefix("line ")
                .map_or(e.path.clone(), |rest| rest.replace(", column ", ":"));
            report.problems.push(error(&location, &e.message));
        }
    }
}

fn check_json(bytes: &[u8], report: &mut CheckReport) {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) if e.is_eof() && body.iter().all(u8::is_ascii_whitespace) => {
            report.problems.push(error("(document)", "empty document"));
            return;
        }
        Err(e) => {
            // serde_json says "... at line L column C"; the location carries that.
            let text = e.to_string();
            let message = text.rsplit_once(" at line ").map_or(&*text, |(m, _)| m);
            let location = format!("{}:{}", e.line(), e.column());
            report.problems.push(error(&location, message));
            return;
        }
    };
    if let Err(e) = piston::parse_piston(body, &FlowLimits::default()) {
        let location = if e.path.is_empty() {
            "(document)"
        } else {
            &e.path
        };
        report.problems.push(error(location, &e.message));
    }
    let mut walk = Walk::default();
    match value.as_object() {
        Some(obj) if !obj.contains_key("module") && obj.contains_key("flow") => {
            walk.unknown_keys(obj, "", WRAPPER_KEYS, "key");
            walk.node(&obj["flow"], "flow", 1);
        }
        _ => walk.node(&value, "", 1),
    }
    report.nodes = walk.nodes;
    report.problems.extend(walk.warnings);
}

#[derive(Default)]
struct Walk {
    nodes: usize,
    warnings: Vec<Problem>,
}

/// Deeper than the server accepts is already an error; the walk stops there too.
const MAX_WALK_DEPTH: usize = 128;

impl Walk {
    fn node(&mut self, v: &Value, path: &str, depth: usize) {
        let Some(obj) = v.as_object() else {
            return;
        };
        if depth > MAX_WALK_DEPTH || obj.is_empty() {
            return;
        }
        self.nodes += 1;
        self.unknown_keys(obj, path, NODE_KEYS, "key");
        let module = obj.get("module").and_then(Value::as_str);
        let fields = piston::MODULE_FIELDS
            .iter()
            .find(|(m, _)| Some(*m) == module);
        if let (Some((module, fields)), Some(Value::Object(data))) = (fields, obj.get("data")) {
            let what = format!("{module} field");
            self.unknown_keys(data, &join(path, "data"), fields, &what);
            if *module == "pivot" {
                self.pivot_urls(data, &join(path, "data"));
            }
        }
        if let Some(Value::Object(children)) = obj.get("children") {
            let here = join(path, "children");
            for (key, child) in children {
                self.node(child, &join(&here, &key_segment(key)), depth + 1);
            }
        }
    }

    /// What the server accepts but probably does not mean: a fallback that is the primary
    /// itself, and fragment keys pivot does not read (`#cc=` for `#ct=`).
    fn pivot_urls(&mut self, data: &Map<String, Value>, path: &str) {
        let url = |key| {
            data.get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        if let (Some(primary), Some(fallback)) = (url("voice_url"), url("fallback_url")) {
            if primary == fallback {
                self.warnings.push(Problem {
                    severity: Severity::Warning,
                    location: join(path, "fallback_url"),
                    message: "fallback_url is voice_url: a failed request is only asked again"
                        .into(),
                    hint: None,
                });
            }
        }
        for key in ["voice_url", "fallback_url"] {
            let Some((_, fragment)) = url(key).and_then(|u| u.split_once('#')) else {
                continue;
            };
            let keys = fragment
                .split('&')
                .filter_map(|p| p.split_once('='))
                .map(|(k, _)| k);
            for k in keys.filter(|k| !UrlOverrides::KEYS.contains(k)) {
                self.warnings.push(Problem {
                    severity: Severity::Warning,
                    location: join(path, key),
                    message: format!("unknown fragment override {}, ignored", quoted(k)),
                    hint: crate::hint::did_you_mean(k, &UrlOverrides::KEYS, 1)
                        .map(|k| format!("did you mean \"#{k}=\"?")),
                });
            }
        }
    }

    fn unknown_keys(&mut self, obj: &Map<String, Value>, path: &str, known: &[&str], what: &str) {
        for key in obj.keys().filter(|k| !known.contains(&k.as_str())) {
            self.warnings.push(Problem {
                severity: Severity::Warning,
                location: join(path, &key_segment(key)),
                message: format!("unknown {what} {}, ignored", quoted(key)),
                hint: did_you_mean(key, known).map(|k| format!("did you mean \"{k}\"?")),
            });
        }
    }
}

fn quoted(key: &str) -> String {
    format!("{:?}", key.chars().take(64).collect::<String>())
}

/// Paths as the server's validator writes them.
fn join(path: &str, seg: &str) -> String {
    if path.is_empty() {
        seg.to_owned()
    } else {
        format!("{path}.{seg}")
    }
}

fn key_segment(key: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '*' | '#');
    if !key.is_empty() && key.chars().all(plain) {
        key.to_owned()
    } else {
        quoted(key)
    }
}

/// The known name closest to `key`: the same ignoring case, `-` and `_`, or one edit away
/// (two for names longer than four letters).
fn did_you_mean<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let limit = if key.len() > 4 { 2 } else { 1 };
    crate::hint::did_you_mean(key, known, limit)
}

impl CheckReport {
    pub fn errors(&self) -> usize {
        self.count(Severity::Error)
    }

    pub fn warnings(&self) -> usize {
        self.count(Severity::Warning)
    }

    fn count(&self, s: Severity) -> usize {
        self.problems.iter().filter(|p| p.severity == s).count()
    }

    /// No error, and with `strict` no warning either.
    pub fn passes(&self, strict: bool) -> bool {
        self.errors() == 0 && (!strict || self.warnings() == 0)
    }

    /// `NAME: <location>: <severity>: <message>` per problem, a `hint:` line under it when
    /// there is one, and a summary line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for p in &self.problems {
            let severity = match p.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            let _ = writeln!(
                out,
                "{}: {}: {severity}: {}",
                self.name, p.location, p.message
            );
            if let Some(hint) = &p.hint {
                let _ = writeln!(out, "  hint: {hint}");
            }
        }
        let (e, w) = (self.errors(), self.warnings());
        let _ = match (e, w) {
            (0, 0) => {
                let kind = match self.kind {
                    DocKind::Twiml => "TwiML",
                    _ => "Piston JSON",
                };
                writeln!(out, "{}: OK ({kind}, {} nodes)", self.name, self.nodes)
            }
            (0, w) => writeln!(out, "{}: valid, with {w} warning(s)", self.name),
            (e, w) => writeln!(out, "{}: {e} error(s), {w} warning(s)", self.name),
        };
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
