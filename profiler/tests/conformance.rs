//! One conformance suite, run against every backend (tract's `test-rt`
//! pattern): each test body is written once in [`suite`] and instantiated per
//! backend by `conformance!`. The models are the PyTorch exports in
//! `../shared/fixtures/onnx` plus broken variants made from them.

use std::path::{Path, PathBuf};

use frontier_profiler::backend::{ready_state, Backend, PrepareOptions};
use frontier_profiler::inputs::{resolve, DType, FillOptions, InputSpec};
use frontier_profiler::ProfileError;

pub use frontier_testkit::onnx_fixtures as fixtures;
use frontier_testkit::scratch;

/// Rewrite a fixture's protobuf with `edit` into a scratch file.
fn edited(
    fixture: &str,
    name: &str,
    edit: impl FnOnce(&mut tract_onnx::pb::ModelProto),
) -> PathBuf {
    use prost::Message;
    let bytes = std::fs::read(fixtures().join(fixture)).unwrap();
    let mut proto = tract_onnx::pb::ModelProto::decode(bytes.as_slice()).unwrap();
    edit(&mut proto);
    let path = scratch(name).join(format!("{name}.onnx"));
    std::fs::write(&path, proto.encode_to_vec()).unwrap();
    path
}

pub mod suite {
    use super::*;

    fn run_outputs(
        b: &dyn Backend,
        path: &Path,
        specs: &[InputSpec],
        seed: u64,
    ) -> Vec<frontier_profiler::backend::OutputTensor> {
        let fill = FillOptions {
            seed,
            int_max: 1000,
        };
        let (_, mut state) = ready_state(b, path, specs, fill, &PrepareOptions::default()).unwrap();
        state.run().unwrap();
        state.outputs().unwrap()
    }

    fn prepare_err(b: &dyn Backend, path: &Path, specs: &[InputSpec]) -> ProfileError {
        let info = match b.inspect(path) {
            Ok(i) => i,
            Err(e) => return e,
        };
        let inputs = match resolve(path, &info.inputs, specs) {
            Ok(i) => i,
            Err(e) => return e,
        };
        match b.prepare(path, &inputs, &PrepareOptions::default()) {
            Ok(_) => panic!("{} prepared {}", b.name(), path.display()),
            Err(e) => e,
        }
    }

    pub fn reports_itself(b: &dyn Backend) {
        assert!(!b.name().is_empty());
        assert!(
            b.version()
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit()),
            "{}",
            b.version()
        );
        assert!(b.availability().is_available());
    }

    pub fn ofa_opset13_classifies(b: &dyn Backend) {
        let p = fixtures().join("ofa_mbv3_ref0_r128_opset13.onnx");
        let info = b.inspect(&p).unwrap();
        assert_eq!(info.inputs.len(), 1);
        assert_eq!(info.inputs[0].dtype, Some(DType::F32));
        let out = run_outputs(b, &p, &[InputSpec::parse("1,3,128,128").unwrap()], 1);
        assert_eq!(out[0].shape, vec![1, 1000]);
        assert!(out[0].values.iter().all(|v| v.is_finite()));
        assert!(
            out[0].values.iter().any(|v| *v != out[0].values[0]),
            "a constant output means the input was ignored"
        );
    }

    pub fn ofa_opset20_with_external_data(b: &dyn Backend) {
        let p = fixtures().join("ofa_mbv3_ref3_r192_opset20.onnx");
        let out = run_outputs(b, &p, &[InputSpec::parse("1,3,192,192").unwrap()], 1);
        assert_eq!(out[0].shape, vec![1, 1000]);
        assert!(out[0].values.iter().all(|v| v.is_finite()));
    }

    pub fn gpt2_with_int64_token_ids(b: &dyn Backend) {
        let p = fixtures().join("gpt2_tiny_seq32.onnx");
        let info = b.inspect(&p).unwrap();
        assert_eq!(info.inputs[0].name, "input_ids");
        assert_eq!(info.inputs[0].dtype, Some(DType::I64));
        let out = run_outputs(b, &p, &[InputSpec::parse("input_ids=1,32").unwrap()], 1);
        assert_eq!(out[0].shape, vec![1, 32, 64], "last hidden state");
        assert!(out[0].values.iter().all(|v| v.is_finite()));
    }

    pub fn same_seed_same_outputs(b: &dyn Backend) {
        let p = fixtures().join("gpt2_tiny_seq32.onnx");
        let spec = [InputSpec::parse("input_ids=1,32").unwrap()];
        let a = run_outputs(b, &p, &spec, 3);
        let c = run_outputs(b, &p, &spec, 3);
        let d = run_outputs(b, &p, &spec, 4);
        assert_eq!(a, c);
        assert_ne!(a, d);
    }

    pub fn missing_file(b: &dyn Backend) {
        let p = scratch("missing").join("nope.onnx");
        let e = prepare_err(b, &p, &[]);
        assert!(matches!(e, ProfileError::NotFound { .. }), "{e}");
        assert!(e.to_string().contains("nope.onnx"));
    }

    pub fn truncated_file(b: &dyn Backend) {
        let bytes = std::fs::read(fixtures().join("ofa_mbv3_ref0_r128_opset13.onnx")).unwrap();
        let p = scratch("truncated").join("half.onnx");
        std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
        let e = prepare_err(b, &p, &[]);
        assert!(matches!(e, ProfileError::NotOnnx { .. }), "{e}");
        assert!(
            e.to_string().contains("half.onnx") && e.to_string().contains("fix:"),
            "{e}"
        );
    }

    pub fn random_bytes(b: &dyn Backend) {
        let mut rng = frontier_profiler::inputs::SplitMix64::new(9);
        let bytes: Vec<u8> = (0..4096).map(|_| rng.next_u64() as u8).collect();
        let p = scratch("random").join("noise.onnx");
        std::fs::write(&p, bytes).unwrap();
        let e = prepare_err(b, &p, &[]);
        assert!(matches!(e, ProfileError::NotOnnx { .. }), "{e}");
        // An empty file is not a model either.
        let p = scratch("random").join("empty.onnx");
        std::fs::write(&p, b"").unwrap();
        let e = prepare_err(b, &p, &[]);
        assert!(matches!(e, ProfileError::NotOnnx { .. }), "{e}");
    }

    pub fn unknown_operator(b: &dyn Backend) {
        let p = edited("ofa_mbv3_ref0_r128_opset13.onnx", "unknown-op", |m| {
            let g = m.graph.as_mut().unwrap();
            let n = g.node.iter_mut().find(|n| n.op_type == "Relu").unwrap();
            n.op_type = "FrontierNoSuchOp".into();
        });
        let e = prepare_err(b, &p, &[]);
        assert!(
            matches!(
                e,
                ProfileError::UnsupportedOperator { .. } | ProfileError::Prepare { .. }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("FrontierNoSuchOp"), "{e}");
        assert!(e.to_string().contains("unknown-op.onnx"), "{e}");
    }

    pub fn symbolic_dim_needs_input_flag(b: &dyn Backend) {
        use tract_onnx::pb::tensor_shape_proto::dimension::Value;
        let p = edited("gpt2_tiny_seq32.onnx", "symbolic", |m| {
            let g = m.graph.as_mut().unwrap();
            if let Some(tract_onnx::pb::type_proto::Value::TensorType(t)) =
                g.input[0].r#type.as_mut().and_then(|t| t.value.as_mut())
            {
                for (d, name) in t
                    .shape
                    .as_mut()
                    .unwrap()
                    .dim
                    .iter_mut()
                    .zip(["batch", "seq"])
                {
                    d.value = Some(Value::DimParam(name.into()));
                }
            }
            // The edited copy lives elsewhere: point at nothing external.
            g.initializer.clear();
            g.node.clear();
            g.node.push(tract_onnx::pb::NodeProto {
                input: vec![g.input[0].name.clone()],
                output: vec![g.output[0].name.clone()],
                op_type: "Identity".into(),
                name: "id".into(),
                ..Default::default()
            });
            g.output[0].r#type = g.input[0].r#type.clone();
        });
        let e = prepare_err(b, &p, &[]);
        assert!(matches!(e, ProfileError::SymbolicDim { .. }), "{e}");
        let text = e.to_string();
        assert!(
            text.contains("input_ids") && text.contains("--input input_ids=1,128:i64"),
            "{text}"
        );
        // With the flag it runs, and the output follows the given shape.
        let out = run_outputs(b, &p, &[InputSpec::parse("input_ids=2,5").unwrap()], 0);
        assert_eq!(out[0].shape, vec![2, 5]);
    }

    pub fn per_operator_profile(b: &dyn Backend) {
        let p = fixtures().join("ofa_mbv3_ref0_r128_opset13.onnx");
        let fill = FillOptions {
            seed: 1,
            int_max: 1000,
        };
        let (_, mut state) = ready_state(
            b,
            &p,
            &[InputSpec::parse("1,3,128,128").unwrap()],
            fill,
            &PrepareOptions::default(),
        )
        .unwrap();
        let runs = state
            .run_per_op(3)
            .expect("a per-operator profile")
            .unwrap();
        assert_eq!(runs.len(), 3);
        for r in &runs {
            assert!(r.len() >= 20, "{} nodes", r.len());
            assert!(r.iter().all(|n| n.seconds >= 0.0 && n.seconds < 1.0));
            assert!(
                r.iter().any(|n| n.op_type.to_lowercase().contains("conv")),
                "{:?}",
                r.iter().map(|n| &n.op_type).collect::<Vec<_>>()
            );
        }
        // Node ids name the same node in every run.
        for n in &runs[1] {
            if let Some(m) = runs[0].iter().find(|m| m.node_id == n.node_id) {
                assert_eq!(m.name, n.name);
            }
        }
    }

    pub fn absurd_input_is_refused_before_allocating(b: &dyn Backend) {
        let p = fixtures().join("ofa_mbv3_ref0_r128_opset13.onnx");
        // 4.3e12 elements: 17 TB of f32.
        let e = prepare_err(
            b,
            &p,
            &[InputSpec::parse("input=1,3,1200000,1200000").unwrap()],
        );
        assert!(matches!(e, ProfileError::TooLarge { .. }), "{e}");
        assert!(e.to_string().contains("--input"), "{e}");
    }
}

macro_rules! conformance {
    ($module:ident, $backend:expr) => {
        mod $module {
            use super::suite;
            fn backend() -> Box<dyn frontier_profiler::backend::Backend> {
                Box::new($backend)
            }
            conformance!(@tests reports_itself, ofa_opset13_classifies, ofa_opset20_with_external_data,
                gpt2_with_int64_token_ids, same_seed_same_outputs, missing_file, truncated_file,
                random_bytes, unknown_operator, symbolic_dim_needs_input_flag,
                per_operator_profile, absurd_input_is_refused_before_allocating);
        }
    };
    (@tests $($name:ident),*) => {
        $(#[test] fn $name() { suite::$name(backend().as_ref()) })*
    };
}

#[cfg(feature = "tract")]
conformance!(
    tract,
    frontier_profiler::tract_backend::TractBackend::default()
);

/// tract-specific: an intermediate tensor too large for the budget is refused
/// while typing the model, before the optimizer or a run allocates it.
#[cfg(feature = "tract")]
#[test]
fn tract_refuses_huge_intermediates() {
    let b = frontier_profiler::tract_backend::TractBackend {
        memory_budget: Some(512 << 20),
    };
    let p = fixtures().join("ofa_mbv3_ref0_r128_opset13.onnx");
    let info = b.inspect(&p).unwrap();
    // The input is 201 MB (within budget); the first expanded activation
    // (48 channels at 2048x2048) is 805 MB.
    let inputs = resolve(
        &p,
        &info.inputs,
        &[InputSpec::parse("1,3,4096,4096").unwrap()],
    )
    .unwrap();
    let e = b
        .prepare(&p, &inputs, &PrepareOptions::default())
        .err()
        .expect("must refuse");
    assert!(matches!(e, ProfileError::TooLarge { .. }), "{e}");
    assert!(e.to_string().contains("node"), "{e}");
}

/// tract with two threads: with `tract-threads` it prepares and gives the
/// one-thread outputs; without it two threads are refused with the flag and
/// the feature named, and one thread still works.
#[cfg(feature = "tract")]
#[test]
fn tract_threads_follow_the_build() {
    let b = frontier_profiler::tract_backend::TractBackend::default();
    let p = fixtures().join("ofa_mbv3_ref0_r128_opset13.onnx");
    let info = b.inspect(&p).unwrap();
    let inputs = resolve(
        &p,
        &info.inputs,
        &[InputSpec::parse("1,3,128,128").unwrap()],
    )
    .unwrap();
    let outputs = |threads| {
        let options = PrepareOptions {
            threads,
            ..PrepareOptions::default()
        };
        let fill = FillOptions {
            seed: 3,
            int_max: 1000,
        };
        ready_state(
            &b,
            &p,
            &[InputSpec::parse("1,3,128,128").unwrap()],
            fill,
            &options,
        )
        .and_then(|(_, mut s)| s.outputs())
    };
    let one = outputs(1).unwrap();
    if cfg!(feature = "tract-threads") {
        let two = outputs(2).unwrap();
        assert_eq!(one[0].shape, two[0].shape);
        for (a, b) in one[0].values.iter().zip(&two[0].values) {
            assert!((a - b).abs() <= 1e-3 * a.abs().max(1.0), "{a} vs {b}");
        }
    } else {
        let e = b
            .prepare(
                &p,
                &inputs,
                &PrepareOptions {
                    threads: 2,
                    ..PrepareOptions::default()
                },
            )
            .err()
            .expect("two threads without tract-threads must be refused");
        assert!(matches!(e, ProfileError::Prepare { .. }), "{e}");
        let msg = e.to_string();
        assert!(
            msg.contains("--threads 2") && msg.contains("tract-threads"),
            "{msg}"
        );
    }
}

/// Statistics read off the PyTorch exports agree with the `ofa` package's
/// own counts for the same subnets (reference indices from `index.json`).
#[cfg(feature = "tract")]
#[test]
fn tract_graph_stats_match_the_reference_package() {
    let b = frontier_profiler::tract_backend::TractBackend::default();
    let shared = fixtures().join("../ofa_mbv3_reference.json");
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(shared).unwrap()).unwrap();
    for (file, ix, res) in [
        ("ofa_mbv3_ref0_r128_opset13.onnx", 0, 128),
        ("ofa_mbv3_ref3_r192_opset20.onnx", 3, 192),
    ] {
        let p = fixtures().join(file);
        let info = b.inspect(&p).unwrap();
        let inputs = resolve(
            &p,
            &info.inputs,
            &[InputSpec::parse(&format!("1,3,{res},{res}")).unwrap()],
        )
        .unwrap();
        let s = b.graph_stats(&p, &inputs).unwrap();
        let r = &reference["subnets"][ix];
        assert!(s.uncounted.is_empty(), "{file}: {:?}", s.uncounted);
        // The package sums in float32: equal up to its rounding.
        let macs = r["macs"].as_f64().unwrap();
        assert!(
            (s.macs as f64 - macs).abs() / macs < 1e-6,
            "{file}: {} vs {macs}",
            s.macs
        );
        assert_eq!(
            s.op_counts.get("Conv").copied(),
            r["onnx_ops_dynamo"]["Conv"].as_u64().map(|c| c as usize)
        );
        if ix == 0 {
            assert_eq!(
                s.initializer_elements,
                r["onnx_initializer_elements_opset13"].as_u64().unwrap()
            );
        }
    }
}

// The ONNX Runtime library must be present where the tests run (the test
// script fetches it): these tests fail rather than skip without it.
#[cfg(all(feature = "ort", not(target_env = "musl")))]
conformance!(ort, frontier_profiler::ort_backend::OrtBackend::default());

/// tract and ONNX Runtime compute the same function on every fixture, within
/// `check::DEFAULT_TOLERANCE` of the output's scale.
#[cfg(all(feature = "tract", feature = "ort", not(target_env = "musl")))]
#[test]
fn tract_and_ort_agree_on_the_fixtures() {
    use frontier_profiler::check;
    let t = frontier_profiler::tract_backend::TractBackend::default();
    let o = frontier_profiler::ort_backend::OrtBackend::default();
    for (file, spec) in [
        ("ofa_mbv3_ref0_r128_opset13.onnx", "1,3,128,128"),
        ("ofa_mbv3_ref3_r192_opset20.onnx", "1,3,192,192"),
        ("gpt2_tiny_seq32.onnx", "input_ids=1,32"),
    ] {
        let p = fixtures().join(file);
        let fill = FillOptions {
            seed: 7,
            int_max: 1000,
        };
        let specs = [InputSpec::parse(spec).unwrap()];
        let outputs = |b: &dyn Backend| {
            let (_, mut s) = ready_state(b, &p, &specs, fill, &PrepareOptions::default()).unwrap();
            s.outputs().unwrap()
        };
        let c = check::compare(&outputs(&t), &outputs(&o));
        eprintln!(
            "{file}: max abs {:.3e}, max rel {:.3e}",
            c.max_abs, c.max_rel
        );
        assert!(c.within(check::DEFAULT_TOLERANCE), "{file}: {c:?}");
        assert!(c.elements > 0);
    }
}
