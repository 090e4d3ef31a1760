//! Which flow and account a call gets: channel variables first, then callflow documents (a
//! directory of JSON files) by exact number, then by pattern. Owns the documents' shape and
//! the account id type; flows are read by `crate::pivot::piston`, and nothing here runs them.
//! Both sources are the operator's, so every URL of a routed flow is marked trusted
//! ([`crate::callflow::Trust::Operator`]).

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde_json::{Map, Value};

use crate::callflow::{FlowLimits, Node};
use crate::pivot::piston;

#[cfg(test)]
mod tests;

/// A Piston account id: exactly 32 hex digits, kept in lower case.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct AccountId(String);

impl AccountId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a text is not an account id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an account id is 32 hex digits, got {0:?}")]
pub struct BadAccountId(String);

impl FromStr for AccountId {
    type Err = BadAccountId;
    fn from_str(s: &str) -> Result<AccountId, BadAccountId> {
        if s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(AccountId(s.to_ascii_lowercase()))
        } else {
            Err(BadAccountId(s.chars().take(40).collect()))
        }
    }
}

impl TryFrom<String> for AccountId {
    type Error = BadAccountId;
    fn try_from(s: String) -> Result<AccountId, BadAccountId> {
        s.parse()
    }
}

impl From<AccountId> for String {
    fn from(id: AccountId) -> String {
        id.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("cannot read the callflow directory {}: {source}", dir.display())]
    Dir {
        dir: PathBuf,
        source: std::io::Error,
    },
    /// A callflow document that cannot be used; the message names what is wrong.
    #[error("callflow document {}: {message}", file.display())]
    Document { file: PathBuf, message: String },
    #[error("no callflow for destination {0:?}")]
    NoRoute(String),
    /// A channel variable that cannot be used (a bad `pivot_*` value or account id).
    #[error("channel variable {name}: {message}")]
    ChannelVar { name: String, message: String },
}

/// One callflow document, as loaded.
#[derive(Debug, Clone)]
pub struct CallflowDoc {
    pub name: String,
    pub account_id: Option<AccountId>,
    pub numbers: Vec<String>,
    pub patterns: Vec<regex::Regex>,
    pub flow: Node,
    pub source: PathBuf,
}

/// Where a call's flow came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteSource {
    ChannelVars,
    /// The document's `name`.
    Document(String),
}

/// A call's flow and account.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub account_id: AccountId,
    pub flow: Node,
    pub source: RouteSource,
}

/// The loaded callflow documents, in file-name order, with an index of their numbers.
#[derive(Debug, Clone, Default)]
pub struct Router {
    docs: Vec<CallflowDoc>,
    numbers: HashMap<String, usize>,
}

/// Largest callflow document file read.
const MAX_DOC_BYTES: u64 = 1024 * 1024;
/// Compiled size limit for each document regex.
const REGEX_SIZE_LIMIT: usize = 1024 * 1024;
const MAX_PATTERN_LEN: usize = 1024;

/// The channel variables a dialplan-only flow is built from, and the `pivot` data field each
/// one stands for.
const PIVOT_VARS: [(&str, &str); 11] = [
    ("pivot_voice_url", "voice_url"),
    ("pivot_req_format", "req_format"),
    ("pivot_method", "method"),
    ("pivot_req_body_format", "req_body_format"),
    ("pivot_req_timeout", "req_timeout"),
    ("pivot_req_timeout_ms", "req_timeout_ms"),
    ("pivot_connect_timeout_ms", "connect_timeout_ms"),
    ("pivot_read_timeout_ms", "read_timeout_ms"),
    ("pivot_retries", "retries"),
    ("pivot_fallback_url", "fallback_url"),
    ("pivot_debug", "debug"),
];

impl Router {
    /// A router without documents: only channel variables can route.
    pub fn empty() -> Router {
        Router::default()
    }

    /// Loads every `*.json` file of `dir` (not recursively), sorted by file name. Any bad
    /// document fails the whole load, naming the file and what is wrong.
    pub fn load_dir(dir: &Path, limits: &FlowLimits) -> Result<Router, RouteError> {
        let dir_err = |source| RouteError::Dir {
            dir: dir.to_owned(),
            source,
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(dir_err)? {
            let path = entry.map_err(dir_err)?.path();
            if path.extension().is_some_and(|e| e == "json") && path.is_file() {
                files.push(path);
            }
        }
        files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
        let mut router = Router::empty();
        for file in files {
            let doc = load_doc(&file, limits)?;
            router.add(doc)?;
        }
        Ok(router)
    }

    fn add(&mut self, doc: CallflowDoc) -> Result<(), RouteError> {
        let index = self.docs.len();
        for number in &doc.numbers {
            if let Some(&other) = self.numbers.get(number) {
                if other != index {
                    let first = self.docs[other].source.display();
                    let message = format!("number {number:?} is already routed by {first}");
                    return Err(doc_error(&doc.source, message));
                }
            }
            self.numbers.insert(number.clone(), index);
        }
        self.docs.push(doc);
        Ok(())
    }

    /// The loaded documents, in matching order.
    pub fn docs(&self) -> &[CallflowDoc] {
        &self.docs
    }

    /// Finds the call's flow. `vars` looks up a channel variable by name (without the
    /// `variable_` prefix).
    pub fn route(
        &self,
        destination: &str,
        vars: &dyn Fn(&str) -> Option<String>,
        default_account: &AccountId,
    ) -> Result<Route, RouteError> {
        let var = |name: &str| vars(name).filter(|v| !v.is_empty());
        let var_account = match var("piston_account_id") {
            Some(v) => Some(v.parse::<AccountId>().map_err(|e| RouteError::ChannelVar {
                name: "piston_account_id".into(),
                message: e.to_string(),
            })?),
            None => None,
        };
        let (flow, doc_account, source) = if var("pivot_voice_url").is_some() {
            (flow_from_vars(&var)?, None, RouteSource::ChannelVars)
        } else {
            let doc = self
                .find(destination)
                .ok_or_else(|| RouteError::NoRoute(destination.to_owned()))?;
            let source = RouteSource::Document(doc.name.clone());
            (doc.flow.clone(), doc.account_id.clone(), source)
        };
        let account_id = var_account
            .or(doc_account)
            .unwrap_or_else(|| default_account.clone());
        Ok(Route {
            account_id,
            flow,
            source,
        })
    }

    /// Exact numbers of any document first, then patterns in document and pattern order.
    fn find(&self, destination: &str) -> Option<&CallflowDoc> {
        if let Some(&i) = self.numbers.get(destination) {
            return self.docs.get(i);
        }
        self.docs
            .iter()
            .find(|doc| doc.patterns.iter().any(|re| re.is_match(destination)))
    }
}

/// One `pivot` node from the `pivot_*` channel variables, validated like Piston JSON.
fn flow_from_vars(var: &dyn Fn(&str) -> Option<String>) -> Result<Node, RouteError> {
    let mut data = Map::new();
    for (name, field) in PIVOT_VARS {
        if let Some(value) = var(name) {
            data.insert(field.to_owned(), Value::String(value));
        }
    }
    let node = serde_json::json!({"module": "pivot", "data": data});
    let mut flow = piston::node_from_value(&node, &FlowLimits::default()).map_err(|e| {
        let field = e.path.strip_prefix("data.").unwrap_or(&e.path);
        let name = PIVOT_VARS
            .iter()
            .find(|(_, f)| *f == field)
            .map_or("pivot_voice_url", |(n, _)| n);
        RouteError::ChannelVar {
            name: name.to_owned(),
            message: e.message,
        }
    })?;
    // The dialplan is the operator's: its URLs are not checked by the outbound URL policy.
    flow.trust_all();
    Ok(flow)
}

fn doc_error(file: &Path, message: impl Into<String>) -> RouteError {
    RouteError::Document {
        file: file.to_owned(),
        message: message.into(),
    }
}

fn load_doc(file: &Path, limits: &FlowLimits) -> Result<CallflowDoc, RouteError> {
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(MAX_DOC_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| doc_error(file, format!("cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_DOC_BYTES {
        return Err(doc_error(
            file,
            format!("larger than {MAX_DOC_BYTES} bytes"),
        ));
    }
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| doc_error(file, format!("malformed JSON: {e}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| doc_error(file, "expected a JSON object"))?;
    let flow = match obj.get("flow") {
        Some(v) if !v.is_null() => piston::node_at(v, limits, "flow"),
        _ => return Err(doc_error(file, "flow: required")),
    };
    let mut flow = flow.map_err(|e| doc_error(file, e.to_string()))?;
    // The operator wrote the document: its URLs are not checked by the outbound URL policy.
    flow.trust_all();
    Ok(CallflowDoc {
        name: doc_name(obj, file)?,
        account_id: doc_account(obj, file)?,
        numbers: strings(obj, "numbers", file)?,
        patterns: patterns(obj, file)?,
        flow,
        source: file.to_owned(),
    })
}

/// `name`, or the file name without `.json` when absent.
fn doc_name(obj: &Map<String, Value>, file: &Path) -> Result<String, RouteError> {
    match obj.get("name") {
        None | Some(Value::Null) => {
            let stem = file.file_stem().unwrap_or_default();
            Ok(stem.to_string_lossy().into_owned())
        }
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(doc_error(
            file,
            format!("name: expected a string, got {other}"),
        )),
    }
}

fn doc_account(obj: &Map<String, Value>, file: &Path) -> Result<Option<AccountId>, RouteError> {
    match obj.get("account_id") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|e| doc_error(file, format!("account_id: {e}"))),
        Some(other) => Err(doc_error(
            file,
            format!("account_id: expected a string, got {other}"),
        )),
    }
}

/// An optional array of non-empty strings.
fn strings(obj: &Map<String, Value>, key: &str, file: &Path) -> Result<Vec<String>, RouteError> {
    let items = match obj.get(key) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(doc_error(
                file,
                format!("{key}: expected a list of strings"),
            ))
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item.as_str() {
            Some(s) if !s.is_empty() => Ok(s.to_owned()),
            _ => Err(doc_error(
                file,
                format!("{key}[{i}]: expected a non-empty string"),
            )),
        })
        .collect()
}

fn patterns(obj: &Map<String, Value>, file: &Path) -> Result<Vec<regex::Regex>, RouteError> {
    let texts = strings(obj, "patterns", file)?;
    let mut out = Vec::with_capacity(texts.len());
    for (i, text) in texts.iter().enumerate() {
        if text.len() > MAX_PATTERN_LEN {
            let msg = format!("patterns[{i}]: longer than {MAX_PATTERN_LEN} bytes");
            return Err(doc_error(file, msg));
        }
        let re = regex::RegexBuilder::new(text)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| doc_error(file, format!("patterns[{i}]: bad regex: {e}")))?;
        out.push(re);
    }
    Ok(out)
}
