//! The fake channel: its identity, variables and states, and the header lists of the events
//! FreeSWITCH 1.10.12 builds from them (order and names copied from fixtures/esl captures).
//! Does no I/O and knows nothing about commands or timing.

use super::fs_wire::{encoded_block, event_frame};
use std::time::{SystemTime, UNIX_EPOCH};

/// FreeSWITCH's own id; constant like a real switch's.
pub const CORE_UUID: &str = "6af698a5-2eac-4c86-9569-4a922942286b";

/// Where the channel is in its life; drives Channel-State, Channel-Call-State, the number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChanState {
    Execute,
    /// During CHANNEL_HANGUP and the events right after it: CS_EXECUTE but number 10.
    HangingUp,
    Hangup,
    Reporting,
}

pub type Headers = Vec<(String, String)>;

/// Identity and variables of one fake call.
#[derive(Clone, Debug)]
pub struct Channel {
    pub uuid: String,
    pub dest: String,
    pub cid_name: String,
    pub cid_num: String,
    pub name: String,
    pub answered: bool,
    pub vars: Headers,
    pub hangup_cause: Option<String>,
    seq: u64,
    created_us: u64,
    /// `socket ... full` without `async` (Socket-Mode: static).
    pub static_mode: bool,
    answered_us: u64,
    hangup_us: u64,
}

fn h(n: &str, v: impl Into<String>) -> (String, String) {
    (n.to_string(), v.into())
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// (year, month, day, weekday 0=Sunday) from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32, usize) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, (days + 4).rem_euclid(7) as usize)
}

/// ("2026-11-23 19:57:20", "Mon, 23 Nov 2026 19:57:20 GMT"); local time is UTC here.
fn dates(us: u64) -> (String, String) {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = (us / 1_000_000) as i64;
    let (y, m, d, wd) = civil(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    let (hh, mm, ss) = (t / 3600, t % 3600 / 60, t % 60);
    (
        format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02}"),
        format!(
            "{}, {d:02} {} {y:04} {hh:02}:{mm:02}:{ss:02} GMT",
            DAYS[wd],
            MONTHS[(m - 1) as usize]
        ),
    )
}

/// Q.850 code FreeSWITCH puts in `variable_hangup_cause_q850`.
pub fn q850(cause: &str) -> u32 {
    match cause {
        "UNALLOCATED_NUMBER" => 1,
        "NORMAL_CLEARING" => 16,
        "USER_BUSY" => 17,
        "NO_USER_RESPONSE" => 18,
        "NO_ANSWER" => 19,
        "CALL_REJECTED" => 21,
        "DESTINATION_OUT_OF_ORDER" => 27,
        "NORMAL_TEMPORARY_FAILURE" => 41,
        _ => 0,
    }
}

fn calling(event: &str) -> (&'static str, &'static str, u32) {
    match event {
        "CHANNEL_DATA" => ("mod_event_socket.c", "parse_command", 2021),
        "CHANNEL_PARK" => ("switch_ivr.c", "switch_ivr_park", 1002),
        "CHANNEL_UNPARK" => ("switch_ivr.c", "switch_ivr_park", 1213),
        "CHANNEL_EXECUTE" => ("switch_core_session.c", "switch_core_session_exec", 2944),
        "CHANNEL_EXECUTE_COMPLETE" => ("switch_core_session.c", "switch_core_session_exec", 2967),
        "CHANNEL_HANGUP" => ("switch_channel.c", "switch_channel_perform_hangup", 3445),
        "CHANNEL_STATE" => (
            "switch_channel.c",
            "switch_channel_perform_set_running_state",
            2408,
        ),
        "CHANNEL_HANGUP_COMPLETE" => (
            "switch_core_state_machine.c",
            "switch_core_session_reporting_state",
            943,
        ),
        "DTMF" => ("switch_channel.c", "switch_channel_dequeue_dtmf", 620),
        _ => ("switch_event.c", "switch_event_fire_detailed", 2000),
    }
}

impl Channel {
    /// A new answered-or-not inbound loopback channel; `vars` are added after the standard ones.
    pub fn new(
        uuid: &str,
        dest: &str,
        cid: (&str, &str),
        answered: bool,
        socket_data: &str,
        extra: &[(String, String)],
    ) -> Self {
        let created_us = now_us();
        let name = format!("loopback/{dest}-b");
        let mut ch = Channel {
            uuid: uuid.to_string(),
            dest: dest.to_string(),
            cid_name: cid.0.to_string(),
            cid_num: cid.1.to_string(),
            name: name.clone(),
            answered,
            vars: Vec::new(),
            hangup_cause: None,
            seq: 598,
            created_us,
            answered_us: if answered { created_us } else { 0 },
            hangup_us: 0,
            static_mode: false,
        };
        ch.static_mode = !socket_data.contains("async");
        let host = socket_data
            .split(':')
            .next()
            .unwrap_or("127.0.0.1")
            .to_string();
        let base = [
            ("direction", "inbound".to_string()),
            ("uuid", uuid.to_string()),
            ("session_id", "6".to_string()),
            ("channel_name", name),
            ("read_codec", "L16".to_string()),
            ("read_rate", "8000".to_string()),
            ("write_codec", "L16".to_string()),
            ("write_rate", "8000".to_string()),
            ("origination_caller_id_number", cid.1.to_string()),
            ("origination_caller_id_name", cid.0.to_string()),
            ("other_loopback_leg_uuid", uuid::Uuid::new_v4().to_string()),
            ("loopback_leg", "B".to_string()),
            ("call_uuid", uuid.to_string()),
            ("endpoint_disposition", "ANSWER".to_string()),
            ("current_application_data", socket_data.to_string()),
            ("current_application", "socket".to_string()),
            ("socket_host", host),
        ];
        for (n, v) in base {
            ch.vars.push(h(n, v));
        }
        for (n, v) in extra {
            ch.set_var(n, v);
        }
        ch
    }

    /// Sets a channel variable; like FreeSWITCH, a re-set variable moves to the end.
    pub fn set_var(&mut self, name: &str, value: &str) {
        self.vars.retain(|(n, _)| n != name);
        self.vars.push(h(name, value));
    }

    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn answer(&mut self) {
        if !self.answered {
            self.answered = true;
            self.answered_us = now_us();
        }
    }

    fn core(&mut self, event: &str) -> Headers {
        self.seq += 1;
        let us = now_us();
        let (local, gmt) = dates(us);
        let (file, func, line) = calling(event);
        vec![
            h("Event-Name", event),
            h("Core-UUID", CORE_UUID),
            h("FreeSWITCH-Hostname", "vm"),
            h("FreeSWITCH-Switchname", "vm"),
            h("FreeSWITCH-IPv4", "192.0.2.2"),
            h("FreeSWITCH-IPv6", "fd00::2"),
            h("Event-Date-Local", local),
            h("Event-Date-GMT", gmt),
            h("Event-Date-Timestamp", us.to_string()),
            h("Event-Calling-File", file),
            h("Event-Calling-Function", func),
            h("Event-Calling-Line-Number", line.to_string()),
            h("Event-Sequence", self.seq.to_string()),
        ]
    }

    fn channel_block(&self, state: ChanState) -> Headers {
        let (st, call_st, num) = match state {
            ChanState::Execute => ("CS_EXECUTE", "ACTIVE", 4),
            ChanState::HangingUp => ("CS_EXECUTE", "ACTIVE", 10),
            ChanState::Hangup => ("CS_HANGUP", "ACTIVE", 10),
            ChanState::Reporting => ("CS_REPORTING", "HANGUP", 11),
        };
        let answer_state = match (&self.hangup_cause, self.answered) {
            (Some(_), _) => "hangup",
            (None, true) => "answered",
            (None, false) => "ringing",
        };
        let mut v = vec![
            h("Channel-State", st),
            h("Channel-Call-State", call_st),
            h("Channel-State-Number", num.to_string()),
            h("Channel-Name", self.name.clone()),
            h("Unique-ID", self.uuid.clone()),
            h("Call-Direction", "inbound"),
            h("Presence-Call-Direction", "inbound"),
            h("Channel-HIT-Dialplan", "true"),
            h("Channel-Call-UUID", self.uuid.clone()),
            h("Answer-State", answer_state),
        ];
        if let Some(c) = &self.hangup_cause {
            v.push(h("Hangup-Cause", c.clone()));
        }
        for (dir, what) in [("Read", "Name"), ("Read", "Rate"), ("Read", "Bit-Rate")]
            .into_iter()
            .chain([("Write", "Name"), ("Write", "Rate"), ("Write", "Bit-Rate")])
        {
            let val = match what {
                "Name" => "L16",
                "Rate" => "8000",
                _ => "128000",
            };
            v.push(h(&format!("Channel-{dir}-Codec-{what}"), val));
        }
        v
    }

    /// The caller profile block; `prefix` is `Caller` in events, `Channel` in CHANNEL_DATA.
    fn profile_block(&self, prefix: &str, state: ChanState) -> Headers {
        let hangup_us = if state == ChanState::Reporting {
            self.hangup_us
        } else {
            0
        };
        let c = self.created_us.to_string();
        let rows: Vec<(&str, String)> = vec![
            ("Direction", "inbound".into()),
            ("Logical-Direction", "inbound".into()),
            ("Dialplan", "xml".into()),
            ("Caller-ID-Name", self.cid_name.clone()),
            ("Caller-ID-Number", self.cid_num.clone()),
            ("Orig-Caller-ID-Name", self.cid_name.clone()),
            ("Orig-Caller-ID-Number", self.cid_num.clone()),
            ("Callee-ID-Name", "Outbound Call".into()),
            ("Callee-ID-Number", "default".into()),
            ("ANI", self.cid_num.clone()),
            ("Destination-Number", self.dest.clone()),
            ("Unique-ID", self.uuid.clone()),
            ("Source", "mod_loopback".into()),
            ("Context", "default".into()),
            ("Channel-Name", self.name.clone()),
            ("Profile-Index", "1".into()),
            ("Profile-Created-Time", c.clone()),
            ("Channel-Created-Time", c),
            ("Channel-Answered-Time", self.answered_us.to_string()),
            ("Channel-Progress-Time", "0".into()),
            ("Channel-Progress-Media-Time", "0".into()),
            ("Channel-Hangup-Time", hangup_us.to_string()),
            ("Channel-Transfer-Time", "0".into()),
            ("Channel-Resurrect-Time", "0".into()),
            ("Channel-Bridged-Time", "0".into()),
            ("Channel-Last-Hold", "0".into()),
            ("Channel-Hold-Accum", "0".into()),
            ("Screen-Bit", "true".into()),
            ("Privacy-Hide-Name", "false".into()),
            ("Privacy-Hide-Number", "false".into()),
        ];
        rows.into_iter()
            .map(|(n, v)| (format!("{prefix}-{n}"), v))
            .collect()
    }

    fn var_block(&self) -> Headers {
        self.vars
            .iter()
            .map(|(n, v)| (format!("variable_{n}"), v.clone()))
            .collect()
    }

    /// The one-block reply to `connect`: CHANNEL_DATA plus the command/reply tail, all encoded.
    pub fn connect_reply(&mut self) -> Vec<u8> {
        let mut v = self.core("CHANNEL_DATA");
        v.extend(self.profile_block("Channel", ChanState::Execute));
        v.extend(self.channel_block(ChanState::Execute));
        v.extend(self.profile_block("Caller", ChanState::Execute));
        v.extend(self.var_block());
        v.push(h("Content-Type", "command/reply"));
        v.push(h("Reply-Text", "+OK\n"));
        let mode = match self.static_mode {
            true => "static",
            false => "async",
        };
        v.push(h("Socket-Mode", mode));
        v.push(h("Control", "full"));
        encoded_block(&v)
    }

    /// Headers of one event. Variables are included for the event types FreeSWITCH adds them
    /// to (not CHANNEL_STATE, not DTMF). `extra` goes last (Application-*, DTMF-*).
    pub fn event(&mut self, name: &str, state: ChanState, extra: Headers) -> Headers {
        if state == ChanState::Reporting && self.hangup_us == 0 {
            self.hangup_us = now_us();
        }
        let mut v = self.core(name);
        if name == "CHANNEL_HANGUP_COMPLETE" {
            if let Some(c) = &self.hangup_cause {
                v.push(h("Hangup-Cause", c.clone()));
            }
        }
        v.extend(self.channel_block(state));
        v.extend(self.profile_block("Caller", state));
        if !matches!(name, "CHANNEL_STATE" | "DTMF") {
            v.extend(self.var_block());
        }
        v.extend(extra);
        v
    }

    /// Adds the variables FreeSWITCH sets when the call is over (a representative subset).
    pub fn set_hangup_vars(&mut self) {
        let cause = self.hangup_cause.clone().unwrap_or_default();
        let end = now_us();
        let (start_stamp, _) = dates(self.created_us);
        let (end_stamp, _) = dates(end);
        let msecs = end.saturating_sub(self.created_us) / 1000;
        let last_app = self.var("current_application").unwrap_or("").to_string();
        let last_arg = self
            .var("current_application_data")
            .unwrap_or("")
            .to_string();
        let caller_id = format!("\"{}\" <{}>", self.cid_name, self.cid_num);
        let pairs = [
            ("hangup_cause", cause.clone()),
            ("hangup_cause_q850", q850(&cause).to_string()),
            ("digits_dialed", "none".into()),
            ("start_stamp", start_stamp.clone()),
            ("answer_stamp", start_stamp),
            ("end_stamp", end_stamp),
            ("start_epoch", (self.created_us / 1_000_000).to_string()),
            ("end_epoch", (end / 1_000_000).to_string()),
            ("last_app", last_app),
            ("last_arg", last_arg),
            ("caller_id", caller_id),
            ("duration", (msecs / 1000).to_string()),
            ("billsec", (msecs / 1000).to_string()),
            ("mduration", msecs.to_string()),
            ("billmsec", msecs.to_string()),
            ("is_loopback", "1".into()),
        ];
        for (n, v) in pairs {
            self.set_var(n, &v);
        }
    }

    /// Encodes an event's headers into a `text/event-plain` frame.
    pub fn frame(headers: &[(String, String)]) -> Vec<u8> {
        event_frame(headers)
    }
}
