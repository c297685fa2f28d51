//! Reading a supernet: the fixture's (the `ofa` package's own state dict),
//! the same in float16 and bfloat16, and every way a file can be wrong,
//! each an error that names the file or tensor and the fix. Whether the
//! weights are exact is checked by running them (`tests/tests/supernet.rs`).

use std::collections::BTreeMap;

use frontier_spaces::ofa_mbv3::{self, Arch};
use frontier_spaces::supernet::{Config, Supernet, SupernetError};
use safetensors::{Dtype, SafeTensors};

fn fixture() -> Vec<u8> {
    std::fs::read(frontier_testkit::supernet_fixtures().join("ofa_mbv3_w1.0.safetensors")).unwrap()
}

/// The fixture's tensors as (dtype, shape, bytes), to edit and write again.
type Tensors = BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)>;

fn tensors(bytes: &[u8]) -> Tensors {
    SafeTensors::deserialize(bytes)
        .unwrap()
        .iter()
        .map(|(n, v)| {
            (
                n.to_string(),
                (v.dtype(), v.shape().to_vec(), v.data().to_vec()),
            )
        })
        .collect()
}

fn write(t: &Tensors) -> Vec<u8> {
    let views: Vec<(String, safetensors::tensor::TensorView)> = t
        .iter()
        .map(|(n, (d, s, b))| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

fn read(bytes: &[u8]) -> Result<Supernet, SupernetError> {
    Supernet::from_bytes(bytes, "net.safetensors")
}

fn err(bytes: &[u8]) -> String {
    read(bytes).expect_err("an error").to_string()
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn arch(k: u32, e: u32, d: u32, r: u32) -> Arch {
    Arch {
        ks: vec![k; 20],
        e: vec![e; 20],
        d: vec![d; 5],
        r,
    }
}

#[test]
fn the_fixture_reads_as_the_full_configuration() {
    let net = read(&fixture()).unwrap();
    assert_eq!(net.config, Config::full());
    assert_eq!(
        net.params, 7_678_880,
        "count_parameters of the package's supernet"
    );
    let w = net.subnet(&arch(3, 3, 2, 128)).unwrap();
    assert_eq!(w.blocks.len(), 1 + 5 * 2);
    assert_eq!(w.blocks[1].depthwise.weight.len(), 48 * 3 * 3);
}

#[test]
fn half_precision_files_load_as_f32() {
    let full = tensors(&fixture());
    for (dtype, to_half) in [
        (Dtype::F16, f32_to_f16 as fn(f32) -> u16),
        (Dtype::BF16, |x: f32| (x.to_bits() >> 16) as u16),
    ] {
        let half: Tensors = full
            .iter()
            .map(|(n, (_, s, b))| {
                let h: Vec<u8> = f32s(b)
                    .into_iter()
                    .flat_map(|x| to_half(x).to_le_bytes())
                    .collect();
                (n.clone(), (dtype, s.clone(), h))
            })
            .collect();
        let net = read(&write(&half)).unwrap();
        let a = arch(5, 4, 3, 160);
        let (w16, w32) = (
            net.subnet(&a).unwrap(),
            read(&fixture()).unwrap().subnet(&a).unwrap(),
        );
        let rel = if dtype == Dtype::F16 { 2e-3 } else { 1.6e-2 };
        for (x, y) in w16.stem.weight.iter().zip(&w32.stem.weight) {
            assert!(
                (x - y).abs() <= rel * y.abs() + 1e-6,
                "{dtype:?}: {x} vs {y}"
            );
        }
    }
}

/// Round to nearest even, normal range (the fixture's values are small).
fn f32_to_f16(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32 - 127 + 15;
    let mant = b & 0x7f_ffff;
    if exp <= 0 {
        return sign;
    }
    let m = mant >> 13;
    let rest = mant & 0x1fff;
    let mut h = ((exp as u32) << 10) | m;
    if rest > 0x1000 || (rest == 0x1000 && m & 1 == 1) {
        h += 1;
    }
    sign | h as u16
}

#[test]
fn a_truncated_or_corrupt_file_says_so() {
    let bytes = fixture();
    for bad in [
        &bytes[..bytes.len() / 2],
        &bytes[..6],
        &b"not a safetensors file at all"[..],
    ] {
        let e = err(bad);
        assert!(
            e.contains("net.safetensors") && e.contains("truncated or corrupt"),
            "{e}"
        );
    }
}

#[test]
fn a_missing_tensor_is_named() {
    let mut t = tensors(&fixture());
    t.remove("blocks.7.conv.depth_conv.bn.bn.running_var");
    let e = err(&write(&t));
    assert!(
        e.contains("`blocks.7.conv.depth_conv.bn.bn.running_var` is missing"),
        "{e}"
    );
    assert!(e.contains("fix:"), "{e}");
}

#[test]
fn an_extra_tensor_is_named_and_counters_are_ignored() {
    let mut t = tensors(&fixture());
    t.insert(
        "blocks.1.conv.depth_conv.bn.bn.num_batches_tracked".into(),
        (Dtype::I64, vec![], 7i64.to_le_bytes().to_vec()),
    );
    assert!(read(&write(&t)).is_ok(), "num_batches_tracked is ignored");
    t.insert(
        "ema.first_conv.conv.weight".into(),
        (Dtype::F32, vec![1], 0f32.to_le_bytes().to_vec()),
    );
    let e = err(&write(&t));
    assert!(
        e.contains("`ema.first_conv.conv.weight` is not a parameter"),
        "{e}"
    );
}

#[test]
fn a_wrong_shape_names_the_tensor_and_the_configuration_it_implies() {
    let mut t = tensors(&fixture());
    let name = "blocks.9.conv.point_linear.conv.conv.weight";
    let (d, s, b) = t[name].clone();
    let cut: Vec<u8> = b[..b.len() / 2].to_vec();
    t.insert(name.into(), (d, vec![s[0] / 2, s[1], s[2], s[3]], cut));
    let e = err(&write(&t));
    assert!(
        e.contains(name) && e.contains("expected") && e.contains("kernels [3, 5, 7]"),
        "{e}"
    );

    // A wider supernet: the first conv says which width it is.
    let mut t = tensors(&fixture());
    let (d, _, _) = t["first_conv.conv.weight"].clone();
    t.insert(
        "first_conv.conv.weight".into(),
        (d, vec![24, 3, 3, 3], vec![0; 24 * 27 * 4]),
    );
    let e = err(&write(&t));
    assert!(e.contains("first_conv") || e.contains("blocks.0"), "{e}");
    assert!(e.contains("width multiplier 1.50"), "{e}");
}

#[test]
fn an_unsupported_dtype_names_the_tensor() {
    let mut t = tensors(&fixture());
    let (_, s, b) = t["classifier.linear.bias"].clone();
    let f64s: Vec<u8> = f32s(&b)
        .into_iter()
        .flat_map(|x| (x as f64).to_le_bytes())
        .collect();
    t.insert("classifier.linear.bias".into(), (Dtype::F64, s, f64s));
    let e = err(&write(&t));
    assert!(
        e.contains("`classifier.linear.bias` is F64") && e.contains("float32"),
        "{e}"
    );
}

/// A smaller supernet (kernels 3 and 5 only, as `ks_list=[3,5]` trains
/// it): what it can build it builds, the rest is refused with the reason.
#[test]
fn a_supernet_builds_only_what_its_configuration_holds() {
    let mut t = tensors(&fixture());
    let names: Vec<String> = t.keys().cloned().collect();
    for n in names {
        if n.ends_with("7to5_matrix") {
            t.remove(&n);
        } else if n.ends_with("depth_conv.conv.conv.weight") {
            let (d, s, b) = t[&n].clone();
            let w = f32s(&b);
            let crop: Vec<u8> = (0..s[0])
                .flat_map(|c| (1..6).flat_map(move |r| (1..6).map(move |q| (c, r, q))))
                .flat_map(|(c, r, q)| w[c * 49 + r * 7 + q].to_le_bytes())
                .collect();
            t.insert(n.clone(), (d, vec![s[0], 1, 5, 5], crop));
        }
    }
    let net = read(&write(&t)).unwrap();
    assert_eq!(net.config.kernels, vec![3, 5]);
    let e = net.subnet(&arch(7, 3, 2, 128)).err().unwrap().to_string();
    assert!(
        e.contains("kernels [3, 5]") && e.contains("ks[0] is 7") && e.contains("fix:"),
        "{e}"
    );
    // Kernel 5 is the stored 5x5 itself, 3 goes through 5to3 alone.
    let full = read(&fixture()).unwrap();
    let mut a = arch(3, 6, 4, 224);
    a.ks[1] = 5;
    let (small, big) = (net.subnet(&a).unwrap(), full.subnet(&a).unwrap());
    assert_ne!(
        small.blocks[1].depthwise, big.blocks[1].depthwise,
        "7to5 not applied"
    );
    assert_eq!(
        small.blocks[1].depthwise.weight.len(),
        big.blocks[1].depthwise.weight.len()
    );
    assert!(ofa_mbv3::generate_weighted(&a, &small).is_ok());
}
