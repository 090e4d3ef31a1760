//! Gives the heap's free pages back to the operating system after load. glibc's allocator
//! keeps what a burst of calls freed (a page is returned only when nothing is live at the
//! top of the heap), so without this RSS stays near its peak long after the calls ended
//! (docs/performance.md, "Memory per call"). A low-priority loop samples the call counters
//! once a second and calls `malloc_trim(0)` (which also returns free pages in the middle of
//! the heap) on a blocking thread when the load has changed recently and is not growing.
//! A no-op where the allocator is not glibc's.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::call::Engine;

/// How often the call counters are read.
const TICK: Duration = Duration::from_secs(1);
/// The least time between two trims.
const MIN_GAP: Duration = Duration::from_secs(5);
/// How long after the counters last changed trims go on: longer than the web client's pool
/// idle timeout (30 s), so the connections a burst of requests opened are gone by the last.
const AFTER_CHANGE: Duration = Duration::from_secs(45);

/// The call counters at one tick: (calls in progress, calls ever accepted).
pub type Sample = (u64, u64);

/// When to trim, from the samples alone (no clock or allocator here, for tests).
#[derive(Debug, Default)]
pub struct TrimPolicy {
    last: Option<Sample>,
    changed: Option<Instant>,
    trimmed: Option<Instant>,
}

impl TrimPolicy {
    /// True when the heap should be trimmed now: the counters changed within
    /// [`AFTER_CHANGE`], no call started since the last tick, and the last trim is at
    /// least [`MIN_GAP`] old. A steady stream of calls is not trimmed (its memory is in use
    /// and reused); a pause of a second in it is.
    pub fn tick(&mut self, now: Instant, sample: Sample) -> bool {
        // Calls arriving (or more of them in progress): memory freed now would be taken
        // again at once, and a trim then competes with the calls for the arenas' locks.
        let growing = self
            .last
            .is_some_and(|(active, total)| sample.0 > active || sample.1 > total);
        if self.last.is_some_and(|last| last != sample) {
            self.changed = Some(now);
        }
        self.last = Some(sample);
        let recent = self
            .changed
            .is_some_and(|at| now.duration_since(at) <= AFTER_CHANGE);
        let due = self
            .trimmed
            .is_none_or(|at| now.duration_since(at) >= MIN_GAP);
        if recent && due && !growing {
            self.trimmed = Some(now);
            return true;
        }
        false
    }
}

/// Samples the engine's call counters every second until `stop`, trimming the heap when
/// [`TrimPolicy`] says so.
pub async fn trim_after_load(engine: Arc<Engine>, stop: CancellationToken) {
    if !SUPPORTED {
        return;
    }
    let mut policy = TrimPolicy::default();
    let mut ticks = tokio::time::interval(TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            now = ticks.tick() => {
                let stats = &engine.stats;
                let sample = (
                    stats.calls_active.load(Ordering::Relaxed),
                    stats.calls_total.load(Ordering::Relaxed),
                );
                if policy.tick(now, sample) {
                    let started = std::time::Instant::now();
                    let released = tokio::task::spawn_blocking(trim).await.unwrap_or(false);
                    let ms = started.elapsed().as_secs_f64() * 1e3;
                    tracing::debug!(released, ms, "heap trimmed");
                }
            }
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
const SUPPORTED: bool = true;
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
const SUPPORTED: bool = false;

/// Returns every free page of every glibc arena to the OS; true when some memory was released.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn trim() -> bool {
    // SAFETY: `malloc_trim` is glibc's own entry point, safe to call from any thread at any
    // time: it takes each arena's lock, merges free chunks and `madvise`s away the pages
    // that hold no live allocation. It reads no pointer of ours and has no precondition.
    // The `libc` crate declares it with glibc's signature. This is the crate's only
    // `unsafe` block: no safe binding of it exists in a well-kept crate.
    unsafe { libc::malloc_trim(0) != 0 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Instant {
        // A fixed origin: the policy only compares instants.
        static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *ORIGIN.get_or_init(Instant::now) + Duration::from_secs(secs)
    }

    #[test]
    fn an_idle_process_is_never_trimmed() {
        let mut policy = TrimPolicy::default();
        assert!((0..100).all(|s| !policy.tick(at(s), (0, 0))));
    }

    #[test]
    fn trims_when_calls_end_and_stops_when_nothing_changes() {
        let mut policy = TrimPolicy::default();
        assert!(!policy.tick(at(0), (100, 100)));
        // Calls ending: trimmed at once, then no more often than MIN_GAP.
        assert!(policy.tick(at(1), (50, 100)));
        assert!(!policy.tick(at(2), (0, 100)));
        assert!(!policy.tick(at(5), (0, 100)));
        assert!(policy.tick(at(6), (0, 100)));
        // Still within AFTER_CHANGE of the last change (at 2 s): pooled connections closing.
        assert!(policy.tick(at(47), (0, 100)));
        // Past it: nothing more until the counters move again.
        assert!((48..200).all(|s| !policy.tick(at(s), (0, 100))));
        // A call came and went: trimmed once it stops arriving.
        assert!(!policy.tick(at(200), (1, 101)));
        assert!(policy.tick(at(201), (0, 101)));
    }

    #[test]
    fn never_trims_while_calls_arrive() {
        let mut policy = TrimPolicy::default();
        assert!(!policy.tick(at(0), (0, 0)));
        for s in 1..20 {
            assert!(!policy.tick(at(s), (s * 10, s * 10)), "climbing, tick {s}");
        }
        for s in 20..40 {
            // Steady: as many calls end as start.
            assert!(!policy.tick(at(s), (190, s * 10)), "steady, tick {s}");
        }
        // No call started in the last second: trimmed.
        assert!(policy.tick(at(40), (150, 390)));
    }
}
