//! The floor of the agent's size: a bare program that loads an ONNX model
//! with tract-onnx (the workspace's features), optimizes it for its
//! declared input shapes, runs it `N` times on zeros and prints the median
//! time. `benches/sizes.sh` builds it with each target's profile beside the
//! agent, so the agent's size is reported as a ratio to this in one run.
//!
//!     bare_tract MODEL.onnx [N]

use std::time::Instant;

use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::DimLike;

fn main() -> TractResult<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: bare_tract MODEL.onnx [N]"))?;
    let n: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(20);
    let model = tract_onnx::onnx().model_for_path(&path)?;
    let inputs: TVec<TValue> = model
        .input_outlets()?
        .iter()
        .map(|o| {
            let fact = model.outlet_fact(*o)?.to_typed_fact()?;
            let shape: TVec<usize> = fact
                .shape
                .iter()
                .map(|d| d.to_usize().unwrap_or(1))
                .collect();
            Ok(Tensor::zero_dt(fact.datum_type, &shape)?.into_tvalue())
        })
        .collect::<TractResult<_>>()?;
    let plan = model.into_optimized()?.into_runnable()?;
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        plan.run(inputs.clone())?;
        times.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    println!("{:.3}", times[times.len() / 2]);
    Ok(())
}
