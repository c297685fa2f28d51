//! A whole session on the scripted machine (`frontier_profiler::fake`):
//! copies prepared, models measured interleaved, rows with the machine's
//! fingerprint and content ids, and one model's failure costing only
//! itself. Time is the fake clock's, so the medians are exact.

use std::path::PathBuf;

use frontier_profiler::backend::Backend;
use frontier_profiler::fake::{FakeBackend, FakeMachine, FakeModel};
use frontier_profiler::fingerprint::Fingerprint;
use frontier_session::{run_on, Machine, Model, ProbeRef, Quiet, SessionConfig};

/// Model files (their bytes are hashed for the rows) the fake backend serves.
fn models(dir: &std::path::Path, names: &[&str]) -> Vec<PathBuf> {
    names
        .iter()
        .map(|n| {
            let p = dir.join(n);
            std::fs::write(&p, n.as_bytes()).unwrap();
            p
        })
        .collect()
}

fn quick() -> SessionConfig {
    let mut c = SessionConfig {
        probe_ref: ProbeRef::Off,
        instances: 2,
        ..SessionConfig::default()
    };
    c.harness.warmup.min_time = std::time::Duration::from_millis(20);
    c.harness.min_time = std::time::Duration::from_millis(200);
    c.harness.session_error = 0.0;
    c
}

#[test]
fn a_session_measures_every_model_and_a_failure_costs_only_itself() {
    let dir = frontier_testkit::scratch("session-scripted");
    let machine = FakeMachine::steady();
    let paths = models(&dir, &["fast.onnx", "slow.onnx", "broken.onnx"]);
    let mut backend = FakeBackend::new(machine.clock.clone());
    let runs = |ms: f64| FakeModel::Runs {
        inputs: FakeBackend::simple_inputs(),
        script: machine.model(ms, 0.01),
    };
    backend.add(&paths[0], runs(2.0));
    backend.add(&paths[1], runs(8.0));
    backend.add(
        &paths[2],
        FakeModel::FailsToPrepare("scripted failure".into()),
    );
    let backends: Vec<Box<dyn Backend>> = vec![Box::new(backend)];
    let mut fingerprint = Fingerprint::collect();
    fingerprint.device_id = "scripted-device".into();
    let m = Machine {
        clock: &machine.clock,
        fingerprint,
    };
    let models: Vec<Model> = paths
        .iter()
        .map(|p| Model::File {
            path: p.clone(),
            arch: None,
            space: None,
        })
        .collect();
    let outcome = run_on(&m, quick(), &backends, &models, &mut Quiet).unwrap();

    assert_eq!(outcome.rows.len(), 2, "{:?}", outcome.failures);
    assert_eq!(outcome.failures.len(), 1);
    assert!(
        outcome.failures[0].contains("scripted failure"),
        "{:?}",
        outcome.failures
    );
    for (row, want) in outcome.rows.iter().zip([2.0, 8.0]) {
        assert_eq!(row.device_id, "scripted-device");
        assert_eq!(row.backend, "fake");
        assert!(
            (row.median_ms / want - 1.0).abs() < 0.02,
            "{}: {} ms, scripted {want} ms",
            row.model_path,
            row.median_ms
        );
        assert_eq!(row.instances, Some(2));
        assert!(row.row_id.is_some(), "rows carry their content id");
        assert!(!row.unstable, "a steady machine gives stable rows");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
