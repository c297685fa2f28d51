//! Resident memory added by loading and running a model.
//!
//! Linux keeps a per-process high-water mark of resident memory (`VmHWM` in
//! `/proc/self/status`); writing `5` to `/proc/self/clear_refs` (Linux 4.0+)
//! resets it to the current RSS. [`PeakTracker::start`] resets it and records
//! the current RSS; [`PeakTracker::added_mb`] is the high-water mark since
//! then minus that baseline: the peak memory the model added, including
//! transient buffers freed before the reading. Memory freed by earlier
//! models would be reused without raising the resident set, so with glibc
//! the tracker first returns free heap memory to the kernel (`malloc_trim`);
//! with other allocators a model profiled after others may read low. Where the reset is not
//! possible (not Linux, or `clear_refs` not writable) the figure would be
//! contaminated by earlier peaks, so it is `None` rather than wrong.
//!
//! Dirty page cache is the other memory matter of a measurement: models
//! just written by `frontier export` (hundreds of MB) are written back by
//! the kernel within the next half minute, taking CPU time and I/O from
//! whatever is measured then; on a board's SD card for much longer. In the
//! test-retest benchmark of `docs/BENCHMARKS.md` the invocation that ran
//! right after exporting 372 MB of models was the slower one in all seven
//! repetitions before this (raw medians 0.6-7.6% apart, six of them by 2% or
//! more). [`flush_dirty`]
//! writes the page cache back before measuring instead.

/// Memory the system could give this process now, in bytes: the budget
/// against which absurd shapes are refused before anything is allocated.
pub fn available_memory() -> u64 {
    let mut sys = sysinfo::System::new();
    sys.refresh_memory();
    sys.available_memory()
}

/// A `Field:   123 kB` value of `/proc/meminfo` or `/proc/self/status`
/// text, in KiB.
fn meminfo_kb(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Page cache waiting to be written back (`Dirty` + `Writeback` of
/// `/proc/meminfo`), in bytes; `None` where that file is not readable.
pub fn dirty_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb = meminfo_kb(&text, "Dirty")? + meminfo_kb(&text, "Writeback").unwrap_or(0);
    Some(kb * 1024)
}

/// When more than `threshold` bytes of page cache wait to be written back,
/// write them back now (`sync(2)`, which returns once they are written) and
/// return how many there were; else `None`.
pub fn flush_dirty(threshold: u64) -> Option<u64> {
    let dirty = dirty_bytes()?;
    if dirty <= threshold {
        return None;
    }
    // SAFETY: sync(2) takes no arguments and cannot fail.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::sync()
    };
    Some(dirty)
}

fn status_kb(field: &str) -> Option<u64> {
    meminfo_kb(&std::fs::read_to_string("/proc/self/status").ok()?, field)
}

/// Current resident set size in KiB.
pub fn current_rss_kb() -> Option<u64> {
    status_kb("VmRSS")
}

/// High-water mark of the resident set in KiB.
pub fn peak_rss_kb() -> Option<u64> {
    status_kb("VmHWM")
}

fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Tracks the peak resident memory added from a starting point.
#[derive(Debug, Clone, Copy)]
pub struct PeakTracker {
    baseline_kb: Option<u64>,
}

/// Return free heap memory to the kernel, so the next model's allocations
/// raise the resident set instead of reusing memory earlier models freed.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of glibc's allocator.
    unsafe {
        libc::malloc_trim(0);
    }
}

impl PeakTracker {
    pub fn start() -> Self {
        release_free_memory();
        let ok = reset_peak();
        PeakTracker {
            baseline_kb: if ok { current_rss_kb() } else { None },
        }
    }

    /// Peak resident memory added since [`start`](Self::start), in MiB.
    pub fn added_mb(&self) -> Option<f64> {
        let base = self.baseline_kb?;
        let peak = peak_rss_kb()?;
        Some(peak.saturating_sub(base) as f64 / 1024.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_fields() {
        let text = "MemTotal:       24682248 kB\nDirty:             38112 kB\nWriteback:           12 kB\nDirtyish: 5 kB\n";
        assert_eq!(meminfo_kb(text, "Dirty"), Some(38112));
        assert_eq!(meminfo_kb(text, "Writeback"), Some(12));
        assert_eq!(meminfo_kb(text, "Cached"), None);
        assert_eq!(meminfo_kb("Dirty: lots kB", "Dirty"), None);
    }

    #[test]
    fn nothing_is_flushed_below_the_threshold() {
        if dirty_bytes().is_none() {
            return; // no /proc/meminfo
        }
        assert_eq!(flush_dirty(u64::MAX), None);
    }

    #[test]
    fn sees_an_allocation() {
        if current_rss_kb().is_none() {
            return; // not Linux
        }
        let t = PeakTracker::start();
        let Some(before) = t.added_mb() else { return };
        // Touch 64 MiB so it is resident, then free it: the peak must remember it.
        let v = vec![1u8; 64 << 20];
        std::hint::black_box(&v);
        drop(v);
        let after = t.added_mb().unwrap();
        assert!(
            after - before >= 60.0,
            "peak grew by only {} MiB",
            after - before
        );
    }
}
