//! Each way the ONNX Runtime library can be wrong gives its own clear error,
//! with no panic, and leaves tract usable (issue: "no panics from the
//! library"). The real library comes from `scripts/fetch-onnxruntime.sh`.
#![cfg(all(feature = "ort", not(target_env = "musl")))]

use std::path::{Path, PathBuf};
use std::process::Command;

use frontier_profiler::backend::Backend;
use frontier_profiler::ort_backend::library::{self, LibraryError, Source};
use frontier_profiler::ort_backend::OrtBackend;
use frontier_testkit::scratch;

/// The real library, found the way the agent finds it.
fn real_library() -> PathBuf {
    library::locate(None)
        .expect("libonnxruntime not found: run scripts/fetch-onnxruntime.sh")
        .0
}

#[test]
fn the_real_library_passes_every_check() {
    let info = library::check(&real_library(), Source::Searched).unwrap();
    assert!(info.version.starts_with("1."), "{}", info.version);
}

#[test]
fn missing_file() {
    let p = scratch("missing").join("libonnxruntime.so");
    let e = library::check(&p, Source::Flag).unwrap_err();
    assert!(matches!(e, LibraryError::Missing { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("--ort-lib") && text.contains("fetch-onnxruntime.sh"),
        "{text}"
    );
}

#[test]
fn not_a_library() {
    let p = scratch("text").join("libonnxruntime.so");
    std::fs::write(&p, "this is not a library\n").unwrap();
    let e = library::check(&p, Source::Flag).unwrap_err();
    assert!(matches!(e, LibraryError::NotALibrary { .. }), "{e}");
    assert!(e.to_string().contains("libonnxruntime.so"), "{e}");
}

/// The header of the real library with another CPU's machine number: what
/// the aarch64 wheel's library looks like to an x86_64 binary (and vice versa).
#[test]
fn wrong_architecture() {
    let real = std::fs::read(real_library()).unwrap();
    let mut header = real[..4096.min(real.len())].to_vec();
    let foreign: u16 = if cfg!(target_arch = "aarch64") {
        62
    } else {
        183
    };
    header[18..20].copy_from_slice(&foreign.to_le_bytes());
    let p = scratch("arch").join("libonnxruntime.so.1.32.0");
    std::fs::write(&p, header).unwrap();
    let e = library::check(&p, Source::Flag).unwrap_err();
    assert!(matches!(e, LibraryError::WrongArchitecture { .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains("fetch-onnxruntime.sh"), "{text}");
    // A fetched library for another architecture, when present, is refused too.
    let other = if cfg!(target_arch = "aarch64") {
        "x86_64"
    } else {
        "aarch64"
    };
    if let Some(home) = std::env::var_os("HOME") {
        let dir = Path::new(&home).join(".local/lib/frontier").join(other);
        if let Some(lib) = library::find_in_dir(&dir) {
            let e = library::check(&lib, Source::Flag).unwrap_err();
            assert!(matches!(e, LibraryError::WrongArchitecture { .. }), "{e}");
        }
    }
}

/// A real shared library of this CPU that is not ONNX Runtime: the provider
/// bridge shipped beside it in the wheel, or the C math library.
#[test]
fn a_library_that_is_not_onnx_runtime() {
    let beside = real_library().with_file_name("libonnxruntime_providers_shared.so");
    let libm = [
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/lib/aarch64-linux-gnu/libm.so.6",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists());
    let p = if beside.exists() {
        beside
    } else {
        libm.expect("some non-ORT shared library")
    };
    let e = library::check(&p, Source::Flag).unwrap_err();
    assert!(
        matches!(e, LibraryError::NotOnnxRuntime { .. }),
        "{p:?}: {e}"
    );
}

/// A library exporting ONNX Runtime's entry point with an old version string,
/// built here with the system C compiler.
#[test]
fn too_old() {
    let d = scratch("old");
    let src = d.join("old.c");
    std::fs::write(
        &src,
        r#"#include <stddef.h>
typedef struct { const void* (*GetApi)(unsigned); const char* (*GetVersionString)(void); } OrtApiBase;
static const void* get_api(unsigned v) { (void)v; return NULL; }
static const char* version(void) { return "1.16.3"; }
static const OrtApiBase base = { get_api, version };
const OrtApiBase* OrtGetApiBase(void) { return &base; }
"#,
    )
    .unwrap();
    let lib = d.join("libonnxruntime.so.1.16.3");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .status()
        .expect("a C compiler (cc) to build the old-library stand-in");
    assert!(status.success());
    let e = library::check(&lib, Source::Flag).unwrap_err();
    assert!(matches!(e, LibraryError::TooOld { .. }), "{e}");
    assert!(
        e.to_string().contains("1.16.3")
            && e.to_string()
                .contains(&format!("1.{}", library::REQUIRED_MINOR)),
        "{e}"
    );

    // Through the backend: unavailable with reason and fix, and no panic;
    // tract still works in the same process.
    let b = OrtBackend::new(Some(lib));
    match b.availability() {
        frontier_profiler::Availability::Unavailable { reason, fix } => {
            assert!(reason.contains("1.16.3"), "{reason}");
            assert!(fix.contains("fetch-onnxruntime.sh"), "{fix}");
        }
        other => panic!("{other:?}"),
    }
    #[cfg(feature = "tract")]
    assert!(frontier_profiler::tract_backend::TractBackend::default()
        .availability()
        .is_available());
}
