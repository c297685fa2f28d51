//! A supernet file on disk: read, checked and named for a manifest
//! (`frontier_table::frontier::SupernetRef`: file name, SHA-256 and the
//! configuration its shapes imply). `export --weights`, `search --weights`
//! and `serve` read supernets through here.

use std::path::Path;

use frontier_spaces::supernet::{Supernet, SupernetError};
use frontier_table::frontier::SupernetRef;

/// A supernet file that cannot be used: unreadable, or not a supernet of
/// the space (the message names the file and the fix).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SupernetFileError {
    #[error("{file}: cannot read: {message}; fix: check the path given to --weights")]
    Io { file: String, message: String },
    #[error(transparent)]
    Supernet(#[from] SupernetError),
    #[error("{file}: its SHA-256 is {found}, the manifest's supernet is {expected}; fix: use the supernet the frontier was searched with, or search again with this one")]
    Mismatch {
        file: String,
        found: String,
        expected: String,
    },
}

/// Read the supernet at `path`, and how a manifest refers to it.
pub fn read(path: &Path) -> Result<(Supernet, SupernetRef), SupernetFileError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| SupernetFileError::Io {
        file: file.clone(),
        message: e.to_string(),
    })?;
    let net = Supernet::from_bytes(&bytes, &file)?;
    let reference = SupernetRef {
        file: path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        sha256: crate::sha256_hex(&bytes),
        config: net.config.to_string(),
    };
    Ok((net, reference))
}

/// Read the supernet at `path` and check it is the one `expected` names.
pub fn read_expected(path: &Path, expected: &SupernetRef) -> Result<Supernet, SupernetFileError> {
    let (net, found) = read(path)?;
    if found.sha256 != expected.sha256 {
        return Err(SupernetFileError::Mismatch {
            file: path.display().to_string(),
            found: found.sha256,
            expected: expected.sha256.clone(),
        });
    }
    Ok(net)
}
