//! The harness's logic on a scripted machine: stop rule, drift correction,
//! interleaving, re-measurement and failures. Time is fake, so these tests are
//! exact and never timed.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use frontier_profiler::backend::{Backend, ModelState, PrepareOptions};
use frontier_profiler::fake::{FakeBackend, FakeMachine, FakeModel, RunScript, SpeedScript};
use frontier_profiler::harness::{
    profile_ops, Harness, HarnessConfig, Measurement, ProbeConfig, Progress, StopReason,
    WarmupConfig,
};
use frontier_profiler::inputs::{generate, resolve, FillOptions};
use frontier_profiler::probe::Probe;
use frontier_profiler::ProfileError;

/// One subject per script, each a single instance.
fn states(machine: &FakeMachine, scripts: Vec<FakeModel>) -> Vec<Vec<Box<dyn ModelState>>> {
    subjects(machine, scripts.into_iter().map(|m| vec![m]).collect())
}

/// One subject per group; the scripts of a group are its instances (the
/// same model prepared several times, each landing elsewhere in memory).
fn subjects(machine: &FakeMachine, groups: Vec<Vec<FakeModel>>) -> Vec<Vec<Box<dyn ModelState>>> {
    let mut b = FakeBackend::new(machine.clock.clone());
    for (g, group) in groups.iter().enumerate() {
        for (i, m) in group.iter().enumerate() {
            b.add(format!("m{g}_{i}.onnx"), m.clone());
        }
    }
    groups
        .iter()
        .enumerate()
        .map(|(g, group)| {
            (0..group.len())
                .map(|i| {
                    let p = format!("m{g}_{i}.onnx");
                    let p = Path::new(&p);
                    let info = b.inspect(p).unwrap();
                    let inputs = resolve(p, &info.inputs, &[]).unwrap();
                    let prepared = b.prepare(p, &inputs, &PrepareOptions::default()).unwrap();
                    prepared
                        .state(&generate(&inputs, FillOptions::default()))
                        .unwrap()
                })
                .collect()
        })
        .collect()
}

fn runs(script: RunScript) -> FakeModel {
    FakeModel::Runs {
        inputs: FakeBackend::simple_inputs(),
        script,
    }
}

fn quiet_config() -> HarnessConfig {
    HarnessConfig {
        warmup: WarmupConfig {
            min_runs: 5,
            min_time: Duration::from_millis(50),
            window: 5,
            tolerance: 0.05,
            max_time: Duration::from_secs(2),
        },
        min_runs: 10,
        min_time: Duration::from_secs(1),
        max_time: Duration::from_secs(10),
        rounds: 5,
        target_ci: 0.01,
        target_round_ci: 0.02,
        max_spread: 0.10,
        retries: 1,
        probe: ProbeConfig {
            enabled: true,
            reps: 3,
            reference_ms: Some(1.0),
            window: 1,
            session_elasticity: None,
        },
    }
}

fn measure(
    machine: &FakeMachine,
    config: HarnessConfig,
    models: Vec<FakeModel>,
) -> (Vec<Result<Measurement, ProfileError>>, Vec<Progress>) {
    let mut s = states(machine, models);
    let mut probe = machine.probe(1.0);
    let probe: &mut dyn Probe = &mut probe;
    let mut h = Harness::new(config, &machine.clock, Some(probe));
    let mut events = Vec::new();
    let report = h.run(&mut s, &mut |p| events.push(p.clone()));
    (report.results, events)
}

#[test]
fn steady_model_converges_at_the_minima() {
    let m = FakeMachine::steady();
    let (r, _) = measure(&m, quiet_config(), vec![runs(m.model(10.0, 0.002))]);
    let x = r[0].as_ref().unwrap();
    assert_eq!(x.stop, StopReason::Converged);
    assert_eq!(x.rounds, 5, "converges right after the first evaluation");
    // 1 s of measured time at ~10 ms per run.
    assert!((95..=110).contains(&x.raw.n), "n = {}", x.raw.n);
    assert!((x.raw.median - 10.0).abs() < 0.05, "{}", x.raw.median);
    assert!(
        (x.corrected.median - 10.0).abs() < 0.05,
        "{}",
        x.corrected.median
    );
    assert!(x.ci95_rel.unwrap() <= 0.01);
    assert!(!x.unstable);
    assert_eq!(x.attempts, 1);
    assert!(x.warmup_runs >= 5);
}

#[test]
fn noisy_model_runs_until_max_time() {
    let m = FakeMachine::steady();
    let mut c = quiet_config();
    c.max_time = Duration::from_secs(3);
    c.target_ci = 0.001;
    let (r, _) = measure(&m, c, vec![runs(m.model(10.0, 0.3))]);
    let x = r[0].as_ref().unwrap();
    assert_eq!(x.stop, StopReason::MaxTime);
    let measured: f64 = x.samples_ms.iter().sum();
    assert!(
        (3000.0..3100.0).contains(&measured),
        "measured {measured} ms"
    );
    assert!(x.rounds > 5, "extra rounds were run: {}", x.rounds);
}

#[test]
fn min_runs_holds_for_a_slow_model_and_max_time_wins_when_slower() {
    let m = FakeMachine::steady();
    let mut c = quiet_config();
    c.min_runs = 20;
    c.min_time = Duration::from_millis(100);
    let (r, _) = measure(&m, c.clone(), vec![runs(m.model(100.0, 0.0))]);
    let x = r[0].as_ref().unwrap();
    assert!(x.raw.n >= 20, "n = {}", x.raw.n);
    assert_eq!(x.stop, StopReason::Converged);

    let m = FakeMachine::steady();
    c.min_runs = 50;
    c.max_time = Duration::from_secs(3);
    let (r, _) = measure(&m, c, vec![runs(m.model(1000.0, 0.0))]);
    let x = r[0].as_ref().unwrap();
    assert_eq!(x.stop, StopReason::MaxTime);
    assert!(x.raw.n < 50 && x.raw.n >= 3, "n = {}", x.raw.n);
}

#[test]
fn drift_is_divided_out_by_the_probe() {
    // The machine slows down steadily by 40% between t = 0.5 s and 2 s (a
    // board heating up, a neighbour ramping up): raw medians are inflated,
    // corrected ones are back at the reference speed. (A step *inside* a slice
    // cannot be seen by probes between slices; the re-measurement tests cover
    // what then happens.)
    let m = FakeMachine::with_speed(Arc::new(|t| 1.0 + 0.4 * ((t - 0.5) / 1.5).clamp(0.0, 1.0)));
    let mut c = quiet_config();
    c.retries = 0;
    let (r, _) = measure(
        &m,
        c,
        vec![runs(m.model(10.0, 0.01)), runs(m.model(20.0, 0.01))],
    );
    for (x, base) in r.iter().map(|x| x.as_ref().unwrap()).zip([10.0, 20.0]) {
        assert!(
            x.raw.median > base * 1.1,
            "raw median {} should show the slowdown",
            x.raw.median
        );
        assert!(
            (x.corrected.median - base).abs() / base < 0.02,
            "corrected median {} should be {base}",
            x.corrected.median
        );
        assert!(x.probe_ratio > 1.1, "probe ratio {}", x.probe_ratio);
        // Spreads are relative to the median: (1.4 - 1.0) / 1.2 at most.
        assert!(x.probe_drift > 0.2, "probe drift {}", x.probe_drift);
        // The raw rounds disagree; corrected they agree, so the row is stable.
        assert!(x.round_spread_raw > 0.2, "{}", x.round_spread_raw);
        assert!(x.round_spread < 0.05, "{}", x.round_spread);
        assert!(!x.unstable, "{:?}", x.unstable_reason);
    }
}

#[test]
fn the_models_elasticity_to_the_probe_is_estimated() {
    // The machine slows down by 40% over the session, but the models only by
    // sqrt of that (they are less sensitive than the probe): the session must
    // find beta = 0.5 and correct by it, not by the full probe ratio.
    let m = FakeMachine::with_speed(Arc::new(|t| 1.0 + 0.4 * ((t - 0.3) / 2.0).clamp(0.0, 1.0)));
    let models: Vec<FakeModel> = [8.0, 12.0, 20.0]
        .into_iter()
        .map(|base| {
            let speed = m.speed.clone();
            runs(Arc::new(move |_, t| base * speed(t).sqrt()))
        })
        .collect();
    let mut s = states(&m, models);
    let mut probe = m.probe(1.0);
    let probe: &mut dyn Probe = &mut probe;
    let mut c = quiet_config();
    c.retries = 0;
    let mut h = Harness::new(c, &m.clock, Some(probe));
    let report = h.run(&mut s, &mut |_| {});
    let beta = report.probe_beta.unwrap();
    assert!(report.probe_beta_estimated);
    assert!((beta - 0.5).abs() < 0.05, "beta {beta}");
    for (x, base) in report
        .results
        .iter()
        .map(|x| x.as_ref().unwrap())
        .zip([8.0, 12.0, 20.0])
    {
        assert!(x.raw.median > base * 1.05, "raw {}", x.raw.median);
        assert!(
            (x.corrected.median - base).abs() / base < 0.02,
            "corrected {} vs {base}",
            x.corrected.median
        );
    }
}

#[test]
fn a_steady_probe_gives_no_estimate_and_full_correction() {
    let m = FakeMachine::steady();
    let mut s = states(
        &m,
        vec![runs(m.model(10.0, 0.01)), runs(m.model(5.0, 0.01))],
    );
    let mut probe = m.probe(1.0);
    let probe: &mut dyn Probe = &mut probe;
    let mut h = Harness::new(quiet_config(), &m.clock, Some(probe));
    let report = h.run(&mut s, &mut |_| {});
    assert!(!report.probe_beta_estimated);
    assert_eq!(report.probe_beta, Some(1.0));
}

#[test]
fn without_a_stored_reference_the_session_median_probe_is_used() {
    let m = FakeMachine::with_speed(Arc::new(|_| 2.0));
    let mut c = quiet_config();
    c.probe.reference_ms = None;
    let (r, _) = measure(&m, c, vec![runs(m.model(10.0, 0.0))]);
    let x = r[0].as_ref().unwrap();
    // Everything ran at half speed, reference included: nothing to correct.
    assert!((x.raw.median - 20.0).abs() < 1e-6);
    assert!((x.corrected.median - 20.0).abs() < 1e-6);
    assert!((x.probe_ratio - 1.0).abs() < 1e-9);
}

#[test]
fn models_are_interleaved_round_robin_with_rotation() {
    let m = FakeMachine::steady();
    let (_, events) = measure(
        &m,
        quiet_config(),
        vec![
            runs(m.model(5.0, 0.0)),
            runs(m.model(5.0, 0.0)),
            runs(m.model(5.0, 0.0)),
        ],
    );
    let order: Vec<(u32, usize)> = events
        .iter()
        .filter_map(|e| match e {
            Progress::SliceDone { subject, round, .. } => Some((*round, *subject)),
            _ => None,
        })
        .collect();
    let round = |r: u32| -> Vec<usize> {
        order
            .iter()
            .filter(|(x, _)| *x == r)
            .map(|(_, s)| *s)
            .collect()
    };
    assert_eq!(round(0), vec![0, 1, 2]);
    assert_eq!(round(1), vec![1, 2, 0]);
    assert_eq!(round(2), vec![2, 0, 1]);
    // Every warm-up happens before the first slice.
    let first_slice = events
        .iter()
        .position(|e| matches!(e, Progress::SliceDone { .. }))
        .unwrap();
    assert_eq!(
        events[..first_slice]
            .iter()
            .filter(|e| matches!(e, Progress::WarmedUp { .. }))
            .count(),
        3
    );
}

/// A model that alternates between 10 and 15 ms every 0.2 s until `until` s:
/// its rounds disagree and the machine's probe does not explain it.
fn flapping(until: f64) -> RunScript {
    Arc::new(move |_, t| {
        if t < until && ((t * 5.0) as i64) % 2 == 1 {
            15.0
        } else {
            10.0
        }
    })
}

#[test]
fn a_row_unstable_once_is_remeasured_and_kept_when_stable() {
    let m = FakeMachine::steady();
    let (r, events) = measure(
        &m,
        quiet_config(),
        vec![runs(flapping(1.0)), runs(m.model(10.0, 0.0))],
    );
    let x = r[0].as_ref().unwrap();
    assert_eq!(x.attempts, 2);
    assert!(!x.unstable, "{:?}", x.unstable_reason);
    assert!(x.round_spread < 0.1);
    assert!((x.raw.median - 10.0).abs() < 1e-6);
    assert!(events
        .iter()
        .any(|e| matches!(e, Progress::Remeasuring { subjects } if subjects == &vec![0])));
    // The stable model was measured once.
    assert_eq!(r[1].as_ref().unwrap().attempts, 1);
}

#[test]
fn a_row_that_stays_unstable_is_flagged_with_its_reason() {
    let m = FakeMachine::steady();
    let mut c = quiet_config();
    c.retries = 2;
    let (r, _) = measure(&m, c, vec![runs(flapping(f64::INFINITY))]);
    let x = r[0].as_ref().unwrap();
    assert_eq!(x.attempts, 3);
    assert!(x.unstable);
    let reason = x.unstable_reason.as_deref().unwrap();
    assert!(
        reason.contains("spread") && reason.contains("3 attempt"),
        "{reason}"
    );
}

#[test]
fn a_failing_model_does_not_stop_the_others() {
    let m = FakeMachine::steady();
    let (r, _) = measure(
        &m,
        quiet_config(),
        vec![
            runs(m.model(10.0, 0.0)),
            FakeModel::FailsAtRun {
                script: m.model(10.0, 0.0),
                n: 40,
            },
        ],
    );
    assert!(r[0].is_ok());
    let e = r[1].as_ref().unwrap_err().to_string();
    assert!(e.contains("m1_0.onnx") && e.contains("run 40"), "{e}");
}

#[test]
fn probe_off_means_no_correction() {
    let m = FakeMachine::with_speed(Arc::new(|t| if t < 1.0 { 1.0 } else { 1.5 }));
    let mut c = quiet_config();
    c.probe.enabled = false;
    let (r, _) = measure(&m, c, vec![runs(m.model(10.0, 0.0))]);
    let x = r[0].as_ref().unwrap();
    assert_eq!(x.samples_ms, x.corrected_ms);
    assert_eq!(x.probe_ratio, 1.0);
}

#[test]
fn per_operator_shares_sum_to_one_in_descending_order() {
    let m = FakeMachine::steady();
    let mut s = states(&m, vec![runs(m.model(8.0, 0.0))]);
    let ops = profile_ops(s[0][0].as_mut(), 7).unwrap().unwrap();
    assert_eq!(ops.len(), 2);
    assert_eq!(ops[0].op_type, "Conv");
    assert_eq!(ops[0].runs, 7);
    assert!((ops[0].median_ms - 6.0).abs() < 1e-6);
    assert!((ops.iter().map(|o| o.share).sum::<f64>() - 1.0).abs() < 1e-9);
}

#[test]
fn contradictory_settings_are_rejected_with_the_flag() {
    let mut c = quiet_config();
    c.max_time = Duration::from_millis(10);
    assert!(c.validate().unwrap_err().contains("--max-time"));
    let mut c = quiet_config();
    c.rounds = 0;
    assert!(c.validate().unwrap_err().contains("--rounds"));
}

#[test]
fn instances_are_measured_in_whole_cycles_and_their_bias_is_not_drift() {
    // One model prepared three times; the copies run 15% faster, as fast and
    // 15% slower (where their weights landed). On a steady machine the rounds
    // disagree by 30% raw, but that is placement, not drift: the row is
    // stable, measured once, and its median is the middle copy's.
    let m = FakeMachine::steady();
    let group: Vec<FakeModel> = [0.85, 1.0, 1.15]
        .into_iter()
        .map(|bias| runs(m.model(10.0 * bias, 0.002)))
        .collect();
    let mut s = subjects(&m, vec![group, vec![runs(m.model(5.0, 0.002))]]);
    let mut probe = m.probe(1.0);
    let probe: &mut dyn Probe = &mut probe;
    let mut h = Harness::new(quiet_config(), &m.clock, Some(probe));
    let report = h.run(&mut s, &mut |_| {});
    let x = report.results[0].as_ref().unwrap();
    assert_eq!(x.instances, 3);
    assert_eq!(x.rounds % 3, 0, "whole cycles only: {} rounds", x.rounds);
    assert!(x.rounds >= 6, "{} rounds", x.rounds);
    let im = &x.instance_medians_ms;
    assert_eq!(im.len(), 3);
    for (got, want) in im.iter().zip([8.5, 10.0, 11.5]) {
        assert!((got - want).abs() < 0.05, "instance medians {im:?}");
    }
    let spread = x.instance_spread.unwrap();
    assert!((spread - 0.3).abs() < 0.01, "instance spread {spread}");
    assert!((x.raw.median - 10.0).abs() < 0.1, "median {}", x.raw.median);
    assert!(
        x.round_spread < 0.02,
        "leveled round spread {}",
        x.round_spread
    );
    assert!(!x.unstable, "{:?}", x.unstable_reason);
    assert_eq!(x.attempts, 1);
    // The single-instance subject is not held to cycles of three.
    let y = report.results[1].as_ref().unwrap();
    assert_eq!(y.instances, 1);
    assert_eq!(y.instance_spread, None);
    assert_eq!(y.instance_medians_ms.len(), 1);
}

#[test]
fn probe_copies_are_leveled_before_they_correct_anything() {
    // Three probe copies 6% apart on a steady machine. Unleveled, each slice
    // would be "corrected" by whichever copies ran around it; leveled, every
    // point reads the same and nothing moves.
    let m = FakeMachine::steady();
    let mut s = states(&m, vec![runs(m.model(10.0, 0.0)), runs(m.model(20.0, 0.0))]);
    let mut probe = m.probe_instances(1.0, &[0.94, 1.0, 1.06]);
    let probe: &mut dyn Probe = &mut probe;
    let mut c = quiet_config();
    c.probe.reference_ms = None;
    let mut h = Harness::new(c, &m.clock, Some(probe));
    let report = h.run(&mut s, &mut |_| {});
    let p = &report.probe_ms;
    assert!(p.len() > 10);
    let (lo, hi) = p
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(*x), b.max(*x)));
    assert!(hi / lo - 1.0 < 1e-6, "leveled probe points {lo}..{hi}");
    // The reference is the copies' mean level.
    assert!((report.probe_reference_ms.unwrap() - 1.0).abs() < 1e-6);
    for (x, base) in report
        .results
        .iter()
        .map(|x| x.as_ref().unwrap())
        .zip([10.0, 20.0])
    {
        assert!(
            (x.corrected.median - base).abs() < 1e-6,
            "corrected {} vs {base}",
            x.corrected.median
        );
        assert!(x.probe_drift < 1e-6, "probe drift {}", x.probe_drift);
    }
}

#[test]
fn rounds_through_slow_phases_are_batches_of_the_stop_rule() {
    // The machine swings ±15% each second or so and there is no probe. Runs within
    // a slice agree, so the interval over runs is met at once (target ±50%);
    // the rounds disagree, so the batch-means interval keeps the model
    // measured for more rounds, until it is within its target or max_time.
    let m = FakeMachine::with_speed(Arc::new(|t| 1.0 + 0.15 * (t * 5.0).sin()));
    let mut c = quiet_config();
    c.probe.enabled = false;
    c.target_ci = 0.5;
    c.max_time = Duration::from_secs(30);
    let mut loose = c.clone();
    loose.target_round_ci = 1.0;
    let (r, _) = measure(&m, loose, vec![runs(m.model(10.0, 0.001))]);
    let quick = r[0].as_ref().unwrap();
    assert_eq!(
        quick.rounds, 5,
        "only the interval over runs: stops at once"
    );
    let (r, _) = measure(&m, c, vec![runs(m.model(10.0, 0.001))]);
    let x = r[0].as_ref().unwrap();
    assert!(
        x.rounds > 5,
        "{} rounds {:?} {:?}",
        x.rounds,
        x.round_medians_ms,
        x.round_ci95_rel
    );
    assert_eq!(x.stop, StopReason::Converged);
    let h = x.round_ci95_rel.unwrap();
    assert!(h <= 0.02, "batch-means half-width {h}");
    assert!(quick.round_ci95_rel.unwrap() > 0.02);
}

/// A probe whose points scatter by ±10% on their own (its noise, not the
/// machine's) around `level_ms`.
struct JitteryProbe {
    clock: frontier_profiler::fake::FakeClock,
    level_ms: f64,
    n: u64,
}

impl Probe for JitteryProbe {
    fn run(&mut self, _instance: usize) {
        self.n += 1;
        // Constant within a point's repetitions, different between points.
        let point = self.n / 4;
        let mut r = frontier_profiler::inputs::SplitMix64::new(point.wrapping_mul(0x9E37_79B9));
        self.clock
            .advance_ms(self.level_ms * (1.0 + 0.1 * (r.next_f64() * 2.0 - 1.0)));
    }
}

#[test]
fn a_whole_session_shift_is_corrected_with_the_session_elasticity() {
    // This invocation the machine is 20% slower than when the device's
    // reference was stored, all session long, for models and probe alike.
    // The probe's own point-to-point noise hides the co-movement within the
    // session (beta near 0), so the within-session elasticity alone leaves
    // the shift in; the session elasticity of 1 removes it.
    let m = FakeMachine::with_speed(Arc::new(|_| 1.2));
    let run = |session_elasticity| {
        let mut s = states(
            &m,
            vec![runs(m.model(10.0, 0.002)), runs(m.model(20.0, 0.002))],
        );
        let mut probe = JitteryProbe {
            clock: m.clock.clone(),
            level_ms: 1.2,
            n: 0,
        };
        let probe: &mut dyn Probe = &mut probe;
        let mut c = quiet_config();
        c.retries = 0;
        c.probe.session_elasticity = session_elasticity;
        let mut h = Harness::new(c, &m.clock, Some(probe));
        h.run(&mut s, &mut |_| {})
    };
    let within_only = run(None);
    let beta = within_only.probe_beta.unwrap();
    assert!(
        within_only.probe_beta_estimated && beta < 0.2,
        "beta {beta}"
    );
    let x = within_only.results[0].as_ref().unwrap();
    assert!(
        x.corrected.median > 11.5,
        "shift left in: {}",
        x.corrected.median
    );

    let report = run(Some(1.0));
    assert_eq!(report.probe_session_beta, Some(1.0));
    let session = report.probe_session_ms.unwrap();
    assert!((session - 1.2).abs() < 0.03, "session probe {session}");
    for (x, base) in report
        .results
        .iter()
        .map(|x| x.as_ref().unwrap())
        .zip([10.0, 20.0])
    {
        assert!(
            (x.raw.median - base * 1.2).abs() / base < 0.01,
            "raw {}",
            x.raw.median
        );
        assert!(
            (x.corrected.median - base).abs() / base < 0.03,
            "corrected {} vs {base}",
            x.corrected.median
        );
    }
}

#[test]
fn no_row_is_flagged_unstable_before_its_retries_are_spent() {
    // Machines that swing, step and wobble, models that follow the probe
    // fully, by half or not at all: whatever elasticity the session ends
    // with, a row flagged `unstable` has had every re-measurement, and a row
    // with re-measurements left is within the limit.
    let mut speeds: Vec<SpeedScript> = vec![
        Arc::new(|t| 1.0 + 0.25 * (t * 3.0).sin()),
        Arc::new(|t| {
            if (t as u64).is_multiple_of(2) {
                1.0
            } else {
                1.3
            }
        }),
        Arc::new(|t| 1.0 + 0.2 * (t * 7.0).sin() * (t * 0.5).cos()),
    ];
    for k in 1..=30 {
        let (f, a) = (0.7 * k as f64, 0.05 + 0.01 * k as f64);
        speeds.push(Arc::new(move |t| {
            1.0 + a * (t * f).sin() * (t * 0.37 * f).cos()
        }));
    }
    for (case, speed) in speeds.into_iter().enumerate() {
        let m = FakeMachine::with_speed(speed);
        let models: Vec<FakeModel> = [(8.0, 1.0), (12.0, 0.5), (20.0, 0.0), (5.0, 1.0)]
            .into_iter()
            .map(|(base, elasticity)| {
                let speed = m.speed.clone();
                runs(Arc::new(move |i, t| {
                    let wobble = 1.0 + 0.03 * ((i as f64) * 1.7).sin();
                    base * speed(t).powf(elasticity) * wobble
                }))
            })
            .collect();
        let mut c = quiet_config();
        c.retries = 2;
        c.max_spread = 0.05;
        c.max_time = Duration::from_secs(4);
        let (r, _) = measure(&m, c.clone(), models);
        for (i, x) in r.iter().enumerate() {
            let x = x.as_ref().unwrap();
            assert!(
                !x.unstable || x.attempts == c.retries + 1,
                "case {case}, model {i}: unstable after {} attempt(s): {:?}",
                x.attempts,
                x.unstable_reason
            );
            assert_eq!(
                x.unstable,
                x.round_spread > c.max_spread,
                "case {case}, model {i}"
            );
        }
    }
}
