//! Records the target triple (for the device fingerprint) and the version of
//! tract locked in Cargo.lock (for the backend's reported version).
use std::path::Path;

fn locked_version(lock: &Path, krate: &str) -> Option<String> {
    let text = std::fs::read_to_string(lock).ok()?;
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if l.trim() == format!("name = \"{krate}\"") {
            let v = lines
                .next()?
                .trim()
                .strip_prefix("version = \"")?
                .trim_end_matches('"');
            return Some(v.to_string());
        }
    }
    None
}

fn main() {
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=FRONTIER_TARGET={target}");
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let lock = Path::new(&manifest).join("../Cargo.lock");
    let tract = locked_version(&lock, "tract-onnx").unwrap_or_else(|| "0.23".into());
    println!("cargo:rustc-env=FRONTIER_TRACT_VERSION={tract}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../Cargo.lock");
}
