//! A call's timeline: what pivot, the simulated FreeSWITCH and the sample web app each saw,
//! merged in the order it happened, with the time since the start. Owns the entries and
//! their two renderings (text for people, JSON for machines); does not decide what is noted.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Who saw a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// pivot's own notes (the call engine's observer).
    Pivot,
    /// The simulated FreeSWITCH: commands it received, events it sent, the caller's actions.
    Switch,
    /// The demo's sample web app.
    WebApp,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Pivot => "pivot",
            Source::Switch => "freeswitch",
            Source::WebApp => "web app",
        }
    }
}

/// One step.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Time since the timeline started.
    pub at: Duration,
    pub source: Source,
    pub text: String,
}

/// Shared by every source of one run; cheap to clone. Entries keep the order in which they
/// were noted, which is the order things happened (every source notes as it acts).
#[derive(Clone)]
pub struct Timeline {
    start: Instant,
    entries: Arc<Mutex<Vec<Entry>>>,
}

/// At most this many entries are kept: a flow that loops until the caller hangs up must
/// not grow the timeline without bound.
const MAX_ENTRIES: usize = 20_000;
/// Longest text kept for one entry.
const MAX_TEXT: usize = 400;

impl Default for Timeline {
    fn default() -> Self {
        Self::new()
    }
}

impl Timeline {
    pub fn new() -> Self {
        Timeline {
            start: Instant::now(),
            entries: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// A timeline of steps already timed (a real call's, read back from the REST API), for
    /// [`Timeline::render`].
    pub fn from_entries(entries: Vec<Entry>) -> Self {
        Timeline {
            start: Instant::now(),
            entries: Arc::new(Mutex::new(entries)),
        }
    }

    /// Notes a step now. Control characters become spaces and long text is cut, so one
    /// entry is one line.
    pub fn note(&self, source: Source, text: &str) {
        let mut clean: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(MAX_TEXT)
            .collect();
        if text.chars().count() > MAX_TEXT {
            clean.push('…');
        }
        let entry = Entry {
            at: self.start.elapsed(),
            source,
            text: clean,
        };
        let mut entries = self.lock();
        if entries.len() < MAX_ENTRIES {
            entries.push(entry);
        }
    }

    /// Every entry so far, in order.
    pub fn entries(&self) -> Vec<Entry> {
        self.lock().clone()
    }

    /// True when some entry of `source` starts with `prefix`.
    pub fn has(&self, source: Source, prefix: &str) -> bool {
        self.lock()
            .iter()
            .any(|e| e.source == source && e.text.starts_with(prefix))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        // A panicking observer must not take the timeline down with it.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One line per entry: `  +1.234s  pivot       request: ...`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for e in self.lock().iter() {
            let at = format!("+{:.3}s", e.at.as_secs_f64());
            let _ = writeln!(out, "  {at:>8}  {:<10}  {}", e.source.as_str(), e.text);
        }
        out
    }

    /// `[{"t_ms": 1.2, "source": "pivot", "text": "..."}, ...]`.
    pub fn to_json(&self) -> Value {
        let entries: Vec<Value> = self
            .lock()
            .iter()
            .map(|e| {
                json!({
                    "t_ms": (e.at.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
                    "source": e.source.as_str(),
                    "text": e.text,
                })
            })
            .collect();
        Value::Array(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_one_line_and_bounded() {
        let t = Timeline::new();
        t.note(Source::Pivot, "a\nb\rc");
        t.note(Source::Switch, &"x".repeat(1000));
        let e = t.entries();
        assert_eq!(e[0].text, "a b c");
        assert_eq!(e[1].text.chars().count(), MAX_TEXT + 1);
        assert!(t.render().lines().count() == 2);
        assert!(t.has(Source::Pivot, "a b"));
        assert!(!t.has(Source::Switch, "a b"));
    }

    #[test]
    fn json_keeps_order_and_sources() {
        let t = Timeline::new();
        t.note(Source::WebApp, "GET /voice");
        t.note(Source::Pivot, "response: 200");
        let j = t.to_json();
        assert_eq!(j[0]["source"], "web app");
        assert_eq!(j[1]["text"], "response: 200");
        assert!(j[1]["t_ms"].as_f64().unwrap() >= j[0]["t_ms"].as_f64().unwrap());
    }
}
