//! Predictors on a synthetic device whose latency is known
//! ([`crate::synthetic`]).

use std::collections::BTreeMap;

use frontier_spaces::rng::SplitMix64;

use super::*;
use crate::synthetic::{noise, ofa_device as device};

fn ctx(blocks: &BTreeMap<String, f64>) -> Context<'_> {
    Context {
        blocks: Some(blocks),
        ..Context::default()
    }
}

#[test]
fn every_kind_predicts_unseen_subnets_within_ten_percent() {
    let (train_rows, blocks) = device(60, 1);
    let (test_rows, test_blocks) = device(40, 2);
    let mut blocks_all = blocks.clone();
    blocks_all.extend(test_blocks);
    for kind in [Kind::Learned, Kind::Lut, Kind::Hybrid] {
        let trained = train(Space::OfaMbv3, &[kind], &train_rows, &ctx(&blocks_all), 3).unwrap();
        let truth: Vec<f64> = test_rows.iter().map(|s| s.ms).collect();
        let preds: Vec<Prediction> = test_rows
            .iter()
            .map(|s| trained.fitted.predict(&s.arch).unwrap())
            .collect();
        let pm: Vec<f64> = preds.iter().map(|p| p.ms).collect();
        let m = metrics::metrics(&truth, &pm);
        assert!(m.within_10pct >= 0.95, "{kind:?}: {m:?}");
        assert!(m.kendall_tau >= 0.8, "{kind:?}: {m:?}");
        let covered = test_rows
            .iter()
            .zip(&preds)
            .filter(|(s, p)| s.ms >= p.interval.0 && s.ms <= p.interval.1)
            .count() as f64
            / test_rows.len() as f64;
        assert!(covered >= 0.75, "{kind:?}: intervals cover {covered}");
        assert!(
            trained.metrics.within_10pct >= 0.9,
            "{kind:?}: CV {:?}",
            trained.metrics
        );
    }
}

#[test]
fn auto_picks_by_cross_validation_and_says_why() {
    let (rows, blocks) = device(40, 5);
    let t = train(
        Space::OfaMbv3,
        &[Kind::Lut, Kind::Learned, Kind::Hybrid],
        &rows,
        &ctx(&blocks),
        1,
    )
    .unwrap();
    assert_eq!(t.candidates.len(), 3);
    let best = t
        .candidates
        .iter()
        .map(|(_, m)| m.mape)
        .fold(f64::MAX, f64::min);
    assert_eq!(t.metrics.mape, best);
    assert!(t.reason.contains("cross-validated MAPE"), "{}", t.reason);
    // The whole is 8% more than the sum of its parts on this device.
    let (median, lo, hi) = t.sum_of_parts_ratio.unwrap();
    assert!(
        (median - 1.08).abs() < 0.02 && lo > 1.0 && hi < 1.15,
        "{median} {lo} {hi}"
    );
    assert!(!t.learning_curve.is_empty());
    // Without a block table, auto has only the learned kind.
    let t = train(
        Space::OfaMbv3,
        &[Kind::Lut, Kind::Learned, Kind::Hybrid],
        &rows,
        &Context::default(),
        1,
    )
    .unwrap();
    assert_eq!(t.kind, Kind::Learned);
}

#[test]
fn bad_input_is_named() {
    let (rows, blocks) = device(12, 9);
    let e = fit(Space::OfaMbv3, Kind::Learned, &rows[..4], &ctx(&blocks), 0).unwrap_err();
    assert!(e.to_string().contains("at least 10 rows"), "{e}");
    let e = fit(Space::OfaMbv3, Kind::Lut, &rows, &Context::default(), 0).unwrap_err();
    assert!(matches!(e, PredictError::NoBlockTable { .. }));
    let f = fit(Space::OfaMbv3, Kind::Learned, &rows, &ctx(&blocks), 0).unwrap();
    let e = f
        .predict(r#"{"ks":[9],"e":[3],"d":[2],"r":160}"#)
        .unwrap_err();
    assert!(matches!(e, PredictError::Arch(_)), "{e}");
    let e = f.predict(r#"{"n_layer":2}"#).unwrap_err();
    assert!(matches!(e, PredictError::Arch(_)), "{e}");
    // A block missing from the table is named.
    let lut = fit(Space::OfaMbv3, Kind::Lut, &rows, &ctx(&blocks), 0).unwrap();
    let other = device(1, 77).0[0].arch.clone();
    match lut.predict(&other) {
        Err(PredictError::MissingBlock { key }) => assert!(key.contains("input:"), "{key}"),
        Ok(_) => {} // every unit happened to be in the table
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn predictor_files_round_trip_and_refuse_other_majors() {
    let (rows, blocks) = device(20, 4);
    let t = train(Space::OfaMbv3, &[Kind::Learned], &rows, &ctx(&blocks), 0).unwrap();
    let file = PredictorFile {
        schema_version: PREDICTOR_VERSION.into(),
        space: "ofa-mbv3".into(),
        kind: t.kind,
        device_id: "d".into(),
        device: BTreeMap::new(),
        backend: "tract".into(),
        backend_version: "0.23.9".into(),
        threads: 1,
        training_data_sha256: "00".into(),
        training_rows: rows.len(),
        unstable_rows: 0,
        metrics: t.metrics.clone(),
        reason: t.reason.clone(),
        fitted: t.fitted.clone(),
        references: Some(BTreeMap::from([("{}".to_string(), 1.5)])),
    };
    let back = PredictorFile::from_json(&file.to_json()).unwrap();
    assert_eq!(back, file);
    // A 1.0 file (no references) reads as one without them.
    let old = file.to_json().replace(
        &format!("\"schema_version\": \"{PREDICTOR_VERSION}\""),
        "\"schema_version\": \"1.0\"",
    );
    let mut v: serde_json::Value = serde_json::from_str(&old).unwrap();
    v.as_object_mut().unwrap().remove("references");
    let old = PredictorFile::from_json(&v.to_string()).unwrap();
    assert_eq!(old.references, None);
    assert_eq!(
        back.predict(&rows[0].arch).unwrap(),
        file.predict(&rows[0].arch).unwrap()
    );
    let newer = file.to_json().replace(
        &format!("\"schema_version\": \"{PREDICTOR_VERSION}\""),
        "\"schema_version\": \"2.0\"",
    );
    let e = PredictorFile::from_json(&newer).unwrap_err();
    assert!(e.to_string().contains("2.0"), "{e}");
}

#[test]
fn a_few_rows_transfer_a_predictor_to_a_new_device() {
    let (source_rows, _) = device(60, 11);
    let source = train(
        Space::OfaMbv3,
        &[Kind::Learned],
        &source_rows,
        &Context::default(),
        0,
    )
    .unwrap();
    // The new device: 1.7x slower, with 0.4 ms more fixed cost, 2% noise.
    let mut rng = SplitMix64::new(12);
    let (new_rows, _) = device(60, 13);
    let new_rows: Vec<Sample> = new_rows
        .into_iter()
        .map(|s| Sample {
            ms: (s.ms / 1.08 * 1.7 + 0.4) * noise(&mut rng, 0.02),
            ..s
        })
        .collect();
    let (shots, held_out) = new_rows.split_at(15);
    let ctx = Context {
        source: Some(&source.fitted),
        ..Context::default()
    };
    let t = train(Space::OfaMbv3, &[Kind::Transfer], shots, &ctx, 0).unwrap();
    let truth: Vec<f64> = held_out.iter().map(|s| s.ms).collect();
    let pm: Vec<f64> = held_out
        .iter()
        .map(|s| t.fitted.predict(&s.arch).unwrap().ms)
        .collect();
    let m = metrics::metrics(&truth, &pm);
    assert!(m.within_10pct >= 0.9, "{m:?}");
    // The unadapted source is far off on the new device.
    let raw: Vec<f64> = held_out
        .iter()
        .map(|s| source.fitted.predict(&s.arch).unwrap().ms)
        .collect();
    assert!(metrics::metrics(&truth, &raw).within_10pct < 0.2);
    let e = train(
        Space::OfaMbv3,
        &[Kind::Transfer],
        shots,
        &Context::default(),
        0,
    )
    .unwrap_err();
    assert_eq!(e, PredictError::NoSource);
}

#[test]
fn predictor_files_name_their_features() {
    let (rows, _) = device(30, 21);
    let mut f = fit(Space::OfaMbv3, Kind::Learned, &rows, &Context::default(), 0).unwrap();
    // A file from a build with fewer features: the same first features
    // by name, its coefficients for them only.
    let Model::Learned {
        feature_names,
        ensemble,
    } = &mut f.model
    else {
        unreachable!()
    };
    feature_names.truncate(14);
    for m in ensemble.members.iter_mut() {
        m.coef.truncate(14);
    }
    let x = Space::OfaMbv3.features(&rows[0].arch).unwrap();
    let expect = ensemble.members[0].predict(&x[..14]);
    assert!((f.predict(&rows[0].arch).unwrap().ms - expect.max(1e-6)).abs() < 1e-12);
    // A feature this build does not know: an error that says to retrain.
    if let Model::Learned { feature_names, .. } = &mut f.model {
        feature_names[3] = "warp_drive_macs".into();
    }
    let e = f.predict(&rows[0].arch).unwrap_err();
    assert!(
        e.to_string().contains("warp_drive_macs") && e.to_string().contains("retrain"),
        "{e}"
    );
}
