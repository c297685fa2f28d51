//! `frontier export`: write subnets of a search space as ONNX files, with a
//! `manifest.jsonl` that records each one's architecture, counts and encoding;
//! or (`--blocks`) every block configuration of the space as its own model.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context};
use frontier_spaces::manifest::ManifestLine;
use frontier_spaces::supernet::Supernet;
use frontier_spaces::{ofa_mbv3, Arch, SampleSpec};

use frontier_session::export_dir::ExportDir;

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

/// Print a manifest line with `--json`.
fn emit(l: &ManifestLine, json: bool, stdout: &mut impl Write) -> anyhow::Result<()> {
    if json {
        stdout.write_all(l.to_line().as_bytes())?;
    }
    Ok(())
}

/// Write the manifest and say so (unless `--json`).
fn finish(out: ExportDir, json: bool, what: &str) -> anyhow::Result<i32> {
    let (manifest, n) = out.finish()?;
    if !json {
        eprintln!("wrote {n} {what} and {}", manifest.display());
    }
    Ok(0)
}

fn blocks(args: &ExportArgs) -> anyhow::Result<i32> {
    if args.space != frontier_spaces::Space::OfaMbv3 {
        bail!("--blocks: only ofa-mbv3 has a per-block lookup table; gpt2 layers are profiled as whole models");
    }
    let units = ofa_mbv3::all_units(&args.resolutions)?;
    let mut out = ExportDir::create(&args.out)?;
    let mut stdout = std::io::stdout().lock();
    for (i, u) in units.iter().enumerate() {
        let seed = args.seed.wrapping_add(i as u64);
        let g = ofa_mbv3::generate_unit(u, seed);
        let file = format!("{}.onnx", u.key().replace(':', "_"));
        let l = u.manifest_line(&file, seed, g.input_shape);
        out.add(&g.onnx, &l)?;
        emit(&l, args.json, &mut stdout)?;
    }
    finish(out, args.json, "block models")
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
    let archs = sample_spec(&args).sample(samples as usize)?;
    let (net, sha) = supernet(&args)?;
    let mut out = ExportDir::create(&args.out)?;
    let prefix = args.space.file_prefix();
    for (i, arch) in archs.iter().enumerate() {
        let seed = args.seed.wrapping_add(i as u64);
        let g = arch.generate_from(net.as_ref(), seed)?;
        let l = ManifestLine {
            supernet_sha256: sha.clone(),
            ..arch.manifest_line(&format!("{prefix}_{i:04}.onnx"), seed, g.input_shape)
        };
        out.add(&g.onnx, &l)?;
        emit(&l, args.json, &mut stdout)?;
    }
    finish(out, args.json, "models")
}
