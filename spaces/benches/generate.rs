//! Generation speed of Once-for-All subnets, serialization included: the
//! smallest and the largest network of the space.
//!
//! cargo bench -p frontier-spaces --bench generate

use criterion::{criterion_group, criterion_main, Criterion};
use frontier_spaces::ofa_mbv3::{self, Arch};

fn bench(c: &mut Criterion) {
    let smallest = Arch {
        ks: vec![3; 20],
        e: vec![3; 20],
        d: vec![2; 5],
        r: 128,
    };
    let largest = Arch {
        ks: vec![7; 20],
        e: vec![6; 20],
        d: vec![4; 5],
        r: 224,
    };
    for (name, a) in [
        ("smallest (d2 k3 e3 r128)", smallest),
        ("largest (d4 k7 e6 r224)", largest),
    ] {
        eprintln!(
            "{name}: {} params, {} bytes",
            ofa_mbv3::params(&a),
            ofa_mbv3::generate(&a, 0).unwrap().onnx.len()
        );
        c.bench_function(&format!("generate ofa-mbv3 {name}"), |b| {
            b.iter(|| ofa_mbv3::generate(&a, 1).unwrap())
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
