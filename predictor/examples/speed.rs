//! Speed of training and prediction (docs/BENCHMARKS.md, "Latency
//! predictors"): train the learned kind (5-fold CV, learning curve, final
//! bagged fit) on 1,000 OFA subnets, then predict 200,000 architectures.
//! Latencies are synthetic (speed does not depend on them).
//!
//!     cargo run --release -p frontier-predictor --example speed

use std::time::Instant;

use frontier_predictor::{train, Context, Kind, Predictor, Sample, Space};
use frontier_spaces::ofa_mbv3;
use frontier_spaces::rng::SplitMix64;

fn main() {
    let mut rng = SplitMix64::new(1);
    let samples: Vec<Sample> = (0..1000)
        .map(|_| {
            let a = ofa_mbv3::sample(&mut rng);
            Sample {
                ms: 1.0 + ofa_mbv3::macs(&a) / 1e7,
                arch: a.to_json(),
                weight: 1.0,
                group: 0,
            }
        })
        .collect();
    let t = Instant::now();
    let trained = train(
        Space::OfaMbv3,
        &[Kind::Learned],
        &samples,
        &Context::default(),
        0,
    )
    .unwrap();
    println!(
        "train learned on {} rows: {:.2} s (CV MAPE {:.2}%)",
        samples.len(),
        t.elapsed().as_secs_f64(),
        trained.metrics.mape * 100.0
    );
    let archs: Vec<String> = (0..200_000)
        .map(|_| ofa_mbv3::sample(&mut rng).to_json())
        .collect();
    for round in 0..3 {
        let t = Instant::now();
        let mut sum = 0.0;
        for a in &archs {
            sum += trained.fitted.predict(a).unwrap().ms;
        }
        let s = t.elapsed().as_secs_f64();
        println!("round {round}: {} predictions (JSON parse, features, 24 members, interval) in {s:.2} s: {:.0}/s (checksum {sum:.0})", archs.len(), archs.len() as f64 / s);
    }
}
