//! `pivot timeline CALL_ID`: a real call's timeline from the REST API, printed with the
//! renderer `pivot demo` uses, or as the API's JSON.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::Value;

use super::{ApiClient, CliError};
use crate::call::TimelineEntry;
use crate::sim::{Entry, Source, Timeline};

/// A call's timeline as the API served it.
pub struct TimelineReport {
    /// The envelope's `data`: the call, its node, its start, its `entries`.
    pub data: Value,
    pub entries: Vec<TimelineEntry>,
}

/// Reads the call's timeline (404 when debug was off for it, or it is another account's).
pub async fn fetch_timeline(client: &ApiClient, call_id: &str) -> Result<TimelineReport, CliError> {
    let data = client.debug(call_id, Some("timeline")).await?;
    let entries: Vec<TimelineEntry> = serde_json::from_value(data["entries"].clone())
        .map_err(|e| CliError::BadAnswer(format!("timeline entries: {e}")))?;
    Ok(TimelineReport { data, entries })
}

impl TimelineReport {
    /// The demo's layout: `  +0.012s  pivot       request: GET ...`, one line per step.
    pub fn render(&self) -> String {
        let entries = self
            .entries
            .iter()
            .map(|e| Entry {
                at: Duration::from_millis(e.t_ms),
                source: Source::Pivot,
                text: e.note.to_string(),
            })
            .collect();
        let d = &self.data;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "timeline of call {} (account {}, node {}, started {} ms after the epoch):",
            d["call_id"].as_str().unwrap_or(""),
            d["account_id"].as_str().unwrap_or(""),
            d["node"].as_str().unwrap_or(""),
            d["created_ms"],
        );
        out.push_str(&Timeline::from_entries(entries).render());
        out
    }
}
