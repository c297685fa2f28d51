//! Finding `libonnxruntime` and checking it before `ort` sees it.
//!
//! `ort` loads the library once per process and panics on some bad libraries
//! (a missing symbol, an API level the library does not provide), and a
//! library that failed to load leaves nothing usable behind. So every check
//! that can be made first is made here, each with its own error:
//!
//! 1. the path exists and is a regular, non-empty file;
//! 2. it is an ELF shared object for this CPU (`e_machine` and ELF class read
//!    from the header, so a wrong-architecture library is named as such
//!    rather than as a `dlopen` message);
//! 3. it loads and exports `OrtGetApiBase` (otherwise it is not ONNX Runtime);
//! 4. its version string (`OrtApiBase::GetVersionString`) is at least
//!    1.[`REQUIRED_MINOR`], the oldest this build runs with (its API level,
//!    and 1.22 aborts on session creation).
//!
//! Search order ([`locate`]): `--ort-lib`, then `ORT_DYLIB_PATH`, then the
//! directory of the running binary (and its `lib/`), `~/.local/lib/frontier`
//! (where `scripts/fetch-onnxruntime.sh` installs), then the system library
//! directories. In a directory, `libonnxruntime.so`, `libonnxruntime.so.1` and
//! the highest `libonnxruntime.so.1.N.M` are tried.

use std::ffi::CStr;
use std::path::{Path, PathBuf};

/// The oldest ONNX Runtime this build runs with. `ort`'s `api-22` feature
/// would accept 1.22, but 1.22.0 and 1.22.1 abort the process when a
/// session is created through it (an assertion on an empty list of
/// execution-provider devices, measured 2026-12-06; 1.23.2, 1.24.1 and
/// 1.32.0 work), so 1.22 is refused here with the fix instead.
pub const REQUIRED_MINOR: u32 = 23;

/// The version `scripts/fetch-onnxruntime.sh` installs and the tests use.
pub const FETCHED_VERSION: &str = "1.32.0";

const FETCH_HINT: &str = "run scripts/fetch-onnxruntime.sh (it installs libonnxruntime.so.1.32.0 into ~/.local/lib/frontier), or give --ort-lib PATH or ORT_DYLIB_PATH";

/// Why a library cannot be used. Each message names the file and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LibraryError {
    #[error("no ONNX Runtime library found (searched {searched}); fix: {FETCH_HINT}")]
    NotFound { searched: String },

    #[error("{path}: no such file (given by {source_name}); fix: {FETCH_HINT}")]
    Missing { path: PathBuf, source_name: String },

    #[error("{path}: not a shared library ({reason}); fix: point --ort-lib at libonnxruntime.so.* from an onnxruntime release, or {FETCH_HINT}")]
    NotALibrary { path: PathBuf, reason: String },

    #[error("{path}: a library for {found}, but this binary runs on {expected}; fix: scripts/fetch-onnxruntime.sh {expected} fetches the right one")]
    WrongArchitecture {
        path: PathBuf,
        found: String,
        expected: String,
    },

    #[error("{path}: loads, but is not ONNX Runtime (no OrtGetApiBase symbol); fix: point --ort-lib at libonnxruntime.so.*")]
    NotOnnxRuntime { path: PathBuf },

    #[error("{path}: ONNX Runtime {found} is older than 1.{required}, the oldest this build runs with; fix: {FETCH_HINT}")]
    TooOld {
        path: PathBuf,
        found: String,
        required: u32,
    },

    #[error("{path}: cannot be loaded: {detail}; fix: check that its dependencies (libstdc++, glibc) are present, or {FETCH_HINT}")]
    Load { path: PathBuf, detail: String },
}

/// Where a library path came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env,
    Searched,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Flag => "--ort-lib",
            Source::Env => "ORT_DYLIB_PATH",
            Source::Searched => "search",
        }
    }
}

/// A checked library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryInfo {
    pub path: PathBuf,
    pub source: Source,
    /// As the library reports it, e.g. `1.32.0`.
    pub version: String,
}

/// Directories searched when neither `--ort-lib` nor `ORT_DYLIB_PATH` is set,
/// in order.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        dirs.push(exe_dir.join("lib"));
        dirs.push(exe_dir);
    }
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        dirs.push(PathBuf::from(home).join(".local/lib/frontier"));
    }
    let multiarch = format!("/usr/lib/{}", multiarch_dir());
    for d in [
        "/usr/local/lib",
        multiarch.as_str(),
        "/usr/lib",
        "/usr/lib64",
        "/opt/onnxruntime/lib",
    ] {
        dirs.push(PathBuf::from(d));
    }
    dirs
}

/// Debian's multiarch directory name for this CPU.
fn multiarch_dir() -> String {
    match std::env::consts::ARCH {
        "arm" => "arm-linux-gnueabihf".into(),
        other => format!("{other}-linux-gnu"),
    }
}

/// The library file in `dir`, if any: `libonnxruntime.so`, then
/// `libonnxruntime.so.1`, then the highest `libonnxruntime.so.1.N.M`.
pub fn find_in_dir(dir: &Path) -> Option<PathBuf> {
    for name in ["libonnxruntime.so", "libonnxruntime.so.1"] {
        let p = dir.join(name);
        if p.is_file() {
            return Some(p);
        }
    }
    let mut versioned: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let v = name.strip_prefix("libonnxruntime.so.")?;
            let parts: Option<Vec<u32>> = v.split('.').map(|p| p.parse().ok()).collect();
            Some((parts?, e.path()))
        })
        .filter(|(_, p)| p.is_file())
        .collect();
    versioned.sort();
    versioned.pop().map(|(_, p)| p)
}

/// Choose the library path by the documented order, without loading it.
pub fn locate(flag: Option<&Path>) -> Result<(PathBuf, Source), LibraryError> {
    if let Some(p) = flag {
        return Ok((p.to_path_buf(), Source::Flag));
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return Ok((PathBuf::from(p), Source::Env));
    }
    let dirs = search_dirs();
    for d in &dirs {
        if let Some(p) = find_in_dir(d) {
            return Ok((p, Source::Searched));
        }
    }
    Err(LibraryError::NotFound {
        searched: dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// ELF `e_machine` of the CPU this binary was built for, and its name.
fn expected_machine() -> (u16, bool, &'static str) {
    // (e_machine, 64-bit, name used by fetch-onnxruntime.sh)
    match std::env::consts::ARCH {
        "x86_64" => (62, true, "x86_64"),
        "aarch64" => (183, true, "aarch64"),
        "arm" => (40, false, "armv7"),
        "x86" => (3, false, "x86"),
        "riscv64" => (243, true, "riscv64"),
        other => (0, true, other),
    }
}

fn machine_name(machine: u16, is64: bool) -> String {
    match (machine, is64) {
        (62, _) => "x86_64".into(),
        (183, _) => "aarch64".into(),
        (40, _) => "armv7".into(),
        (3, _) => "x86".into(),
        (243, _) => "riscv64".into(),
        (m, true) => format!("ELF machine {m} (64-bit)"),
        (m, false) => format!("ELF machine {m} (32-bit)"),
    }
}

/// Steps 1 and 2: the file exists and is a shared object for this CPU.
pub fn check_header(path: &Path, source: Source) -> Result<(), LibraryError> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|_| LibraryError::Missing {
        path: path.to_path_buf(),
        source_name: source.as_str().into(),
    })?;
    let not_lib = |reason: &str| LibraryError::NotALibrary {
        path: path.to_path_buf(),
        reason: reason.into(),
    };
    if !meta.is_file() {
        return Err(not_lib("not a regular file"));
    }
    let mut header = [0u8; 20];
    let mut f = std::fs::File::open(path).map_err(|e| LibraryError::Load {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let n = f.read(&mut header).unwrap_or(0);
    if n < header.len() || &header[..4] != b"\x7fELF" {
        return Err(not_lib("no ELF header"));
    }
    let is64 = match header[4] {
        1 => false,
        2 => true,
        _ => return Err(not_lib("unknown ELF class")),
    };
    let e_type = match header[5] {
        1 => u16::from_le_bytes([header[16], header[17]]),
        2 => u16::from_be_bytes([header[16], header[17]]),
        _ => return Err(not_lib("unknown ELF byte order")),
    };
    let machine = match header[5] {
        1 => u16::from_le_bytes([header[18], header[19]]),
        _ => u16::from_be_bytes([header[18], header[19]]),
    };
    let (want, want64, name) = expected_machine();
    if machine != want || is64 != want64 {
        return Err(LibraryError::WrongArchitecture {
            path: path.to_path_buf(),
            found: machine_name(machine, is64),
            expected: name.into(),
        });
    }
    // ET_DYN (3): shared objects; an executable or object file cannot be dlopened.
    if e_type != 3 {
        return Err(not_lib("an ELF file, but not a shared object"));
    }
    Ok(())
}

/// Parse `major.minor[.patch]`.
fn parse_version(v: &str) -> Option<(u32, u32)> {
    let mut parts = v.trim().split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// All four checks; on success the library stays loaded in this process
/// (loading it again, as `ort` does next, is then a reference count).
pub fn check(path: &Path, source: Source) -> Result<LibraryInfo, LibraryError> {
    check_header(path, source)?;
    // SAFETY: loading a shared library runs its initializers. The header
    // checks above exclude files that are not shared objects for this CPU;
    // beyond that, loading the library the user pointed at is the purpose.
    let lib = unsafe { libloading::Library::new(path) }.map_err(|e| LibraryError::Load {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    type GetApiBase = unsafe extern "C" fn() -> *const ort::sys::OrtApiBase;
    // SAFETY: the symbol's type is the one ONNX Runtime's C API declares.
    let getter = unsafe { lib.get::<GetApiBase>(b"OrtGetApiBase\0") }.map_err(|_| {
        LibraryError::NotOnnxRuntime {
            path: path.to_path_buf(),
        }
    })?;
    // SAFETY: OrtGetApiBase takes no arguments and returns a pointer to a
    // static struct; GetVersionString returns a static NUL-terminated string.
    let version = unsafe {
        let base = getter();
        if base.is_null() {
            return Err(LibraryError::NotOnnxRuntime {
                path: path.to_path_buf(),
            });
        }
        let s = ((*base).GetVersionString)();
        if s.is_null() {
            return Err(LibraryError::NotOnnxRuntime {
                path: path.to_path_buf(),
            });
        }
        CStr::from_ptr(s).to_string_lossy().into_owned()
    };
    match parse_version(&version) {
        Some((1, minor)) if minor >= REQUIRED_MINOR => {}
        Some((major, _)) if major > 1 => {}
        _ => {
            return Err(LibraryError::TooOld {
                path: path.to_path_buf(),
                found: version,
                required: REQUIRED_MINOR,
            })
        }
    }
    // Keep it loaded: unloading and reloading ONNX Runtime is not supported
    // by all of its builds, and `ort` loads the same file next.
    std::mem::forget(lib);
    Ok(LibraryInfo {
        path: path.to_path_buf(),
        source,
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("1.32.0"), Some((1, 32)));
        assert_eq!(parse_version("1.9"), Some((1, 9)));
        assert_eq!(parse_version("garbage"), None);
    }

    #[test]
    fn highest_versioned_file_wins() {
        let d = std::env::temp_dir().join(format!("frontier-libdir-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        for n in [
            "libonnxruntime.so.1.9.0",
            "libonnxruntime.so.1.32.0",
            "libonnxruntime.so.1.22.1",
            "libonnxruntime_providers_shared.so",
        ] {
            std::fs::write(d.join(n), b"x").unwrap();
        }
        assert_eq!(find_in_dir(&d), Some(d.join("libonnxruntime.so.1.32.0")));
        std::fs::write(d.join("libonnxruntime.so"), b"x").unwrap();
        assert_eq!(find_in_dir(&d), Some(d.join("libonnxruntime.so")));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn flag_wins_over_everything() {
        let (p, s) = locate(Some(Path::new("/x/libonnxruntime.so"))).unwrap();
        assert_eq!(p, PathBuf::from("/x/libonnxruntime.so"));
        assert_eq!(s, Source::Flag);
    }
}
