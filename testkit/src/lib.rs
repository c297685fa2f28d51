//! What Frontier's tests share, written once: scratch directories, the
//! paths of `shared/fixtures`, and the fast measurement flags of tests that
//! check behaviour and formats, never speed. Standard library only, so
//! every crate can take it as a dev-dependency without a cycle.

use std::path::{Path, PathBuf};

/// The `shared/` folder beside the checkout, or `$FRONTIER_SHARED` (what
/// `scripts/test.sh` exports).
pub fn shared() -> PathBuf {
    std::env::var_os("FRONTIER_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
}

/// `shared/fixtures/onnx`: the ONNX files PyTorch exported.
pub fn onnx_fixtures() -> PathBuf {
    shared().join("fixtures/onnx")
}

/// `shared/fixtures/supernet`: the `ofa` package's supernet and its
/// reference outputs.
pub fn supernet_fixtures() -> PathBuf {
    shared().join("fixtures/supernet")
}

/// A fresh, empty directory for one test: `frontier-<name>-<pid>-<thread>`
/// under the system's temporary directory. The process and thread keep
/// concurrent runs and tests apart (two tests may use one name); within a
/// test the same name is the same directory, emptied on each call.
pub fn scratch(name: &str) -> PathBuf {
    let thread: String = format!("{:?}", std::thread::current().id())
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let d = std::env::temp_dir().join(format!("frontier-{name}-{}-{thread}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
    remove_at_exit(&d);
    d
}

/// Scratch directories of this process, removed when it exits (tests that
/// forgot to, or failed before they could, left hundreds of MB each in the
/// temporary directory per run; a full disk then broke every build).
/// `FRONTIER_KEEP_SCRATCH=1` keeps them, to look at what a failing test
/// left.
static SCRATCH: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

extern "C" {
    // C's atexit (std only: no libc crate): runs when the test binary exits,
    // after every test, passed or failed.
    fn atexit(f: extern "C" fn()) -> std::ffi::c_int;
}

extern "C" fn remove_scratch() {
    if std::env::var_os("FRONTIER_KEEP_SCRATCH").is_some() {
        return;
    }
    if let Ok(dirs) = SCRATCH.lock() {
        for d in dirs.iter() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn remove_at_exit(d: &Path) {
    let mut dirs = SCRATCH.lock().unwrap_or_else(|e| e.into_inner());
    if dirs.is_empty() {
        // SAFETY: registers a plain function; it only touches a static.
        unsafe {
            atexit(remove_scratch);
        }
    }
    if !dirs.iter().any(|x| x == d) {
        dirs.push(d.to_path_buf());
    }
}

/// Fast measurement flags for `frontier profile`: a few runs per model,
/// the probe's reference from the session itself (nothing stored). For
/// tests of behaviour and formats, never of speed.
pub const FAST: &[&str] = &[
    "--warmup",
    "1",
    "--warmup-time",
    "0",
    "--min-runs",
    "4",
    "--min-time",
    "50ms",
    "--max-time",
    "300ms",
    "--rounds",
    "2",
    "--probe-ref",
    "session",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_is_fresh_and_empty() {
        let d = scratch("testkit-self");
        std::fs::write(d.join("x"), b"x").unwrap();
        let again = scratch("testkit-self");
        assert_eq!(d, again);
        assert_eq!(std::fs::read_dir(&again).unwrap().count(), 0);
        std::fs::remove_dir_all(&again).unwrap();
    }

    #[test]
    fn fast_flags_come_in_pairs() {
        assert_eq!(FAST.len() % 2, 0);
        assert!(FAST.iter().step_by(2).all(|f| f.starts_with("--")));
    }
}
