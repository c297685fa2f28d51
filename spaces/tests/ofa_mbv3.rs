//! The generated Once-for-All MobileNetV3 subnets against the real package:
//! parameter and MAC counts, channel plans and ONNX op histograms of the 12
//! reference subnets in `../shared/fixtures/ofa_mbv3_reference.json`, and
//! invariants that must hold for any architecture.

use std::path::Path;

use frontier_spaces::ofa_mbv3::{self, Act, Arch};
use frontier_spaces::rng::SplitMix64;
use frontier_testkit::shared;
use serde_json::Value;

fn reference() -> Vec<Value> {
    let text = std::fs::read_to_string(shared().join("fixtures/ofa_mbv3_reference.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["subnets"].as_array().unwrap().clone()
}

fn arch_of(s: &Value) -> Arch {
    serde_json::from_value(s["config"].clone()).unwrap()
}

#[test]
fn params_and_macs_match_all_reference_subnets() {
    let subnets = reference();
    assert_eq!(subnets.len(), 12);
    for (i, s) in subnets.iter().enumerate() {
        let a = arch_of(s);
        assert_eq!(
            ofa_mbv3::params(&a),
            s["params"].as_u64().unwrap(),
            "params of subnet {i}"
        );
        assert_eq!(
            ofa_mbv3::macs(&a),
            s["macs"].as_f64().unwrap(),
            "macs of subnet {i}"
        );
        let exact = ofa_mbv3::macs_exact(&a) as f64;
        assert!(
            (exact - ofa_mbv3::macs(&a)).abs() / exact < 1e-6,
            "float32 rounding only"
        );
    }
}

#[test]
fn channel_plans_match_all_reference_subnets() {
    for (i, s) in reference().iter().enumerate() {
        let ours = ofa_mbv3::blocks(&arch_of(s));
        let theirs = s["blocks"].as_array().unwrap();
        assert_eq!(ours.len(), theirs.len(), "block count of subnet {i}");
        for (j, (b, t)) in ours.iter().zip(theirs).enumerate() {
            let at = format!("subnet {i} block {j} ({})", t["str"]);
            assert_eq!(
                b.in_channels as u64,
                t["in_channels"].as_u64().unwrap(),
                "{at}"
            );
            assert_eq!(
                b.out_channels as u64,
                t["out_channels"].as_u64().unwrap(),
                "{at}"
            );
            assert_eq!(
                b.kernel_size as u64,
                t["kernel_size"].as_u64().unwrap(),
                "{at}"
            );
            assert_eq!(b.stride as u64, t["stride"].as_u64().unwrap(), "{at}");
            assert_eq!(
                b.expand_ratio as u64,
                t["expand_ratio"].as_u64().unwrap(),
                "{at}"
            );
            assert_eq!(
                b.mid_channels as u64,
                t["mid_channels_actual"].as_u64().unwrap(),
                "{at}"
            );
            assert_eq!(b.residual, t["residual"].as_bool().unwrap(), "{at}");
            assert_eq!(b.use_se, t["use_se"].as_bool().unwrap(), "{at}");
            let act = match t["act_func"].as_str().unwrap() {
                "relu" => Act::Relu,
                "h_swish" => Act::HSwish,
                other => panic!("{at}: unknown activation {other}"),
            };
            assert_eq!(b.act, act, "{at}");
            assert_eq!(
                b.se_channels.map(|c| c as u64),
                t.get("se_reduce_channels").and_then(|c| c.as_u64()),
                "{at}"
            );
        }
    }
}

#[test]
fn graphs_match_pytorch_exports() {
    for (i, s) in reference().iter().enumerate() {
        let a = arch_of(s);
        let g = ofa_mbv3::generate(&a, 0).unwrap();
        // PyTorch's dynamo export: the same ops, constants as initializers.
        let expected: std::collections::BTreeMap<String, usize> =
            serde_json::from_value(s["onnx_ops_dynamo"].clone()).unwrap();
        assert_eq!(g.op_counts, expected, "op histogram of subnet {i}");
        // BatchNorm folded into conv biases, as in the opset-13 export. That
        // exporter also stores identical tensors once: the folded biases of
        // freshly initialised BatchNorms are all zero, so it keeps one per
        // width. Ours are random, so each is stored.
        let bn = bn_widths(&a);
        let distinct: std::collections::BTreeSet<usize> = bn.iter().copied().collect();
        let deduplicated = g.weight_elements - bn.iter().sum::<usize>() as u64
            + distinct.iter().sum::<usize>() as u64;
        assert_eq!(
            deduplicated,
            s["onnx_initializer_elements_opset13"].as_u64().unwrap(),
            "weights of subnet {i}"
        );
    }
}

/// Widths of every BatchNorm of the network, in order.
fn bn_widths(a: &Arch) -> Vec<usize> {
    let mut v = vec![16];
    for b in ofa_mbv3::blocks(a) {
        if b.expand_ratio != 1 {
            v.push(b.mid_channels);
        }
        v.push(b.mid_channels);
        v.push(b.out_channels);
    }
    v.push(960);
    v
}

#[test]
fn generation_is_deterministic_per_seed() {
    let a = arch_of(&reference()[3]);
    assert_eq!(
        ofa_mbv3::generate(&a, 5).unwrap().onnx,
        ofa_mbv3::generate(&a, 5).unwrap().onnx
    );
    assert_ne!(
        ofa_mbv3::generate(&a, 5).unwrap().onnx,
        ofa_mbv3::generate(&a, 6).unwrap().onnx
    );
}

#[test]
fn any_architecture_is_consistent() {
    // Invariants for 200 random architectures: the graph's weights equal the
    // parameter count minus one per BatchNorm channel (folding keeps the bias
    // and drops the scale), and inactive blocks change nothing.
    let mut rng = SplitMix64::new(42);
    for _ in 0..200 {
        let a = ofa_mbv3::sample(&mut rng);
        a.validate().unwrap();
        let bn_channels = bn_widths(&a).iter().sum::<usize>() as u64;
        let g = ofa_mbv3::generate(&a, 1).unwrap();
        assert_eq!(
            g.weight_elements,
            ofa_mbv3::params(&a) - bn_channels,
            "{}",
            a.to_json()
        );
        let c = a.canonical();
        assert_eq!(ofa_mbv3::params(&c), ofa_mbv3::params(&a));
        assert_eq!(ofa_mbv3::macs(&c), ofa_mbv3::macs(&a));
        assert_eq!(
            ofa_mbv3::generate(&c, 1).unwrap().onnx,
            g.onnx,
            "inactive blocks must not change the model"
        );
    }
}

#[test]
fn encoding_round_trips() {
    let mut rng = SplitMix64::new(7);
    for _ in 0..100 {
        let a = ofa_mbv3::sample(&mut rng);
        let v = ofa_mbv3::encode(&a);
        assert_eq!(v.len(), ofa_mbv3::ENCODING_LEN);
        // One kernel and one expand per active block, one depth per stage, one resolution.
        let active: u32 = a.d.iter().sum();
        assert_eq!(v.iter().sum::<f32>() as u32, 2 * active + 5 + 1);
        assert_eq!(ofa_mbv3::decode(&v).unwrap(), a.canonical());
    }
    assert!(ofa_mbv3::decode(&[0.0; 3]).is_err());
}

#[test]
fn invalid_architectures_name_the_field_and_the_choices() {
    let good = arch_of(&reference()[0]).to_json();
    let v: Value = serde_json::from_str(&good).unwrap();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut x = v.clone();
        f(&mut x);
        Arch::from_json(&x.to_string()).unwrap_err().to_string()
    };
    let cases: Vec<(String, &str, &str)> = vec![
        (with(&|x| x["d"][2] = 5.into()), "d[2]", "2, 3, 4"),
        (with(&|x| x["ks"][4] = 4.into()), "ks[4]", "3, 5, 7"),
        (with(&|x| x["e"][0] = 5.into()), "e[0]", "3, 4, 6"),
        (
            with(&|x| x["ks"].as_array_mut().unwrap().pop().map(|_| ()).unwrap()),
            "`ks`",
            "exactly 20",
        ),
        (with(&|x| x["r"] = 130.into()), "`r`", "steps of 4"),
        (with(&|x| x["r"] = 256.into()), "`r`", "128 to 224"),
        (with(&|x| x["width"] = 1.into()), "(json)", "\"ks\""),
    ];
    for (msg, field, allowed) in cases {
        assert!(msg.contains(field) && msg.contains(allowed), "{msg}");
    }
}

/// Op histogram of an ONNX file, by decoding it with prost.
fn onnx_ops(path: &Path) -> std::collections::BTreeMap<String, usize> {
    use prost::Message;
    let bytes = std::fs::read(path).unwrap();
    let m = frontier_spaces::onnx::pb::ModelProto::decode(bytes.as_slice()).unwrap();
    let mut h = std::collections::BTreeMap::new();
    for n in m.graph.unwrap().node {
        *h.entry(n.op_type).or_insert(0) += 1;
    }
    h
}

#[test]
fn generated_twins_have_the_op_counts_of_the_pytorch_fixtures() {
    let index: Value = serde_json::from_str(
        &std::fs::read_to_string(shared().join("fixtures/onnx/index.json")).unwrap(),
    )
    .unwrap();
    let mut twins = 0;
    for m in index["models"].as_array().unwrap() {
        let Some(file) = m["file"].as_str().filter(|f| f.starts_with("ofa_mbv3")) else {
            continue;
        };
        let arch: Arch = serde_json::from_value(m["config"].clone()).unwrap();
        let theirs = onnx_ops(&shared().join("fixtures/onnx").join(file));
        let ours = ofa_mbv3::generate(&arch, 0).unwrap().op_counts;
        for op in [
            "Conv",
            "Add",
            "Mul",
            "ReduceMean",
            "Gemm",
            "Div",
            "Clip",
            "Relu",
        ] {
            assert_eq!(ours.get(op), theirs.get(op), "{op} in the twin of {file}");
        }
        twins += 1;
    }
    assert_eq!(twins, 2);
}

/// The ONNX reference checker accepts generated models (full check, with
/// shape inference). The test command installs `onnx` with pip.
#[test]
fn onnx_checker_accepts_generated_models() {
    let dir = std::env::temp_dir().join(format!("frontier-checker-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = SplitMix64::new(11);
    let mut files = Vec::new();
    for i in 0..3 {
        let a = ofa_mbv3::sample(&mut rng);
        let p = dir.join(format!("m{i}.onnx"));
        std::fs::write(&p, ofa_mbv3::generate(&a, i).unwrap().onnx).unwrap();
        files.push(p.to_str().unwrap().to_string());
    }
    let python = std::env::var("FRONTIER_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = "import sys, onnx\nfor f in sys.argv[1:]:\n    onnx.checker.check_model(onnx.load(f), full_check=True)\nprint('ok')";
    let out = std::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .args(&files)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {python} ({e}); the test command installs python3 with onnx")
        });
    assert!(
        out.status.success(),
        "onnx.checker: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// The lookup-table units of a network partition it: their weights add up to
/// the network's, and its MACs to the sum of theirs.
#[test]
fn units_partition_the_network() {
    let mut rng = SplitMix64::new(21);
    for _ in 0..5 {
        let a = ofa_mbv3::sample(&mut rng);
        let whole = ofa_mbv3::generate(&a, 0).unwrap();
        let parts: u64 = ofa_mbv3::units(&a)
            .iter()
            .map(|u| ofa_mbv3::generate_unit(u, 0).weight_elements)
            .sum();
        assert_eq!(parts, whole.weight_elements, "{}", a.to_json());
        let us = ofa_mbv3::units(&a);
        assert_eq!(
            us.iter().map(ofa_mbv3::unit_params).sum::<u64>(),
            ofa_mbv3::params(&a)
        );
        assert_eq!(
            us.iter().map(ofa_mbv3::unit_macs).sum::<u64>(),
            ofa_mbv3::macs_exact(&a)
        );
        let blocks = ofa_mbv3::units(&a).len() - 2;
        assert_eq!(blocks, 1 + a.d.iter().sum::<u32>() as usize);
    }
}

/// The space's units are enumerable: per resolution, stem + fixed block +
/// 5 stages x 2 positions x 9 (kernel, expand) + head, minus duplicates.
#[test]
fn all_units_are_enumerated_once() {
    let one = ofa_mbv3::all_units(&[224]).unwrap();
    assert_eq!(one.len(), 1 + 1 + 5 * 2 * 9 + 1);
    let keys: std::collections::HashSet<String> = one.iter().map(|u| u.key()).collect();
    assert_eq!(keys.len(), one.len());
    assert!(keys.contains(
        "expanded_conv-input:56x56x24-output:28x28x40-expand:144-kernel:5-stride:2-idskip:0-se:1-hs:0"
    ));
    // Every unit of any network is among them.
    let mut rng = SplitMix64::new(2);
    let all: std::collections::HashSet<String> = ofa_mbv3::all_units(&[])
        .unwrap()
        .iter()
        .map(|u| u.key())
        .collect();
    for _ in 0..20 {
        for u in ofa_mbv3::units(&ofa_mbv3::sample(&mut rng)) {
            assert!(all.contains(&u.key()), "{}", u.key());
        }
    }
    assert!(ofa_mbv3::all_units(&[130]).is_err(), "not a multiple of 4");
}

#[test]
fn stratified_by_depth_covers_every_total_depth() {
    use frontier_spaces::sampler;
    let s = sampler::stratified(
        33,
        &mut SplitMix64::new(3),
        ofa_mbv3::sample,
        |a| a.d.iter().sum::<u32>() as f64,
        true,
    );
    let depths: std::collections::BTreeSet<u32> = s.iter().map(|a| a.d.iter().sum()).collect();
    assert_eq!(depths.len(), 11, "10..=20 each three times: {depths:?}");
}
