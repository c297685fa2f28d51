//! Which backends this build has, built from the command line.

use frontier_profiler::backend::{Availability, Backend, GraphOpt};

use crate::cli::{BackendChoice, GraphOptChoice, OrtLibArgs};

/// Every backend compiled into this binary, in order of preference for
/// reports (tract first: always there).
#[allow(clippy::vec_init_then_push)] // each push is behind its own feature
pub fn compiled(ort: &OrtLibArgs, memory_budget: Option<u64>) -> Vec<Box<dyn Backend>> {
    let _ = (ort, memory_budget);
    #[allow(unused_mut)]
    let mut v: Vec<Box<dyn Backend>> = Vec::new();
    #[cfg(feature = "tract")]
    v.push(Box::new(frontier_profiler::tract_backend::TractBackend {
        memory_budget,
    }));
    #[cfg(all(feature = "ort", not(target_env = "musl")))]
    v.push(Box::new(frontier_profiler::ort_backend::OrtBackend {
        library: ort.ort_lib.clone(),
        memory_budget,
    }));
    v
}

/// The backends a command asked for. A named backend that is missing or does
/// not work here is an error with its fix; `auto` keeps those that work and
/// reports the others as warnings.
pub fn selected(
    choice: BackendChoice,
    ort: &OrtLibArgs,
    memory_budget: Option<u64>,
) -> anyhow::Result<Vec<Box<dyn Backend>>> {
    let all = compiled(ort, memory_budget);
    let wanted = match choice {
        BackendChoice::Tract => Some("tract"),
        BackendChoice::Ort => Some("ort"),
        BackendChoice::Auto => None,
    };
    let mut out = Vec::new();
    for b in all {
        if wanted.is_some_and(|w| w != b.name()) {
            continue;
        }
        match b.availability() {
            Availability::Available => out.push(b),
            Availability::Unavailable { reason, fix } => {
                if wanted.is_some() {
                    anyhow::bail!(
                        "backend {} is not usable here: {reason}; fix: {fix}",
                        b.name()
                    );
                }
                eprintln!(
                    "warning: skipping backend {}: {reason}; fix: {fix}",
                    b.name()
                );
            }
        }
    }
    if out.is_empty() {
        match wanted {
            Some(w) => anyhow::bail!(
                "backend {w} is not compiled into this binary (a static musl build has tract only); fix: use --backend tract or a gnu build"
            ),
            None => anyhow::bail!("no backend works here; `frontier doctor` says why"),
        }
    }
    Ok(out)
}

pub fn graph_opt(c: GraphOptChoice) -> GraphOpt {
    match c {
        GraphOptChoice::Disable => GraphOpt::Disable,
        GraphOptChoice::Basic => GraphOpt::Basic,
        GraphOptChoice::Extended => GraphOpt::Extended,
        GraphOptChoice::Layout => GraphOpt::Layout,
        GraphOptChoice::All => GraphOpt::All,
    }
}

/// Prepare options as a backend sees them: a backend without session options
/// (tract) keeps inter-op threads and optimization level at their defaults
/// (and they are not recorded), while `--ep` other than cpu is still refused
/// by it.
pub use frontier_session::options_for;
