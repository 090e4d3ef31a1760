//! A real call's timeline, kept only when debug is on for the call: each [`CallNote`] with
//! its offset from the call's start, owned and cut short, bounded in entries and bytes (then
//! one `truncated` entry says how many steps were left out). Handed to the store as JSON
//! when the call ends; the REST API serves it and `pivot timeline` prints it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::note::CallNote;

/// Longest text kept for one field of a note (URLs, arguments, messages).
pub const MAX_FIELD_CHARS: usize = 300;
/// Bytes one call's timeline may take (roughly, as stored), whatever its entry cap.
pub const MAX_BYTES: usize = 256 * 1024;

/// One step: its offset in milliseconds from the call's start, then the note's fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub t_ms: u64,
    #[serde(flatten)]
    pub note: CallNote<'static>,
}

/// The timeline being kept for one call.
#[derive(Debug)]
pub struct CallTimeline {
    entries: Vec<TimelineEntry>,
    bytes: usize,
    max_entries: usize,
    /// Steps left out once a bound was reached, and when the first of them happened.
    dropped: u64,
    dropped_at: u64,
}

impl CallTimeline {
    /// Keeps at most `max_entries` steps (and [`MAX_BYTES`]); at least one.
    pub fn new(max_entries: usize) -> Self {
        CallTimeline {
            entries: Vec::new(),
            bytes: 0,
            max_entries: max_entries.max(1),
            dropped: 0,
            dropped_at: 0,
        }
    }

    pub fn push(&mut self, at: Duration, note: &CallNote<'_>) {
        let t_ms = u64::try_from(at.as_millis()).unwrap_or(u64::MAX);
        if self.dropped == 0 && self.entries.len() < self.max_entries {
            let note = note.to_owned_cut(MAX_FIELD_CHARS);
            let size = note.stored_size();
            if self.bytes + size <= MAX_BYTES {
                self.bytes += size;
                self.entries.push(TimelineEntry { t_ms, note });
                return;
            }
        }
        // Once one step is left out, every later one is too: the timeline has no holes.
        if self.dropped == 0 {
            self.dropped_at = t_ms;
        }
        self.dropped += 1;
    }

    /// Steps kept so far.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries in order, a `truncated` entry last when steps were left out.
    pub fn finish(mut self) -> Vec<TimelineEntry> {
        if self.dropped > 0 {
            self.entries.push(TimelineEntry {
                t_ms: self.dropped_at,
                note: CallNote::Truncated {
                    dropped: self.dropped,
                },
            });
        }
        self.entries
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_holds_and_one_truncated_entry_says_how_much_was_left_out() {
        let mut t = CallTimeline::new(3);
        for ms in 0..10u64 {
            t.push(Duration::from_millis(ms), &CallNote::Dtmf { digit: '1' });
        }
        let entries = t.finish();
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[3].t_ms, 3);
        assert_eq!(entries[3].note, CallNote::Truncated { dropped: 7 });
    }

    #[test]
    fn the_byte_bound_holds_for_long_notes() {
        let mut t = CallTimeline::new(100_000);
        let long = "y".repeat(10_000);
        for _ in 0..10_000 {
            let note = CallNote::Execute {
                app: "speak".into(),
                arg: Some(long.as_str().into()),
            };
            t.push(Duration::ZERO, &note);
        }
        let json = serde_json::to_string(&t.finish()).unwrap();
        assert!(json.len() <= MAX_BYTES + 1024, "{}", json.len());
    }

    #[test]
    fn entries_are_flat_objects_with_their_offset() {
        let mut t = CallTimeline::new(10);
        t.push(
            Duration::from_millis(12),
            &CallNote::Response {
                iteration: 1,
                status: 200,
                bytes: 5,
            },
        );
        let json = serde_json::to_value(t.finish()).unwrap();
        assert_eq!(
            json,
            serde_json::json!([{"t_ms": 12, "step": "response", "iteration": 1, "status": 200, "bytes": 5}])
        );
        let back: Vec<TimelineEntry> = serde_json::from_value(json).unwrap();
        assert_eq!(back[0].t_ms, 12);
    }
}
