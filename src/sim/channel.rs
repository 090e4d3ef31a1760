//! The simulated call: the script a caller follows ([`SimCall`]) and the channel's headers as
//! FreeSWITCH reports them (the connect reply's CHANNEL_DATA, each event's core headers).
//! Owns no socket and no timing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::SimError;

/// The call the simulated FreeSWITCH places, and what its caller does.
#[derive(Debug, Clone)]
pub struct SimCall {
    /// The channel's `Unique-ID`.
    pub uuid: String,
    /// Caller id number and SIP From user.
    pub from: String,
    /// The dialled number (`Caller-Destination-Number`).
    pub to: String,
    pub caller_name: String,
    /// Channel variables (`pivot_voice_url`, ...), sent as `variable_<name>`.
    pub vars: Vec<(String, String)>,
    /// Digits the caller offers, one group per digit collection, in order.
    pub digits: Vec<String>,
    /// The caller hangs up this long after the call reached pivot.
    pub hangup_after: Option<Duration>,
    /// The caller hangs up at the end of a recording (how a voicemail usually ends) instead
    /// of letting the silence detection end it.
    pub hangup_in_record: bool,
    /// Applications finish at once instead of after a plausible small duration.
    pub fast: bool,
}

impl SimCall {
    /// A call from 1001 to 3004 with a fresh `Unique-ID` and no script.
    pub fn new() -> Self {
        SimCall {
            uuid: uuid::Uuid::new_v4().to_string(),
            from: "1001".into(),
            to: "3004".into(),
            caller_name: "Simulated Caller".into(),
            vars: Vec::new(),
            digits: Vec::new(),
            hangup_after: None,
            hangup_in_record: false,
            fast: false,
        }
    }

    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.vars.push((name.into(), value.into()));
        self
    }
}

impl Default for SimCall {
    fn default() -> Self {
        Self::new()
    }
}

/// `1,42#` → `["1", "42#"]`: one group per collection. Keys are DTMF keys (`0-9`, `*`, `#`,
/// `A-D`); an empty group means the caller presses nothing at that collection.
pub fn parse_digits(spec: &str) -> Result<Vec<String>, SimError> {
    if spec.is_empty() {
        return Ok(Vec::new());
    }
    let groups: Vec<String> = spec.split(',').map(|g| g.trim().to_string()).collect();
    if groups.len() > 100 || spec.len() > 1000 {
        return Err(SimError::Usage("--digits: at most 100 groups".into()));
    }
    for g in &groups {
        if let Some(bad) = g.chars().find(|c| !is_dtmf_key(*c)) {
            return Err(SimError::Usage(format!(
                "--digits: {bad:?} is not a DTMF key (0-9, *, #, A-D)"
            )));
        }
    }
    Ok(groups)
}

pub(super) fn is_dtmf_key(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D')
}

type Headers = Vec<(String, String)>;

fn h(name: &str, value: impl Into<String>) -> (String, String) {
    (name.to_string(), value.into())
}

const HOSTNAME: &str = "pivot-sim";
const DOMAIN: &str = "sim.invalid";

/// The channel as FreeSWITCH tracks it.
pub(super) struct Channel {
    pub call: SimCall,
    pub core_uuid: String,
    pub name: String,
    pub answered: bool,
    pub hangup_cause: Option<String>,
    sequence: u64,
}

impl Channel {
    pub fn new(call: SimCall) -> Self {
        Channel {
            name: format!("sim/{}", call.to),
            call,
            core_uuid: uuid::Uuid::new_v4().to_string(),
            answered: false,
            hangup_cause: None,
            sequence: 100,
        }
    }

    pub fn is_up(&self) -> bool {
        self.hangup_cause.is_none()
    }

    fn answer_state(&self) -> &'static str {
        match (&self.hangup_cause, self.answered) {
            (Some(_), _) => "hangup",
            (None, true) => "answered",
            (None, false) => "ringing",
        }
    }

    /// The core headers every event starts with.
    fn core(&mut self, name: &str) -> Headers {
        self.sequence += 1;
        let micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros());
        let mut v = vec![
            h("Event-Name", name),
            h("Core-UUID", self.core_uuid.clone()),
            h("FreeSWITCH-Hostname", HOSTNAME),
            h("FreeSWITCH-Switchname", HOSTNAME),
            h("FreeSWITCH-IPv4", "127.0.0.1"),
            h("Event-Date-Timestamp", micros.to_string()),
            h("Event-Sequence", self.sequence.to_string()),
            h("Channel-Name", self.name.clone()),
            h("Unique-ID", self.call.uuid.clone()),
            h("Call-Direction", "inbound"),
            h("Channel-Call-UUID", self.call.uuid.clone()),
            h("Answer-State", self.answer_state()),
        ];
        if let Some(cause) = &self.hangup_cause {
            v.push(h("Hangup-Cause", cause.clone()));
        }
        v
    }

    /// The caller profile and the channel variables.
    fn profile(&self) -> Headers {
        let c = &self.call;
        let mut v = vec![
            h("Caller-Direction", "inbound"),
            h("Caller-Caller-ID-Name", c.caller_name.clone()),
            h("Caller-Caller-ID-Number", c.from.clone()),
            h("Caller-ANI", c.from.clone()),
            h("Caller-Destination-Number", c.to.clone()),
            h("Caller-Unique-ID", c.uuid.clone()),
            h("Caller-Context", "default"),
            h("Caller-Channel-Name", self.name.clone()),
            h("variable_direction", "inbound"),
            h("variable_uuid", c.uuid.clone()),
            h("variable_domain_name", DOMAIN),
            h("variable_sip_from_user", c.from.clone()),
            h("variable_sip_from_host", DOMAIN),
            h("variable_sip_to_user", c.to.clone()),
            h("variable_sip_to_host", DOMAIN),
            h("variable_sip_req_user", c.to.clone()),
            h("variable_sip_req_host", DOMAIN),
        ];
        for (name, value) in &c.vars {
            v.push((format!("variable_{name}"), value.clone()));
        }
        v
    }

    /// The connect reply's CHANNEL_DATA (the reply headers are added by `wire`).
    pub fn channel_data(&mut self) -> Headers {
        let mut v = self.core("CHANNEL_DATA");
        v.push(h("Channel-Caller-ID-Name", self.call.caller_name.clone()));
        v.push(h("Channel-Caller-ID-Number", self.call.from.clone()));
        v.push(h("Channel-Destination-Number", self.call.to.clone()));
        v.push(h("Channel-Unique-ID", self.call.uuid.clone()));
        v.extend(self.profile());
        v
    }

    /// An event's headers: core, caller profile (for channel events), then `extra`.
    pub fn event(&mut self, name: &str, extra: Headers) -> Headers {
        let mut v = self.core(name);
        if name != "DTMF" {
            v.extend(self.profile());
        }
        v.extend(extra);
        v
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn digit_groups_split_on_commas() {
        assert_eq!(parse_digits("1,42#").unwrap(), ["1", "42#"]);
        assert_eq!(parse_digits("").unwrap(), Vec::<String>::new());
        assert_eq!(parse_digits("1,,*").unwrap(), ["1", "", "*"]);
        let err = parse_digits("1,x").unwrap_err().to_string();
        assert!(err.contains("'x'"), "{err}");
    }

    #[test]
    fn events_carry_the_state_of_the_channel() {
        let mut chan = Channel::new(SimCall::new().var("pivot_debug", "true"));
        let data = chan.channel_data();
        let get = |v: &Headers, n: &str| v.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        assert_eq!(get(&data, "Answer-State").as_deref(), Some("ringing"));
        assert_eq!(get(&data, "variable_pivot_debug").as_deref(), Some("true"));
        chan.hangup_cause = Some("NORMAL_CLEARING".into());
        let ev = chan.event("CHANNEL_HANGUP", Vec::new());
        assert_eq!(get(&ev, "Hangup-Cause").as_deref(), Some("NORMAL_CLEARING"));
        assert_eq!(get(&ev, "Answer-State").as_deref(), Some("hangup"));
    }
}
