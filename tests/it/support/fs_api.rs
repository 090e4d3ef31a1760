//! `api` and `bgapi` on the fake FreeSWITCH: scripted answers, the uuid_* commands that act on
//! the channel, and `http_put` / `record http_cache://` doing REAL HTTP uploads of fake audio.
//! Unknown API commands answer `+OK` (scripted answers come first).

use super::fs_session::{Phase, Session};
use super::fs_wire::{api_frame, encoded_block};
use super::transcript::{ApiCall, Upload};
use std::time::Duration;

/// What an API command does to the call once its answer is sent.
enum Effect {
    None,
    Break { all: bool },
    Kill(String),
    Answer,
}

/// A small fake audio file: a WAV header and 0.1 s of silence (or an ID3-tagged blob for mp3).
pub fn fake_audio(file: &str) -> (Vec<u8>, &'static str) {
    if file.ends_with(".mp3") {
        let mut v = b"ID3\x03\x00\x00\x00\x00\x00\x00".to_vec();
        v.resize(v.len() + 400, 0);
        return (v, "audio/mpeg");
    }
    let data = 1600u32;
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes()); // PCM
    v.extend_from_slice(&1u16.to_le_bytes()); // mono
    v.extend_from_slice(&8000u32.to_le_bytes());
    v.extend_from_slice(&16000u32.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&16u16.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&data.to_le_bytes());
    v.resize(v.len() + data as usize, 0);
    (v, "audio/x-wav")
}

/// PUTs `file` to `url` (its real bytes if the file exists, else fake audio); returns the
/// HTTP status, or None if the request failed.
pub async fn put_audio(url: &str, file: &str) -> Option<u16> {
    let (fake, mime) = fake_audio(file);
    let body = tokio::fs::read(file).await.unwrap_or(fake);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .ok()?;
    let res = client
        .put(url)
        .header("content-type", mime)
        .body(body)
        .send()
        .await
        .ok()?;
    Some(res.status().as_u16())
}

impl Session {
    pub async fn on_api(&mut self, line: String) {
        let (answer, effect) = self.api_plan(&line).await;
        let call = ApiCall {
            command: line,
            reply: answer.clone(),
        };
        self.shared.update(|t| t.api.push(call));
        self.send(&api_frame(&answer), format!("api/response {answer:?}"))
            .await;
        match effect {
            Effect::None => {}
            Effect::Break { all } => self.break_app(all).await,
            Effect::Kill(cause) => self.hangup_from_outside(cause).await,
            Effect::Answer => self.answer_now().await,
        }
    }

    /// `bgapi`: `+OK Job-UUID`, then BACKGROUND_JOB if the server subscribed to it.
    pub async fn on_bgapi(&mut self, line: String) {
        let job = uuid::Uuid::new_v4().to_string();
        let reply = format!(
            "Content-Type: command/reply\nReply-Text: +OK Job-UUID: {job}\nJob-UUID: {job}\n\n"
        );
        self.send(
            reply.as_bytes(),
            format!("command/reply +OK Job-UUID: {job}"),
        )
        .await;
        let (answer, effect) = self.api_plan(&line).await;
        let call = ApiCall {
            command: format!("bgapi {line}"),
            reply: answer.clone(),
        };
        self.shared.update(|t| t.api.push(call));
        let subscribed = self
            .event_names
            .iter()
            .any(|n| n.eq_ignore_ascii_case("BACKGROUND_JOB") || n.eq_ignore_ascii_case("ALL"));
        if subscribed {
            let (cmd, arg) = line.split_once(' ').unwrap_or((&line, ""));
            let mut headers = vec![
                ("Event-Name".to_string(), "BACKGROUND_JOB".to_string()),
                (
                    "Core-UUID".to_string(),
                    super::fs_channel::CORE_UUID.to_string(),
                ),
                ("Job-UUID".to_string(), job),
                ("Job-Command".to_string(), cmd.to_string()),
            ];
            if !arg.is_empty() {
                headers.push(("Job-Command-Arg".to_string(), arg.to_string()));
            }
            headers.push(("Content-Length".to_string(), answer.len().to_string()));
            let mut body = encoded_block(&headers);
            body.extend_from_slice(answer.as_bytes());
            let mut frame = format!(
                "Content-Length: {}\nContent-Type: text/event-plain\n\n",
                body.len()
            )
            .into_bytes();
            frame.extend_from_slice(&body);
            self.send(&frame, "event BACKGROUND_JOB".into()).await;
        }
        match effect {
            Effect::None => {}
            Effect::Break { all } => self.break_app(all).await,
            Effect::Kill(cause) => self.hangup_from_outside(cause).await,
            Effect::Answer => self.answer_now().await,
        }
    }

    async fn api_plan(&mut self, line: &str) -> (String, Effect) {
        if let Some((_, body)) = self
            .cfg
            .api_answers
            .iter()
            .find(|(p, _)| line.starts_with(p.as_str()))
        {
            return (body.clone(), Effect::None);
        }
        let mut words = line.split_whitespace();
        let cmd = words.next().unwrap_or("").to_ascii_lowercase();
        let target = words.next().unwrap_or("");
        let ours = target == self.chan.uuid;
        let live = ours && self.phase == Phase::Up;
        let no_channel = || ("-ERR No such channel!\n".to_string(), Effect::None);
        match cmd.as_str() {
            "uuid_break" if live => {
                let all = words.next() == Some("all");
                ("+OK\n".into(), Effect::Break { all })
            }
            "uuid_kill" if live => {
                let cause = words.next().unwrap_or("NORMAL_CLEARING").to_string();
                ("+OK\n".into(), Effect::Kill(cause))
            }
            "uuid_setvar" if live => {
                let name = words.next().unwrap_or("").to_string();
                let value = words.collect::<Vec<_>>().join(" ");
                if value.is_empty() {
                    // No value: mod_commands removes the variable.
                    self.chan.vars.retain(|(k, _)| *k != name);
                } else {
                    self.chan.set_var(&name, &value);
                }
                self.shared.update(|t| t.vars_set.push((name, value)));
                ("+OK".into(), Effect::None)
            }
            "uuid_setvar_multi" if live => {
                let pairs = words.collect::<Vec<_>>().join(" ");
                for pair in pairs.split(';') {
                    let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                    self.chan.set_var(name, value);
                    let p = (name.to_string(), value.to_string());
                    self.shared.update(|t| t.vars_set.push(p));
                }
                ("+OK".into(), Effect::None)
            }
            "uuid_getvar" if live => {
                let name = words.next().unwrap_or("");
                let v = self.chan.var(name).unwrap_or("_undef_").to_string();
                (v, Effect::None)
            }
            "uuid_exists" => (live.to_string(), Effect::None),
            // Answered by the socket's thread at once: CHANNEL_ANSWER, no application events.
            "uuid_answer" if live => ("+OK\n".into(), Effect::Answer),
            "uuid_answer" => ("-ERROR\n".into(), Effect::None),
            // Every module the project's configuration loads is there (script an answer
            // with `api_answer("module_exists mod_shout", "false")` to take one away).
            "module_exists" => ("true".into(), Effect::None),
            // `sched_hangup +<secs> <uuid> [cause]` (mod_commands): the uuid is the second word.
            "sched_hangup" => {
                let secs = target.strip_prefix('+').and_then(|n| n.parse::<u64>().ok());
                let uuid = words.next().unwrap_or("");
                let cause = words.next().unwrap_or("ALLOTTED_TIMEOUT").to_string();
                match secs {
                    Some(secs) if uuid == self.chan.uuid && self.phase == Phase::Up => {
                        let at = tokio::time::Instant::now() + self.cfg.second * secs as u32;
                        self.sched_hangup = Some((at, cause));
                        ("+OK\n".into(), Effect::None)
                    }
                    Some(_) => no_channel(),
                    None => ("-USAGE: <time> <uuid> [<cause>]\n".into(), Effect::None),
                }
            }
            "uuid_break" | "uuid_kill" | "uuid_setvar" | "uuid_setvar_multi" | "uuid_getvar" => {
                no_channel()
            }
            "http_put" => {
                let url = target.to_string();
                let file = words.next().unwrap_or("").to_string();
                (self.http_put(url, file).await, Effect::None)
            }
            _ => ("+OK".into(), Effect::None),
        }
    }

    /// `http_put <url> <file>` as mod_http_cache answers it: `+OK <status>` / `-ERR <status>`
    /// (`-ERR 0` when no HTTP answer came back).
    async fn http_put(&mut self, url: String, file: String) -> String {
        let status = put_audio(&url, &file).await;
        self.note(format!("http_put {url} -> {status:?}"));
        let up = Upload { url, file, status };
        self.shared.update(|t| t.uploads.push(up));
        match status {
            Some(s) if (200..300).contains(&s) => format!("+OK {s}"),
            Some(s) => format!("-ERR {s}"),
            None => "-ERR 0".into(),
        }
    }

    /// A `record` ended: FreeSWITCH closes the file. `http_cache://<url>` is PUT there
    /// (mod_http_cache); a local path whose directory exists gets fake audio written to it,
    /// so a server that reads recordings from disk finds one.
    pub async fn record_file_closed(&mut self, arg: &str) {
        let target = arg.split_whitespace().next().unwrap_or("").to_string();
        if let Some(url) = target.strip_prefix("http_cache://") {
            let status = put_audio(url, url).await;
            self.note(format!("record to http_cache: PUT {url} -> {status:?}"));
            let up = Upload {
                url: url.to_string(),
                file: target.clone(),
                status,
            };
            self.shared.update(|t| t.uploads.push(up));
            return;
        }
        let path = std::path::Path::new(&target);
        let dir_ok = path.is_absolute() && path.parent().is_some_and(|d| d.is_dir());
        if !self.cfg.write_recordings || !dir_ok {
            return;
        }
        let (bytes, _) = fake_audio(&target);
        match tokio::fs::write(path, bytes).await {
            Ok(()) => {
                self.note(format!("recording written to {target}"));
                self.shared.update(|t| t.recordings.push(target));
            }
            Err(e) => self.note(format!("could not write recording {target}: {e}")),
        }
    }
}
