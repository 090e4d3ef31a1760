//! The process-wide budget of read-buffer bytes: frames that have begun and not ended, on
//! every connection together. A peer that sends a frame one byte short of its announced
//! length, and then nothing, pins what it sent; without a shared budget each such peer
//! could pin `max_frame_bytes` (16 MiB by default).
//!
//! Each connection reads its first [`FREE_BYTES`] without asking: FreeSWITCH's frames are
//! a few KiB (a connect reply with hundreds of variables, a CHANNEL_HANGUP_COMPLETE), so
//! ordinary calls never touch the shared counter. Bytes beyond that are taken from the
//! budget while they sit in the buffer and given back as frames complete; a connection
//! that cannot take what it needs fails with [`super::EslError::Budget`] and its buffer is
//! freed with it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// Bytes a connection may buffer without taking from the budget.
pub const FREE_BYTES: usize = 16 << 10;

/// The shared budget (`esl.read_budget_bytes`).
#[derive(Debug)]
pub struct ReadBudget {
    total: usize,
    used: AtomicUsize,
    refusals: AtomicU64,
}

impl ReadBudget {
    pub fn new(total: usize) -> Arc<Self> {
        Arc::new(ReadBudget {
            total,
            used: AtomicUsize::new(0),
            refusals: AtomicU64::new(0),
        })
    }

    pub fn total(&self) -> usize {
        self.total
    }

    /// Bytes taken right now, by every connection.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Connections that failed because the budget was spent.
    pub fn refusals(&self) -> u64 {
        self.refusals.load(Ordering::Relaxed)
    }

    fn try_take(&self, n: usize) -> bool {
        let taken = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|&after| after <= self.total)
            })
            .is_ok();
        if !taken {
            self.refusals.fetch_add(1, Ordering::Relaxed);
        }
        taken
    }

    fn give_back(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }
}

/// One connection's share of the budget: what it holds now. Given back when dropped.
#[derive(Debug)]
pub(super) struct Charge {
    budget: Arc<ReadBudget>,
    held: usize,
}

/// The budget was spent: a connection's buffer could not grow to `buffered` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Spent {
    pub buffered: usize,
    pub total: usize,
}

impl Charge {
    pub(super) fn new(budget: Arc<ReadBudget>) -> Self {
        Charge { budget, held: 0 }
    }

    /// Brings what this connection holds in line with `buffered` bytes in its read buffer.
    #[inline]
    pub(super) fn settle(&mut self, buffered: usize) -> Result<(), Spent> {
        let want = buffered.saturating_sub(FREE_BYTES);
        if want == self.held {
            return Ok(());
        }
        if want < self.held {
            self.budget.give_back(self.held - want);
        } else if !self.budget.try_take(want - self.held) {
            return Err(Spent {
                buffered,
                total: self.budget.total,
            });
        }
        self.held = want;
        Ok(())
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        if self.held > 0 {
            self.budget.give_back(self.held);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn small_buffers_are_free_and_big_ones_share_the_total() {
        let budget = ReadBudget::new(100_000);
        let mut a = Charge::new(budget.clone());
        let mut b = Charge::new(budget.clone());
        a.settle(FREE_BYTES).unwrap();
        assert_eq!(budget.used(), 0, "a connection's first bytes are free");
        a.settle(FREE_BYTES + 60_000).unwrap();
        assert_eq!(budget.used(), 60_000);
        let spent = b.settle(FREE_BYTES + 50_000).unwrap_err();
        assert_eq!(spent.total, 100_000);
        assert_eq!(budget.used(), 60_000, "a refusal takes nothing");
        assert_eq!(budget.refusals(), 1);
        a.settle(10).unwrap();
        assert_eq!(budget.used(), 0, "a completed frame gives its bytes back");
        b.settle(FREE_BYTES + 50_000).unwrap();
        drop(b);
        assert_eq!(
            budget.used(),
            0,
            "a closed connection gives back what it held"
        );
    }
}
