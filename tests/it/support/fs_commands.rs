//! The fake FreeSWITCH's answers to the socket-control commands: `myevents`, `event`,
//! `linger`, `filter`, and the subscription/filter check applied to every event.
//! Applications live in fs_apps.rs, `api` in fs_api.rs, the loop in fs_session.rs.

use super::fake_fs::Park;
use super::fs_channel::{ChanState, Headers};
use super::fs_session::{Phase, Session};
use super::fs_wire::Command;
use super::transcript::Linger;

/// The event types `myevents` subscribes to (the simulator's list: mod_event_socket.c).
pub use pivot::sim::MYEVENTS;

/// The event types a socket receives, as mod_event_socket keeps them: a per-type table,
/// `ALL` turning every type on; `myevents`/`event` add types, `nixevent` removes them
/// (`nixevent ALL` clears the table).
#[derive(Clone, Debug, Default)]
pub struct Subscription {
    all: bool,
    on: std::collections::BTreeSet<String>,
    /// Types taken away while `all` was on.
    off: std::collections::BTreeSet<String>,
}

impl Subscription {
    pub fn add(&mut self, name: &str) {
        let name = name.to_ascii_uppercase();
        if name == "ALL" {
            self.all = true;
            self.off.clear();
        } else {
            self.off.remove(&name);
            self.on.insert(name);
        }
    }

    pub fn nix(&mut self, name: &str) {
        let name = name.to_ascii_uppercase();
        if name == "ALL" {
            *self = Subscription::default();
        } else {
            self.on.remove(&name);
            if self.all {
                self.off.insert(name);
            }
        }
    }

    pub fn wants(&self, name: &str) -> bool {
        let name = name.to_ascii_uppercase();
        (self.all && !self.off.contains(&name)) || self.on.contains(&name)
    }

    /// The types received, when `ALL` is off.
    pub fn types(&self) -> Vec<&str> {
        self.on.iter().map(String::as_str).collect()
    }
}

impl Session {
    /// `myevents` / `event plain` subscriptions, then mod_event_socket's filter logic:
    /// positive filters are OR-ed, a `-` value vetoes, `/re/` is a regular expression.
    pub fn wants(&self, headers: &Headers) -> bool {
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.as_str())
        };
        let name = get("Event-Name").unwrap_or("");
        if !self.subscription.wants(name) {
            return false;
        }
        if self.filters.is_empty() {
            return true;
        }
        let mut send = false;
        for (h, v) in &self.filters {
            let Some(hval) = get(h) else { continue };
            let pos = !v.trim_start().starts_with('-');
            let comp = v.trim_start_matches(['+', '-', ' ']);
            let cmp = match comp.strip_prefix('/') {
                Some(re) => regex::Regex::new(re.strip_suffix('/').unwrap_or(re))
                    .map(|r| r.is_match(hval))
                    .unwrap_or(false),
                None => hval.eq_ignore_ascii_case(comp),
            };
            if cmp && pos {
                send = true;
            } else if cmp {
                return false;
            }
        }
        send
    }

    pub async fn on_myevents(&mut self, cmd: &Command) {
        let format = cmd.rest().split_whitespace().next().unwrap_or("plain");
        if !format.eq_ignore_ascii_case("plain") && !looks_like_uuid(format) {
            self.protocol_error(format!("myevents {format}: the fake only sends plain"));
        }
        self.myevents = true;
        for n in MYEVENTS {
            self.subscription.add(n);
        }
        let now = self.subscription.clone();
        self.shared.update(|t| {
            t.myevents = true;
            t.subscription = now;
        });
        self.reply("+OK Events Enabled").await;
        if self.cfg.park == Park::AfterMyevents && !self.park_sent && self.phase == Phase::Up {
            self.park_sent = true;
            self.emit("CHANNEL_PARK", ChanState::Execute, Vec::new())
                .await;
        }
    }

    pub async fn on_event_cmd(&mut self, cmd: &Command) {
        let mut words = cmd.rest().split_whitespace();
        let format = words.next().unwrap_or("");
        if !format.eq_ignore_ascii_case("plain") {
            self.protocol_error(format!("event {format}: the fake only sends plain"));
        }
        let names: Vec<String> = words.map(str::to_string).collect();
        for n in &names {
            self.subscription.add(n);
        }
        let now = self.subscription.clone();
        self.shared.update(|t| t.subscription = now);
        self.event_names.extend(names);
        let rest = cmd.rest().to_string();
        self.shared.update(|t| t.event_subscriptions.push(rest));
        self.reply(&format!("+OK event listener enabled {format}"))
            .await;
    }

    /// `nixevent <names>`: these types are no longer sent (`+OK events nixed`).
    pub async fn on_nixevent(&mut self, cmd: &Command) {
        let names: Vec<String> = cmd.rest().split_whitespace().map(str::to_string).collect();
        if names.is_empty() {
            self.reply("-ERR no keywords supplied").await;
            return;
        }
        for n in &names {
            self.subscription.nix(n);
        }
        let now = self.subscription.clone();
        self.shared.update(|t| t.subscription = now);
        self.reply("+OK events nixed").await;
    }

    pub async fn on_linger(&mut self, cmd: &Command) {
        match cmd.rest().parse::<u32>() {
            Ok(n) if n > 0 => {
                self.linger = Linger::Secs(n);
                self.reply(&format!("+OK will linger {n} seconds")).await;
            }
            _ => {
                self.linger = Linger::Forever;
                self.reply("+OK will linger").await;
            }
        }
        let l = self.linger;
        self.shared.update(|t| t.linger = l);
    }

    pub async fn on_filter(&mut self, cmd: &Command) {
        let rest = cmd.rest();
        let (name, value) = match rest.split_once(' ') {
            Some((n, v)) => (n.to_string(), v.trim().to_string()),
            None => (rest.to_string(), String::new()),
        };
        if name.eq_ignore_ascii_case("delete") {
            let (dn, dv) = value.split_once(' ').unwrap_or((&value, ""));
            let (dn, dv) = (dn.to_string(), dv.trim().to_string());
            self.filters
                .retain(|(n, v)| !(n.eq_ignore_ascii_case(&dn) && (dv.is_empty() || *v == dv)));
            let f = self.filters.clone();
            self.shared.update(|t| t.filters = f);
            self.reply(&format!("+OK filter deleted. [{dn}]=[{dv}]"))
                .await;
            return;
        }
        if name.is_empty() || value.is_empty() {
            self.reply("-ERR invalid syntax").await;
            return;
        }
        self.filters.push((name.clone(), value.clone()));
        let f = (name.clone(), value.clone());
        self.shared.update(|t| t.filters.push(f));
        self.reply(&format!("+OK filter added. [{name}]=[{value}]"))
            .await;
    }
}

fn looks_like_uuid(s: &str) -> bool {
    s.len() == 36 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// One line about an event for the timeline.
pub fn summarize(headers: &Headers) -> String {
    let mut out = String::from("event");
    for key in [
        "Event-Name",
        "Application",
        "Application-Response",
        "Hangup-Cause",
        "DTMF-Digit",
    ] {
        if let Some((_, v)) = headers.iter().find(|(k, _)| k == key) {
            out.push_str(&format!(" {key}={v}"));
        }
    }
    out
}
