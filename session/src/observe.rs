//! How a caller follows a session: the [`Observer`] trait, two plain
//! observers, and start-up milestones.

use frontier_profiler::harness::Progress;

/// What a caller sees of a running session.
pub trait Observer {
    /// A step of start-up is done (for start-up timings).
    fn milestone(&mut self, _what: &'static str) {}
    /// Subjects are prepared; measurement starts (names per subject).
    fn measuring(&mut self, _names: &[String], _rounds: u32) {}
    fn progress(&mut self, _p: &Progress) {}
    /// Something the user should know that is not a failure.
    fn warn(&mut self, _message: &str) {}
    /// A model or backend that failed (also in [`Outcome::failures`]).
    fn error(&mut self, _message: &str) {}
    /// What the session is doing, for a user who wants to follow it (a
    /// contention level starting).
    fn note(&mut self, _message: &str) {}
}

/// Start-up milestones, printed on stderr when `FRONTIER_TIMINGS` is set (for
/// the start-up benchmark of docs/BENCHMARKS.md).
pub struct Milestones {
    start: std::time::Instant,
    on: bool,
    marks: Vec<(&'static str, f64)>,
}

impl Default for Milestones {
    fn default() -> Self {
        Milestones::new()
    }
}

impl Milestones {
    pub fn new() -> Self {
        Milestones {
            start: std::time::Instant::now(),
            on: std::env::var_os("FRONTIER_TIMINGS").is_some(),
            marks: Vec::new(),
        }
    }

    pub fn mark(&mut self, what: &'static str) {
        if self.on {
            self.marks
                .push((what, self.start.elapsed().as_secs_f64() * 1e3));
        }
    }

    pub fn print(&self) {
        if self.on {
            let parts: Vec<String> = self
                .marks
                .iter()
                .map(|(w, t)| format!("{w} {t:.1} ms"))
                .collect();
            eprintln!("timings since start: {}", parts.join(", "));
        }
    }
}

/// An observer that prints errors on stderr, and warnings when asked
/// (commands that run a session inside another task, as a search's
/// verification).
pub struct Stderr {
    pub warnings: bool,
}

impl Observer for Stderr {
    fn warn(&mut self, message: &str) {
        if self.warnings {
            eprintln!("warning: {message}");
        }
    }
    fn error(&mut self, message: &str) {
        eprintln!("error: {message}");
    }
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {}
