//! Real weights, exactly as the `ofa` package computes them: for every
//! subnet of `shared/fixtures/supernet/reference.json`, the model Frontier
//! materializes from the supernet, run by tract and by ONNX Runtime on the
//! fixture's seeded input, gives PyTorch's logits within 1e-4 of the
//! largest logit's magnitude. Subnets not in the fixture: both backends
//! agree on them, and weights do not change the graph (the latency twin
//! has the same op histogram).

use std::path::Path;

use frontier_profiler::backend::{Backend, PrepareOptions};
use frontier_profiler::inputs::{self, InputTensor, TensorData};
use frontier_spaces::ofa_mbv3::{self, Arch};
use frontier_spaces::supernet::Supernet;
use frontier_testkit::{scratch, supernet_fixtures};

fn supernet() -> Supernet {
    let path = supernet_fixtures().join("ofa_mbv3_w1.0.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    Supernet::from_bytes(&bytes, &path.display().to_string()).unwrap()
}

/// Each reference subnet's arch, input and PyTorch logits.
fn references() -> Vec<(Arch, u64, Vec<f32>, Vec<f32>)> {
    let dir = supernet_fixtures();
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    let bytes = std::fs::read(dir.join("reference.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let f32s = |name: &str| -> Vec<f32> {
        st.tensor(name)
            .unwrap()
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    };
    index["subnets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let arch: Arch = serde_json::from_value(s["arch"].clone()).unwrap();
            (
                arch,
                s["params"].as_u64().unwrap(),
                f32s(s["input"].as_str().unwrap()),
                f32s(s["logits"].as_str().unwrap()),
            )
        })
        .collect()
}

fn backends() -> Vec<Box<dyn Backend>> {
    vec![
        Box::new(frontier_profiler::tract_backend::TractBackend::default()),
        Box::new(frontier_profiler::ort_backend::OrtBackend::default()),
    ]
}

/// The model's logits for `input` on `backend`.
fn run(backend: &dyn Backend, model: &Path, r: usize, input: Vec<f32>) -> Vec<f64> {
    let info = backend.inspect(model).unwrap();
    let resolved = inputs::resolve(model, &info.inputs, &[]).unwrap();
    let prepared = backend
        .prepare(model, &resolved, &PrepareOptions::default())
        .unwrap();
    let x = InputTensor {
        name: resolved[0].name.clone(),
        shape: vec![1, 3, r, r],
        data: TensorData::F32(input),
    };
    let mut state = prepared.state(&[x]).unwrap();
    state.outputs().unwrap().remove(0).values
}

#[test]
fn materialized_subnets_give_pytorchs_logits_on_both_backends() {
    let net = supernet();
    let dir = scratch("supernet-exact");
    let backends = backends();
    for (i, (arch, params, input, logits)) in references().into_iter().enumerate() {
        assert_eq!(
            ofa_mbv3::params(&arch),
            params,
            "subnet {i}: parameter count"
        );
        let w = net.subnet(&arch).unwrap();
        let g = ofa_mbv3::generate_weighted(&arch, &w).unwrap();
        let path = dir.join(format!("ref{i}.onnx"));
        std::fs::write(&path, &g.onnx).unwrap();
        let scale = logits.iter().fold(0f64, |m, v| m.max(v.abs() as f64));
        for b in &backends {
            let got = run(b.as_ref(), &path, arch.r as usize, input.clone());
            assert_eq!(got.len(), logits.len());
            let worst = got
                .iter()
                .zip(&logits)
                .map(|(a, b)| (a - *b as f64).abs())
                .fold(0f64, f64::max);
            assert!(
                worst <= 1e-4 * scale,
                "subnet {i} on {}: largest difference {worst:e}, allowed {:e} (1e-4 of {scale})",
                b.name(),
                1e-4 * scale
            );
        }
        // Weights do not change the graph: the latency twin's histogram.
        assert_eq!(g.op_counts, ofa_mbv3::generate(&arch, 0).unwrap().op_counts);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn subnets_not_in_the_fixture_agree_between_backends() {
    let net = supernet();
    let dir = scratch("supernet-unseen");
    let backends = backends();
    let mut rng = frontier_spaces::rng::SplitMix64::new(77);
    for i in 0..4 {
        let arch = ofa_mbv3::sample(&mut rng);
        let w = net.subnet(&arch).unwrap();
        let path = dir.join(format!("s{i}.onnx"));
        std::fs::write(&path, ofa_mbv3::generate_weighted(&arch, &w).unwrap().onnx).unwrap();
        let r = arch.r as usize;
        let input: Vec<f32> = (0..3 * r * r).map(|_| rng.next_f64() as f32).collect();
        let a = run(backends[0].as_ref(), &path, r, input.clone());
        let b = run(backends[1].as_ref(), &path, r, input);
        let scale = a.iter().fold(0f64, |m, v| m.max(v.abs()));
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f64, f64::max);
        assert!(
            scale > 0.0 && worst <= 1e-4 * scale,
            "{}: {worst:e} of {scale}",
            arch.to_json()
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
