//! Time as the harness sees it.
//!
//! The harness never calls `Instant::now` itself: it reads a [`Clock`], so the
//! stop rule, drift correction, interval and budget logic can be tested with a
//! scripted clock ([`crate::fake::FakeClock`]) that a fake backend advances.

use std::time::{Duration, Instant};

/// A monotonic clock: time elapsed since an arbitrary fixed origin.
pub trait Clock: Send + Sync {
    fn now(&self) -> Duration;
}

/// The real monotonic clock (`Instant`, i.e. `CLOCK_MONOTONIC` on Linux).
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    origin: Instant,
}

impl MonotonicClock {
    pub fn new() -> Self {
        MonotonicClock {
            origin: Instant::now(),
        }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    #[inline]
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}
