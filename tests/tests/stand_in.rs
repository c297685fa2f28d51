//! A user's own export standing in for a generated model: PyTorch's
//! exports of the reference subnets (TorchScript at opset 13 and dynamo at
//! opset 20, which store shared tensors differently) are the architectures
//! they are, by input shape, MACs and the layers' weights, exactly as the
//! space counts them; an export of another architecture is refused with
//! the model, both counts and the fix.

use frontier_spaces::ofa_mbv3;
use frontier_spaces::Arch;
use frontier_testkit::onnx_fixtures;

fn reference_arch(index: usize) -> Arch {
    let text = std::fs::read_to_string(
        frontier_testkit::shared().join("fixtures/ofa_mbv3_reference.json"),
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    Arch::Ofa(
        serde_json::from_value::<ofa_mbv3::Arch>(v["subnets"][index]["config"].clone()).unwrap(),
    )
}

#[test]
fn pytorch_exports_are_the_architectures_they_claim() {
    for (file, index) in [
        ("ofa_mbv3_ref0_r128_opset13.onnx", 0),
        ("ofa_mbv3_ref3_r192_opset20.onnx", 3),
    ] {
        let arch = reference_arch(index);
        frontier_session::stand_in::check("m", &onnx_fixtures().join(file), &arch)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}

#[test]
fn another_architecture_is_refused_with_both_counts() {
    let claimed = reference_arch(3);
    let path = onnx_fixtures().join("ofa_mbv3_ref0_r128_opset13.onnx");
    let e = frontier_session::stand_in::check("ofa_mbv3_f00", &path, &claimed).unwrap_err();
    assert!(e.contains("ofa_mbv3_f00") && e.contains("fix:"), "{e}");
    // Another resolution is another input shape.
    assert!(
        e.contains("[1, 3, 128, 128]") && e.contains("[1, 3, 192, 192]"),
        "{e}"
    );
    // Same resolution, other blocks: the MACs say so.
    let Arch::Ofa(mut a) = reference_arch(0) else {
        unreachable!()
    };
    a.e = vec![6; 20];
    let e = frontier_session::stand_in::check("x", &path, &Arch::Ofa(a.clone())).unwrap_err();
    assert!(
        e.contains("MACs") && e.contains(&ofa_mbv3::macs_exact(&a).to_string()),
        "{e}"
    );
}
