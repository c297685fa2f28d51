//! The GPT-2 space: Hugging Face's parameter counts, the generated graph
//! against the PyTorch export of the fixture, MACs read back from the graph,
//! encodings, validation, and that both backends run what is generated.

use std::path::Path;

use frontier_profiler::backend::{ready_state, Backend, PrepareOptions};
use frontier_profiler::inputs::{FillOptions, InputSpec, SplitMix64};
use frontier_spaces::gpt2::{self, Arch, PerLayer};
use frontier_testkit::shared;

fn arch(n_layer: u32, d: u32, h: u32, inner: u32, vocab: u32, pos: u32, seq: u32) -> Arch {
    Arch {
        n_layer,
        d_model: d,
        n_head: PerLayer::One(h),
        d_inner: PerLayer::One(inner),
        vocab_size: vocab,
        n_positions: pos,
        seq_len: seq,
    }
}

/// The fixture's config (`fixtures/onnx/index.json`).
fn fixture_arch() -> Arch {
    let index: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(shared().join("fixtures/onnx/index.json")).unwrap(),
    )
    .unwrap();
    let m = index["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["file"] == "gpt2_tiny_seq32.onnx")
        .unwrap();
    let c = &m["config"];
    let u = |k: &str| c[k].as_u64().unwrap() as u32;
    arch(
        u("n_layer"),
        u("n_embd"),
        u("n_head"),
        u("n_inner"),
        u("vocab_size"),
        u("n_positions"),
        m["input"]["input_ids"][1].as_u64().unwrap() as u32,
    )
}

/// Hugging Face's published counts of `GPT2Model` (no LM head).
#[test]
fn params_equal_hugging_face() {
    assert_eq!(
        gpt2::params(&arch(12, 768, 12, 3072, 50257, 1024, 128)),
        124_439_808
    );
    assert_eq!(
        gpt2::params(&arch(24, 1024, 16, 4096, 50257, 1024, 128)),
        354_823_168
    );
    // The fixture: 1000x64 + 128x64 + 2 x 49,984 per layer + 128.
    assert_eq!(gpt2::params(&fixture_arch()), 172_288);
}

/// The graph holds exactly the parameters HF counts, for any architecture,
/// and its MACs as read back by the graph statistics equal the formula.
#[test]
fn generated_graphs_hold_the_counted_parameters_and_macs() {
    let space = gpt2::Space {
        vocab_size: 500,
        n_positions: 64,
        seq_len: 16,
        d_model: vec![64, 128],
        d_inner: vec![64, 128, 256],
        n_layer: vec![1, 2, 3],
        ..gpt2::Space::default()
    };
    let mut rng = SplitMix64::new(5);
    let dir = std::env::temp_dir().join(format!("frontier-gpt2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tract = frontier_profiler::tract_backend::TractBackend::default();
    for i in 0..4 {
        let a = gpt2::sample(&space, &mut rng);
        let g = gpt2::generate(&a, i).unwrap();
        assert_eq!(g.weight_elements, gpt2::params(&a), "{}", a.to_json());
        let p = dir.join(format!("g{i}.onnx"));
        std::fs::write(&p, &g.onnx).unwrap();
        let info = tract.inspect(&p).unwrap();
        let inputs = frontier_profiler::inputs::resolve(&p, &info.inputs, &[]).unwrap();
        let stats = tract.graph_stats(&p, &inputs).unwrap();
        assert!(stats.uncounted.is_empty(), "{:?}", stats.uncounted);
        assert_eq!(stats.macs, gpt2::macs(&a), "{}", a.to_json());
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_twin_of_the_fixture_has_pytorchs_op_histogram() {
    use prost::Message;
    let bytes = std::fs::read(shared().join("fixtures/onnx/gpt2_tiny_seq32.onnx")).unwrap();
    let m = frontier_spaces::onnx::pb::ModelProto::decode(bytes.as_slice()).unwrap();
    let mut theirs = std::collections::BTreeMap::new();
    for n in m.graph.unwrap().node {
        *theirs.entry(n.op_type).or_insert(0usize) += 1;
    }
    let ours = gpt2::generate(&fixture_arch(), 0).unwrap().op_counts;
    for (op, n) in &theirs {
        if op == "Gather" {
            // The exporter folded the position embedding into a constant.
            assert_eq!((*n, ours[op]), (1, 2));
            continue;
        }
        assert_eq!(ours.get(op), Some(n), "{op}");
    }
    assert_eq!(ours.len(), theirs.len(), "{ours:?} vs {theirs:?}");
}

fn run_both(path: &Path, seq: usize, d: usize) {
    let mut backends: Vec<Box<dyn Backend>> = vec![Box::new(
        frontier_profiler::tract_backend::TractBackend::default(),
    )];
    #[cfg(not(target_env = "musl"))]
    backends.push(Box::new(
        frontier_profiler::ort_backend::OrtBackend::default(),
    ));
    let mut outputs = Vec::new();
    for b in &backends {
        let (_, mut s) = ready_state(
            b.as_ref(),
            path,
            &[] as &[InputSpec],
            FillOptions {
                seed: 1,
                int_max: 100,
            },
            &PrepareOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", b.name()));
        let out = s.outputs().unwrap();
        assert_eq!(out[0].shape, vec![1, seq, d], "{}", b.name());
        assert!(out[0].values.iter().all(|v| v.is_finite()), "{}", b.name());
        outputs.push(out);
    }
    if outputs.len() == 2 {
        let c = frontier_profiler::check::compare(&outputs[1], &outputs[0]);
        assert!(
            c.within(frontier_profiler::check::DEFAULT_TOLERANCE),
            "{c:?}"
        );
    }
}

#[test]
fn generated_models_run_in_tract_and_onnx_runtime() {
    let dir = std::env::temp_dir().join(format!("frontier-gpt2-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut a = fixture_arch();
    a.n_head = PerLayer::Each(vec![2, 4]);
    a.d_inner = PerLayer::Each(vec![128, 256]);
    let p = dir.join("g.onnx");
    std::fs::write(&p, gpt2::generate(&a, 3).unwrap().onnx).unwrap();
    run_both(&p, 32, 64);
    // OFA subnets too (the smallest and a random one).
    use frontier_spaces::ofa_mbv3;
    for (i, arch) in [
        ofa_mbv3::Arch {
            ks: vec![3; 20],
            e: vec![3; 20],
            d: vec![2; 5],
            r: 128,
        },
        ofa_mbv3::sample(&mut SplitMix64::new(4)),
    ]
    .iter()
    .enumerate()
    {
        let g = ofa_mbv3::generate(arch, i as u64).unwrap();
        let p = dir.join(format!("ofa{i}.onnx"));
        std::fs::write(&p, g.onnx).unwrap();
        for b in [
            Box::new(frontier_profiler::tract_backend::TractBackend::default()) as Box<dyn Backend>,
            #[cfg(not(target_env = "musl"))]
            Box::new(frontier_profiler::ort_backend::OrtBackend::default()),
        ] {
            let (_, mut s) = ready_state(
                b.as_ref(),
                &p,
                &[],
                FillOptions {
                    seed: 1,
                    int_max: 100,
                },
                &PrepareOptions::default(),
            )
            .unwrap();
            let out = s.outputs().unwrap();
            assert_eq!(out[0].shape, vec![1, 1000], "{}", b.name());
            assert!(out[0].values.iter().all(|v| v.is_finite()));
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn encoding_round_trips() {
    let space = gpt2::Space::default();
    let mut rng = SplitMix64::new(9);
    for _ in 0..50 {
        let a = gpt2::sample(&space, &mut rng);
        let v = gpt2::encode(&a);
        assert_eq!(v.len(), gpt2::ENCODING_LEN);
        let b = gpt2::decode(&v).unwrap();
        assert_eq!(b.heads(), a.heads());
        assert_eq!(b.inners(), a.inners());
        assert_eq!(gpt2::encode(&b), v);
    }
    let a = fixture_arch();
    assert_eq!(gpt2::decode(&gpt2::encode(&a)).unwrap(), a);
}

#[test]
fn invalid_architectures_name_the_field() {
    for (json, field) in [
        (
            r#"{"n_layer":2,"d_model":64,"n_head":3,"d_inner":128,"vocab_size":100,"n_positions":64,"seq_len":16}"#,
            "n_head[0]",
        ),
        (
            r#"{"n_layer":2,"d_model":64,"n_head":[2],"d_inner":128,"vocab_size":100,"n_positions":64,"seq_len":16}"#,
            "n_head",
        ),
        (
            r#"{"n_layer":0,"d_model":64,"n_head":2,"d_inner":128,"vocab_size":100,"n_positions":64,"seq_len":16}"#,
            "n_layer",
        ),
        (
            r#"{"n_layer":2,"d_model":64,"n_head":2,"d_inner":128,"vocab_size":100,"n_positions":64,"seq_len":65}"#,
            "seq_len",
        ),
        (
            r#"{"n_layer":2,"d_model":64,"n_head":2,"d_inner":[128,0],"vocab_size":100,"n_positions":64,"seq_len":16}"#,
            "d_inner[1]",
        ),
        (r#"{"n_layer":2,"d_model":64}"#, "(json)"),
    ] {
        let e = Arch::from_json(json).unwrap_err();
        assert_eq!(e.field, field, "{json}: {e}");
        assert!(e.to_string().contains("allowed"), "{e}");
    }
}
