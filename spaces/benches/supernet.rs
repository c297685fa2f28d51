//! Materializing a subnet from the supernet: reading the file (once per
//! process), then per subnet the slices, the kernel transforms, batch norm
//! folding and the ONNX graph with its serialization. Goal: ≤ 100 ms per
//! subnet.
//!
//! cargo bench -p frontier-spaces --bench supernet   (needs ../shared/fixtures/supernet)

use criterion::{criterion_group, criterion_main, Criterion};
use frontier_spaces::ofa_mbv3::{self, Arch};
use frontier_spaces::supernet::Supernet;

fn bench(c: &mut Criterion) {
    let path = std::env::var_os("FRONTIER_SHARED")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
        .join("fixtures/supernet/ofa_mbv3_w1.0.safetensors");
    let bytes = std::fs::read(&path).expect("the supernet fixture");
    let mut g = c.benchmark_group("supernet");
    g.sample_size(20);
    g.bench_function("read 31 MB supernet", |b| {
        b.iter(|| Supernet::from_bytes(&bytes, "fixture").unwrap())
    });
    let net = Supernet::from_bytes(&bytes, "fixture").unwrap();
    for (name, k, e, d, r) in [
        ("smallest (k3 e3 d2 r128)", 3, 3, 2, 128),
        ("middle (k5 e4 d3 r160)", 5, 4, 3, 160),
        ("largest (k7 e6 d4 r224)", 7, 6, 4, 224),
    ] {
        let arch = Arch {
            ks: vec![k; 20],
            e: vec![e; 20],
            d: vec![d; 5],
            r,
        };
        g.bench_function(format!("materialize {name}"), |b| {
            b.iter(|| {
                let w = net.subnet(&arch).unwrap();
                ofa_mbv3::generate_weighted(&arch, &w).unwrap().onnx.len()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
