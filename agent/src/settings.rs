//! Flags to a [`SessionConfig`], in one place. Every measurement flag is
//! optional: a flag given on the command line wins, else the `--policy`
//! class's value (`frontier-targets`), else `SessionConfig::default()`.
//! `profile`, `profile --check` and `search --verify` all build their
//! session here, so they measure alike.

use frontier_profiler::harness::ProbeConfig;
use frontier_profiler::inputs::InputSpec;
use frontier_session::{self as session, ProbeRef, SessionConfig};

use crate::backends;
use crate::cli::{MeasureArgs, ProbeKind, SessionBeta};

/// A session's settings and the memory budget the backends get.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config: SessionConfig,
    /// Bytes; `None`: the memory available.
    pub memory_budget: Option<u64>,
}

/// The session `m` describes, with input data of `seed` and `specs`, and
/// a per-operator profile when `per_op`.
pub fn resolve(
    m: &MeasureArgs,
    seed: u64,
    specs: Vec<InputSpec>,
    per_op: bool,
) -> anyhow::Result<Settings> {
    let mut c = SessionConfig::default();
    let policy = m
        .policy
        .as_deref()
        .map(frontier_targets::policy)
        .transpose()?;
    let h = &mut c.harness;
    h.warmup.min_runs = m
        .warmup
        .or(policy.as_ref().map(|p| p.warmup))
        .unwrap_or(h.warmup.min_runs);
    h.warmup.min_time = m
        .warmup_time
        .or(policy.as_ref().map(|p| p.warmup_time))
        .unwrap_or(h.warmup.min_time);
    h.min_runs = m
        .min_runs
        .or(policy.as_ref().map(|p| p.min_runs))
        .unwrap_or(h.min_runs);
    h.min_time = m
        .min_time
        .or(policy.as_ref().map(|p| p.min_time))
        .unwrap_or(h.min_time);
    h.max_time = m
        .max_time
        .or(policy.as_ref().map(|p| p.max_time))
        .unwrap_or(h.max_time);
    h.rounds = m
        .rounds
        .or(policy.as_ref().map(|p| p.rounds))
        .unwrap_or(h.rounds);
    h.target_ci = m.target_ci.unwrap_or(h.target_ci);
    h.max_ci = m.max_ci.unwrap_or(h.max_ci);
    h.session_error = m.session_error.unwrap_or(h.session_error);
    h.probe = ProbeConfig {
        session_elasticity: match m.probe_session_beta {
            None | Some(SessionBeta::Auto) => None,
            Some(SessionBeta::Fixed(b)) => Some(b),
        },
        ..h.probe.clone()
    };
    c.instances = m
        .instances
        .or(policy.as_ref().map(|p| p.instances))
        .unwrap_or(c.instances);
    let threads = match m.threads.or(policy.as_ref().map(|p| p.threads)) {
        // 0: every logical core.
        Some(0) => std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1),
        Some(t) => t,
        None => c.threads,
    };
    c.threads = threads;
    c.options.threads = threads as usize;
    c.options.inter_threads = m
        .inter_threads
        .map_or(c.options.inter_threads, |t| t as usize);
    if let Some(g) = m.graph_opt {
        c.options.graph_opt = backends::graph_opt(g);
    }
    if let Some(ep) = &m.ep {
        c.options.execution_provider = ep.trim().to_ascii_lowercase();
    }
    c.probe_ref = match &m.probe_ref {
        Some(text) => ProbeRef::parse(text).map_err(anyhow::Error::msg)?,
        None => c.probe_ref,
    };
    c.probe = match m.probe {
        None => c.probe,
        Some(ProbeKind::Network) => session::ProbeKind::Network,
        Some(ProbeKind::Cpu) => session::ProbeKind::Cpu,
    };
    c.fill.seed = seed;
    c.fill.int_max = m.int_max.unwrap_or(c.fill.int_max);
    c.specs = specs;
    c.per_op_runs = per_op.then(|| {
        m.per_op_runs
            .map_or(session::DEFAULT_PER_OP_RUNS, |r| r as usize)
    });
    let budget_mb = match (m.memory_budget, &m.policy) {
        (Some(mb), _) => Some(mb),
        (None, Some(class)) => frontier_targets::all()?
            .into_iter()
            .find(|k| &k.class == class)
            .map(|k| k.memory_budget_mb),
        (None, None) => None,
    };
    Ok(Settings {
        config: c,
        memory_budget: budget_mb.map(|mb| mb << 20),
    })
}

/// Say so when ONNX Runtime's session options were given but no selected
/// backend has them.
pub fn warn_unused_options(
    m: &MeasureArgs,
    backends: &[Box<dyn frontier_profiler::backend::Backend>],
) {
    let given = m.inter_threads.is_some_and(|t| t != 1)
        || m.graph_opt
            .is_some_and(|g| g != crate::cli::GraphOptChoice::All);
    if given && backends.iter().all(|b| !b.has_session_options()) {
        eprintln!("warning: --inter-threads and --graph-opt apply to ONNX Runtime only; tract always optimizes fully");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn no_flags_give_the_session_defaults() {
        let s = resolve(&MeasureArgs::default(), 0, Vec::new(), false).unwrap();
        let d = SessionConfig::default();
        assert_eq!(s.config.harness, d.harness);
        assert_eq!(
            (s.config.instances, s.config.threads, s.config.probe_ref),
            (d.instances, d.threads, d.probe_ref)
        );
        assert_eq!(s.config.options, d.options);
        assert_eq!(s.memory_budget, None);
    }

    /// The defaults `--help` states are `SessionConfig::default()`'s.
    #[test]
    fn help_states_the_session_defaults() {
        use clap::CommandFactory;
        let d = SessionConfig::default();
        let h = &d.harness;
        let ms = |t: Duration| format!("{}ms", t.as_millis());
        let s = |t: Duration| format!("{}s", t.as_secs());
        let cases = [
            ("threads", d.threads.to_string()),
            ("inter_threads", d.options.inter_threads.to_string()),
            ("ep", d.options.execution_provider.clone()),
            ("int_max", d.fill.int_max.to_string()),
            ("warmup", h.warmup.min_runs.to_string()),
            ("warmup_time", ms(h.warmup.min_time)),
            ("min_runs", h.min_runs.to_string()),
            ("min_time", s(h.min_time)),
            ("max_time", s(h.max_time)),
            ("rounds", h.rounds.to_string()),
            ("instances", d.instances.to_string()),
            ("target_ci", h.target_ci.to_string()),
            ("max_ci", h.max_ci.to_string()),
            ("session_error", h.session_error.to_string()),
            ("per_op_runs", session::DEFAULT_PER_OP_RUNS.to_string()),
        ];
        let cli = crate::cli::Cli::command();
        let profile = cli.find_subcommand("profile").expect("profile");
        for (id, want) in cases {
            let arg = profile
                .get_arguments()
                .find(|a| a.get_id() == id)
                .unwrap_or_else(|| panic!("no flag {id}"));
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            assert!(
                help.contains(&format!("[default: {want}]")),
                "--{id}: help says {help:?}, the default is {want}"
            );
        }
    }

    #[test]
    fn a_flag_wins_over_the_policy_which_wins_over_the_default() {
        let p = frontier_targets::policy("iot").unwrap();
        let m = MeasureArgs {
            policy: Some("iot".into()),
            rounds: Some(p.rounds + 1),
            ..MeasureArgs::default()
        };
        let s = resolve(&m, 0, Vec::new(), true).unwrap();
        assert_eq!(s.config.harness.rounds, p.rounds + 1, "the flag");
        assert_eq!(s.config.harness.min_time, p.min_time, "the policy");
        assert_eq!(
            s.config.harness.target_ci,
            SessionConfig::default().harness.target_ci,
            "the default"
        );
        assert_eq!(s.config.per_op_runs, Some(session::DEFAULT_PER_OP_RUNS));
        assert!(s.memory_budget.is_some(), "the class's memory budget");
        let fixed = MeasureArgs {
            warmup_time: Some(Duration::ZERO),
            ..MeasureArgs::default()
        };
        let s = resolve(&fixed, 0, Vec::new(), false).unwrap();
        assert_eq!(s.config.harness.warmup.min_time, Duration::ZERO);
    }
}
