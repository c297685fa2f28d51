//! An export directory (`frontier export --samples` and `--blocks`): model
//! files and the `manifest.jsonl` that records each one's architecture,
//! counts and encoding, written once every model is (`profile` reads the
//! manifest beside a model to record its arch).

use std::path::{Path, PathBuf};

use frontier_spaces::manifest::ManifestLine;

/// An export directory that cannot be used or written; names the path and
/// the fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ExportDirError(pub String);

/// A directory being filled with models.
pub struct ExportDir {
    dir: PathBuf,
    lines: String,
    count: usize,
}

impl ExportDir {
    /// A new export in `dir`: refused when `dir` names an `.onnx` file or
    /// already holds an export.
    pub fn create(dir: &Path) -> Result<ExportDir, ExportDirError> {
        if dir.extension().and_then(|e| e.to_str()) == Some("onnx") {
            return Err(ExportDirError(format!(
                "--out {}: give a directory",
                dir.display()
            )));
        }
        let manifest = dir.join("manifest.jsonl");
        if manifest.exists() {
            return Err(ExportDirError(format!(
                "{}: this directory already holds an export; fix: choose a new --out directory or remove it",
                manifest.display()
            )));
        }
        std::fs::create_dir_all(dir).map_err(|e| {
            ExportDirError(format!("{}: cannot create directory: {e}", dir.display()))
        })?;
        Ok(ExportDir {
            dir: dir.to_path_buf(),
            lines: String::new(),
            count: 0,
        })
    }

    /// Write one model (`line.file`) and keep its manifest line.
    pub fn add(&mut self, bytes: &[u8], line: &ManifestLine) -> Result<(), ExportDirError> {
        let path = self.dir.join(&line.file);
        std::fs::write(&path, bytes)
            .map_err(|e| ExportDirError(format!("{}: cannot write: {e}", path.display())))?;
        self.lines.push_str(&line.to_line());
        self.count += 1;
        Ok(())
    }

    /// Write the manifest; returns its path and the number of models.
    pub fn finish(self) -> Result<(PathBuf, usize), ExportDirError> {
        let path = self.dir.join("manifest.jsonl");
        std::fs::write(&path, self.lines.as_bytes())
            .map_err(|e| ExportDirError(format!("{}: cannot write: {e}", path.display())))?;
        Ok((path, self.count))
    }
}
