//! A synthetic device whose latency is known, for tests and benchmarks of
//! predictors and searches: each OFA unit costs a fixed amount plus a
//! per-MAC rate that depends on its kind, the whole network costs 8% more
//! than its parts (as on a CPU), and each measurement has 2% noise.

use std::collections::BTreeMap;

use frontier_spaces::ofa_mbv3::{self, Unit};
use frontier_spaces::rng::SplitMix64;

use crate::Sample;

/// The synthetic device's latency of one unit, ms.
pub fn unit_ms(u: &Unit) -> f64 {
    let macs = ofa_mbv3::unit_macs(u) as f64;
    match u {
        Unit::Stem { .. } => 0.05 + macs * 2e-9,
        Unit::Block(b) => {
            let dw_penalty = (b.kernel_size * b.kernel_size) as f64 / 9.0;
            0.03 + macs * (1.2e-9 + 0.3e-9 * dw_penalty) + if b.use_se { 0.02 } else { 0.0 }
        }
        Unit::Head { .. } => 0.2 + macs * 1e-9,
    }
}

/// A factor uniform in `[1 - rel, 1 + rel]`.
pub fn noise(rng: &mut SplitMix64, rel: f64) -> f64 {
    1.0 + rel * (2.0 * (rng.next_u64() as f64 / u64::MAX as f64) - 1.0)
}

/// `n` uniformly sampled subnets measured on the device (seeded), and the
/// block table of every unit they use.
pub fn ofa_device(n: usize, seed: u64) -> (Vec<Sample>, BTreeMap<String, f64>) {
    let mut rng = SplitMix64::new(seed);
    let mut table = BTreeMap::new();
    let samples = (0..n)
        .map(|_| {
            let arch = ofa_mbv3::sample(&mut rng);
            let units = ofa_mbv3::units(&arch);
            for u in &units {
                table.entry(u.key()).or_insert_with(|| unit_ms(u));
            }
            let whole: f64 = units.iter().map(unit_ms).sum::<f64>() * 1.08;
            Sample {
                arch: arch.to_json(),
                ms: whole * noise(&mut rng, 0.02),
                weight: 1.0,
                group: 0,
            }
        })
        .collect();
    (samples, table)
}
