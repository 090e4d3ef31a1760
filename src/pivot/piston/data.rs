//! Typed reads of one node's `data` object, and the path and value formatting used in
//! error messages. Knows JSON types, not modules.

use serde_json::{Map, Value};

use crate::callflow::{DtmfKeys, FlowError, InvalidValue};

/// The `data` object of one node, its path for errors, and the fields its module reads
/// (`super::MODULE_FIELDS`): reading any other is a bug that debug builds catch, so the
/// table `pivot check` warns from cannot fall behind the reader.
pub(super) struct Data<'a> {
    pub(super) map: &'a Map<String, Value>,
    pub(super) path: &'a str,
    pub(super) fields: &'static [&'static str],
}

impl Data<'_> {
    /// The raw value of a field the module reads.
    pub(super) fn get(&self, key: &str) -> Option<&Value> {
        debug_assert!(
            self.fields.contains(&key),
            "field {key} is read but missing from MODULE_FIELDS"
        );
        self.map.get(key)
    }

    pub(super) fn err(&self, key: &str, e: impl Into<ErrText>) -> FlowError {
        FlowError::new(join(self.path, key), e.into().0)
    }

    /// A string field; absent, `null` and `""` are all "not given".
    pub(super) fn string(&self, key: &str) -> Result<Option<&str>, FlowError> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.err(key, format!("expected a string, got {}", shown(other)))),
        }
    }

    pub(super) fn opt<T>(
        &self,
        key: &str,
        f: impl FnOnce(&str) -> Result<T, InvalidValue>,
    ) -> Result<Option<T>, FlowError> {
        match self.string(key)? {
            None => Ok(None),
            Some(s) => f(s).map(Some).map_err(|e| self.err(key, e)),
        }
    }

    pub(super) fn req<T>(
        &self,
        key: &str,
        f: impl FnOnce(&str) -> Result<T, InvalidValue>,
    ) -> Result<T, FlowError> {
        self.opt(key, f)?.ok_or_else(|| self.err(key, "required"))
    }

    /// `true`/`false`, or the strings `"true"`/`"false"` in any case.
    pub(super) fn bool(&self, key: &str) -> Result<Option<bool>, FlowError> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(other) => {
                Err(self.err(key, format!("expected true or false, got {}", shown(other))))
            }
        }
    }

    /// A non-negative number, or a string holding one (`"5"`, `"2.5"`).
    pub(super) fn number(&self, key: &str, what: &str) -> Result<Option<f64>, FlowError> {
        let v = match self.get(key) {
            None | Some(Value::Null) => return Ok(None),
            Some(v) => v,
        };
        let n = match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        match n {
            Some(n) if n.is_finite() && n >= 0.0 => Ok(Some(n)),
            _ => Err(self.err(key, format!("expected {what}, got {}", shown(v)))),
        }
    }

    /// A non-negative whole number (numeric strings accepted); huge values saturate.
    pub(super) fn whole(&self, key: &str, what: &str) -> Result<Option<u64>, FlowError> {
        let Some(n) = self.number(key, what)? else {
            return Ok(None);
        };
        if n.fract() != 0.0 {
            return Err(self.err(key, format!("expected {what} (a whole number), got {n}")));
        }
        // `as` saturates for floats: 1e30 becomes u64::MAX, which callers clamp.
        Ok(Some(n as u64))
    }

    pub(super) fn at_least(&self, key: &str, n: u64, min: u64) -> Result<(), FlowError> {
        if n < min {
            return Err(self.err(key, format!("must be at least {min}, got {n}")));
        }
        Ok(())
    }

    /// DTMF keys as an array of strings (`["1", "#"]`) or one string (`"1#"`).
    pub(super) fn keys(&self, key: &str) -> Result<Option<DtmfKeys>, FlowError> {
        let joined = match self.get(key) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(items)) => {
                let mut joined = String::new();
                for (i, item) in items.iter().enumerate() {
                    let Some(s) = item.as_str() else {
                        let msg = format!("expected a DTMF key string, got {}", shown(item));
                        return Err(FlowError::new(
                            format!("{}[{i}]", join(self.path, key)),
                            msg,
                        ));
                    };
                    if joined.len() + s.len() > 64 {
                        return Err(self.err(key, "too many terminators"));
                    }
                    joined.push_str(s);
                }
                joined
            }
            Some(other) => {
                let msg = format!("expected a list of DTMF keys, got {}", shown(other));
                return Err(self.err(key, msg));
            }
        };
        DtmfKeys::new(&joined)
            .map(Some)
            .map_err(|e| self.err(key, e))
    }
}

/// Error text from either a refused value or a message of our own.
pub(super) struct ErrText(String);

impl From<InvalidValue> for ErrText {
    fn from(e: InvalidValue) -> ErrText {
        ErrText(e.0)
    }
}
impl From<String> for ErrText {
    fn from(s: String) -> ErrText {
        ErrText(s)
    }
}
impl From<&str> for ErrText {
    fn from(s: &str) -> ErrText {
        ErrText(s.to_owned())
    }
}

pub(super) fn join(path: &str, seg: &str) -> String {
    if path.is_empty() {
        seg.to_owned()
    } else {
        format!("{path}.{seg}")
    }
}

/// A child key or header name as a path segment: plain when simple, else quoted.
pub(super) fn key_segment(key: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '*' | '#');
    if !key.is_empty() && key.chars().all(plain) {
        key.to_owned()
    } else {
        let quoted: String = key.chars().take(64).collect();
        format!("{quoted:?}")
    }
}

/// A value as compact JSON, cut at 40 characters, for error messages.
pub(super) fn shown(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s
    }
}
