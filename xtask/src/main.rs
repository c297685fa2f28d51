//! `cargo xtask dist`: cross-build the agent for every Linux target in
//! `targets/classes/`, strip it, check its size and glibc floor against the
//! class file, and write one release archive per target (binary,
//! `install.sh`, systemd units, example config, README). gnu targets with
//! `zigbuild` link against their floor's glibc symbols with `cargo
//! zigbuild` (installed from PyPI with `ziglang` when missing).
//! `--smoke-test` then runs each binary (under QEMU where needed): `doctor
//! --json` must report the target's architecture, `profile` must write a
//! valid row from a small generated model, and `install.sh` must install
//! into a throwaway root, again unchanged, and uninstall.
//!
//!     cargo xtask dist [--target NAME|CLASS|TRIPLE]... [--profile dist|release]
//!                      [--features LIST] [--out DIR] [--smoke-test] [--no-install]
//!
//! `--features` replaces the class file's agent features for the selected
//! targets (for example `tract,upload` for a board with little flash).
//!
//! `cargo xtask sizes [--target ...] [--profile dist]` builds each target's
//! agent and the bare tract program (`examples/bare_tract.rs`) with the same
//! profile and prints their stripped sizes, the ratio, the archive size and
//! the agent's largest crates (from its symbol table), as Markdown for
//! `docs/TARGETS.md`.

use std::path::PathBuf;

use anyhow::{bail, Context};
use frontier_targets::Target;

mod build;
mod sizes;
mod smoke;
mod toolchain;

pub(crate) use build::*;
pub(crate) use sizes::*;
pub(crate) use smoke::*;
pub(crate) use toolchain::*;

pub(crate) struct Options {
    /// `dist` or `sizes`.
    pub(crate) command: String,
    pub(crate) names: Vec<String>,
    pub(crate) profile: String,
    pub(crate) out: PathBuf,
    pub(crate) smoke: bool,
    pub(crate) install: bool,
    /// `--features`: the agent's features for every selected target instead
    /// of the class file's (a smaller build for a board with little flash).
    pub(crate) features: Option<Vec<String>>,
}

/// The agent's cargo features `--features` may name: the `[features]` of
/// `agent/Cargo.toml` (the one place they are defined), less `default`.
fn agent_features() -> anyhow::Result<Vec<String>> {
    let path = repo_root().join("agent/Cargo.toml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let manifest: toml::Table =
        toml::from_str(&text).with_context(|| format!("{}: not TOML", path.display()))?;
    let features = manifest
        .get("features")
        .and_then(|f| f.as_table())
        .with_context(|| format!("{}: no [features] table", path.display()))?;
    Ok(features
        .keys()
        .filter(|k| k.as_str() != "default")
        .cloned()
        .collect())
}

fn parse_args() -> anyhow::Result<Options> {
    let mut args = std::env::args().skip(1);
    let command = match args.next().as_deref() {
        Some(c @ ("dist" | "sizes")) => c.to_string(),
        other => bail!(
            "usage: cargo xtask dist|sizes [--target NAME]... [--profile dist|release] [--features LIST] [--out DIR] [--smoke-test] [--no-install] (got {other:?})"
        ),
    };
    let mut o = Options {
        command,
        names: Vec::new(),
        profile: "dist".into(),
        out: PathBuf::from("dist"),
        smoke: false,
        install: true,
        features: None,
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--target" => o.names.push(args.next().context("--target needs a name")?),
            "--profile" => o.profile = args.next().context("--profile needs dist or release")?,
            "--out" => o.out = PathBuf::from(args.next().context("--out needs a directory")?),
            "--smoke-test" => o.smoke = true,
            "--no-install" => o.install = false,
            "--features" => {
                let list = args
                    .next()
                    .context("--features needs a list, e.g. tract,upload")?;
                let features: Vec<String> = list
                    .split(',')
                    .map(|f| f.trim().to_string())
                    .filter(|f| !f.is_empty())
                    .collect();
                let known = agent_features()?;
                if let Some(bad) = features.iter().find(|f| !known.contains(f)) {
                    bail!(
                        "--features: unknown agent feature '{bad}'; the agent has {}",
                        known.join(", ")
                    );
                }
                if !features
                    .iter()
                    .any(|f| matches!(f.as_str(), "tract" | "tract-threads" | "ort"))
                {
                    bail!("--features {list:?}: the agent needs a backend; fix: add tract or ort");
                }
                o.features = Some(features);
            }
            other => bail!("unknown argument '{other}'"),
        }
    }
    Ok(o)
}

fn main() -> anyhow::Result<()> {
    let o = parse_args()?;
    let mut targets: Vec<Target> = if o.names.is_empty() {
        frontier_targets::all()?
            .into_iter()
            .flat_map(|c| c.targets)
            .collect()
    } else {
        let mut v = Vec::new();
        for n in &o.names {
            v.extend(frontier_targets::find(n)?);
        }
        v
    };
    if let Some(features) = &o.features {
        for t in &mut targets {
            if t.is_static && features.iter().any(|f| f == "ort") {
                bail!(
                    "--features: {} is a static build, which cannot load ONNX Runtime; fix: drop ort, or pick a gnu target",
                    t.name
                );
            }
            t.features = features.clone();
        }
    }
    if o.command == "sizes" {
        return sizes(&o, &targets);
    }
    std::fs::create_dir_all(&o.out)?;
    let out = o.out.canonicalize()?;
    let mut failures = Vec::new();
    let mut built: Vec<String> = Vec::new();
    println!("{:<14} {:<34} {:>10}  archive", "target", "triple", "size");
    for t in &targets {
        if !t.buildable_here {
            println!(
                "{:<14} {:<34} {:>10}  not built here: {}",
                t.name,
                t.triple,
                "-",
                t.not_buildable_reason
                    .as_deref()
                    .unwrap_or("described only: build it on its own OS")
            );
            continue;
        }
        // laptop-gnu and server-gnu are the same build.
        let key = format!("{}{:?}", t.triple, t.features);
        if built.contains(&key) && o.names.is_empty() {
            continue;
        }
        let result = ensure_toolchain(t, o.install)
            .and_then(|()| {
                if t.zigbuild {
                    ensure_zigbuild(o.install)?;
                }
                build(t, &o.profile)
            })
            .and_then(|bin| {
                let size = std::fs::metadata(&bin)?.len();
                check_glibc_floor(t, &bin)?;
                check_size(t, &o.profile, size)?;
                let tarball = archive(t, &bin, &out)?;
                println!(
                    "{:<14} {:<34} {:>7.1} MB  {}",
                    t.name,
                    t.triple,
                    size as f64 / 1e6,
                    tarball.display()
                );
                if o.smoke {
                    smoke_test(t, &bin, &out.join("smoke"))?;
                    install_test(t, &tarball, &out.join("smoke"))?;
                }
                Ok(())
            });
        match result {
            Ok(()) => built.push(key),
            Err(e) => {
                println!("{:<14} {:<34} {:>10}  FAILED", t.name, t.triple, "-");
                eprintln!("error: {e:#}");
                failures.push(t.name.clone());
            }
        }
    }
    if !failures.is_empty() {
        bail!(
            "{} target(s) failed: {}",
            failures.len(),
            failures.join(", ")
        );
    }
    Ok(())
}
