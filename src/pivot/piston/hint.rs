//! The "did you mean" hint for an unknown module name. Owns nothing else.

use serde_json::Value;

use super::data::shown;
use crate::callflow::Module;

pub(super) fn unknown_module(name: &str) -> String {
    let shown_name = shown(&Value::String(name.chars().take(64).collect()));
    match did_you_mean(name) {
        Some(known) => format!("unknown module {shown_name} (did you mean \"{known}\"?)"),
        None => format!(
            "unknown module {shown_name}; known modules: {}",
            Module::NAMES.join(", ")
        ),
    }
}

/// The known module closest to `name`: same letters ignoring case, `-` and `_`, or at most
/// two edits away.
fn did_you_mean(name: &str) -> Option<&'static str> {
    crate::hint::did_you_mean(name, &Module::NAMES, 2)
}
