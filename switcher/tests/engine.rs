//! The switcher engine on the scripted backend (`frontier_profiler::fake`):
//! the most accurate variant that fits serves, a variant that fails is
//! quarantined while its request is served by the fastest healthy one (no
//! request fails while any variant is healthy), a reload swaps the whole
//! generation, and the status says what corrects each prediction.

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

#[test]
fn the_status_says_what_corrects_each_prediction() {
    let dir = frontier_testkit::scratch("switcher-engine-status");
    let path = manifest(&dir, &[("small", 0.70, 2.0), ("large", 0.90, 6.0)]);
    let machine = FakeMachine::steady();
    let mut backend = FakeBackend::new(machine.clock.clone());
    for name in ["small", "large"] {
        backend.add(
            dir.join(format!("{name}.onnx")),
            FakeModel::Runs {
                inputs: FakeBackend::simple_inputs(),
                script: machine.model(1.0, 0.0),
            },
        );
    }
    let mut config = ServeConfig::new(path, 100.0, Arc::new(backend));
    // An empty /proc: no other load, whatever else runs beside the test.
    let proc = dir.join("proc");
    std::fs::create_dir_all(&proc).unwrap();
    config.proc = frontier_switcher::load::ProcPaths { root: proc };
    config.decide_every = std::time::Duration::from_millis(10);
    let (sw, _) = Switcher::start(config).unwrap();
    for _ in 0..10 {
        sw.infer(&request()).unwrap();
    }
    let find = |st: &frontier_switcher::Status, name: &str| {
        serde_json::to_value(st.variants.iter().find(|v| v.model == name).unwrap()).unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let st = loop {
        let st = sw.status();
        if find(&st, "large")["correction"]["kind"] == "observed" {
            break st;
        }
        assert!(std::time::Instant::now() < deadline, "{st:?}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert_eq!(st.current_model, "large");
    let large = find(&st, "large");
    assert_eq!(large["correction"]["contention"], 0.0, "{large}");
    assert!(
        large["correction"]["age_s"].as_f64().unwrap() < 5.0,
        "{large}"
    );
    assert_eq!(
        large["observations"].as_array().unwrap().len(),
        1,
        "{large}"
    );
    let small = find(&st, "small");
    assert_eq!(small["correction"]["kind"], "borrowed", "{small}");
    assert_eq!(small["correction"]["from"], serde_json::json!(["large/t1"]));
    assert!(small["predicted_p95_ms"].as_f64().is_some(), "{small}");

    // Reloading the same models keeps what was observed of them.
    sw.reload().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let large = find(&sw.status(), "large");
    assert_eq!(
        large["observations"].as_array().unwrap().len(),
        1,
        "{large}"
    );
    sw.shutdown();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn field_windows_count_each_request_once_and_start_again() {
    let dir = frontier_testkit::scratch("switcher-field");
    let path = manifest(&dir, &[("small", 0.70, 2.0), ("large", 0.90, 6.0)]);
    let machine = FakeMachine::steady();
    let mut backend = FakeBackend::new(machine.clock.clone());
    for m in ["small", "large"] {
        backend.add(
            dir.join(format!("{m}.onnx")),
            FakeModel::Runs {
                inputs: FakeBackend::simple_inputs(),
                script: machine.model(1.0, 0.0),
            },
        );
    }
    let backend: Arc<dyn Backend> = Arc::new(backend);
    let mut config = ServeConfig::new(path.clone(), 100.0, backend);
    config.mode = SwitchMode::MostAccurate;
    let (sw, _) = Switcher::start(config).unwrap();
    let _ = sw.take_field();
    for i in 0..5 {
        let r = sw.infer(&request()).unwrap();
        sw.record_end_to_end(&r.model, r.threads, 10.0 + i as f64);
    }
    let w = sw.take_field();
    assert_eq!(w.manifest, path);
    assert_eq!(w.device_key, KEY);
    assert_eq!(w.models.len(), 1, "{:?}", w.models);
    let m = &w.models[0];
    assert_eq!((m.model.as_str(), m.requests, m.failed), ("large", 5, 0));
    assert_eq!(m.inference_ms.len(), 5);
    assert!(m.inference_ms.windows(2).all(|p| p[0] <= p[1]));
    assert_eq!(m.e2e_ms, vec![10.0, 11.0, 12.0, 13.0, 14.0]);
    // The next window starts empty.
    assert!(sw.take_field().models.is_empty());

    // Another canonical input cannot replace the served generation.
    let mut m2: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    m2["input"]["shape"] = serde_json::json!([1, 8]);
    let p2 = dir.join("other.json");
    std::fs::write(&p2, serde_json::to_vec(&m2).unwrap()).unwrap();
    let e = sw.reload_from(p2, None).unwrap_err().to_string();
    assert!(e.contains("input") && e.contains("fix:"), "{e}");
    assert_eq!(
        sw.status().current_model,
        "large",
        "the old generation serves"
    );
    sw.shutdown();
    std::fs::remove_dir_all(&dir).unwrap();
}
