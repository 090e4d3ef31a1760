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
    if name.len() > 64 {
        return None;
    }
    let squash = |s: &str| s.to_ascii_lowercase().replace(['-', '_', ' '], "");
    let wanted = squash(name);
    Module::NAMES
        .iter()
        .map(|known| (edit_distance(&wanted, &squash(known)), *known))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, known)| known)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
