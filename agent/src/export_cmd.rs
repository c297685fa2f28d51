//! `frontier export`: write subnets of a search space as ONNX files, with a
//! `manifest.jsonl` that records each one's architecture, counts and encoding.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context};
use frontier_export::manifest::ManifestLine;
use frontier_export::ofa_mbv3::{self, Arch};
use frontier_profiler::inputs::SplitMix64;

use crate::cli::{ExportArgs, Space};

fn line(file: &str, arch: &Arch, seed: u64, input_shape: Vec<usize>) -> ManifestLine {
    ManifestLine {
        file: file.to_string(),
        space: "ofa-mbv3".into(),
        arch: serde_json::from_str(&arch.to_json()).expect("valid JSON"),
        params: ofa_mbv3::params(arch),
        macs: ofa_mbv3::macs(arch),
        macs_exact: ofa_mbv3::macs_exact(arch),
        encoding: ofa_mbv3::encode(arch),
        seed,
        input_shape,
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("{}: cannot write", path.display()))
}

pub fn run(args: ExportArgs) -> anyhow::Result<i32> {
    let Space::OfaMbv3 = args.space;
    let mut stdout = std::io::stdout().lock();
    if let Some(json) = &args.arch {
        // One architecture to one file.
        let arch = Arch::from_json(json)?;
        let out = &args.out;
        if out.extension().and_then(|e| e.to_str()) != Some("onnx") {
            bail!(
                "--out {}: with --arch, give the .onnx file to write",
                out.display()
            );
        }
        let g = ofa_mbv3::generate(&arch, args.seed)?;
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
        let l = line(&file, &arch, args.seed, g.input_shape);
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
        bail!("give --samples N (with --out DIR) or --arch JSON (with --out FILE.onnx)");
    };
    let dir = &args.out;
    if dir.extension().and_then(|e| e.to_str()) == Some("onnx") {
        bail!("--out {}: with --samples, give a directory", dir.display());
    }
    let manifest = dir.join("manifest.jsonl");
    if manifest.exists() {
        bail!(
            "{}: this directory already holds an export; fix: choose a new --out directory or remove it",
            manifest.display()
        );
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{}: cannot create directory", dir.display()))?;
    let mut rng = SplitMix64::new(args.seed);
    let mut lines = String::new();
    for i in 0..samples {
        let arch = ofa_mbv3::sample(&mut rng);
        let seed = args.seed.wrapping_add(i as u64);
        let g = ofa_mbv3::generate(&arch, seed)?;
        let file = format!("ofa_mbv3_{i:04}.onnx");
        write_file(&dir.join(&file), &g.onnx)?;
        let l = line(&file, &arch, seed, g.input_shape);
        if args.json {
            stdout.write_all(l.to_line().as_bytes())?;
        }
        lines.push_str(&l.to_line());
    }
    write_file(&manifest, lines.as_bytes())?;
    if !args.json {
        eprintln!("wrote {samples} models and {} ", manifest.display());
    }
    Ok(0)
}
