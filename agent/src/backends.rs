//! Which backends this build has, built from the command line.

use frontier_profiler::backend::{select, Backend, GraphOpt};

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
    let wanted = match choice {
        BackendChoice::Tract => Some("tract"),
        BackendChoice::Ort => Some("ort"),
        BackendChoice::Auto => None,
    };
    Ok(select(compiled(ort, memory_budget), wanted, &mut |w| {
        eprintln!("warning: {w}")
    })?)
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
