//! Agreement of the harness with a bare loop calling tract directly.
//!
//! For each model: tract loaded the documented way (`model_for_path`,
//! `with_input_fact`, `into_optimized`, `into_runnable`) and timed with
//! `Instant` around `plan.run`, versus the same model through Frontier's
//! backend and harness (one round per call, probe off). The two alternate in
//! 20 blocks so both see the same machine. Prints per model the two medians
//! and their ratio.
//!
//! cargo run --release -p frontier-profiler --example bare_vs_harness -- MODEL.onnx...

use std::path::PathBuf;
use std::time::{Duration, Instant};

use frontier_profiler::backend::{Backend, PrepareOptions};
use frontier_profiler::clock::MonotonicClock;
use frontier_profiler::harness::{Harness, HarnessConfig, ProbeConfig, WarmupConfig};
use frontier_profiler::inputs::{generate, resolve, FillOptions, TensorData};
use frontier_profiler::stats::Summary;
use frontier_profiler::tract_backend::TractBackend;
use tract_onnx::prelude::*;

fn main() -> TractResult<()> {
    let clock = MonotonicClock::new();
    let backend = TractBackend::default();
    for p in std::env::args().skip(1).map(PathBuf::from) {
        let info = backend.inspect(&p).unwrap();
        let inputs = resolve(&p, &info.inputs, &[]).unwrap();
        let data = generate(&inputs, FillOptions::default());
        // Bare tract.
        let mut model = tract_onnx::onnx().model_for_path(&p)?;
        let mut tensors: TVec<TValue> = tvec![];
        for (ix, (i, d)) in inputs.iter().zip(&data).enumerate() {
            let t = match &d.data {
                TensorData::F32(v) => {
                    model = model.with_input_fact(ix, f32::fact(&i.shape).into())?;
                    Tensor::from_shape(&i.shape, v)?
                }
                TensorData::I64(v) => {
                    model = model.with_input_fact(ix, i64::fact(&i.shape).into())?;
                    Tensor::from_shape(&i.shape, v)?
                }
                _ => panic!("only f32 and i64 inputs here"),
            };
            tensors.push(t.into());
        }
        let plan = model.into_optimized()?.into_runnable()?;
        // Frontier.
        let prepared = backend
            .prepare(&p, &inputs, &PrepareOptions::default())
            .unwrap();
        let mut state = prepared.state(&data).unwrap();
        let config = HarnessConfig {
            warmup: WarmupConfig {
                min_runs: 1,
                min_time: Duration::ZERO,
                max_time: Duration::from_millis(1),
                ..Default::default()
            },
            min_runs: 5,
            min_time: Duration::from_millis(100),
            max_time: Duration::from_millis(100),
            rounds: 1,
            probe: ProbeConfig {
                enabled: false,
                ..Default::default()
            },
            ..Default::default()
        };
        for _ in 0..10 {
            plan.run(tensors.clone())?;
        }
        let (mut bare, mut ours) = (Vec::new(), Vec::new());
        for _ in 0..20 {
            let start = Instant::now();
            plan.run(tensors.clone())?; // discarded, as the harness discards a slice's first run
            while start.elapsed() < Duration::from_millis(100) {
                let t0 = Instant::now();
                plan.run(tensors.clone())?;
                bare.push(t0.elapsed().as_secs_f64() * 1e3);
            }
            let mut h = Harness::new(config.clone(), &clock, None);
            let mut states = vec![vec![state]];
            let report = h.run(&mut states, &mut |_| {});
            state = states.pop().unwrap().pop().unwrap();
            ours.extend(
                report
                    .results
                    .into_iter()
                    .next()
                    .unwrap()
                    .unwrap()
                    .samples_ms,
            );
        }
        let (b, o) = (Summary::of(&bare).unwrap(), Summary::of(&ours).unwrap());
        println!(
            "{:<40} bare {:>8.3} ms (n={:>5}, p10-p90 {:.3}-{:.3})  frontier {:>8.3} ms (n={:>5}, p10-p90 {:.3}-{:.3})  ratio {:.4}",
            p.file_name().unwrap().to_string_lossy(),
            b.median, b.n, b.p10, b.p90, o.median, o.n, o.p10, o.p90, o.median / b.median
        );
    }
    Ok(())
}
