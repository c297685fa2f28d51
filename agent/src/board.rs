//! This board at a collector: its credential (kept in
//! `$FRONTIER_STATE_DIR/board.json`, mode 600; a new enrolment with the
//! device token when there is none), shared by `frontier agent` and
//! `frontier serve --frontier collector:...`.

use std::path::Path;

use anyhow::Context;
use frontier_profiler::fingerprint::Fingerprint;
use frontier_uplink::fleet::{self, Credential, Enrolment};

use crate::backends;
use crate::cli::OrtLibArgs;

/// Where and how to enrol when the board has no credential yet.
pub struct Enrol<'a> {
    /// The collector (else FRONTIER_COLLECTOR or the config file).
    pub collector: Option<&'a str>,
    /// A file with the device token (else FRONTIER_TOKEN or the config).
    pub token_file: Option<&'a Path>,
    pub device_name: Option<String>,
    pub ort: &'a OrtLibArgs,
}

/// The board's credential: the one kept, else a new enrolment.
pub fn credential(e: &Enrol) -> anyhow::Result<Credential> {
    let path = frontier_session::probe_ref::state_dir()
        .context("no state directory for the board's credential; fix: set FRONTIER_STATE_DIR")?
        .join("board.json");
    let wanted = e.collector.map(|u| u.trim_end_matches('/'));
    let kept = Credential::load(&path)?;
    if let Some(c) = &kept {
        if wanted.is_none_or(|u| u == c.collector) {
            return Ok(c.clone());
        }
    }
    let token = match e.token_file {
        Some(f) => Some(
            frontier_uplink::config::private_text(f)
                .context("--token-file")?
                .trim()
                .to_string(),
        ),
        None => None,
    };
    let target = crate::upload_cmd::target(wanted, token.as_deref())?;
    if let Some(c) = kept {
        anyhow::bail!(
            "{}: this board is enrolled at {}, not {}; fix: remove that file to enrol at the new collector",
            path.display(),
            c.collector,
            target.url
        );
    }
    let fp = Fingerprint::collect();
    let runtimes = backends::compiled(e.ort, None)
        .iter()
        .map(|b| (b.name().to_string(), b.version()))
        .collect();
    let board = Enrolment {
        device_id: fp.device_id.clone(),
        name: e.device_name.clone().or(fp.hostname.clone()),
        fingerprint: serde_json::json!({
            "hostname": fp.hostname,
            "cpu_model": fp.cpu_model,
            "cpu_arch": fp.cpu_arch,
            "target_triple": fp.target_triple,
            "os": fp.os,
            "kernel": fp.kernel,
            "logical_cores": fp.logical_cores,
            "physical_cores": fp.physical_cores,
            "cpu_max_freq_mhz": fp.cpu_max_freq_mhz,
            "governor": fp.governor,
            "mem_total_mb": fp.mem_total_mb,
            "cpu_features": fp.cpu_features.join(" "),
        }),
        agent_version: Some(env!("CARGO_PKG_VERSION").to_string()),
        runtimes,
    };
    let c = fleet::enrol(&target.url, &target.token, &board)?;
    c.save(&path)?;
    eprintln!(
        "enrolled {} at {} (credential {}, kept in {})",
        c.device_id,
        c.collector,
        c.credential_id,
        path.display()
    );
    Ok(c)
}
