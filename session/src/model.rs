//! What a session measures: model files (with what the manifest beside
//! each says), subnets generated in memory, or a frontier manifest's files.

use std::path::{Path, PathBuf};

use crate::discover;

pub use frontier_spaces::{CANARY_SEED, CANARY_SUBNETS};

/// A job whose subnets cannot be made here.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct JobModelsError(pub String);

/// A model to measure.
#[derive(Debug, Clone)]
pub enum Model {
    /// An ONNX file; `arch`/`space` from the manifest beside it, if any.
    File {
        path: PathBuf,
        arch: Option<String>,
        space: Option<String>,
    },
    /// A model generated in memory (a search space's subnet).
    Generated {
        /// Recorded as `model_path` and `model_name`.
        name: String,
        onnx: Vec<u8>,
        arch: String,
        space: String,
        /// One of the invocation's reference subnets ([`Model::references`]):
        /// its rows say `reference: true`.
        reference: bool,
    },
}

impl Model {
    /// Subnet `index` of a space generated with weights of `seed`, named
    /// `<prefix>_<index>` (the name `frontier export --samples` gives its
    /// file), its arch recorded as rows record it.
    pub fn generated(
        arch: &frontier_spaces::Arch,
        index: usize,
        seed: u64,
    ) -> Result<Model, frontier_spaces::ArchError> {
        Ok(Model::Generated {
            name: format!("{}_{index:04}", arch.space().file_prefix()),
            onnx: arch.generate(seed)?.onnx,
            arch: arch.row_json(),
            space: arch.space().name().into(),
            reference: false,
        })
    }

    /// The reference subnets of `space` ([`frontier_spaces::canary_archs`],
    /// the same on every board and in every version), named
    /// `reference_<prefix>_<i>`: measured beside an invocation's models so
    /// that tables of different invocations can be put on one scale.
    pub fn references(
        space: frontier_spaces::Space,
    ) -> Result<Vec<Model>, frontier_spaces::ArchError> {
        frontier_spaces::canary_archs(space)
            .iter()
            .enumerate()
            .map(|(i, a)| {
                Ok(Model::Generated {
                    name: format!("reference_{}_{i}", space.file_prefix()),
                    onnx: a.generate(CANARY_SEED.wrapping_add(i as u64))?.onnx,
                    arch: a.row_json(),
                    space: space.name().into(),
                    reference: true,
                })
            })
            .collect()
    }

    /// Whether this is a reference subnet.
    pub fn is_reference(&self) -> bool {
        matches!(
            self,
            Model::Generated {
                reference: true,
                ..
            }
        )
    }

    /// `n` subnets drawn as `spec` says, subnet `i` with weights of seed
    /// `spec.seed + i` (the bytes `frontier export --samples` writes).
    pub fn sampled(
        spec: &frontier_spaces::SampleSpec,
        n: usize,
    ) -> Result<Vec<Model>, frontier_spaces::SpaceError> {
        Ok(spec
            .sample(n)?
            .iter()
            .enumerate()
            .map(|(i, a)| Model::generated(a, i, spec.seed.wrapping_add(i as u64)))
            .collect::<Result<Vec<_>, _>>()?)
    }

    /// The subnets a profiling job names (`frontier agent`): `samples` drawn
    /// uniformly with seed `seed`, or its explicit `archs`; a `canary` job's
    /// fixed set ([`CANARY_SUBNETS`] subnets of seed [`CANARY_SEED`], the
    /// same on every board). An `active` job is planned batch by batch by
    /// its caller, so it names none here.
    pub fn for_job(
        spec: &frontier_table::jobs::JobSpec,
        seed: u64,
    ) -> Result<Vec<Model>, JobModelsError> {
        use frontier_spaces::{Arch, SampleSpec, Space};
        use frontier_table::jobs::JobKind;
        let space = Space::parse(&spec.space).ok_or_else(|| {
            JobModelsError(format!(
                "space {}: this agent knows {}; fix: upgrade the agent",
                spec.space,
                Space::names()
            ))
        })?;
        let sample = |n: usize, seed: u64| {
            Model::sampled(&SampleSpec::new(space, seed), n)
                .map_err(|e| JobModelsError(e.to_string()))
        };
        match (spec.kind, &spec.samples, &spec.archs) {
            (JobKind::Canary, _, _) => sample(CANARY_SUBNETS, CANARY_SEED),
            (JobKind::Profile, Some(n), _) => sample(*n as usize, seed),
            (JobKind::Profile, None, Some(archs)) => archs
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    let arch = Arch::parse(space, &a.to_string())
                        .map_err(|e| JobModelsError(format!("archs[{i}]: {e}")))?;
                    Model::generated(&arch, i, seed.wrapping_add(i as u64))
                        .map_err(|e| JobModelsError(format!("archs[{i}]: {e}")))
                })
                .collect(),
            (JobKind::Profile, None, None) => Ok(Vec::new()),
        }
    }

    /// The models of a frontier manifest, its files relative to `dir`.
    pub fn frontier(manifest: &frontier_table::frontier::Manifest, dir: &Path) -> Vec<Model> {
        manifest
            .models
            .iter()
            .map(|m| Model::File {
                path: dir.join(&m.file),
                arch: Some(m.arch.to_string()),
                space: Some(manifest.space.clone()),
            })
            .collect()
    }

    /// The model files of command-line paths, each with what the manifest
    /// beside it says; paths that could not be used become failures.
    pub fn files(paths: &[PathBuf]) -> (Vec<Model>, Vec<String>) {
        let (found, errors) = discover::models(paths);
        let mut failures: Vec<String> = errors.into_iter().map(|e| e.message).collect();
        let mut models = Vec::new();
        for path in found {
            match discover::arch_from_manifest(&path) {
                Ok(a) => models.push(Model::File {
                    path,
                    arch: a.as_ref().map(|a| a.arch.clone()),
                    space: a.and_then(|a| a.space),
                }),
                Err(e) => failures.push(e.to_string()),
            }
        }
        (models, failures)
    }

    pub(crate) fn name(&self) -> String {
        match self {
            Model::File { path, .. } => path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            Model::Generated { name, .. } => name.clone(),
        }
    }
}

/// `refs` spread evenly among `models` (each round measures models in this
/// order: references at one end would see only that end's drift).
pub fn interleave(models: Vec<Model>, refs: Vec<Model>) -> Vec<Model> {
    let (n, k) = (models.len(), refs.len());
    let mut out = Vec::with_capacity(n + k);
    let mut refs = refs.into_iter();
    for (i, m) in models.into_iter().enumerate() {
        // Reference j goes before model ⌊(j + 1)·n / (k + 1)⌋.
        while out.len() - i < k && i == ((out.len() - i + 1) * n) / (k + 1) {
            match refs.next() {
                Some(r) => out.push(r),
                None => break,
            }
        }
        out.push(m);
    }
    out.extend(refs);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_spread_among_the_models() {
        let file = |name: String| Model::File {
            path: PathBuf::from(name),
            arch: None,
            space: None,
        };
        let names = |v: Vec<Model>| -> Vec<String> {
            v.into_iter()
                .map(|m| match m {
                    Model::File { path, .. } => path.display().to_string(),
                    Model::Generated { name, .. } => name,
                })
                .collect()
        };
        let models = |n: usize| (0..n).map(|i| file(format!("m{i}"))).collect::<Vec<_>>();
        let refs = || (0..5).map(|i| file(format!("r{i}"))).collect::<Vec<_>>();
        let spread = names(interleave(models(40), refs()));
        assert_eq!(spread.len(), 45);
        let at: Vec<usize> = (0..5)
            .map(|j| spread.iter().position(|n| n == &format!("r{j}")).unwrap())
            .collect();
        assert_eq!(at, vec![6, 14, 22, 29, 37]);
        assert_eq!(
            names(interleave(models(0), refs())),
            vec!["r0", "r1", "r2", "r3", "r4"]
        );
        assert_eq!(
            names(interleave(models(2), refs())),
            vec!["r0", "r1", "m0", "r2", "r3", "r4", "m1"]
        );
        assert_eq!(
            names(interleave(models(3), Vec::new())),
            vec!["m0", "m1", "m2"]
        );
    }
}
