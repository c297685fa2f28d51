//! Does where a model lands in memory change its latency? Prepares each model
//! `K` times (separate weights and buffers) or binds `K` states to one
//! prepared model, then measures all instances interleaved in rounds (one
//! discarded run and `RUNS` timed runs per slice, order rotated) and prints
//! each instance's median relative to the first instance's.
//!
//! cargo run --release -p frontier-profiler --example instances -- models|states K ROUNDS MODEL...

use std::time::Instant;

use frontier_profiler::backend::{Backend, ModelState, PrepareOptions};
use frontier_profiler::inputs::{self, FillOptions};
use frontier_profiler::stats;
use frontier_profiler::tract_backend::TractBackend;

const RUNS: usize = 5;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: instances models|states K ROUNDS MODEL...";
    let mode = args.first().expect(usage).clone();
    let k: usize = args.get(1).expect(usage).parse().expect(usage);
    let rounds: usize = args.get(2).expect(usage).parse().expect(usage);
    let b = TractBackend::default();
    for model in &args[3..] {
        let p = std::path::Path::new(model);
        let info = b.inspect(p).unwrap();
        let resolved = inputs::resolve(p, &info.inputs, &[]).unwrap();
        let data = inputs::generate(&resolved, FillOptions::default());
        let opts = PrepareOptions::default();
        let mut keep = Vec::new();
        let mut states: Vec<Box<dyn ModelState>> = Vec::new();
        if mode == "models" {
            for _ in 0..k {
                let prepared = b.prepare(p, &resolved, &opts).unwrap();
                states.push(prepared.state(&data).unwrap());
                keep.push(prepared);
            }
        } else {
            let prepared = b.prepare(p, &resolved, &opts).unwrap();
            for _ in 0..k {
                states.push(prepared.state(&data).unwrap());
            }
            keep.push(prepared);
        }
        for s in states.iter_mut() {
            for _ in 0..10 {
                s.run().unwrap();
            }
        }
        let mut medians = vec![Vec::new(); k];
        for r in 0..rounds {
            for j in 0..k {
                let i = (j + r) % k;
                let s = &mut states[i];
                s.run().unwrap();
                let t: Vec<f64> = (0..RUNS)
                    .map(|_| {
                        let t0 = Instant::now();
                        s.run().unwrap();
                        t0.elapsed().as_secs_f64() * 1e3
                    })
                    .collect();
                medians[i].push(stats::median(&t).unwrap());
            }
        }
        let m: Vec<f64> = medians.iter().map(|v| stats::median(v).unwrap()).collect();
        // Per-round ratio to instance 0 (paired: same round, adjacent in time).
        let ratios: Vec<String> = (0..k)
            .map(|i| {
                let r: Vec<f64> = (0..rounds).map(|x| medians[i][x] / medians[0][x]).collect();
                let mut sorted = r.clone();
                sorted.sort_by(f64::total_cmp);
                let (lo, hi) = (
                    stats::percentile_sorted(&sorted, 25.0),
                    stats::percentile_sorted(&sorted, 75.0),
                );
                format!("{:.3} [{lo:.3}-{hi:.3}]", stats::median(&r).unwrap())
            })
            .collect();
        println!(
            "{} {mode}: instance 0 {:.3} ms; paired ratios {}",
            p.file_name().unwrap().to_string_lossy(),
            m[0],
            ratios.join(", ")
        );
    }
}
