//! `frontier upload` and `profile --upload`: rows go to the durable spool
//! (`$FRONTIER_STATE_DIR/spool/`) first, then to the collector.
//!
//! Spooling is the commitment: once `append` returns, the rows survive a
//! crash and the next `frontier upload` sends them. Sending is bounded by
//! `--upload-wait`/`--wait`; what is not delivered by then stays spooled.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use frontier_table::{self as table, LatencyRow};
use frontier_uplink::config::{self, Target};
use frontier_uplink::{Sender, SenderConfig, Spool, Status};

use crate::cli::UploadArgs;

/// Uploading the rows of one `profile --upload`: the collector and the
/// spool, both checked before anything is measured.
pub struct Upload {
    target: Target,
    spool: Spool,
}

impl Upload {
    pub fn prepare(url: Option<&str>, token: Option<&str>) -> anyhow::Result<Upload> {
        Ok(Upload {
            target: target(url, token)?,
            spool: Spool::open(&spool_dir()?)?,
        })
    }

    /// Spool the rows (an error here means they were not queued), then
    /// send for at most `wait` (a failure here only leaves them spooled).
    pub fn finish(mut self, rows: &mut [LatencyRow], wait: Duration) -> anyhow::Result<()> {
        spool_rows(&mut self.spool, rows)?;
        if let Err(e) = send(&self.spool, &self.target, wait, 500) {
            eprintln!("error: upload: {e:#}; the rows stay spooled for `frontier upload`");
        }
        Ok(())
    }
}

/// Rows of a `collector:URL` source (a reader token from the flag, the
/// environment or the config file).
pub fn fetch(url: &str, token: Option<&str>) -> anyhow::Result<Vec<LatencyRow>> {
    let target = target(Some(url), token)?;
    Ok(frontier_uplink::sender::fetch_rows(
        &target.url,
        &target.token,
        &[],
    )?)
}

/// The predictor a `collector:URL?device=NAME...` source names (what
/// follows `collector:`), with a reader token from FRONTIER_TOKEN or the
/// config file; and one line that says which it is.
pub fn fetch_predictor(rest: &str) -> anyhow::Result<(String, String)> {
    use frontier_uplink::predictors::{self, Source};
    let source = Source::parse(rest)?;
    let target = target(Some(&source.url), None)?;
    let got = predictors::fetch(&source, &target.token)?;
    Ok((got.json, got.describe))
}

/// The spool directory: `$FRONTIER_STATE_DIR/spool`.
pub fn spool_dir() -> anyhow::Result<PathBuf> {
    frontier_session::probe_ref::state_dir()
        .map(|d| d.join("spool"))
        .context("no state directory for the upload spool; fix: set FRONTIER_STATE_DIR")
}

/// Resolve the collector and token from flags, environment and config file.
pub fn target(url: Option<&str>, token: Option<&str>) -> anyhow::Result<Target> {
    Ok(config::resolve_here(url, token)?)
}

/// Give each row its id and append them to the spool (fsynced).
pub fn spool_rows(spool: &mut Spool, rows: &mut [LatencyRow]) -> anyhow::Result<()> {
    spool
        .append_rows(rows)
        .with_context(|| format!("cannot spool rows for upload in {}", spool.dir().display()))
}

/// Send what the spool holds until `wait` has passed; prints a one-line
/// account on stderr. Returns the rows still pending.
pub fn send(
    spool: &Spool,
    target: &Target,
    wait: Duration,
    batch_rows: usize,
) -> anyhow::Result<u64> {
    let mut config = SenderConfig::new(&target.url, &target.token);
    config.batch_rows = batch_rows;
    let sender = Sender::new(config)?;
    let report = sender.drain(spool, Instant::now() + wait)?;
    for w in &report.warnings {
        eprintln!("warning: spool: {w}");
    }
    eprint!("{}", report.describe(&target.url, spool.dir()));
    Ok(report.pending)
}

fn read_table(path: &Path) -> anyhow::Result<Vec<LatencyRow>> {
    Ok(table::read::<LatencyRow>(path)?)
}

fn print_status(spool: &Spool, json: bool) -> anyhow::Result<i32> {
    let pending = spool.pending()?;
    let status = Status::load(spool);
    if json {
        let v = serde_json::json!({
            "spool": spool.dir(),
            "pending_rows": pending.records,
            "pending_bytes": pending.bytes,
            "segments": pending.segments,
            "status": status,
        });
        println!("{v}");
    } else {
        println!("spool:          {}", spool.dir().display());
        println!(
            "pending:        {} rows ({} bytes in {} segments)",
            pending.records, pending.bytes, pending.segments
        );
        let or_never = |s: &Option<String>| s.clone().unwrap_or_else(|| "never".into());
        println!(
            "collector:      {}",
            status.collector.as_deref().unwrap_or("-")
        );
        println!("last attempt:   {}", or_never(&status.last_attempt));
        println!("last success:   {}", or_never(&status.last_success));
        match (&status.last_error, &status.last_error_at) {
            (Some(e), at) => println!("last error:     {e} ({})", or_never(at)),
            _ => println!("last error:     none"),
        }
        println!(
            "delivered:      {} rows ({} rejected, see {})",
            status.delivered_total,
            status.rejected_total,
            spool.dir().join("rejected.jsonl").display()
        );
    }
    Ok(0)
}

/// `frontier upload [URL] [TABLE...]`.
pub fn run(args: UploadArgs) -> anyhow::Result<i32> {
    let (urls, tables): (Vec<&String>, Vec<&String>) = args
        .args
        .iter()
        .partition(|a| a.starts_with("http://") || a.starts_with("https://"));
    if urls.len() > 1 {
        anyhow::bail!("more than one collector URL given; fix: give one");
    }
    let dir = spool_dir()?;
    let mut spool = Spool::open(&dir)?;
    if args.status {
        return print_status(&spool, args.json);
    }
    let target = target(urls.first().map(|s| s.as_str()), args.token.as_deref())?;
    // Read every table before spooling any, so a bad file spools nothing.
    let mut rows = Vec::new();
    for t in &tables {
        let path = Path::new(t.as_str());
        let mut r =
            read_table(path).with_context(|| format!("{}: not uploaded", path.display()))?;
        eprintln!("{}: {} rows", path.display(), r.len());
        rows.append(&mut r);
    }
    spool_rows(&mut spool, &mut rows)?;
    let pending = send(&spool, &target, args.wait, args.batch_rows as usize)?;
    Ok(if pending == 0 { 0 } else { 1 })
}
