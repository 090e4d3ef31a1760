//! A tiny raw-TCP controller for the support self-tests: it accepts the fake FreeSWITCH's
//! connection, writes commands as bytes and reads FreeSWITCH frames with its own small
//! parser, so the fake is checked against the wire format and not against itself.
#![allow(clippy::unwrap_used)] // tests may unwrap

use super::fake_fs::{FakeCall, FakeCallHandle, FakeFs};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One frame FreeSWITCH sent.
#[derive(Clone, Debug)]
pub struct Frame {
    pub raw: Vec<u8>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

fn parse_block(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once(": ") {
            Some((n, v)) => (n.to_string(), v.to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect()
}

impl Frame {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn content_type(&self) -> &str {
        self.get("Content-Type").unwrap_or("")
    }
    /// The event's own headers (values still URL-encoded), if this is an event frame.
    pub fn event(&self) -> Option<Vec<(String, String)>> {
        (self.content_type() == "text/event-plain")
            .then(|| parse_block(&String::from_utf8_lossy(&self.body)))
    }
    pub fn event_header(&self, name: &str) -> Option<String> {
        self.event()?
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }
    /// A short label: `EV NAME [app] [response]`, `REPLY text`, `API body`, `NOTICE kind`.
    pub fn label(&self) -> String {
        match self.content_type() {
            "text/event-plain" => {
                let mut s = format!("EV {}", self.event_header("Event-Name").unwrap_or_default());
                for k in ["Application", "Application-Response"] {
                    if let Some(v) = self.event_header(k) {
                        s.push_str(&format!(" {v}"));
                    }
                }
                s
            }
            "command/reply" => format!("REPLY {}", self.get("Reply-Text").unwrap_or("")),
            "api/response" => format!("API {}", String::from_utf8_lossy(&self.body)),
            "text/disconnect-notice" => {
                format!("NOTICE {}", self.get("Content-Disposition").unwrap_or(""))
            }
            other => format!("?? {other}"),
        }
    }
}

pub struct Ctl {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

/// Starts a fake call against a fresh listener and accepts it.
pub async fn start(call: FakeCall) -> (Ctl, FakeCallHandle) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (handle, accepted) = tokio::join!(FakeFs::connect(addr, call), listener.accept());
    let (stream, _) = accepted.unwrap();
    (
        Ctl {
            stream,
            buf: Vec::new(),
        },
        handle,
    )
}

impl Ctl {
    pub async fn send(&mut self, bytes: &str) {
        self.stream.write_all(bytes.as_bytes()).await.unwrap();
    }

    fn take_frame(&mut self) -> Option<Frame> {
        let end = self.buf.windows(2).position(|w| w == b"\n\n")? + 2;
        let headers = parse_block(&String::from_utf8_lossy(&self.buf[..end]));
        let len: usize = headers
            .iter()
            .find(|(n, _)| n == "Content-Length")
            .map(|(_, v)| v.parse().unwrap())
            .unwrap_or(0);
        if self.buf.len() < end + len {
            return None;
        }
        let raw: Vec<u8> = self.buf.drain(..end + len).collect();
        Some(Frame {
            body: raw[end..].to_vec(),
            raw,
            headers,
        })
    }

    /// The next frame; None at EOF. Panics after 5 s of silence.
    pub async fn next(&mut self) -> Option<Frame> {
        let fut = async {
            loop {
                if let Some(f) = self.take_frame() {
                    return Some(f);
                }
                let mut chunk = [0u8; 8192];
                let n = self.stream.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    assert!(self.buf.is_empty(), "EOF inside a frame: {:?}", self.buf);
                    return None;
                }
                self.buf.extend_from_slice(&chunk[..n]);
            }
        };
        tokio::time::timeout(Duration::from_secs(5), fut)
            .await
            .expect("no frame from the fake within 5 s")
    }

    pub async fn frame(&mut self) -> Frame {
        self.next().await.expect("unexpected EOF")
    }

    /// The next frame's label.
    pub async fn label(&mut self) -> String {
        self.frame().await.label()
    }

    /// Labels of every frame up to and including the first one whose label starts with `stop`.
    pub async fn labels_until(&mut self, stop: &str) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let l = self.label().await;
            let done = l.starts_with(stop);
            out.push(l);
            if done {
                return out;
            }
        }
    }

    /// connect + myevents + linger (as given), skipping CHANNEL_PARK. Returns the connect reply.
    pub async fn handshake(&mut self, linger: &str) -> Frame {
        self.send("connect\n\n").await;
        let reply = self.frame().await;
        self.send("myevents\n\n").await;
        assert_eq!(self.label().await, "REPLY +OK Events Enabled");
        assert_eq!(self.label().await, "EV CHANNEL_PARK");
        if !linger.is_empty() {
            self.send(&format!("{linger}\n\n")).await;
            self.frame().await;
        }
        reply
    }

    /// A locked execute with an Event-UUID, header form.
    pub async fn execute(&mut self, app: &str, arg: &str, event_uuid: &str) {
        self.send(&format!(
            "sendmsg\ncall-command: execute\nexecute-app-name: {app}\nexecute-app-arg: {arg}\n\
             event-lock: true\nEvent-UUID: {event_uuid}\n\n"
        ))
        .await;
    }
}
