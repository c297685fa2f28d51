//! Baseline loops without the harness: warm-ups, then timed runs one model
//! after another, with the same preparation as `frontier profile` (the
//! backend's own state, inputs bound once). Prints one JSON line per model:
//! `{"model": ..., "median_ms": ...}`.
//!
//! - The test-retest benchmark's naive loop (5 warm-ups, 30 runs, tract).
//! - `benches/ort_bias.py`'s same-library loop: `--backend ort --warmup 10
//!   --runs 60`, ONNX Runtime's C library as Frontier loads it, to tell the
//!   harness's figures from the library's.
//!
//! cargo run --release -p frontier-profiler --example naive_loop -- DIR_OR_MODEL
//!     [--backend tract|ort] [--warmup N] [--runs N] [--ort-lib PATH]

use std::path::PathBuf;
use std::time::Instant;

use frontier_profiler::backend::{ready_state, Backend, PrepareOptions};
use frontier_profiler::inputs::FillOptions;
use frontier_profiler::ort_backend::OrtBackend;
use frontier_profiler::tract_backend::TractBackend;

fn main() {
    let mut args = std::env::args().skip(1);
    let target = PathBuf::from(args.next().expect("usage: naive_loop DIR_OR_MODEL [--backend tract|ort] [--warmup N] [--runs N] [--ort-lib PATH]"));
    let (mut backend, mut warmup, mut runs, mut lib) = ("tract".to_string(), 5usize, 30usize, None);
    while let Some(a) = args.next() {
        let v = args.next().expect("a value after each flag");
        match a.as_str() {
            "--backend" => backend = v,
            "--warmup" => warmup = v.parse().expect("--warmup N"),
            "--runs" => runs = v.parse().expect("--runs N"),
            "--ort-lib" => lib = Some(PathBuf::from(v)),
            other => panic!("unknown flag {other}"),
        }
    }
    let mut models: Vec<PathBuf> = if target.is_dir() {
        std::fs::read_dir(&target)
            .expect("readable directory")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
            .collect()
    } else {
        vec![target]
    };
    models.sort();
    let b: Box<dyn Backend> = match backend.as_str() {
        "tract" => Box::new(TractBackend::default()),
        "ort" => Box::new(OrtBackend::new(lib)),
        other => panic!("unknown backend {other}"),
    };
    for p in models {
        let (_, mut state) = ready_state(
            b.as_ref(),
            &p,
            &[],
            FillOptions::default(),
            &PrepareOptions::default(),
        )
        .unwrap();
        for _ in 0..warmup {
            state.run().unwrap();
        }
        let mut t: Vec<f64> = (0..runs.max(1))
            .map(|_| {
                let t0 = Instant::now();
                state.run().unwrap();
                t0.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        t.sort_by(f64::total_cmp);
        let n = t.len();
        let median = if n.is_multiple_of(2) {
            (t[n / 2 - 1] + t[n / 2]) / 2.0
        } else {
            t[n / 2]
        };
        println!(
            "{{\"model\":\"{}\",\"median_ms\":{median}}}",
            p.file_name().unwrap().to_string_lossy()
        );
    }
}
