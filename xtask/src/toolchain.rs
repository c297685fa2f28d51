//! Finding and installing what a cross build needs: rustup targets, Debian
//! cross compilers, `ziglang` and `cargo-zigbuild`; running commands.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context};
use frontier_targets::Target;

#[allow(unused_imports)]
use crate::*;

/// The checkout being built: `cargo run` (the `cargo xtask` alias) sets
/// `CARGO_MANIFEST_DIR` when it runs the binary. The compile-time value is
/// only a fallback: with a target directory shared between checkouts, cargo
/// may reuse an xtask binary built in another (possibly deleted) checkout.
pub(crate) fn repo_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join("..")
}

pub(crate) fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd} >/dev/null 2>&1")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

pub(crate) fn is_root() -> bool {
    run(Command::new("id").arg("-u"))
        .map(|u| u.trim() == "0")
        .unwrap_or(false)
}

pub(crate) fn run(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Rust's standard library for the triple, and the C toolchain.
pub(crate) fn ensure_toolchain(t: &Target, install: bool) -> anyhow::Result<()> {
    let installed = run(Command::new("rustup").args(["target", "list", "--installed"]))?;
    if !installed.lines().any(|l| l.trim() == t.triple) {
        if !install {
            bail!(
                "{}: rust-std for {} is not installed; fix: rustup target add {}",
                t.name,
                t.triple,
                t.triple
            );
        }
        eprintln!("installing rust-std for {}", t.triple);
        run(Command::new("rustup").args(["target", "add", &t.triple])).map_err(|e| {
            anyhow::anyhow!(
                "{}: rustup cannot install rust-std for {} ({}); this target cannot be built on this machine",
                t.name,
                t.triple,
                e.to_string().lines().find(|l| l.contains("error")).unwrap_or("download failed")
            )
        })?;
    }
    let mut missing: Vec<&str> = [t.linker.as_str(), t.cc.as_str()]
        .into_iter()
        .filter(|c| *c != "rust-lld" && !have(c))
        .collect();
    let mut apt = t.apt.clone();
    if let Some(q) = t.runner.first().filter(|q| !have(q)) {
        missing.push(q);
        apt.push("qemu-user".into());
    }
    if missing.is_empty() {
        return Ok(());
    }
    let pkgs = apt.join(" ");
    if install && is_root() && have("apt-get") && !apt.is_empty() {
        eprintln!("installing {pkgs} (for {})", missing.join(", "));
        let install = || {
            run(Command::new("apt-get")
                .args(["install", "-y", "-q"])
                .args(&apt))
        };
        // A fresh machine may have no package lists yet: update once and retry.
        if install().is_err() {
            run(Command::new("apt-get").args(["update", "-q"]))?;
            install()?;
        }
        if let Some(c) = missing.iter().find(|c| !have(c)) {
            bail!("{}: {c} is still missing after installing {pkgs}", t.name);
        }
        return Ok(());
    }
    bail!(
        "{}: the cross toolchain is missing ({}); fix: sudo apt-get install {}",
        t.name,
        missing.join(", "),
        if pkgs.is_empty() {
            "build-essential".into()
        } else {
            pkgs
        }
    )
}

pub(crate) fn env_key(triple: &str) -> String {
    triple.to_uppercase().replace('-', "_")
}

/// `cargo zigbuild` (and zig), installed with pip when missing.
pub(crate) fn ensure_zigbuild(install: bool) -> anyhow::Result<()> {
    let works = || {
        Command::new(cargo())
            .args(["zigbuild", "--help"])
            .output()
            .is_ok_and(|o| o.status.success())
            && (have("zig") || python_has_ziglang())
    };
    if works() {
        return Ok(());
    }
    if !install {
        bail!("cargo-zigbuild is missing; fix: python3 -m pip install ziglang cargo-zigbuild");
    }
    eprintln!("installing ziglang and cargo-zigbuild (pip)");
    run(Command::new("python3").args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "ziglang",
        "cargo-zigbuild",
    ]))?;
    if !works() {
        bail!("cargo zigbuild still does not run after `pip install ziglang cargo-zigbuild`; fix: put pip's script directory on PATH");
    }
    Ok(())
}

pub(crate) fn python_has_ziglang() -> bool {
    Command::new("python3")
        .args(["-c", "import ziglang"])
        .output()
        .is_ok_and(|o| o.status.success())
}

pub(crate) fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Cargo's target directory.
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}
