//! The switcher engine on the scripted backend (`frontier_profiler::fake`):
//! the most accurate variant that fits serves, a variant that fails is
//! quarantined while its request is served by the fastest healthy one (no
//! request fails while any variant is healthy), and a reload swaps the
//! whole generation.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use frontier_profiler::backend::Backend;
use frontier_profiler::fake::{FakeBackend, FakeMachine, FakeModel};
use frontier_profiler::inputs::TensorData;
use frontier_switcher::{Request, ServeConfig, SwitchMode, Switcher};
use frontier_table::frontier::{
    AccuracySource, CanonicalInput, Constraints, FrontierModel, Latency, Manifest, SearchSummary,
};

const KEY: &str = "scripted/fake/t1";

/// A manifest of `(name, accuracy, predicted ms)` models in `dir`, each
/// file written (the switcher checks they exist).
fn manifest(dir: &Path, models: &[(&str, f64, f64)]) -> std::path::PathBuf {
    let models = models
        .iter()
        .map(|(name, accuracy, ms)| {
            let file = format!("{name}.onnx");
            std::fs::write(dir.join(&file), name.as_bytes()).unwrap();
            FrontierModel {
                name: name.to_string(),
                file,
                arch: serde_json::json!({ "name": name }),
                accuracy: *accuracy,
                params: 1,
                macs: 1,
                frontier_of: vec![KEY.into()],
                latency: BTreeMap::from([(
                    KEY.to_string(),
                    Latency {
                        predicted_ms: Some(*ms),
                        interval_ms: Some((ms * 0.9, ms * 1.1)),
                        measured_ms: None,
                    },
                )]),
            }
        })
        .collect();
    let m = Manifest {
        schema_version: "1.0".into(),
        space: "test".into(),
        accuracy: AccuracySource {
            source: "table".into(),
            description: "scripted".into(),
        },
        input: CanonicalInput {
            name: "x".into(),
            dtype: "f32".into(),
            shape: vec![1, 4],
        },
        devices: vec![KEY.into()],
        search: SearchSummary {
            algorithm: "nsga2".into(),
            population: 1,
            generations: 1,
            seed: 0,
            evaluations: 1,
            hypervolume: 0.0,
            random_search_hypervolume: 0.0,
            constraints: Constraints {
                max_latency_ms: vec![None],
                max_params: None,
            },
            seconds: 0.0,
        },
        created_at: "2026-12-06T00:00:00.000Z".into(),
        frontier_version: "test".into(),
        supernet: None,
        models,
    };
    let path = dir.join("frontier.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    path
}

fn request() -> Request {
    Request {
        shape: vec![1, 4],
        data: TensorData::F32(vec![0.5; 4]),
    }
}

#[test]
fn a_failing_variant_is_quarantined_and_its_request_served_by_the_fastest() {
    let dir = frontier_testkit::scratch("switcher-engine");
    let path = manifest(
        &dir,
        &[
            ("small", 0.70, 2.0),
            ("mid", 0.80, 4.0),
            ("large", 0.90, 6.0),
        ],
    );
    let machine = FakeMachine::steady();
    let mut backend = FakeBackend::new(machine.clock.clone());
    let runs = || FakeModel::Runs {
        inputs: FakeBackend::simple_inputs(),
        script: machine.model(1.0, 0.0),
    };
    backend.add(dir.join("small.onnx"), runs());
    backend.add(dir.join("mid.onnx"), runs());
    // Warm-up takes runs 0-2; the first request is run 3.
    backend.add(
        dir.join("large.onnx"),
        FakeModel::FailsAtRun {
            script: machine.model(1.0, 0.0),
            n: 3,
        },
    );
    let backend: Arc<dyn Backend> = Arc::new(backend);
    let mut config = ServeConfig::new(path.clone(), 100.0, backend);
    config.mode = SwitchMode::MostAccurate;
    let (sw, warnings) = Switcher::start(config).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        sw.status().current_model,
        "large",
        "the most accurate that fits"
    );

    let r = sw.infer(&request()).unwrap();
    assert_eq!(r.model, "small", "served by the fastest healthy variant");
    let st = sw.status();
    assert_eq!(st.failed, 0, "no request failed");
    let large = st.variants.iter().find(|v| v.model == "large").unwrap();
    assert!(large.quarantined.is_some(), "{large:?}");
    for _ in 0..5 {
        assert!(sw.infer(&request()).is_ok());
    }

    // A new manifest: a new generation, the old one's models gone.
    manifest(&dir, &[("small", 0.70, 2.0), ("mid", 0.80, 4.0)]);
    sw.reload().unwrap();
    let st = sw.status();
    let names: Vec<&str> = st.variants.iter().map(|v| v.model.as_str()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(!names.contains(&"large"));
    assert!(sw.infer(&request()).is_ok());
    sw.shutdown();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_manifest_without_the_device_names_the_fix() {
    let dir = frontier_testkit::scratch("switcher-engine-device");
    let path = manifest(&dir, &[("small", 0.7, 2.0)]);
    let backend: Arc<dyn Backend> = Arc::new(FakeBackend::new(Default::default()));
    let mut config = ServeConfig::new(path, 10.0, backend);
    config.device = Some("elsewhere".into());
    let e = Switcher::start(config)
        .err()
        .expect("no such device")
        .to_string();
    assert!(
        e.contains("no latency for device elsewhere") && e.contains("fix:"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
