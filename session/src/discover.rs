//! Which files to profile, and what is known about them.
//!
//! A path on the command line is a file (profiled whatever its extension, so a
//! mistaken file gets a clear "not ONNX" error) or a directory, searched
//! recursively for `*.onnx` in sorted order. A model's architecture config is
//! read from a `manifest.jsonl` in its directory (written by
//! `frontier export`), from the line whose `file` is the model's file name.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A file that could not be read or understood; the message names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Error(pub String);

/// A path that could not be expanded into models.
#[derive(Debug)]
pub struct DiscoverError {
    pub path: PathBuf,
    pub message: String,
}

/// Expand command-line paths into model files. Paths that do not exist or
/// directories without models become errors; the rest are returned.
pub fn models(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<DiscoverError>) {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut v = Vec::new();
            if let Err(e) = walk(p, &mut v) {
                errors.push(DiscoverError {
                    path: p.clone(),
                    message: format!("{}: cannot list directory: {e}", p.display()),
                });
                continue;
            }
            if v.is_empty() {
                errors.push(DiscoverError {
                    path: p.clone(),
                    message: format!(
                        "{}: no *.onnx models in this directory; fix: give model files, or export some with `frontier export`",
                        p.display()
                    ),
                });
            }
            v.sort();
            found.extend(v);
        } else if p.exists() {
            found.push(p.clone());
        } else {
            errors.push(DiscoverError {
                path: p.clone(),
                message: format!(
                    "{}: no such file or directory; fix: check the path",
                    p.display()
                ),
            });
        }
    }
    found.dedup();
    (found, errors)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Hex SHA-256 of the model file (external data files are not included: they
/// hold weights, which do not change the graph).
pub fn sha256_file(path: &Path) -> Result<String, Error> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)
        .map_err(|e| Error(format!("{}: cannot open: {e}", path.display())))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| Error(format!("{}: cannot read: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// What a generated model's manifest line says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestArch {
    /// The architecture config, as compact JSON.
    pub arch: String,
    /// The search space (`ofa-mbv3`, `gpt2`), when the line names one.
    pub space: Option<String>,
}

/// The architecture config of `model` from the manifest beside it.
/// A manifest that exists but cannot be read is an error; no manifest is `None`.
pub fn arch_from_manifest(model: &Path) -> Result<Option<ManifestArch>, Error> {
    let Some(dir) = model.parent() else {
        return Ok(None);
    };
    let manifest = dir.join("manifest.jsonl");
    if !manifest.exists() {
        return Ok(None);
    }
    let Some(file) = model.file_name().and_then(|f| f.to_str()) else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&manifest)
        .map_err(|e| Error(format!("{}: cannot read manifest: {e}", manifest.display())))?;
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| {
            Error(format!(
                "{}, line {}: not JSON: {e}",
                manifest.display(),
                i + 1
            ))
        })?;
        if v.get("file").and_then(|f| f.as_str()) == Some(file) {
            return Ok(v.get("arch").map(|a| ManifestArch {
                arch: a.to_string(),
                space: v.get("space").and_then(|s| s.as_str()).map(String::from),
            }));
        }
    }
    Ok(None)
}

/// Fail with the list of inputs if a named `--input` matches no model's input.
pub fn check_specs_used(
    specs: &[frontier_profiler::inputs::InputSpec],
    seen: &[String],
) -> Result<(), Error> {
    for s in specs {
        if let Some(name) = &s.name {
            if !seen.iter().any(|n| n == name) {
                return Err(Error(format!(
                    "--input {name}=...: no profiled model has an input named '{name}'; the inputs are: {}",
                    if seen.is_empty() { "(none)".to_string() } else { seen.join(", ") }
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_lookup() {
        let dir = std::env::temp_dir().join(format!("frontier-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("manifest.jsonl"),
            "{\"file\":\"a.onnx\",\"arch\":{\"r\":160}}\n{\"file\":\"b.onnx\"}\n",
        )
        .unwrap();
        assert_eq!(
            arch_from_manifest(&dir.join("a.onnx"))
                .unwrap()
                .map(|m| m.arch)
                .as_deref(),
            Some("{\"r\":160}")
        );
        assert_eq!(arch_from_manifest(&dir.join("b.onnx")).unwrap(), None);
        assert_eq!(arch_from_manifest(&dir.join("c.onnx")).unwrap(), None);
        std::fs::write(dir.join("manifest.jsonl"), "not json\n").unwrap();
        let e = arch_from_manifest(&dir.join("a.onnx")).unwrap_err();
        assert!(format!("{e:#}").contains("line 1"), "{e:#}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
