//! The ONNX export of predictors (`frontier_predictor::onnx`) run by tract
//! gives what `Predictor::predict` gives, to 1e-4 relative, on the point
//! and the interval, for every kind and both spaces. Here rather than in
//! the predictor crate, which stays free of tract.

use frontier_predictor::synthetic::{noise, ofa_device as device};
use frontier_predictor::{fit, onnx, Context, Kind, PredictError, Predictor, Sample};
use frontier_spaces::rng::SplitMix64;
use frontier_spaces::{gpt2, ofa_mbv3, Space};

fn ctx(blocks: &std::collections::BTreeMap<String, f64>) -> Context<'_> {
    Context {
        blocks: Some(blocks),
        ..Context::default()
    }
}

/// Run an exported predictor with tract on encodings `enc` (rows of `len`):
/// (latency, interval) per row.
fn run_onnx(bytes: &[u8], enc: &[Vec<f32>], len: usize) -> Vec<(f32, [f32; 2])> {
    use tract_onnx::prelude::*;
    let n = enc.len();
    let plan = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .unwrap()
        .with_input_fact(0, f32::fact([n, len]).into())
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let flat: Vec<f32> = enc.iter().flatten().copied().collect();
    let input = Tensor::from_shape(&[n, len], &flat).unwrap();
    let out = plan.run(tvec![input.into()]).unwrap();
    let lat = out[0]
        .try_as_plain_ram()
        .unwrap()
        .as_slice::<f32>()
        .unwrap()
        .to_vec();
    let iv = out[1]
        .try_as_plain_ram()
        .unwrap()
        .as_slice::<f32>()
        .unwrap()
        .to_vec();
    assert_eq!((lat.len(), iv.len()), (n, 2 * n));
    (0..n)
        .map(|i| (lat[i], [iv[2 * i], iv[2 * i + 1]]))
        .collect()
}

fn assert_close(what: &str, onnx: f32, rust: f64) {
    let rel = (onnx as f64 - rust).abs() / rust.abs().max(1e-9);
    assert!(
        rel <= 1e-4,
        "{what}: onnx {onnx} vs frontier {rust} (rel {rel:e})"
    );
}

#[test]
fn onnx_export_predicts_what_frontier_predicts() {
    let (train_rows, blocks) = device(60, 11);
    let (other_rows, _) = device(30, 12);
    let c = ctx(&blocks);
    let learned = fit(Space::OfaMbv3, Kind::Learned, &train_rows, &c, 1).unwrap();
    let transfer = fit(
        Space::OfaMbv3,
        Kind::Transfer,
        &train_rows[..12],
        &Context {
            source: Some(&learned),
            ..Context::default()
        },
        2,
    )
    .unwrap();
    let mut models = vec![learned, transfer];
    for kind in [Kind::Lut, Kind::Hybrid] {
        models.push(fit(Space::OfaMbv3, kind, &train_rows, &c, 1).unwrap());
    }
    for mut fitted in models {
        // Asymmetric residuals exercise both sides of the widening.
        fitted.residual_q = (-0.07, 0.04);
        let bytes = onnx::to_onnx(&fitted, &[]).unwrap();
        let rows: Vec<&Sample> = train_rows.iter().chain(&other_rows).collect();
        let enc: Vec<Vec<f32>> = rows
            .iter()
            .map(|s| ofa_mbv3::encode(&ofa_mbv3::Arch::from_json(&s.arch).unwrap()))
            .collect();
        let got = run_onnx(&bytes, &enc, ofa_mbv3::ENCODING_LEN);
        let kind = format!("{:?}", fitted.model)
            .chars()
            .take(8)
            .collect::<String>();
        let mut missing = 0;
        for (s, (ms, iv)) in rows.iter().zip(got) {
            match fitted.predict(&s.arch) {
                Ok(p) => {
                    assert_close(&format!("{kind} point"), ms, p.ms);
                    assert_close(&format!("{kind} low"), iv[0], p.interval.0);
                    assert_close(&format!("{kind} high"), iv[1], p.interval.1);
                }
                // Units outside the block table: Frontier refuses, ONNX says NaN.
                Err(PredictError::MissingBlock { .. }) => {
                    assert!(ms.is_nan() && iv[0].is_nan(), "{kind}: {ms}");
                    missing += 1;
                }
                Err(e) => panic!("{e}"),
            }
        }
        if kind.starts_with("Lut") || kind.starts_with("Hybrid") {
            assert!(
                missing > 0,
                "the other device's subnets use blocks not in the table"
            );
        }
    }
}

#[test]
fn onnx_export_of_gpt2_predicts_what_frontier_predicts() {
    let space = gpt2::Space::default();
    let mut rng = SplitMix64::new(5);
    let archs: Vec<gpt2::Arch> = (0..40).map(|_| gpt2::sample(&space, &mut rng)).collect();
    let samples: Vec<Sample> = archs
        .iter()
        .map(|a| {
            let f = Space::Gpt2.features(&a.to_json()).unwrap();
            let ms = 0.3 + 0.002 * f[0] + 0.004 * f[1] + 0.0015 * f[2] + 0.05 * f[3] + 0.01 * f[5];
            Sample {
                arch: a.to_json(),
                ms: ms * noise(&mut rng, 0.03),
                weight: 1.0,
                group: 0,
            }
        })
        .collect();
    let mut fitted = fit(Space::Gpt2, Kind::Learned, &samples, &Context::default(), 4).unwrap();
    fitted.residual_q = (-0.05, 0.05);
    let bytes = onnx::to_onnx(&fitted, &[]).unwrap();
    let enc: Vec<Vec<f32>> = archs.iter().map(gpt2::encode).collect();
    let got = run_onnx(&bytes, &enc, gpt2::ENCODING_LEN);
    for (a, (ms, iv)) in archs.iter().zip(got) {
        let p = fitted.predict(&a.to_json()).unwrap();
        assert_close("gpt2 point", ms, p.ms);
        assert_close("gpt2 low", iv[0], p.interval.0);
        assert_close("gpt2 high", iv[1], p.interval.1);
    }
}
