//! The policy against scripted loads: each step is (time s, contention,
//! observations, expected variant).

use super::*;

fn variants() -> Vec<Variant> {
    let v = |name: &str, threads, accuracy, curve: &[(f64, f64)]| Variant {
        name: name.into(),
        threads,
        accuracy,
        curve: curve.to_vec(),
    };
    vec![
        v("big", 1, 80.0, &[(0.0, 20.0), (1.0, 22.0), (2.0, 40.0)]),
        v("mid", 1, 75.0, &[(0.0, 10.0), (1.0, 11.0), (2.0, 20.0)]),
        v("small", 1, 70.0, &[(0.0, 5.0), (1.0, 5.5), (2.0, 10.0)]),
    ]
}

fn obs(p95_ms: f64, contention: f64) -> Option<Observation> {
    Some(Observation { p95_ms, contention })
}

/// (time s, contention, observations, expected variant, SLO reachable).
type Step = (f64, f64, [Option<Observation>; 3], &'static str, bool);

#[test]
fn follows_a_scripted_load_with_hysteresis() {
    // SLO 25 ms: fits ≤ 22.5 ms, upgrades when ≤ 21.25 ms for 1 s.
    let mut p = Policy::new(PolicyConfig::new(25.0), variants(), 2);
    assert_eq!(p.current(), 0, "idle: the most accurate fits");
    let none = [None, None, None];
    let steps: &[Step] = &[
        (0.0, 0.0, none, "big", true),
        // Two busy cores: big predicted 40 ms; down at once.
        (0.1, 2.0, none, "mid", true),
        (0.2, 2.0, none, "mid", true),
        // Load gone: big fits with margin, but only after holding 1 s.
        (0.3, 0.0, none, "mid", true),
        (0.9, 0.0, none, "mid", true),
        (1.2, 0.0, none, "mid", true),
        (1.35, 0.0, none, "big", true),
        // One busy core: big at 22 ms still fits (≤ 22.5): no flapping.
        (1.5, 1.0, none, "big", true),
        // Observed tail 1.5× the table: big corrected to 30 ms; down.
        (1.6, 0.0, [obs(30.0, 0.0), None, None], "mid", true),
        // mid borrows the ratio (15 ms) and fits.
        (1.7, 0.0, [obs(30.0, 0.0), None, None], "mid", true),
        // Far beyond every curve: the fastest, SLO unreachable.
        (2.0, 9.0, none, "small", false),
        // Back to idle: mid has no margin issue and is more accurate than
        // small, but an upgrade still waits for the hold.
        (2.1, 0.0, none, "small", true),
        (3.2, 0.0, none, "big", true),
    ];
    for (i, (t, c, o, want, reachable)) in steps.iter().enumerate() {
        let d = p.decide(*t, *c, o);
        assert_eq!(
            (p.variants[d.variant].name.as_str(), !d.slo_unreachable),
            (*want, *reachable),
            "step {i} (t={t}, contention {c}): {}",
            d.reason
        );
    }
}

#[test]
fn extrapolates_by_cpu_share_past_the_last_point() {
    let v = Variant {
        name: "m".into(),
        threads: 2,
        accuracy: 1.0,
        curve: vec![(0.0, 10.0)],
    };
    // 2 cores, 2 threads: one busy neighbour leaves 2/3 of the CPU.
    assert!((v.at(1.0, 2.0) - 15.0).abs() < 1e-9);
    let one = Variant {
        threads: 1,
        ..v.clone()
    };
    assert_eq!(
        one.at(1.0, 2.0),
        10.0,
        "1 thread + 1 neighbour fit on 2 cores"
    );
    // Interpolation between table points.
    let t = Variant {
        curve: vec![(0.0, 10.0), (2.0, 30.0)],
        ..v
    };
    assert!((t.at(1.0, 2.0) - 20.0).abs() < 1e-9);
}

#[test]
fn a_quarantined_variant_is_never_chosen() {
    let mut p = Policy::new(PolicyConfig::new(25.0), variants(), 2);
    p.quarantine(0);
    let d = p.decide(0.0, 0.0, &[None, None, None]);
    assert_eq!(p.variants[d.variant].name, "mid", "{}", d.reason);
    for t in 1..40 {
        let d = p.decide(t as f64 * 0.1, 0.0, &[None, None, None]);
        assert_ne!(d.variant, 0);
    }
}

#[test]
fn request_overhead_is_added_not_scaled() {
    let mut p = Policy::new(PolicyConfig::new(25.0), variants(), 2);
    // small observed at 8 ms of inference against a 5 ms curve: ratio 1.6,
    // which big and mid borrow; 2 ms of resizing per request is added.
    p.overhead_ms = vec![2.0, 2.0, 2.0];
    let pred = p.predict(0.0, &[None, None, obs(8.0, 0.0)]);
    assert!((pred[2] - 10.0).abs() < 1e-9, "{pred:?}");
    assert!((pred[0] - (20.0 * 1.6 + 2.0)).abs() < 1e-9, "{pred:?}");
    let d = p.decide(0.0, 0.0, &[None, None, obs(8.0, 0.0)]);
    // big: 34 ms > 22.5; mid: 10 × 1.6 + 2 = 18 fits.
    assert_eq!(p.variants[d.variant].name, "mid", "{}", d.reason);
}
