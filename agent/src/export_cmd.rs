//! `frontier export`: write subnets of a search space as ONNX files, with a
//! `manifest.jsonl` that records each one's architecture, counts and encoding;
//! or (`--blocks`) every block configuration of the space as its own model.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context};
use frontier_export::manifest::ManifestLine;
use frontier_export::ofa_mbv3::{self, ArchError, Generated};
use frontier_export::{gpt2, sampler};
use frontier_profiler::inputs::SplitMix64;

use crate::cli::{ExportArgs, SamplerChoice, Space};

/// One architecture of either space.
#[derive(Debug, Clone)]
enum AnyArch {
    Ofa(ofa_mbv3::Arch),
    Gpt2(gpt2::Arch),
}

impl AnyArch {
    fn parse(space: Space, json: &str) -> Result<AnyArch, ArchError> {
        Ok(match space {
            Space::OfaMbv3 => AnyArch::Ofa(ofa_mbv3::Arch::from_json(json)?),
            Space::Gpt2 => AnyArch::Gpt2(gpt2::Arch::from_json(json)?),
        })
    }

    fn generate(&self, seed: u64) -> Result<Generated, ArchError> {
        match self {
            AnyArch::Ofa(a) => ofa_mbv3::generate(a, seed),
            AnyArch::Gpt2(a) => gpt2::generate(a, seed),
        }
    }

    fn line(&self, file: &str, seed: u64, input_shape: Vec<usize>) -> ManifestLine {
        let (space, json, params, macs, macs_exact, encoding) = match self {
            AnyArch::Ofa(a) => (
                ofa_mbv3::SPACE,
                a.to_json(),
                ofa_mbv3::params(a),
                ofa_mbv3::macs(a),
                ofa_mbv3::macs_exact(a),
                ofa_mbv3::encode(a),
            ),
            AnyArch::Gpt2(a) => (
                gpt2::SPACE,
                a.to_json(),
                gpt2::params(a),
                gpt2::macs(a) as f64,
                gpt2::macs(a),
                gpt2::encode(a),
            ),
        };
        ManifestLine {
            file: file.to_string(),
            space: space.into(),
            arch: serde_json::from_str(&json).expect("valid JSON"),
            params,
            macs,
            macs_exact,
            encoding,
            seed,
            input_shape,
        }
    }
}

/// A numeric key of an OFA architecture that a stratified sampler spreads.
type OfaKey = fn(&ofa_mbv3::Arch) -> f64;

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("{}: cannot write", path.display()))
}

/// What to sample: a space, a sampler, a seed and GPT-2's sizes.
#[derive(Debug, Clone, Copy)]
pub struct SampleSpec {
    pub space: Space,
    pub sampler: SamplerChoice,
    pub seed: u64,
    pub seq_len: u32,
    pub vocab_size: u32,
    pub n_positions: u32,
}

impl SampleSpec {
    fn of(args: &ExportArgs) -> SampleSpec {
        SampleSpec {
            space: args.space,
            sampler: args.sampler,
            seed: args.seed,
            seq_len: args.seq_len,
            vocab_size: args.vocab_size,
            n_positions: args.n_positions,
        }
    }
}

/// File-name prefix of a space's generated models.
fn prefix(space: Space) -> &'static str {
    match space {
        Space::OfaMbv3 => "ofa_mbv3",
        Space::Gpt2 => "gpt2",
    }
}

/// A sampled subnet that is not generated yet: its architecture as it is
/// recorded in rows (compact JSON, keys sorted) and how to make its model.
#[derive(Debug, Clone)]
pub struct Candidate {
    arch: AnyArch,
    /// Architecture JSON as rows record it.
    pub json: String,
    pub space: String,
}

impl Candidate {
    /// The model, named `<prefix>_<index>`, with weights of `seed`.
    pub fn model(&self, index: usize, seed: u64) -> anyhow::Result<frontier_session::Model> {
        let g = self.arch.generate(seed)?;
        let prefix = match self.arch {
            AnyArch::Ofa(_) => "ofa_mbv3",
            AnyArch::Gpt2(_) => "gpt2",
        };
        Ok(frontier_session::Model::Generated {
            name: format!("{prefix}_{index:04}"),
            onnx: g.onnx,
            arch: self.json.clone(),
            space: self.space.clone(),
        })
    }
}

impl Candidate {
    fn of(arch: AnyArch) -> Candidate {
        let l = arch.line("", 0, Vec::new());
        Candidate {
            json: l.arch.to_string(),
            space: l.space,
            arch,
        }
    }
}

/// `n` subnets of `spec`'s space, drawn as `frontier export --samples` draws them.
pub fn candidates(spec: &SampleSpec, n: usize) -> anyhow::Result<Vec<Candidate>> {
    Ok(sample(spec, n)?.into_iter().map(Candidate::of).collect())
}

/// The smallest and the largest subnet of `spec`'s space (every choice at
/// its minimum, then at its maximum): samples rarely reach them, and a
/// predictor that never saw them extrapolates at the ends of the range.
/// For GPT-2 only the smallest: the largest (16 layers of width 1024 and
/// GPT-2's vocabulary) is 1.4 GB of weights, too much for a board's copies.
pub fn extremes(spec: &SampleSpec) -> Vec<Candidate> {
    match spec.space {
        Space::OfaMbv3 => [(3, 3, 2, 128), (7, 6, 4, 224)]
            .into_iter()
            .map(|(k, e, d, r)| {
                Candidate::of(AnyArch::Ofa(ofa_mbv3::Arch {
                    ks: vec![k; 20],
                    e: vec![e; 20],
                    d: vec![d; 5],
                    r,
                }))
            })
            .collect(),
        Space::Gpt2 => {
            let space = gpt2::Space {
                vocab_size: spec.vocab_size,
                n_positions: spec.n_positions,
                seq_len: spec.seq_len,
                ..gpt2::Space::default()
            };
            let pick = |v: &[u32], max: bool| {
                if max { v.iter().max() } else { v.iter().min() }
                    .copied()
                    .unwrap_or(0)
            };
            [false]
                .into_iter()
                .map(|max| {
                    Candidate::of(AnyArch::Gpt2(gpt2::Arch {
                        n_layer: pick(&space.n_layer, max),
                        d_model: pick(&space.d_model, max),
                        n_head: gpt2::PerLayer::One(pick(&space.n_head, max)),
                        d_inner: gpt2::PerLayer::One(pick(&space.d_inner, max)),
                        vocab_size: space.vocab_size,
                        n_positions: space.n_positions,
                        seq_len: space.seq_len,
                    }))
                })
                .filter(|c| match &c.arch {
                    AnyArch::Gpt2(a) => a.validate().is_ok(),
                    AnyArch::Ofa(_) => true,
                })
                .collect()
        }
    }
}

/// `n` subnets of `spec`'s space generated in memory (model `i` with seed
/// `seed + i`: the bytes `frontier export --samples` writes), for
/// `frontier profile --space`.
pub fn generated_models(
    spec: &SampleSpec,
    n: usize,
) -> anyhow::Result<Vec<frontier_session::Model>> {
    candidates(spec, n)?
        .iter()
        .enumerate()
        .map(|(i, c)| c.model(i, spec.seed.wrapping_add(i as u64)))
        .collect()
}

fn sample(args: &SampleSpec, n: usize) -> anyhow::Result<Vec<AnyArch>> {
    let mut rng = SplitMix64::new(args.seed);
    let strategy = args.sampler;
    Ok(match args.space {
        Space::OfaMbv3 => {
            let key: Option<(OfaKey, bool)> = match strategy {
                SamplerChoice::Uniform => None,
                SamplerChoice::Depth => Some((|a| a.d.iter().sum::<u32>() as f64, true)),
                SamplerChoice::Resolution => Some((|a| a.r as f64, true)),
                SamplerChoice::Macs => Some((ofa_mbv3::macs, false)),
            };
            let archs = match key {
                None => (0..n).map(|_| ofa_mbv3::sample(&mut rng)).collect(),
                Some((k, discrete)) => {
                    sampler::stratified(n, &mut rng, ofa_mbv3::sample, k, discrete)
                }
            };
            archs.into_iter().map(AnyArch::Ofa).collect()
        }
        Space::Gpt2 => {
            let space = gpt2::Space {
                vocab_size: args.vocab_size,
                n_positions: args.n_positions,
                seq_len: args.seq_len,
                ..gpt2::Space::default()
            };
            let probe = gpt2::sample(&space, &mut SplitMix64::new(0));
            probe.validate()?;
            let draw = |r: &mut SplitMix64| gpt2::sample(&space, r);
            let archs = match strategy {
                SamplerChoice::Uniform => (0..n).map(|_| draw(&mut rng)).collect(),
                SamplerChoice::Depth => {
                    sampler::stratified(n, &mut rng, draw, |a| a.n_layer as f64, true)
                }
                SamplerChoice::Macs => {
                    sampler::stratified(n, &mut rng, draw, |a| gpt2::macs(a) as f64, false)
                }
                SamplerChoice::Resolution => bail!(
                    "--sampler resolution: the gpt2 space has no input resolution; use uniform, depth or macs"
                ),
            };
            archs.into_iter().map(AnyArch::Gpt2).collect()
        }
    })
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
    if args.space != Space::OfaMbv3 {
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
        let macs_exact = ofa_mbv3::unit_macs(u);
        let l = ManifestLine {
            file,
            space: "ofa-mbv3-block".into(),
            arch: serde_json::json!({ "key": u.key(), "unit": u }),
            params: ofa_mbv3::unit_params(u),
            macs: macs_exact as f64,
            macs_exact,
            encoding: u.features(),
            seed,
            input_shape: g.input_shape,
        };
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
        let arch = AnyArch::parse(args.space, json)?;
        let out = &args.out;
        if out.extension().and_then(|e| e.to_str()) != Some("onnx") {
            bail!(
                "--out {}: with --arch, give the .onnx file to write",
                out.display()
            );
        }
        let g = arch.generate(args.seed)?;
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
        let l = arch.line(&file, args.seed, g.input_shape);
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
    let archs = sample(&SampleSpec::of(&args), samples as usize)?;
    prepare_dir(dir)?;
    let prefix = prefix(args.space);
    let mut lines = String::new();
    for (i, arch) in archs.iter().enumerate() {
        let seed = args.seed.wrapping_add(i as u64);
        let g = arch.generate(seed)?;
        let file = format!("{prefix}_{i:04}.onnx");
        write_file(&dir.join(&file), &g.onnx)?;
        let l = arch.line(&file, seed, g.input_shape);
        emit(&l, args.json, &mut stdout, &mut lines)?;
    }
    finish(dir, &lines, args.json, &format!("{samples} models"))
}
