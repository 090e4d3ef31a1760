//! Where a call's notes go: the observer (demo, simulator) and, when debug is on for the
//! call, its timeline. Both optional; with neither, a note is built on the stack and
//! dropped, and callers can skip building costly ones with [`Notes::on`].

use std::time::Duration;

use tokio::time::Instant;

use super::Observer;
use crate::call::note::CallNote;
use crate::call::timeline::CallTimeline;

pub(crate) struct Notes {
    observer: Option<Observer>,
    timeline: Option<Box<CallTimeline>>,
    /// The call's start (the connect reply): timeline offsets count from here.
    start: Instant,
}

impl Notes {
    pub(crate) fn new() -> Self {
        Notes {
            observer: None,
            timeline: None,
            start: Instant::now(),
        }
    }

    pub(crate) fn set_observer(&mut self, observer: Observer) {
        self.observer = Some(observer);
    }

    /// The call starts now.
    pub(crate) fn restart_clock(&mut self) {
        self.start = Instant::now();
    }

    /// Time since the call's start.
    pub(crate) fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// True when a note goes anywhere.
    pub(crate) fn on(&self) -> bool {
        self.observer.is_some() || self.timeline.is_some()
    }

    pub(crate) fn note(&mut self, note: CallNote<'_>) {
        if let Some(o) = self.observer.as_mut() {
            o(&note);
        }
        if let Some(t) = self.timeline.as_mut() {
            t.push(self.start.elapsed(), &note);
        }
    }

    pub(crate) fn timeline_on(&self) -> bool {
        self.timeline.is_some()
    }

    /// Starts keeping the timeline (bounded to `max_entries`), unless it is kept already.
    pub(crate) fn start_timeline(&mut self, max_entries: usize) {
        if self.timeline.is_none() {
            self.timeline = Some(Box::new(CallTimeline::new(max_entries)));
        }
    }

    /// Adds a step that happened `at` (before the timeline started) to the timeline only.
    pub(crate) fn keep_at(&mut self, at: Duration, note: CallNote<'_>) {
        if let Some(t) = self.timeline.as_mut() {
            t.push(at, &note);
        }
    }

    pub(crate) fn take_timeline(&mut self) -> Option<CallTimeline> {
        self.timeline.take().map(|t| *t)
    }
}
