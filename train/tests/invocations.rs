//! Tables of several profiling invocations: training puts them on one scale
//! by their reference subnets, holds out whole invocations when judging
//! itself, and `predict` puts a later table's predictions on that table's
//! scale.

use frontier_predictor::synthetic::unit_ms;
use frontier_predictor::{Predictor, Space};
use frontier_spaces::ofa_mbv3;
use frontier_spaces::rng::SplitMix64;
use frontier_table::LatencyRow;
use frontier_train::{targets_of_lines, train, KindChoice, Request};

/// The synthetic device's latency of a subnet (ms).
fn device_ms(arch: &ofa_mbv3::Arch) -> f64 {
    ofa_mbv3::units(arch).iter().map(unit_ms).sum::<f64>() * 1.08
}

fn row(invocation: &str, arch: &ofa_mbv3::Arch, ms: f64, reference: bool) -> LatencyRow {
    LatencyRow {
        schema_version: frontier_table::SCHEMA_VERSION.into(),
        device_id: "d".into(),
        backend: "tract".into(),
        threads: 1,
        arch: Some(arch.to_json()),
        space: Some("ofa-mbv3".into()),
        median_ms: ms,
        median_ms_corrected: ms,
        invocation: Some(invocation.into()),
        reference: reference.then_some(true),
        ..Default::default()
    }
}

/// `n` subnets and the reference set measured in one invocation that runs
/// `scale` times the device's speed, with 1% noise.
fn invocation(name: &str, n: usize, scale: f64, seed: u64) -> Vec<LatencyRow> {
    let mut rng = SplitMix64::new(seed);
    let mut rows: Vec<LatencyRow> = (0..n)
        .map(|_| {
            let a = ofa_mbv3::sample(&mut rng);
            let ms = device_ms(&a) * scale * frontier_predictor::synthetic::noise(&mut rng, 0.01);
            row(name, &a, ms, false)
        })
        .collect();
    for c in frontier_spaces::canary_archs(Space::OfaMbv3) {
        let frontier_spaces::Arch::Ofa(a) = c else {
            unreachable!("an OFA canary")
        };
        let ms = device_ms(&a) * scale * frontier_predictor::synthetic::noise(&mut rng, 0.01);
        rows.push(row(name, &a, ms, true));
    }
    rows
}

fn request() -> Request {
    Request {
        space: Some(Space::OfaMbv3),
        kind: KindChoice::Learned,
        origin: "rows".into(),
        ..Request::default()
    }
}

#[test]
fn two_invocations_are_put_on_one_scale_and_judged_by_invocation() {
    // Invocation b ran 7% slower than a: as measured, a's and b's rows of
    // the same kind of subnet disagree by 7%.
    let mut rows = invocation("a", 40, 1.0, 1);
    rows.extend(invocation("b", 30, 1.07, 2));
    let mut notes = Vec::new();
    let t = train(&rows, &request(), &mut |m| notes.push(m.to_string())).unwrap();
    assert_eq!(t.alignment.anchor.as_deref(), Some("a"), "most rows");
    let b = &t.alignment.offsets["b"];
    assert!((b.factor - 1.07).abs() < 0.01, "{b:?}");
    assert_eq!(b.references, frontier_spaces::CANARY_SUBNETS);
    assert!(
        notes
            .iter()
            .any(|n| n.contains("put 1 invocations on the scale of invocation a")),
        "{notes:?}"
    );
    // References are the scale, not training rows.
    assert_eq!(t.samples, 70);
    let refs = t.file.references.as_ref().expect("the anchor's references");
    assert_eq!(refs.len(), frontier_spaces::CANARY_SUBNETS);
    // Judged by holding out each invocation, on a's scale.
    assert!(
        t.trained
            .validation
            .contains("held out by invocation (2 invocations)"),
        "{}",
        t.trained.validation
    );
    assert!(
        t.trained.metrics.within_10pct > 0.95,
        "{:?}",
        t.trained.metrics
    );
    // Predictions are on a's scale: the device's own latency.
    let mut rng = SplitMix64::new(99);
    for _ in 0..10 {
        let a = ofa_mbv3::sample(&mut rng);
        let p = t.file.predict(&a.to_json()).unwrap();
        assert!(
            (p.ms / device_ms(&a) - 1.0).abs() < 0.05,
            "{} vs {}",
            p.ms,
            device_ms(&a)
        );
    }

    // A later table (invocation c, 4% faster) gets predictions on its scale.
    let later = invocation("c", 10, 0.96, 3);
    let text = String::from_utf8(frontier_table::to_jsonl(&later)).unwrap();
    let targets = targets_of_lines(&text, "later.jsonl", t.file.references.as_ref()).unwrap();
    assert_eq!(targets.archs.len(), 10, "reference rows are not predicted");
    let c = targets.factor(Some("c")).expect("c's offset");
    assert!((c.factor - 0.96).abs() < 0.01, "{c:?}");
    for (r, (arch, inv)) in later.iter().zip(&targets.archs) {
        assert_eq!(inv.as_deref(), Some("c"));
        let p = t.file.predict(arch).unwrap().ms * c.factor;
        assert!(
            (p / r.median_ms - 1.0).abs() < 0.05,
            "{p} vs {}",
            r.median_ms
        );
    }
    // Lines without table columns are plain architectures.
    let plain = format!("{{\"arch\": {}}}\n", later[0].arch.as_deref().unwrap());
    let targets = targets_of_lines(&plain, "archs.jsonl", t.file.references.as_ref()).unwrap();
    assert_eq!(targets.archs.len(), 1);
    let json = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
    assert_eq!(
        json(&targets.archs[0].0),
        json(later[0].arch.as_deref().unwrap())
    );
    assert_eq!(targets.archs[0].1, None);
    assert!(targets.offsets.is_empty());
}

#[test]
fn one_invocation_is_judged_by_row_with_a_later_invocations_error() {
    let rows = invocation("a", 40, 1.0, 5);
    let t = train(&rows, &request(), &mut |_| {}).unwrap();
    assert!(
        t.trained.validation.starts_with("5-fold by row"),
        "{}",
        t.trained.validation
    );
    // What a later invocation adds can only lower the shares the
    // cross-validation saw on the rows' own scale.
    let (m, cv) = (&t.trained.metrics, &t.trained.cv_metrics);
    assert!(m.within_5pct <= cv.within_5pct + 1e-9, "{m:?} {cv:?}");
    assert!(m.mape >= cv.mape - 1e-9, "{m:?} {cv:?}");
    assert_eq!(m.kendall_tau, cv.kendall_tau);
    assert!(t.alignment.offsets.is_empty());
    // Rows of an invocation without references and another with: nothing
    // to align them by, said and used as measured.
    let mut mixed = rows.clone();
    mixed.extend(
        invocation("old", 12, 1.05, 6)
            .into_iter()
            .filter(|r| r.reference.is_none()),
    );
    let mut notes = Vec::new();
    let t = train(&mixed, &request(), &mut |m| notes.push(m.to_string())).unwrap();
    assert_eq!(t.alignment.unaligned.get("old"), Some(&12));
    assert!(
        notes
            .iter()
            .any(|n| n.contains("12 rows of 1 invocations have no reference subnets")),
        "{notes:?}"
    );
}
