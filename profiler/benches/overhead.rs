//! Harness overhead per timed run: what the harness adds around one
//! `ModelState::run` (two clock reads through `&dyn Clock`, a dynamic call,
//! storing the sample), measured on a state that does nothing.
//!
//! cargo bench -p frontier-profiler --bench overhead

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use frontier_profiler::backend::{ModelState, OutputTensor};
use frontier_profiler::clock::{Clock, MonotonicClock};
use frontier_profiler::harness::calibrate_overhead;
use frontier_profiler::ProfileError;

struct Empty;

impl ModelState for Empty {
    #[inline(never)]
    fn run(&mut self) -> Result<(), ProfileError> {
        Ok(())
    }
    fn outputs(&mut self) -> Result<Vec<OutputTensor>, ProfileError> {
        Ok(Vec::new())
    }
}

fn bench(c: &mut Criterion) {
    let clock = MonotonicClock::new();
    let clock: &dyn Clock = &clock;
    let mut state: Box<dyn ModelState> = Box::new(Empty);
    let mut samples = Vec::with_capacity(1 << 20);
    c.bench_function("bare dyn run", |b| {
        b.iter(|| black_box(state.as_mut()).run())
    });
    c.bench_function("timed run as the harness does it", |b| {
        b.iter(|| {
            let t0 = clock.now();
            let r = black_box(state.as_mut()).run();
            let t1 = clock.now();
            if samples.len() == samples.capacity() {
                samples.clear();
            }
            samples.push((t1 - t0).as_secs_f64() * 1e3);
            r
        })
    });
    eprintln!(
        "calibrate_overhead (median of 20000 empty runs): {:.1} ns",
        calibrate_overhead(clock, 20_000)
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
