//! What the FreeSWITCH on the other end of a call can do for recordings: mp3 files need
//! mod_shout, `http_put` needs mod_http_cache. Asked once per switch (`module_exists`, by
//! the switch's Core-UUID) the first time one of its calls records, and remembered, so
//! calls that never record cost the switch nothing. Without mod_shout pivot records wav;
//! without mod_http_cache it uploads the file itself (it must see the recordings directory,
//! e.g. a volume shared with FreeSWITCH). Each fallback is logged once per switch.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::esl::Command;

use super::runner::CallRun;
use super::session::SessionError;

/// The recording modules a switch has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Modules {
    /// mod_shout: `.mp3` recordings.
    pub mp3: bool,
    /// mod_http_cache: `api http_put`.
    pub http_put: bool,
}

/// Most switches remembered (a peer cannot grow the map without limit with made-up ids).
const MAX_SWITCHES: usize = 1024;

/// The switches seen so far, by Core-UUID.
#[derive(Debug, Default)]
pub struct Switches(Mutex<HashMap<String, Modules>>);

impl Switches {
    fn get(&self, core: &str) -> Option<Modules> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(core).copied()
    }

    fn put(&self, core: &str, m: Modules) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_SWITCHES && !map.contains_key(core) {
            map.clear();
        }
        map.insert(core.to_string(), m);
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> CallRun<'_, T> {
    /// The recording modules of this call's switch (asked once per switch).
    pub(super) async fn modules(&mut self) -> Result<Modules, SessionError> {
        let core = self.facts.core_uuid.clone();
        if let Some(m) = self.engine.switches.get(&core) {
            return Ok(m);
        }
        let mp3 = self.module_exists("mod_shout").await?;
        let http_put = self.module_exists("mod_http_cache").await?;
        let m = Modules { mp3, http_put };
        if !mp3 {
            tracing::warn!(switch = %core, "mod_shout is not loaded on this FreeSWITCH: recordings are made as .wav instead of .mp3");
        }
        if !http_put {
            tracing::warn!(switch = %core, dir = %self.engine.config.media.recordings_dir, "mod_http_cache is not loaded on this FreeSWITCH: pivot uploads recordings itself from the recordings directory (it must be shared with FreeSWITCH)");
        }
        self.engine.switches.put(&core, m);
        Ok(m)
    }

    async fn module_exists(&mut self, module: &str) -> Result<bool, SessionError> {
        let reply = self
            .session
            .command(Command::Api(format!("module_exists {module}")))
            .await?;
        Ok(reply.trim() == "true")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_map_is_bounded() {
        let s = Switches::default();
        let m = Modules {
            mp3: true,
            http_put: false,
        };
        for i in 0..MAX_SWITCHES + 10 {
            s.put(&i.to_string(), m);
        }
        assert!(s.0.lock().unwrap().len() <= MAX_SWITCHES);
        assert_eq!(s.get(&(MAX_SWITCHES + 9).to_string()), Some(m));
    }
}
