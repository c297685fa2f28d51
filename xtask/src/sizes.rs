//! `cargo xtask sizes`: each agent beside bare tract, with bytes per crate.

use std::path::{Path, PathBuf};
use std::process::Command;

use frontier_targets::Target;

#[allow(unused_imports)]
use crate::*;

/// The unstripped binary beside a stripped copy made by [`build_artifact`].
pub(crate) fn unstripped(stripped: &Path) -> PathBuf {
    stripped.with_extension("")
}

/// Bytes of the binary's symbols per crate (the first path segment of each
/// demangled symbol; C and assembly symbols, such as tract's kernels, under
/// `[C/asm]`), largest first. An equivalent of `cargo bloat --crates` that
/// needs only binutils' `nm`.
pub(crate) fn crate_sizes(bin: &Path, nm: &str) -> anyhow::Result<Vec<(String, u64)>> {
    let out = run(Command::new(nm).args(["-S", "--size-sort", "-C"]).arg(bin))?;
    let mut by: std::collections::BTreeMap<String, u64> = Default::default();
    for line in out.lines() {
        let mut f = line.splitn(4, ' ');
        let (_, Some(size), Some(_), Some(name)) = (f.next(), f.next(), f.next(), f.next()) else {
            continue;
        };
        let Ok(size) = u64::from_str_radix(size, 16) else {
            continue;
        };
        let name = name.trim_start_matches('<').trim_start_matches('&');
        let krate = match name.split_once("::") {
            Some((k, _)) if k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                k.to_string()
            }
            _ => "[C/asm]".to_string(),
        };
        *by.entry(krate).or_default() += size;
    }
    let mut v: Vec<(String, u64)> = by.into_iter().collect();
    v.sort_by_key(|b| std::cmp::Reverse(b.1));
    Ok(v)
}

pub(crate) fn sizes(o: &Options, targets: &[Target]) -> anyhow::Result<()> {
    std::fs::create_dir_all(&o.out)?;
    let out = o.out.canonicalize()?;
    println!("| target | triple | features | agent MB | bare tract MB | ratio | archive MB | glibc needed |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut breakdowns = Vec::new();
    for t in targets.iter().filter(|t| t.buildable_here) {
        ensure_toolchain(t, o.install)?;
        if t.zigbuild {
            ensure_zigbuild(o.install)?;
        }
        let agent = build(t, &o.profile)?;
        let bare = build_artifact(t, &o.profile, Artifact::Example("bare_tract"))?;
        let (a, b) = (
            std::fs::metadata(&agent)?.len() as f64 / 1e6,
            std::fs::metadata(&bare)?.len() as f64 / 1e6,
        );
        let tarball = archive(t, &agent, &out)?;
        let archive_mb = std::fs::metadata(&tarball)?.len() as f64 / 1e6;
        println!(
            "| {} | {} | {} | {a:.1} | {b:.1} | {:.2} | {archive_mb:.1} | {} |",
            t.name,
            t.triple,
            t.features.join(", "),
            a / b,
            glibc_needed(&agent).unwrap_or_else(|| "static".into())
        );
        let cross_nm = t.cc.trim_end_matches("gcc").to_string() + "nm";
        let nm = if t.cc.ends_with("-gcc") && have(&cross_nm) {
            cross_nm
        } else {
            "nm".into()
        };
        breakdowns.push((t.name.clone(), crate_sizes(&unstripped(&agent), &nm)?));
    }
    for (name, crates) in breakdowns {
        let total: u64 = crates.iter().map(|(_, s)| s).sum();
        println!(
            "\n{name}: symbol bytes per crate (of {:.1} MB in symbols)\n",
            total as f64 / 1e6
        );
        println!("| crate | MB | share |\n| --- | --- | --- |");
        for (k, s) in crates.iter().take(15) {
            println!(
                "| {k} | {:.2} | {:.1}% |",
                *s as f64 / 1e6,
                *s as f64 * 100.0 / total as f64
            );
        }
    }
    Ok(())
}
