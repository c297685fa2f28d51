//! The calibration probe: a small fixed workload whose duration tracks the
//! machine's current speed.
//!
//! The harness runs it between the slices of every round. The ratio of its
//! duration to a reference duration estimates how much slower (ratio > 1) or
//! faster the machine is at that moment, and corrected latencies divide that
//! factor out. The workload mixes what inference does: a dense f32 matrix
//! product (compute bound, like convolutions and Gemm) and a streaming pass
//! over a buffer larger than L2 (memory bound, like activations), about
//! 1 ms on a server core. Short probes are dominated by scheduling noise,
//! and a probe right after a model is cold (its buffers were evicted: 25%
//! slower here), so the harness discards one warm-up repetition per point. It never changes between versions, so
//! probe durations are comparable across tables of one device.

use std::hint::black_box;

/// A workload the harness can time.
pub trait Probe: Send {
    /// Independently prepared copies of the workload. Where a network's
    /// weights land in memory changes its speed by a few percent for the
    /// life of the process (`docs/BENCHMARKS.md`, "instances"), so a probe
    /// made of one copy carries that luck into every correction of an
    /// invocation; the harness rotates through the copies and divides each
    /// copy's own bias out.
    fn instances(&self) -> usize {
        1
    }
    /// Run copy `instance` (< [`instances`](Self::instances)) once.
    fn run(&mut self, instance: usize);
}

/// Bump when the workload changes: stored references of older probes no longer apply.
pub const PROBE_VERSION: u32 = 2;

const N: usize = 64;
const STREAM: usize = 1 << 22; // 16 MiB of f32
const MATMULS: usize = 8;

/// The real probe.
pub struct CpuProbe {
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
    stream: Vec<f32>,
}

impl CpuProbe {
    pub fn new() -> Self {
        let mut rng = crate::inputs::SplitMix64::new(0x5EED);
        let mut fill = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.next_f64() as f32).collect() };
        CpuProbe {
            a: fill(N * N),
            b: fill(N * N),
            c: vec![0.0; N * N],
            stream: fill(STREAM),
        }
    }
}

impl Default for CpuProbe {
    fn default() -> Self {
        Self::new()
    }
}

impl Probe for CpuProbe {
    fn run(&mut self, _instance: usize) {
        // i-k-j order: the inner loop is a contiguous axpy the compiler vectorizes.
        for _ in 0..MATMULS {
            self.c.iter_mut().for_each(|x| *x = 0.0);
            for i in 0..N {
                for k in 0..N {
                    let aik = self.a[i * N + k];
                    let (row_b, row_c) =
                        (&self.b[k * N..(k + 1) * N], &mut self.c[i * N..(i + 1) * N]);
                    for (c, b) in row_c.iter_mut().zip(row_b) {
                        *c += aik * b;
                    }
                }
            }
            black_box(&mut self.c);
        }
        let mut acc = [0.0f32; 8];
        for chunk in black_box(&self.stream).chunks_exact(8) {
            for (a, x) in acc.iter_mut().zip(chunk) {
                *a += x;
            }
        }
        black_box(acc);
    }
}

/// A probe that is a fixed network run by the backend being measured: it
/// exercises the same kernels, threads and memory paths as the models, so it
/// slows down as they do when the machine does (the CPU workload above moved
/// about twice as much as the models between invocations on the machine of
/// `docs/BENCHMARKS.md`). The agent uses the smallest Once-for-All subnet,
/// prepared several times (see [`Probe::instances`]).
pub struct ModelProbe {
    states: Vec<Box<dyn crate::backend::ModelState>>,
}

impl ModelProbe {
    /// A probe over independently prepared copies of one network.
    /// Panics when `states` is empty.
    pub fn new(states: Vec<Box<dyn crate::backend::ModelState>>) -> Self {
        assert!(!states.is_empty(), "a probe needs at least one state");
        ModelProbe { states }
    }
}

impl Probe for ModelProbe {
    fn instances(&self) -> usize {
        self.states.len()
    }

    fn run(&mut self, instance: usize) {
        let n = self.states.len();
        // A failure here already failed when the probe was prepared and run
        // once; the point then measures whatever the failure cost.
        let _ = black_box(self.states[instance % n].run());
    }
}
