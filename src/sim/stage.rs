//! A whole pivot started for simulated calls, the way `pivot serve` starts (through
//! [`App`]), on free local ports with a throwaway debug database, and an observer that
//! writes every call's notes into the [`Timeline`]. Owns the temporary directory and the
//! shutdown; does not know which call is placed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::{self, UnboundedReceiver};
use tokio::task::JoinHandle;

use super::channel::SimCall;
use super::peer::{place_call, PeerReport};
use super::timeline::{Source, Timeline};
use super::SimError;
use crate::app::{self, App};
use crate::call::{CallNote, Observer, ObserverFactory};
use crate::config::Config;
use crate::server::Shutdown;

/// A directory under the system's temp dir, removed when dropped.
pub(super) struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Result<TempDir, SimError> {
        let name = format!("pivot-sim-{}", uuid::Uuid::new_v4().simple());
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir(&path).map_err(SimError::TempDir)?;
        Ok(TempDir(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running pivot.
pub(super) struct Stage {
    pub esl: SocketAddr,
    pub api: SocketAddr,
    shutdown: Shutdown,
    task: JoinHandle<std::io::Result<()>>,
    timeline: Timeline,
    collects: Option<UnboundedReceiver<()>>,
    // Dropped last: the store lives in it.
    _dir: TempDir,
}

/// Local ports chosen by the system, the debug database in `dir`.
pub(super) fn config(dir: &Path) -> Config {
    let mut c = Config::default();
    c.esl.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    c.api.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    c.store.path = dir.join("pivot.db");
    c
}

/// Every note goes into the timeline; a collection's note also tells the simulated caller
/// to press its next digits.
fn observer(timeline: Timeline, collects: mpsc::UnboundedSender<()>) -> ObserverFactory {
    Arc::new(move || -> Observer {
        let timeline = timeline.clone();
        let collects = collects.clone();
        Box::new(move |note: &CallNote<'_>| {
            timeline.note(Source::Pivot, &note.to_string());
            if let CallNote::Collecting { .. } = note {
                let _ = collects.send(());
            }
        })
    })
}

impl Stage {
    /// Starts pivot with [`config`] changed by `change`; routes come from channel variables.
    pub async fn start(
        timeline: &Timeline,
        change: impl FnOnce(&mut Config),
    ) -> Result<Stage, SimError> {
        let dir = TempDir::new()?;
        let mut config = config(dir.path());
        change(&mut config);
        let router = app::load_router(&config).map_err(app::StartError::from)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let factory = observer(timeline.clone(), tx);
        let app = App::start_observed(config, router, Some(factory)).await?;
        let (esl, api, shutdown) = (app.esl_addr, app.api_addr, app.shutdown.clone());
        let task = tokio::spawn(app.run(Duration::from_secs(10)));
        Ok(Stage {
            esl,
            api,
            shutdown,
            task,
            timeline: timeline.clone(),
            collects: Some(rx),
            _dir: dir,
        })
    }

    /// Places one call and plays it to its end (only one call per stage).
    pub async fn call(&mut self, call: SimCall) -> Result<PeerReport, SimError> {
        let collects = self
            .collects
            .take()
            .ok_or_else(|| SimError::Usage("one simulated call per pivot".into()))?;
        place_call(self.esl, call, self.timeline.clone(), collects).await
    }

    /// Stops accepting, lets the call finish, flushes the debug log, stops the API.
    pub async fn stop(self) -> Result<(), SimError> {
        self.shutdown.stop_accepting.cancel();
        match self.task.await {
            Ok(result) => Ok(result?),
            Err(e) => Err(SimError::Stuck(format!("pivot's server task failed: {e}"))),
        }
    }
}
