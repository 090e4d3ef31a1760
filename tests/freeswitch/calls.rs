//! Test calls on the real switch: `originate` over the inbound event socket (loopback, the
//! B leg runs the extension under test, the A leg plays the caller), and the log of every
//! event FreeSWITCH sent during the test, searchable per call with bounded waits. Event
//! times are FreeSWITCH's own (`Event-Date-Timestamp`), not the test's clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pivot::esl::client::{Client, ClientError, Job};
use pivot::esl::Event;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The events the suite subscribes to.
const EVENTS: &[&str] = &[
    "CHANNEL_CREATE",
    "CHANNEL_PROGRESS",
    "CHANNEL_PROGRESS_MEDIA",
    "CHANNEL_ANSWER",
    "CHANNEL_PARK",
    "CHANNEL_EXECUTE",
    "CHANNEL_EXECUTE_COMPLETE",
    "CHANNEL_BRIDGE",
    "CHANNEL_UNBRIDGE",
    "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE",
    "CHANNEL_DESTROY",
    "DTMF",
    "PLAYBACK_START",
    "PLAYBACK_STOP",
    "RECORD_START",
    "RECORD_STOP",
];

struct LogInner {
    events: Mutex<Vec<Event>>,
    count: watch::Sender<usize>,
    task: JoinHandle<()>,
}

impl Drop for LogInner {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Every subscribed event FreeSWITCH sent since the test started (tests run one at a time).
#[derive(Clone)]
pub struct EventLog {
    inner: Arc<LogInner>,
}

impl EventLog {
    pub async fn start(fs: Client, _run: &str) -> EventLog {
        fs.subscribe(EVENTS).await.unwrap();
        let (count, _) = watch::channel(0);
        let inner = Arc::new_cyclic(|weak: &std::sync::Weak<LogInner>| {
            let weak = weak.clone();
            let task = tokio::spawn(async move {
                loop {
                    match fs.next_event_within(Duration::from_secs(3600)).await {
                        Ok(event) => {
                            let Some(log) = weak.upgrade() else { return };
                            let n = {
                                let mut all = log.events.lock().unwrap();
                                all.push(event);
                                all.len()
                            };
                            log.count.send_replace(n);
                        }
                        Err(ClientError::Lagged { lost }) => panic!("{lost} events lost"),
                        Err(_) => return,
                    }
                }
            });
            LogInner {
                events: Mutex::new(Vec::new()),
                count,
                task,
            }
        });
        EventLog { inner }
    }

    pub fn all(&self) -> Vec<Event> {
        self.inner.events.lock().unwrap().clone()
    }

    /// Waits up to `within` for an event `pred` accepts (past or future).
    pub async fn wait(&self, within: Duration, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        let mut rx = self.inner.count.subscribe();
        let found = tokio::time::timeout(within, async {
            let mut seen = 0;
            loop {
                {
                    let all = self.inner.events.lock().unwrap();
                    if let Some(e) = all[seen..].iter().find(|e| pred(e)) {
                        return e.clone();
                    }
                    seen = all.len();
                }
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("no {what} within {within:?}\n{}", self.summary()))
    }

    /// One line per event: name, channel, application, for failure messages.
    pub fn summary(&self) -> String {
        let all = self.all();
        let first = all.first().map_or(0, timestamp);
        all.iter()
            .map(|e| {
                format!(
                    "{:>9.3}s {} {} {} {} {}",
                    (timestamp(e).saturating_sub(first)) as f64 / 1e6,
                    e.name().unwrap_or("?"),
                    e.header("Channel-Name").unwrap_or(""),
                    e.application().unwrap_or(""),
                    e.application_data()
                        .unwrap_or("")
                        .chars()
                        .take(80)
                        .collect::<String>(),
                    e.header("Hangup-Cause")
                        .or(e.application_response())
                        .or(e.dtmf_digit())
                        .unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// FreeSWITCH's time of the event, in microseconds.
pub fn timestamp(e: &Event) -> u64 {
    e.header("Event-Date-Timestamp")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}

/// Milliseconds from `a` to `b` by FreeSWITCH's clock.
pub fn ms_between(a: &Event, b: &Event) -> i64 {
    (timestamp(b) as i64 - timestamp(a) as i64) / 1000
}

pub fn is(e: &Event, name: &str) -> bool {
    e.name() == Some(name)
}

/// `originate {vars}loopback/<ext>/default <caller> XML default`.
pub struct CallBuilder {
    fs: Client,
    log: EventLog,
    extension: String,
    caller: String,
    vars: Vec<(String, String)>,
}

impl CallBuilder {
    pub fn new(fs: Client, log: EventLog, extension: &str) -> Self {
        CallBuilder {
            fs,
            log,
            extension: extension.to_string(),
            caller: "9001".into(),
            vars: Vec::new(),
        }
    }

    /// A channel variable for both legs (no spaces or commas in `value`); replaces one
    /// set before.
    pub fn var(mut self, name: &str, value: &str) -> Self {
        assert!(
            !value.contains([' ', ',', '}', '\'']),
            "originate variable {name}={value:?} would need quoting"
        );
        self.vars.retain(|(n, _)| n != name);
        self.vars.push((name.to_string(), value.to_string()));
        self
    }

    /// The extension the A leg (the caller) runs once the call is answered.
    pub fn caller(mut self, extension: &str) -> Self {
        self.caller = extension.to_string();
        self
    }

    /// The pivot_* variables that route the call to `url` (Piston JSON, GET, debug on).
    pub fn voice_url(self, url: &str) -> Self {
        self.var("pivot_voice_url", url).var("pivot_debug", "true")
    }

    /// Routed to a TwiML app, asked with POST like Twilio.
    pub fn twiml_url(self, url: &str) -> Self {
        self.voice_url(url)
            .var("pivot_req_format", "twiml")
            .var("pivot_method", "POST")
    }

    pub async fn start(self) -> Call {
        let tag = uuid::Uuid::new_v4().to_string();
        let mut vars = vec![
            ("pivot_test_call".to_string(), tag.clone()),
            ("origination_caller_id_number".into(), "5551000".into()),
            ("origination_caller_id_name".into(), "Conformance".into()),
        ];
        vars.extend(self.vars);
        let vars: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let cmd = format!(
            "originate {{{}}}loopback/{}/default {} XML default",
            vars.join(","),
            self.extension,
            self.caller
        );
        let job = self.fs.bgapi_job(&cmd).await.unwrap();
        Call {
            tag,
            legs: Mutex::default(),
            log: self.log,
            job: Mutex::new(Some(job)),
            fs: self.fs,
        }
    }
}

/// One test call: both loopback legs carry `pivot_test_call=<tag>`.
pub struct Call {
    pub tag: String,
    legs: Mutex<std::collections::HashMap<String, String>>,
    log: EventLog,
    job: Mutex<Option<Job>>,
    fs: Client,
}

impl Call {
    fn mine(&self, e: &Event) -> bool {
        e.variable("pivot_test_call") == Some(self.tag.as_str())
    }

    /// The Unique-ID of leg A or B, from the first event that carries the call's tag (not
    /// every event carries channel variables: DTMF does not).
    async fn leg_uuid(&self, leg: &str) -> String {
        if let Some(uuid) = self.legs.lock().unwrap().get(leg) {
            return uuid.clone();
        }
        let e = self
            .log
            .wait(
                Duration::from_secs(20),
                &format!("an event of leg {leg}"),
                |e| self.mine(e) && e.variable("loopback_leg") == Some(leg),
            )
            .await;
        let uuid = e.unique_id().unwrap().to_string();
        self.legs
            .lock()
            .unwrap()
            .insert(leg.to_string(), uuid.clone());
        uuid
    }

    /// This call's events so far (both legs, those that carry channel variables).
    pub fn events(&self) -> Vec<Event> {
        self.log
            .all()
            .into_iter()
            .filter(|e| self.mine(e))
            .collect()
    }

    /// Every event of the B leg so far.
    pub async fn b_events(&self) -> Vec<Event> {
        let b = self.b_uuid().await;
        self.log
            .all()
            .into_iter()
            .filter(|e| e.unique_id() == Some(b.as_str()))
            .collect()
    }

    /// Waits for an event of the B leg (the one running the extension under test).
    pub async fn wait_b(
        &self,
        within: Duration,
        what: &str,
        pred: impl Fn(&Event) -> bool,
    ) -> Event {
        let b = self.b_uuid().await;
        self.log
            .wait(within, what, |e| {
                e.unique_id() == Some(b.as_str()) && pred(e)
            })
            .await
    }

    /// Waits for an event of the A leg (the caller).
    pub async fn wait_a(
        &self,
        within: Duration,
        what: &str,
        pred: impl Fn(&Event) -> bool,
    ) -> Event {
        let a = self.a_uuid().await;
        self.log
            .wait(within, what, |e| {
                e.unique_id() == Some(a.as_str()) && pred(e)
            })
            .await
    }

    /// The Unique-ID of the B leg: the call pivot sees (Call-ID, CallSid).
    pub async fn b_uuid(&self) -> String {
        self.leg_uuid("B").await
    }

    /// The Unique-ID of the A leg (the caller).
    pub async fn a_uuid(&self) -> String {
        self.leg_uuid("A").await
    }

    /// The CHANNEL_EXECUTE of `app` on the B leg (the n-th, from 0).
    pub async fn app_started(&self, app: &str, within: Duration) -> Event {
        self.wait_b(within, &format!("CHANNEL_EXECUTE {app}"), |e| {
            is(e, "CHANNEL_EXECUTE") && e.application() == Some(app)
        })
        .await
    }

    /// The CHANNEL_EXECUTE_COMPLETE of `app` on the B leg.
    pub async fn app_done(&self, app: &str, within: Duration) -> Event {
        self.wait_b(within, &format!("CHANNEL_EXECUTE_COMPLETE {app}"), |e| {
            is(e, "CHANNEL_EXECUTE_COMPLETE") && e.application() == Some(app)
        })
        .await
    }

    /// The B leg's CHANNEL_HANGUP_COMPLETE.
    pub async fn b_hangup(&self, within: Duration) -> Event {
        self.wait_b(within, "CHANNEL_HANGUP_COMPLETE of the B leg", |e| {
            is(e, "CHANNEL_HANGUP_COMPLETE")
        })
        .await
    }

    /// Both legs are destroyed (bounded).
    pub async fn gone(&self, within: Duration) {
        let what = "CHANNEL_DESTROY";
        self.wait_a(within, what, |e| is(e, what)).await;
        self.wait_b(within, what, |e| is(e, what)).await;
    }

    /// The caller hangs up: `uuid_kill` of the A leg.
    pub async fn caller_hangs_up(&self) {
        let a = self.a_uuid().await;
        let out = self.fs.api(&format!("uuid_kill {a}")).await.unwrap();
        assert!(out.starts_with("+OK"), "uuid_kill {a}: {out}");
    }

    /// Hangs the A leg up unless it is already gone (a loopback leg follows the other one).
    pub async fn caller_hangs_up_if_up(&self) {
        let a = self.a_uuid().await;
        if self
            .fs
            .api(&format!("uuid_exists {a}"))
            .await
            .unwrap()
            .trim()
            == "true"
        {
            let _ = self.fs.api(&format!("uuid_kill {a}")).await;
        }
    }

    /// The caller presses keys now (`uuid_send_dtmf` on the A leg: the B leg receives them).
    pub async fn press(&self, digits: &str) {
        let a = self.a_uuid().await;
        let out = self
            .fs
            .api(&format!("uuid_send_dtmf {a} {digits}"))
            .await
            .unwrap();
        assert!(out.starts_with("+OK"), "uuid_send_dtmf {a} {digits}: {out}");
    }

    /// The originate's result (`+OK <uuid>` once answered, `-ERR <cause>` otherwise).
    pub async fn originate_result(&self, within: Duration) -> String {
        let job = self.job.lock().unwrap().take().expect("result asked once");
        job.result(within).await.unwrap()
    }

    /// Names of the applications the B leg started, in order (CHANNEL_EXECUTE).
    pub async fn b_apps(&self) -> Vec<(String, String)> {
        self.b_events()
            .await
            .iter()
            .filter(|e| is(e, "CHANNEL_EXECUTE"))
            .map(|e| {
                let app = e.application().unwrap_or("").to_string();
                (app, e.application_data().unwrap_or("").to_string())
            })
            .collect()
    }
}
