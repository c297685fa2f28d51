//! The search on synthetic devices: accuracy grows with MACs and saturates,
//! latency is linear in the analytic features.

use super::*;
use frontier_predictor::PredictError;
use frontier_spaces::Space;

/// A device whose latency is a fixed linear function of the features.
struct Device {
    space: Space,
    per_mmac: f64,
}

impl Predictor for Device {
    fn predict(&self, arch_json: &str) -> Result<Prediction, PredictError> {
        let f = self
            .space
            .features(arch_json)
            .map_err(|e| PredictError::Arch(e.to_string()))?;
        let ms = 0.5 + f.iter().take(3).sum::<f64>() * self.per_mmac + 0.02 * f[f.len() - 1];
        Ok(Prediction {
            ms,
            interval: (ms * 0.95, ms * 1.05),
        })
    }
}

fn saturating_accuracy(archs: &[Arch]) -> Result<Vec<f64>, String> {
    Ok(archs
        .iter()
        .map(|a| 80.0 - 20.0 * (-(a.macs() as f64) / 2e8).exp())
        .collect())
}

#[test]
fn mutation_and_crossover_always_yield_valid_archs() {
    let mut rng = Rng::new(1);
    for genome in [Genome::Ofa, Genome::of(Space::Gpt2)] {
        let mut a = genome.sample(&mut rng);
        for _ in 0..500 {
            let b = genome.sample(&mut rng);
            let c = genome.crossover(&a, &b, &mut rng);
            a = genome.mutate(&c, 0.3, &mut rng);
            // Valid: the JSON reads back in its space.
            let back = Arch::parse(genome.space(), &a.json()).unwrap().canonical();
            assert_eq!(back.json(), a.json());
        }
    }
}

#[test]
fn nsga2_beats_random_search_at_equal_predictor_calls() {
    let dev = Device {
        space: Space::OfaMbv3,
        per_mmac: 0.03,
    };
    let preds: Vec<&dyn Predictor> = vec![&dev];
    for seed in 0..3 {
        let cfg = SearchConfig {
            population: 30,
            generations: 15,
            seed,
            ..Default::default()
        };
        let mut acc = saturating_accuracy;
        let out = search(
            &Genome::Ofa,
            None,
            &cfg,
            &Constraints::default(),
            &preds,
            &mut acc,
        )
        .unwrap();
        let (calls, hv) = *out.history.last().unwrap();
        let (rcalls, rhv) = *out.random_history.last().unwrap();
        assert_eq!(calls, rcalls);
        assert_eq!(calls, out.evaluated.len());
        assert!(calls > 30 * 10, "offspring are new architectures: {calls}");
        assert!(hv > rhv, "seed {seed}: NSGA-II {hv} vs random {rhv}");
        // The hypervolume of an archive never decreases.
        assert!(out.history.windows(2).all(|w| w[1].1 >= w[0].1));
    }
}

#[test]
fn constraints_hold_on_the_frontier_and_impossible_ones_say_the_fastest() {
    let dev = Device {
        space: Space::OfaMbv3,
        per_mmac: 0.03,
    };
    let fast = Device {
        space: Space::OfaMbv3,
        per_mmac: 0.01,
    };
    let preds: Vec<&dyn Predictor> = vec![&dev, &fast];
    let cfg = SearchConfig {
        population: 20,
        generations: 6,
        seed: 3,
        ..Default::default()
    };
    let limits = Constraints {
        max_latency_ms: vec![Some(6.0), None],
        max_params: Some(6_000_000),
    };
    let mut acc = saturating_accuracy;
    let out = search(&Genome::Ofa, None, &cfg, &limits, &preds, &mut acc).unwrap();
    for d in 0..2 {
        let front = device_frontier(&out.evaluated, d, 6);
        assert!(!front.is_empty() && front.len() <= 6);
        for w in front.windows(2) {
            let (a, b) = (&out.evaluated[w[0]], &out.evaluated[w[1]]);
            assert!(a.latency[d].unwrap().ms <= b.latency[d].unwrap().ms);
            assert!(a.accuracy < b.accuracy);
        }
        for i in front {
            let c = &out.evaluated[i];
            assert!(
                c.latency[0].unwrap().ms <= 6.0 && c.params <= 6_000_000,
                "{c:?}"
            );
        }
    }
    let impossible = Constraints {
        max_latency_ms: vec![Some(0.1), None],
        max_params: None,
    };
    let e = search(&Genome::Ofa, None, &cfg, &impossible, &preds, &mut acc).unwrap_err();
    assert!(matches!(e, SearchError::Infeasible(_)));
    assert!(e.to_string().contains("fastest predicted"), "{e}");
}

#[test]
fn a_pool_keeps_the_search_inside_it() {
    let mut rng = Rng::new(9);
    let pool: Vec<Arch> = (0..40).map(|_| Genome::Ofa.sample(&mut rng)).collect();
    let keys: std::collections::HashSet<String> = pool.iter().map(|a| a.json()).collect();
    let dev = Device {
        space: Space::OfaMbv3,
        per_mmac: 0.03,
    };
    let preds: Vec<&dyn Predictor> = vec![&dev];
    let cfg = SearchConfig {
        population: 10,
        generations: 8,
        seed: 1,
        ..Default::default()
    };
    let mut acc = saturating_accuracy;
    let out = search(
        &Genome::Ofa,
        Some(&pool),
        &cfg,
        &Constraints::default(),
        &preds,
        &mut acc,
    )
    .unwrap();
    assert!(out.evaluated.iter().all(|c| keys.contains(&c.json)));
    assert!(out.random.iter().all(|c| keys.contains(&c.json)));
    assert!(out.evaluated.len() > 10);
    let e = search(
        &Genome::Ofa,
        Some(&[]),
        &cfg,
        &Constraints::default(),
        &preds,
        &mut acc,
    )
    .unwrap_err();
    assert!(e.to_string().contains("empty"));
}

fn cand(acc: f64, lat: &[f64]) -> Candidate {
    let mut rng = Rng::new(0);
    let arch = Genome::Ofa.sample(&mut rng);
    Candidate {
        json: arch.json(),
        arch,
        accuracy: acc,
        latency: lat
            .iter()
            .map(|ms| {
                Some(Prediction {
                    ms: *ms,
                    interval: (*ms, *ms),
                })
            })
            .collect(),
        params: 0,
        macs: 0,
        violation: 0.0,
    }
}

#[test]
fn hypervolume_matches_hand_computed_values() {
    // Accuracy in [0, 10], latency in [0, 10]: points (acc 10, 5 ms) and
    // (acc 5, 0 ms), normalized (0, 0.5) and (0.5, 0): area 0.5 + 0.25 = 0.75.
    let bounds = vec![(-10.0, 0.0), (0.0, 10.0)];
    let c = [cand(10.0, &[5.0]), cand(5.0, &[0.0])];
    assert!((hypervolume(&c, &bounds, 0) - 0.75).abs() < 1e-12);
    // Three objectives, one point at the middle: 1/8 (Monte Carlo).
    let bounds3 = vec![(-10.0, 0.0), (0.0, 10.0), (0.0, 10.0)];
    let hv = hypervolume(&[cand(5.0, &[5.0, 5.0])], &bounds3, 0);
    assert!((hv - 0.125).abs() < 0.005, "{hv}");
    // Infeasible candidates do not count.
    let mut bad = cand(10.0, &[0.0]);
    bad.violation = 1.0;
    assert_eq!(hypervolume(&[bad], &bounds, 0), 0.0);
}

#[test]
fn the_device_frontier_is_thinned_evenly_and_keeps_both_ends() {
    // 21 frontier points: latency 1..=21, accuracy rising with it; plus
    // dominated ones.
    let mut c: Vec<Candidate> = (1..=21).map(|i| cand(i as f64, &[i as f64])).collect();
    c.extend((1..=21).map(|i| cand(i as f64 - 0.5, &[i as f64 + 0.2])));
    let f = device_frontier(&c, 0, 5);
    let lats: Vec<f64> = f.iter().map(|i| c[*i].latency[0].unwrap().ms).collect();
    assert_eq!(lats, vec![1.0, 6.0, 11.0, 16.0, 21.0]);
    assert_eq!(device_frontier(&c, 0, 100).len(), 21);
}
