//! `frontier export`: write subnets of a search space as ONNX files, with a
//! `manifest.jsonl` that records each one's architecture, counts and encoding;
//! or (`--blocks`) every block configuration of the space as its own model.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context};
use frontier_spaces::manifest::ManifestLine;
use frontier_spaces::supernet::Supernet;
use frontier_spaces::{ofa_mbv3, Arch, SampleSpec};

use crate::cli::ExportArgs;

/// The `--weights` supernet and its SHA-256, if given.
fn supernet(args: &ExportArgs) -> anyhow::Result<(Option<Supernet>, Option<String>)> {
    Ok(match &args.weights {
        Some(p) => {
            let (net, r) = frontier_session::supernet::read(p)?;
            (Some(net), Some(r.sha256))
        }
        None => (None, None),
    })
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("{}: cannot write", path.display()))
}

/// What `--samples` draws: the space, sampler, seed and GPT-2's sizes.
fn sample_spec(args: &ExportArgs) -> SampleSpec {
    SampleSpec {
        space: args.space,
        strategy: args.sampler,
        seed: args.seed,
        seq_len: args.seq_len,
        vocab_size: args.vocab_size,
        n_positions: args.n_positions,
    }
}

/// Add a manifest line (and print it with `--json`).
fn emit(
    l: &ManifestLine,
    json: bool,
    stdout: &mut impl Write,
    lines: &mut String,
) -> anyhow::Result<()> {
    if json {
        stdout.write_all(l.to_line().as_bytes())?;
    }
    lines.push_str(&l.to_line());
    Ok(())
}

fn finish(dir: &Path, lines: &str, json: bool, what: &str) -> anyhow::Result<i32> {
    let manifest = dir.join("manifest.jsonl");
    write_file(&manifest, lines.as_bytes())?;
    if !json {
        eprintln!("wrote {what} and {}", manifest.display());
    }
    Ok(0)
}

fn prepare_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.extension().and_then(|e| e.to_str()) == Some("onnx") {
        bail!("--out {}: give a directory", dir.display());
    }
    let manifest = dir.join("manifest.jsonl");
    if manifest.exists() {
        bail!(
            "{}: this directory already holds an export; fix: choose a new --out directory or remove it",
            manifest.display()
        );
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{}: cannot create directory", dir.display()))
}

fn blocks(args: &ExportArgs) -> anyhow::Result<i32> {
    if args.space != frontier_spaces::Space::OfaMbv3 {
        bail!("--blocks: only ofa-mbv3 has a per-block lookup table; gpt2 layers are profiled as whole models");
    }
    let units = ofa_mbv3::all_units(&args.resolutions)?;
    let dir = &args.out;
    prepare_dir(dir)?;
    let mut stdout = std::io::stdout().lock();
    let mut lines = String::new();
    for (i, u) in units.iter().enumerate() {
        let seed = args.seed.wrapping_add(i as u64);
        let g = ofa_mbv3::generate_unit(u, seed);
        let file = format!("{}.onnx", u.key().replace(':', "_"));
        write_file(&dir.join(&file), &g.onnx)?;
        let l = u.manifest_line(&file, seed, g.input_shape);
        emit(&l, args.json, &mut stdout, &mut lines)?;
    }
    finish(
        dir,
        &lines,
        args.json,
        &format!("{} block models", units.len()),
    )
}

pub fn run(args: ExportArgs) -> anyhow::Result<i32> {
    if args.blocks {
        return blocks(&args);
    }
    let mut stdout = std::io::stdout().lock();
    if let Some(json) = &args.arch {
        // One architecture to one file.
        let arch = Arch::parse(args.space, json)?;
        let out = &args.out;
        if out.extension().and_then(|e| e.to_str()) != Some("onnx") {
            bail!(
                "--out {}: with --arch, give the .onnx file to write",
                out.display()
            );
        }
        let (net, sha) = supernet(&args)?;
        let g = arch.generate_from(net.as_ref(), args.seed)?;
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("{}: cannot create directory", dir.display()))?;
        }
        write_file(out, &g.onnx)?;
        let file = out
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or_default()
            .to_string();
        let l = ManifestLine {
            supernet_sha256: sha,
            ..arch.manifest_line(&file, args.seed, g.input_shape)
        };
        if args.json {
            stdout.write_all(l.to_line().as_bytes())?;
        } else {
            eprintln!(
                "wrote {} ({} params, {} MACs)",
                out.display(),
                l.params,
                l.macs
            );
        }
        return Ok(0);
    }
    let Some(samples) = args.samples else {
        bail!("give --samples N (with --out DIR), --arch JSON (with --out FILE.onnx) or --blocks (with --out DIR)");
    };
    let dir = &args.out;
    let archs = sample_spec(&args).sample(samples as usize)?;
    let (net, sha) = supernet(&args)?;
    prepare_dir(dir)?;
    let prefix = args.space.file_prefix();
    let mut lines = String::new();
    for (i, arch) in archs.iter().enumerate() {
        let seed = args.seed.wrapping_add(i as u64);
        let g = arch.generate_from(net.as_ref(), seed)?;
        let file = format!("{prefix}_{i:04}.onnx");
        write_file(&dir.join(&file), &g.onnx)?;
        let l = ManifestLine {
            supernet_sha256: sha.clone(),
            ..arch.manifest_line(&file, seed, g.input_shape)
        };
        emit(&l, args.json, &mut stdout, &mut lines)?;
    }
    finish(dir, &lines, args.json, &format!("{samples} models"))
}
