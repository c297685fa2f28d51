//! Frontiers at the collector, from a board's side and an operator's.
//!
//! - [`publish`]: `frontier search --publish`: the manifest's files (or
//!   its supernet) uploaded as content-addressed blobs, then the version.
//! - [`Puller`]: `frontier serve --frontier collector:URL/NAME`: the
//!   board's assignment (long poll on its ETag), its blobs downloaded into
//!   the state directory (resumed from the bytes already there, verified by
//!   SHA-256 before use), laid out as a manifest directory per version,
//!   and what the board serves reported back.
//!
//! On disk (`$FRONTIER_STATE_DIR/frontiers/NAME/`): `blobs/SHA256` (whole,
//! verified), `blobs/SHA256.part` (a download in progress: resumed with a
//! `Range` request), `vN/frontier.json` with its files linked from the
//! blobs, and `current.json` (the assignment last served, so that `serve`
//! starts from it when the collector is away).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use frontier_table::frontier::Manifest;
use frontier_table::rollout::{
    Assignment, BlobRef, PublishRequest, Published, RolloutPolicy, ServeReport,
};
use sha2::{Digest, Sha256};

use crate::fleet::{client, refused, send_error, Credential, FleetError};

/// Why pulling or publishing failed.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The network or the collector (retry later).
    #[error(transparent)]
    Fleet(#[from] FleetError),
    /// The collector will not assign this board a version (the reason says
    /// what to change).
    #[error("{0}")]
    Refused(String),
    /// Writing to the board's disk failed (a full disk keeps the old
    /// version serving).
    #[error(
        "{path}: {detail}; fix: free space on the board (the frontier's blobs need {need} bytes)"
    )]
    Disk {
        path: String,
        detail: String,
        need: u64,
    },
    #[error("blob {sha256}: the downloaded bytes hash to {got}; they were deleted and the download starts over")]
    Hash { sha256: String, got: String },
    /// The assignment moved on (a rollback or a newer version) during the
    /// download.
    #[error("the assignment changed during the download")]
    Changed,
    #[error("{0}")]
    Input(String),
}

fn disk(path: &Path, e: std::io::Error, need: u64) -> PullError {
    PullError::Disk {
        path: path.display().to_string(),
        detail: e.to_string(),
        need,
    }
}

/// The SHA-256 of a file, hex.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:x}", h.finalize()))
}

/// A board's connection for one frontier name.
pub struct Puller {
    credential: Credential,
    client: reqwest::blocking::Client,
    name: String,
    backend: String,
    dir: PathBuf,
}

impl Puller {
    /// `dir`: this name's directory in the state directory; `long_poll`:
    /// the longest an assignment request is held.
    pub fn new(
        credential: Credential,
        name: &str,
        backend: &str,
        dir: PathBuf,
        long_poll: Duration,
    ) -> Result<Puller, PullError> {
        Ok(Puller {
            client: client(long_poll + Duration::from_secs(30))?,
            credential,
            name: name.to_string(),
            backend: backend.to_string(),
            dir,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn device_id(&self) -> &str {
        &self.credential.device_id
    }

    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.credential.collector)
    }

    /// This board's assignment; `None` when it is still `etag` after
    /// `wait`.
    pub fn assignment(
        &self,
        etag: Option<&str>,
        wait: Duration,
    ) -> Result<Option<Assignment>, PullError> {
        let url = self.url(&format!(
            "/v1/frontiers/{}/assignment?backend={}&wait={}",
            self.name,
            self.backend,
            wait.as_secs_f64()
        ));
        let mut req = self
            .client
            .get(&url)
            .bearer_auth(&self.credential.credential);
        if let Some(e) = etag {
            req = req.header("if-none-match", e);
        }
        let r = req.send().map_err(|e| send_error(&url, e))?;
        let status = r.status().as_u16();
        let text = r.text().unwrap_or_default();
        match status {
            200 => serde_json::from_str(&text).map(Some).map_err(|e| {
                PullError::Fleet(refused(&url, status, &format!("not an assignment: {e}")))
            }),
            304 => Ok(None),
            404 | 409 => Err(PullError::Refused(format!(
                "{url}: {}",
                crate::sender::error_message(&text)
            ))),
            _ => Err(refused(&url, status, &text).into()),
        }
    }

    /// Tell the collector what this board serves, downloads or failed on.
    pub fn report(&self, r: &ServeReport) -> Result<(), PullError> {
        let url = self.url(&format!("/v1/frontiers/{}/status", self.name));
        let resp = self
            .client
            .post(&url)
            .bearer_auth(&self.credential.credential)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(r).expect("plain data"))
            .send()
            .map_err(|e| send_error(&url, e))?;
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(refused(&url, status, &resp.text().unwrap_or_default()).into())
        }
    }

    fn blobs_dir(&self) -> PathBuf {
        self.dir.join("blobs")
    }

    /// A blob in the state directory, downloading what is missing: a
    /// partial file from an earlier attempt is continued with a `Range`
    /// request; the whole is checked against its SHA-256 before it is
    /// renamed into place.
    pub fn fetch(&self, blob: &BlobRef) -> Result<PathBuf, PullError> {
        let dir = self.blobs_dir();
        std::fs::create_dir_all(&dir).map_err(|e| disk(&dir, e, blob.size))?;
        let done = dir.join(&blob.sha256);
        if done.is_file() {
            return Ok(done);
        }
        let part = dir.join(format!("{}.part", blob.sha256));
        let have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        let url = self.url(&format!("/v1/blobs/{}", blob.sha256));
        if have < blob.size || blob.size == 0 {
            let mut req = self
                .client
                .get(&url)
                .bearer_auth(&self.credential.credential)
                .timeout(Duration::from_secs(3600));
            if have > 0 {
                req = req.header("range", format!("bytes={have}-"));
            }
            let mut r = req.send().map_err(|e| send_error(&url, e))?;
            let status = r.status().as_u16();
            let append = match status {
                206 => true,
                200 => false,
                416 => true,
                _ => return Err(refused(&url, status, &r.text().unwrap_or_default()).into()),
            };
            if status != 416 {
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .write(true)
                    .append(append)
                    .truncate(!append)
                    .open(&part)
                    .map_err(|e| disk(&part, e, blob.size))?;
                let mut buf = vec![0u8; 1 << 16];
                loop {
                    let n = match r.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        // The bytes so far stay for the next attempt.
                        Err(e) => {
                            let _ = f.sync_data();
                            return Err(FleetError::Retry(format!(
                                "{url}: the download broke off: {e}"
                            ))
                            .into());
                        }
                    };
                    f.write_all(&buf[..n])
                        .map_err(|e| disk(&part, e, blob.size))?;
                }
                f.sync_all().map_err(|e| disk(&part, e, blob.size))?;
            }
        }
        let got = file_sha256(&part).map_err(|e| disk(&part, e, blob.size))?;
        if got != blob.sha256 {
            let _ = std::fs::remove_file(&part);
            return Err(PullError::Hash {
                sha256: blob.sha256.clone(),
                got,
            });
        }
        std::fs::rename(&part, &done).map_err(|e| disk(&done, e, blob.size))?;
        Ok(done)
    }

    /// The assignment's version laid out as a manifest directory (its
    /// files linked from the verified blobs); `still` is asked between
    /// blobs whether the assignment holds (a rollback stops the download).
    pub fn materialize(
        &self,
        a: &Assignment,
        still: impl Fn() -> bool,
    ) -> Result<PathBuf, PullError> {
        let vdir = self.dir.join(format!("v{}", a.version));
        let manifest_path = vdir.join("frontier.json");
        let need: u64 = a.blobs.iter().map(|b| b.size).sum();
        for b in &a.blobs {
            if !still() {
                return Err(PullError::Changed);
            }
            let blob = self.fetch(b)?;
            let dest = safe_join(&vdir, &b.file)?;
            if let Some(p) = dest.parent() {
                std::fs::create_dir_all(p).map_err(|e| disk(p, e, need))?;
            }
            if !dest.is_file() && std::fs::hard_link(&blob, &dest).is_err() {
                std::fs::copy(&blob, &dest).map_err(|e| disk(&dest, e, need))?;
            }
        }
        std::fs::create_dir_all(&vdir).map_err(|e| disk(&vdir, e, need))?;
        let tmp = vdir.join("frontier.json.tmp");
        std::fs::write(
            &tmp,
            serde_json::to_vec_pretty(&a.manifest).expect("plain data"),
        )
        .map_err(|e| disk(&tmp, e, need))?;
        std::fs::rename(&tmp, &manifest_path).map_err(|e| disk(&manifest_path, e, need))?;
        Ok(manifest_path)
    }

    /// Remember `a` as the version served (for a start without the
    /// collector), and delete versions and blobs that neither it nor
    /// `previous` needs.
    pub fn remember(&self, a: &Assignment, previous: Option<&Assignment>) -> Result<(), PullError> {
        let path = self.dir.join("current.json");
        let tmp = self.dir.join("current.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(a).expect("plain data"))
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| disk(&path, e, 0))?;
        let keep_v: Vec<String> = std::iter::once(a)
            .chain(previous)
            .map(|x| format!("v{}", x.version))
            .collect();
        let keep_b: Vec<&str> = std::iter::once(a)
            .chain(previous)
            .flat_map(|x| x.blobs.iter().map(|b| b.sha256.as_str()))
            .collect();
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().to_string();
                if n.starts_with('v') && n[1..].parse::<u32>().is_ok() && !keep_v.contains(&n) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        if let Ok(rd) = std::fs::read_dir(self.blobs_dir()) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().to_string();
                if !n.ends_with(".part") && !keep_b.contains(&n.as_str()) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(())
    }

    /// The version served last, when its directory is still whole.
    pub fn remembered(&self) -> Option<(Assignment, PathBuf)> {
        let text = std::fs::read_to_string(self.dir.join("current.json")).ok()?;
        let a: Assignment = serde_json::from_str(&text).ok()?;
        let m = self
            .dir
            .join(format!("v{}", a.version))
            .join("frontier.json");
        m.is_file().then_some((a, m))
    }
}

/// `base/rel`, refusing a path that leaves `base`.
fn safe_join(base: &Path, rel: &str) -> Result<PathBuf, PullError> {
    let p = Path::new(rel);
    if p.is_absolute()
        || p.components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(PullError::Input(format!(
            "the manifest names file {rel:?}, which is not a plain relative path"
        )));
    }
    Ok(base.join(p))
}

/// What `publish` did: the collector's answer, and the blobs sent.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct Publication {
    #[serde(flatten)]
    pub published: Published,
    /// Blobs uploaded now (the others were stored already).
    #[serde(default)]
    pub uploaded: Vec<String>,
    #[serde(default)]
    pub bytes_uploaded: u64,
}

impl std::ops::Deref for Publication {
    type Target = Published;
    fn deref(&self) -> &Published {
        &self.published
    }
}

/// Publish the search directory `dir` (its `frontier.json` and model
/// files, or its supernet: `supernet` or the file the manifest names
/// beside it) as a new version of `name` at `collector` with an operator
/// `token`.
pub fn publish(
    collector: &str,
    token: &str,
    dir: &Path,
    name: &str,
    supernet: Option<&Path>,
    rollout: Option<RolloutPolicy>,
) -> Result<Publication, PullError> {
    let collector = collector.trim_end_matches('/');
    let manifest_path = dir.join("frontier.json");
    let manifest = Manifest::read(&manifest_path).map_err(|e| PullError::Input(e.to_string()))?;
    let http = client(Duration::from_secs(600))?;
    let mut blobs = std::collections::BTreeMap::new();
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    let weighted = manifest.supernet.is_some();
    if let Some(s) = &manifest.supernet {
        let p = supernet
            .map(Path::to_path_buf)
            .unwrap_or_else(|| dir.join(&s.file));
        if !p.is_file() {
            return Err(PullError::Input(format!(
                "{}: the manifest's supernet {} is not there; fix: give --weights SUPERNET",
                p.display(),
                s.file
            )));
        }
        files.push((s.file.clone(), p));
    }
    for m in &manifest.models {
        let p = safe_join(dir, &m.file)?;
        // With a supernet, the board builds each model from it.
        if !weighted {
            if !p.is_file() {
                return Err(PullError::Input(format!(
                    "{}: model {} has no file; fix: rerun the search into {}",
                    p.display(),
                    m.name,
                    dir.display()
                )));
            }
            files.push((m.file.clone(), p));
        }
    }
    let (mut uploaded, mut bytes_uploaded) = (Vec::new(), 0);
    for (file, path) in files {
        let sha =
            file_sha256(&path).map_err(|e| PullError::Input(format!("{}: {e}", path.display())))?;
        let url = format!("{collector}/v1/blobs/{sha}");
        let head = http
            .head(&url)
            .bearer_auth(token)
            .send()
            .map_err(|e| send_error(&url, e))?;
        if head.status().as_u16() != 200 {
            let bytes = std::fs::read(&path)
                .map_err(|e| PullError::Input(format!("{}: {e}", path.display())))?;
            let n = bytes.len() as u64;
            let r = http
                .put(&url)
                .bearer_auth(token)
                .header("content-type", "application/octet-stream")
                .body(bytes)
                .send()
                .map_err(|e| send_error(&url, e))?;
            let status = r.status().as_u16();
            if !(200..300).contains(&status) {
                return Err(refused(&url, status, &r.text().unwrap_or_default()).into());
            }
            uploaded.push(sha.clone());
            bytes_uploaded += n;
        }
        blobs.insert(file, sha);
    }
    let url = format!("{collector}/v1/frontiers/{name}");
    let body = PublishRequest {
        manifest,
        blobs,
        rollout,
    };
    let r = http
        .post(&url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body).expect("plain data"))
        .send()
        .map_err(|e| send_error(&url, e))?;
    let status = r.status().as_u16();
    let text = r.text().unwrap_or_default();
    if status != 201 {
        return Err(PullError::Refused(format!(
            "{url}: {status}: {}",
            crate::sender::error_message(&text)
        )));
    }
    let published: Published = serde_json::from_str(&text)
        .map_err(|e| PullError::Refused(format!("{url}: not a publication answer: {e}")))?;
    Ok(Publication {
        published,
        uploaded,
        bytes_uploaded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside() {
        let b = Path::new("/s");
        assert_eq!(
            safe_join(b, "models/a.onnx").unwrap(),
            Path::new("/s/models/a.onnx")
        );
        assert!(safe_join(b, "../etc/passwd").is_err());
        assert!(safe_join(b, "/etc/passwd").is_err());
    }
}
