//! The agent's durable spool: rows wait here until the collector has
//! acknowledged them, through `kill -9`, reboots and full disks.
//!
//! # On disk
//!
//! A directory (`$FRONTIER_STATE_DIR/spool/`) holding:
//!
//! - **Segments** `NNNNNNNNNNNNNNNNNNNN.seg` (20-digit sequence numbers,
//!   increasing). Each starts with the 8-byte magic `FSPOOL01`, followed by
//!   records:
//!
//!   ```text
//!   +-------------------+----------------------+------------------+
//!   | length: u32 LE    | CRC-32 (IEEE) of the | payload (length  |
//!   | of the payload    | payload: u32 LE      | bytes: one row   |
//!   |                   |                      | as a JSON line)  |
//!   +-------------------+----------------------+------------------+
//!   ```
//!
//! - **`ack`**: `SEGMENT OFFSET\n`, the position up to which the collector
//!   has acknowledged every record: all of the segments before `SEGMENT`
//!   and the records of `SEGMENT` before byte `OFFSET`. Replaced
//!   atomically (written to `ack.tmp`, fsynced, renamed, directory fsynced).
//! - **`lock`**: every operation holds an exclusive `flock` on it while it
//!   touches the files, so several processes (a `profile --upload` and a
//!   `frontier upload`) can share one spool. The lock is never held while
//!   a batch is on the network.
//! - `status.json` (last attempt, success and error, for `upload --status`)
//!   and `rejected.jsonl` (rows the collector refused, with its reason):
//!   written by the sender, not part of the delivery protocol.
//!
//! # Rules
//!
//! - **Written means fsynced.** [`Spool::append`] returns only after the
//!   records' bytes are on disk (`fdatasync`); a new segment's directory
//!   entry is fsynced too. A failed append (a full disk) truncates the
//!   segment back, so no half record stays behind, and says so.
//! - **A process writes only to a segment it created**, and only while that
//!   segment is the newest: a process that crashed mid-record leaves a torn
//!   tail that nothing appends after, and a reader that has moved on from a
//!   segment never misses a later record in it.
//! - **Delete only after acknowledgement.** [`Spool::ack`] moves the
//!   acknowledged position forward (never back) and then deletes whole
//!   segments before it. Between the collector's 2xx and the ack a crash
//!   resends the batch; the collector stores each `row_id` once, so
//!   delivery is exactly once end to end.
//! - **Corruption costs only what is corrupt.** A record whose checksum
//!   fails is skipped; a length that runs past the end of its segment (a
//!   torn tail) skips the rest of that segment. Either is reported with
//!   the file and byte offset, and the records around it are delivered.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

#[cfg(test)]
mod tests;

/// First bytes of every segment.
pub const MAGIC: &[u8; 8] = b"FSPOOL01";
/// Bytes of a record's header (length, checksum).
pub const RECORD_HEADER: u64 = 8;
/// Largest payload accepted; a length above it is a corrupt header.
pub const MAX_RECORD: u32 = 16 << 20;
/// A process starts a new segment once its own reaches this size (default).
pub const SEGMENT_BYTES: u64 = 4 << 20;

/// Errors of the spool. Each names the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("{path}: {what}: {source}{fix}", fix = fix_for(source))]
    Io {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("a row of {len} bytes is larger than the spool's limit of {MAX_RECORD} bytes")]
    TooLarge { len: usize },
}

fn fix_for(e: &std::io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(28) | Some(27) => "; fix: free space on that file system (the rows that were not spooled are still in the printed table)",
        Some(13) | Some(1) => "; fix: make the spool directory writable, or set FRONTIER_STATE_DIR",
        _ => "",
    }
}

fn io<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(std::io::Error) -> SpoolError + 'a {
    move |source| SpoolError::Io {
        path: path.to_path_buf(),
        what,
        source,
    }
}

/// A place in the spool: before the record at `offset` of segment `segment`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

/// Records read from the spool, not yet acknowledged.
#[derive(Debug, Default)]
pub struct Batch {
    /// Payloads in spool order.
    pub records: Vec<Vec<u8>>,
    /// After each record: acknowledging `ends[i]` delivers records `0..=i`.
    pub ends: Vec<Position>,
    /// Past everything this read covered, skipped corruption included.
    pub end: Position,
    /// Torn or corrupt records that were skipped, with file and offset.
    pub warnings: Vec<String>,
}

/// What waits in the spool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pending {
    pub records: u64,
    pub bytes: u64,
    pub segments: u64,
}

/// This process's segment.
#[derive(Debug)]
struct Writer {
    segment: u64,
    file: File,
    len: u64,
}

/// An open spool directory.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    lock: File,
    writer: Option<Writer>,
    segment_bytes: u64,
}

/// Held while the spool's files are touched.
struct LockGuard<'a>(&'a File);

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: flock on a file descriptor this guard borrows.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

fn lock_file<'a>(file: &'a File, dir: &Path) -> Result<LockGuard<'a>, SpoolError> {
    loop {
        // SAFETY: flock on a descriptor that `file` owns and the guard borrows.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(LockGuard(file));
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(io(&dir.join("lock"), "cannot lock the spool")(e));
        }
    }
}

fn segment_name(seq: u64) -> String {
    format!("{seq:020}.seg")
}

fn fsync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir, "cannot sync the directory"))
}

impl Spool {
    /// Open (creating) the spool in `dir`.
    pub fn open(dir: &Path) -> Result<Spool, SpoolError> {
        Spool::open_with_segment_bytes(dir, SEGMENT_BYTES)
    }

    /// As [`Spool::open`], rolling segments at `segment_bytes`.
    pub fn open_with_segment_bytes(dir: &Path, segment_bytes: u64) -> Result<Spool, SpoolError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(dir, "cannot create the spool directory"))?;
        let lock_path = dir.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(io(&lock_path, "cannot open the lock file"))?;
        Ok(Spool {
            dir: dir.to_path_buf(),
            lock,
            writer: None,
            segment_bytes,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> Result<LockGuard<'_>, SpoolError> {
        lock_file(&self.lock, &self.dir)
    }

    /// Sequence numbers of the segments on disk, ascending.
    fn segments(&self) -> Result<Vec<u64>, SpoolError> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io(&self.dir, "cannot list the spool"))? {
            let entry = entry.map_err(io(&self.dir, "cannot list the spool"))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(seq) = name
                .strip_suffix(".seg")
                .and_then(|s| s.parse::<u64>().ok())
            {
                out.push(seq);
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    fn read_ack(&self) -> Position {
        let text = std::fs::read_to_string(self.dir.join("ack")).unwrap_or_default();
        let mut parts = text.split_whitespace().map(|p| p.parse::<u64>());
        match (parts.next(), parts.next()) {
            (Some(Ok(segment)), Some(Ok(offset))) => Position { segment, offset },
            // No ack yet (or an unreadable one): everything is pending. At
            // worst rows are sent again, and the collector keeps one copy.
            _ => Position::default(),
        }
    }

    /// Give each row its content id and append the rows as JSON Lines
    /// records, in chunks of 1,000 (each chunk one fsynced append).
    pub fn append_rows(
        &mut self,
        rows: &mut [frontier_table::LatencyRow],
    ) -> Result<(), SpoolError> {
        for chunk in rows.chunks_mut(1000) {
            let lines: Vec<Vec<u8>> = chunk
                .iter_mut()
                .map(|r| {
                    frontier_table::ensure_row_id(r);
                    let mut line = frontier_table::to_jsonl(std::slice::from_ref(r));
                    line.pop();
                    line
                })
                .collect();
            self.append(&lines)?;
        }
        Ok(())
    }

    /// Append rows (each one JSON line, without its newline). Returns once
    /// they are on disk.
    pub fn append<B: AsRef<[u8]>>(&mut self, records: &[B]) -> Result<(), SpoolError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        for r in records {
            let r = r.as_ref();
            if r.len() > MAX_RECORD as usize {
                return Err(SpoolError::TooLarge { len: r.len() });
            }
            buf.extend_from_slice(&(r.len() as u32).to_le_bytes());
            buf.extend_from_slice(&crc32fast::hash(r).to_le_bytes());
            buf.extend_from_slice(r);
        }
        // The guard borrows only the lock field, so the writer can change.
        let _guard = lock_file(&self.lock, &self.dir)?;
        let segments = self.segments()?;
        let newest = segments.last().copied();
        let reuse = match &self.writer {
            Some(w) => Some(w.segment) == newest && w.len < self.segment_bytes,
            None => false,
        };
        if !reuse {
            let ack = self.read_ack();
            let seq = newest.unwrap_or(0).max(ack.segment) + 1;
            let path = self.dir.join(segment_name(seq));
            let mut file = OpenOptions::new()
                .create_new(true)
                .write(true)
                .read(true)
                .mode(0o600)
                .open(&path)
                .map_err(io(&path, "cannot create a spool segment"))?;
            file.write_all(MAGIC)
                .and_then(|_| file.sync_data())
                .map_err(|e| {
                    let _ = std::fs::remove_file(&path);
                    io(&path, "cannot write a spool segment")(e)
                })?;
            fsync_dir(&self.dir)?;
            self.writer = Some(Writer {
                segment: seq,
                file,
                len: MAGIC.len() as u64,
            });
        }
        let w = self.writer.as_mut().expect("set above");
        let path = self.dir.join(segment_name(w.segment));
        let written = w
            .file
            .seek(SeekFrom::Start(w.len))
            .and_then(|_| w.file.write_all(&buf))
            .and_then(|_| w.file.sync_data());
        if let Err(e) = written {
            // No half record may stay behind a full disk.
            let _ = w.file.set_len(w.len);
            let _ = w.file.sync_data();
            return Err(io(&path, "cannot write rows to the spool")(e));
        }
        w.len += buf.len() as u64;
        Ok(())
    }

    /// Read up to `max_records` records (and about `max_bytes`) after the
    /// acknowledged position. Never blocks on anything but the lock.
    pub fn read_batch(&self, max_records: usize, max_bytes: usize) -> Result<Batch, SpoolError> {
        let _guard = self.lock()?;
        let ack = self.read_ack();
        let mut batch = Batch {
            end: ack,
            ..Batch::default()
        };
        let mut bytes = 0usize;
        let segments: Vec<u64> = self
            .segments()?
            .into_iter()
            .filter(|s| *s >= ack.segment)
            .collect();
        for (i, &seq) in segments.iter().enumerate() {
            let is_last = i + 1 == segments.len();
            let path = self.dir.join(segment_name(seq));
            let data = read_file(&path)?;
            let start = if seq == ack.segment {
                ack.offset.max(MAGIC.len() as u64)
            } else {
                MAGIC.len() as u64
            };
            let mut scan = Scan::new(&path, &data, start);
            if data.len() < MAGIC.len() || &data[..MAGIC.len()] != MAGIC {
                if !(is_last && data.is_empty()) {
                    batch.warnings.push(format!(
                        "{}: not a spool segment (bad magic), skipped",
                        path.display()
                    ));
                }
                scan.offset = data.len() as u64;
            }
            while batch.records.len() < max_records && bytes < max_bytes {
                match scan.next_record(&mut batch.warnings) {
                    Some(payload) => {
                        bytes += payload.len();
                        batch.records.push(payload.to_vec());
                        batch.ends.push(Position {
                            segment: seq,
                            offset: scan.offset,
                        });
                    }
                    None => break,
                }
            }
            batch.end = Position {
                segment: seq,
                offset: scan.offset,
            };
            if batch.records.len() >= max_records || bytes >= max_bytes {
                break;
            }
            if (scan.offset as usize) < data.len() {
                break;
            }
            // Finished with this segment; move past it only where a newer one
            // exists (a writer may still append to the newest).
            if let Some(&next) = segments.get(i + 1) {
                batch.end = Position {
                    segment: next,
                    offset: MAGIC.len() as u64,
                };
            }
        }
        Ok(batch)
    }

    /// The collector has acknowledged everything before `upto`: record it,
    /// then delete the segments wholly before it.
    pub fn ack(&self, upto: Position) -> Result<(), SpoolError> {
        let _guard = self.lock()?;
        let current = self.read_ack();
        if upto > current {
            let tmp = self.dir.join("ack.tmp");
            let path = self.dir.join("ack");
            let mut f = OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(io(&tmp, "cannot write the acknowledgement"))?;
            f.write_all(format!("{} {}\n", upto.segment, upto.offset).as_bytes())
                .and_then(|_| f.sync_all())
                .map_err(io(&tmp, "cannot write the acknowledgement"))?;
            std::fs::rename(&tmp, &path)
                .map_err(io(&path, "cannot replace the acknowledgement"))?;
            fsync_dir(&self.dir)?;
        }
        let upto = upto.max(current);
        for seq in self.segments()? {
            if seq < upto.segment {
                let path = self.dir.join(segment_name(seq));
                std::fs::remove_file(&path)
                    .map_err(io(&path, "cannot delete a delivered segment"))?;
            }
        }
        Ok(())
    }

    /// Count what waits (reads the pending segments).
    pub fn pending(&self) -> Result<Pending, SpoolError> {
        let batch = self.read_batch(usize::MAX, usize::MAX)?;
        let ack = self.read_ack();
        Ok(Pending {
            records: batch.records.len() as u64,
            bytes: batch.records.iter().map(|r| r.len() as u64).sum(),
            segments: self
                .segments()?
                .iter()
                .filter(|s| **s >= ack.segment)
                .count() as u64,
        })
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, SpoolError> {
    let mut data = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut data))
        .map_err(io(path, "cannot read a spool segment"))?;
    Ok(data)
}

/// Walks the records of one segment's bytes.
struct Scan<'a> {
    path: &'a Path,
    data: &'a [u8],
    offset: u64,
}

impl<'a> Scan<'a> {
    fn new(path: &'a Path, data: &'a [u8], offset: u64) -> Scan<'a> {
        Scan { path, data, offset }
    }

    /// The next intact record, skipping (and reporting) corrupt ones; `None`
    /// at the end of the segment.
    fn next_record(&mut self, warnings: &mut Vec<String>) -> Option<&'a [u8]> {
        loop {
            let len_total = self.data.len() as u64;
            if self.offset >= len_total {
                return None;
            }
            let at = self.offset as usize;
            let rest = len_total - self.offset;
            let torn = |why: &str| {
                format!(
                    "{}: {why} at offset {at}: the rest of this segment ({rest} bytes) is skipped",
                    self.path.display()
                )
            };
            if rest < RECORD_HEADER {
                warnings.push(torn("torn record header"));
                self.offset = len_total;
                return None;
            }
            let len = u32::from_le_bytes(self.data[at..at + 4].try_into().expect("4 bytes"));
            let crc = u32::from_le_bytes(self.data[at + 4..at + 8].try_into().expect("4 bytes"));
            if len > MAX_RECORD || RECORD_HEADER + u64::from(len) > rest {
                warnings.push(torn("torn or corrupt record"));
                self.offset = len_total;
                return None;
            }
            let payload = &self.data[at + 8..at + 8 + len as usize];
            self.offset += RECORD_HEADER + u64::from(len);
            if crc32fast::hash(payload) == crc {
                return Some(payload);
            }
            warnings.push(format!(
                "{}: record at offset {at} fails its checksum: skipped",
                self.path.display()
            ));
        }
    }
}
