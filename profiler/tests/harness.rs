//! The harness's logic on a scripted machine: stop rule, drift correction,
//! interleaving, the interval and the `unstable` flag, budgets and failures. Time is fake, so these tests are
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
        target_ci: 0.02,
        max_ci: 0.035,
        // A scripted machine has no error common to a session: the tests
        // of the session term set it.
        session_error: 0.0,
        budget: None,
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
    assert!(x.interval.unwrap().half_width <= 0.02);
    assert!(!x.unstable);
    assert!(x.warmup_runs >= 5);
}

#[test]
fn a_machine_that_swings_slowly_gets_more_rounds_than_the_minimum() {
    // The machine swings ±10% over 4 s and the probe is off: rounds
    // disagree smoothly (no outliers to set aside), so the ±2% target is
    // not met at the minimum rounds; the model is measured on, and stops
    // converged within max_time, or at a plateau once its rounds show that
    // the time left cannot get it there.
    let m = FakeMachine::with_speed(Arc::new(|t| 1.0 + 0.1 * (t * 1.5).sin()));
    let mut c = quiet_config();
    c.probe.enabled = false;
    c.max_time = Duration::from_secs(4);
    let (r, _) = measure(&m, c, vec![runs(m.model(10.0, 0.01))]);
    let x = r[0].as_ref().unwrap();
    let measured: f64 = x.samples_ms.iter().sum();
    assert!(x.rounds > 5, "extra rounds were run: {}", x.rounds);
    let h = x.interval.unwrap().half_width;
    match x.stop {
        StopReason::MaxTime => assert!((4000.0..4100.0).contains(&measured), "{measured} ms"),
        StopReason::Converged => assert!(h <= 0.02, "{h}"),
        StopReason::Plateau => assert!(h > 0.02 && measured < 4000.0, "{h}, {measured} ms"),
        StopReason::Budget => panic!("no budget was set"),
    }
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
    // cannot be seen by probes between slices: the flag tests cover what
    // then happens.)
    let m = FakeMachine::with_speed(Arc::new(|t| 1.0 + 0.4 * ((t - 0.5) / 1.5).clamp(0.0, 1.0)));
    let (r, _) = measure(
        &m,
        quiet_config(),
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
    let mut h = Harness::new(quiet_config(), &m.clock, Some(probe));
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
fn a_model_that_flapped_early_gets_more_rounds_not_a_second_attempt() {
    let m = FakeMachine::steady();
    let (r, _) = measure(
        &m,
        quiet_config(),
        vec![runs(flapping(1.0)), runs(m.model(10.0, 0.0))],
    );
    let x = r[0].as_ref().unwrap();
    assert_eq!(x.stop, StopReason::Converged);
    assert!(!x.unstable, "{:?}", x.unstable_reason);
    assert!((x.raw.median - 10.0).abs() < 1e-6);
    // The flapping rounds are kept, not swapped for a luckier attempt.
    assert!(x.samples_ms.iter().any(|v| *v > 14.0));
    assert_eq!(r[1].as_ref().unwrap().rounds, 5);
}

#[test]
fn a_row_that_stays_unstable_is_flagged_with_its_reason() {
    let m = FakeMachine::steady();
    let (r, _) = measure(&m, quiet_config(), vec![runs(flapping(f64::INFINITY))]);
    let x = r[0].as_ref().unwrap();
    assert_eq!(x.stop, StopReason::Plateau);
    assert!(x.unstable);
    let reason = x.unstable_reason.as_deref().unwrap();
    assert!(
        reason.contains("interval") && reason.contains("--max-ci") && reason.contains("plateau"),
        "{reason}"
    );
    // It gave up well before max_time (10 s).
    let measured: f64 = x.samples_ms.iter().sum();
    assert!(measured < 5000.0, "measured {measured} ms");
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
    // disagree by 30% raw, but that is placement, not drift: the leveled
    // rounds agree and the median is the middle copy's. The next invocation
    // draws new copies, though, so the interval carries the placement
    // spread, which more rounds cannot shrink: a plateau, flagged.
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
    let i = x.interval.unwrap();
    assert!(i.placement > 0.1 && i.drift < 0.01, "{i:?}");
    assert_eq!(x.stop, StopReason::Plateau);
    assert!(x.unstable);
    assert!(x.unstable_reason.as_deref().unwrap().contains("placement"));
    assert!(report.placement_var > 0.01, "{}", report.placement_var);
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
fn rounds_through_slow_phases_are_the_unit_of_the_stop_rule() {
    // The machine swings ±15% each second or so and there is no probe. Runs
    // within a slice agree, so an interval over runs is within ±2% at once;
    // the rounds disagree, so the model is measured for more rounds, until
    // its interval is within the target or more rounds cannot get it there.
    let m = FakeMachine::with_speed(Arc::new(|t| 1.0 + 0.15 * (t * 5.0).sin()));
    let mut c = quiet_config();
    c.probe.enabled = false;
    c.max_time = Duration::from_secs(30);
    let (r, _) = measure(&m, c, vec![runs(m.model(10.0, 0.001))]);
    let x = r[0].as_ref().unwrap();
    assert!(
        x.rounds > 5,
        "{} rounds {:?} {:?}",
        x.rounds,
        x.round_medians_ms,
        x.interval
    );
    let h = x.interval.unwrap().half_width;
    match x.stop {
        StopReason::Converged => assert!(h <= 0.02, "half-width {h}"),
        StopReason::Plateau => assert!(h > 0.02, "half-width {h}"),
        other => panic!("stopped {other:?}"),
    }
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
fn a_row_is_flagged_exactly_when_its_interval_is_too_wide_or_missing() {
    // Machines that swing, step and wobble, models that follow the probe
    // fully, by half or not at all: `unstable` is decided by the interval
    // alone (never by the round spread), and the interval adds its terms.
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
    let (mut flagged, mut stable) = (0, 0);
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
        c.session_error = 0.01;
        c.max_time = Duration::from_secs(4);
        let (r, _) = measure(&m, c.clone(), models);
        for (i, x) in r.iter().enumerate() {
            let x = x.as_ref().unwrap();
            let too_wide = x.interval.is_none_or(|iv| iv.own() > c.max_ci);
            assert_eq!(
                x.unstable, too_wide,
                "case {case}, model {i}: {:?}",
                x.interval
            );
            assert_eq!(x.unstable, x.unstable_reason.is_some());
            if let Some(iv) = x.interval {
                let sum = (iv.drift.powi(2) + iv.placement.powi(2) + iv.session.powi(2)).sqrt();
                assert!((iv.half_width - sum).abs() < 1e-12);
                // The configured error, and the correction's own
                // uncertainty where the session's probe left the reference.
                assert!(iv.session >= 0.01);
                assert!(iv.half_width >= 0.01);
            }
            if x.unstable {
                flagged += 1;
            } else {
                stable += 1;
            }
        }
    }
    // The cases span both outcomes, so the equivalence was tested both ways.
    assert!(
        flagged > 5 && stable > 5,
        "{flagged} flagged, {stable} stable"
    );
}

/// One scripted scenario of the stop and flag rules: a machine, one
/// model's copies, settings, and what must happen.
struct Case {
    name: &'static str,
    speed: SpeedScript,
    /// Run time per copy: base ms, jitter.
    copies: Vec<(f64, f64)>,
    settings: fn(&mut HarnessConfig),
    stop: StopReason,
    unstable: bool,
}

#[test]
fn stop_and_flag_rules_by_scenario() {
    let steady: SpeedScript = Arc::new(|_| 1.0);
    let cases = vec![
        Case {
            name: "steady: converges at the minima",
            speed: steady.clone(),
            copies: vec![(10.0, 0.002)],
            settings: |_| {},
            stop: StopReason::Converged,
            unstable: false,
        },
        Case {
            name: "steady, three copies alike: converges after a whole cycle",
            speed: steady.clone(),
            copies: vec![(10.0, 0.002), (10.0, 0.002), (10.0, 0.002)],
            settings: |_| {},
            stop: StopReason::Converged,
            unstable: false,
        },
        Case {
            name: "a session error wider than the target and the flag: still converges, not flagged",
            speed: steady.clone(),
            copies: vec![(10.0, 0.002)],
            settings: |c| c.session_error = 0.05,
            stop: StopReason::Converged,
            unstable: false,
        },
        Case {
            name: "random phases of 0.25 s, half of them 25% slow, no probe: the rounds disagree, more cannot fix it",
            speed: Arc::new(|t| {
                let mut r = frontier_profiler::inputs::SplitMix64::new((t * 4.0) as u64);
                if r.next_f64() < 0.5 {
                    1.0
                } else {
                    1.25
                }
            }),
            copies: vec![(10.0, 0.002)],
            settings: |c| c.probe.enabled = false,
            stop: StopReason::Plateau,
            unstable: true,
        },
        Case {
            name: "phases of 3 s seen by the probe: corrected, converges",
            speed: Arc::new(|t| if ((t / 3.0) as u64).is_multiple_of(2) { 1.0 } else { 1.25 }),
            copies: vec![(10.0, 0.002)],
            settings: |_| {},
            stop: StopReason::Converged,
            unstable: false,
        },
        Case {
            name: "a model of 1 s with 3 s: runs out of time, constant rounds",
            speed: steady.clone(),
            copies: vec![(1000.0, 0.0)],
            settings: |c| c.max_time = Duration::from_secs(3),
            stop: StopReason::MaxTime,
            unstable: false,
        },
        Case {
            name: "a model of 2 s with 3 s and 2 rounds: no interval, flagged",
            speed: steady.clone(),
            copies: vec![(2000.0, 0.0)],
            settings: |c| {
                c.max_time = Duration::from_secs(3);
                c.rounds = 2;
            },
            stop: StopReason::MaxTime,
            unstable: true,
        },
        Case {
            name: "copies 4% apart: placement ±4.5% over three, a plateau, flagged",
            speed: steady.clone(),
            copies: vec![(9.6, 0.002), (10.0, 0.002), (10.4, 0.002)],
            settings: |_| {},
            stop: StopReason::Plateau,
            unstable: true,
        },
        Case {
            name: "copies 4% apart with a loose target: placement within it",
            speed: steady.clone(),
            copies: vec![(9.6, 0.002), (10.0, 0.002), (10.4, 0.002)],
            settings: |c| {
                c.target_ci = 0.06;
                c.max_ci = 0.08;
            },
            stop: StopReason::Converged,
            unstable: false,
        },
    ];
    for case in cases {
        let m = FakeMachine::with_speed(case.speed.clone());
        let copies = case
            .copies
            .iter()
            .map(|&(base, jitter)| runs(m.model(base, jitter)))
            .collect();
        let mut c = quiet_config();
        (case.settings)(&mut c);
        let mut s = subjects(&m, vec![copies]);
        let mut probe = m.probe(1.0);
        let probe: &mut dyn Probe = &mut probe;
        let mut h = Harness::new(c, &m.clock, Some(probe));
        let report = h.run(&mut s, &mut |_| {});
        let x = report.results[0].as_ref().unwrap();
        assert_eq!(
            (x.stop, x.unstable),
            (case.stop, case.unstable),
            "{}: {} rounds {:?}, interval {:?}, {:?}",
            case.name,
            x.rounds,
            x.round_medians_ms,
            x.interval,
            x.unstable_reason
        );
    }
}

#[test]
fn a_budget_is_shared_and_stopped_models_hand_their_time_on() {
    // Three steady models converge at the minima; a fourth flaps between
    // two speeds, so its rounds go on until they show more cannot help.
    // Under a budget, the rounds after the steady ones stopped are the
    // flapping one's alone.
    let m = FakeMachine::steady();
    let models = vec![
        runs(m.model(10.0, 0.002)),
        runs(m.model(10.0, 0.002)),
        runs(m.model(10.0, 0.002)),
        runs(flapping(f64::INFINITY)),
    ];
    let mut c = quiet_config();
    c.max_time = Duration::from_secs(30);
    c.budget = Some(Duration::from_secs(8));
    let mut s = states(&m, models);
    let mut probe = m.probe(1.0);
    let probe: &mut dyn Probe = &mut probe;
    let mut h = Harness::new(c, &m.clock, Some(probe));
    let report = h.run(&mut s, &mut |_| {});
    let r: Vec<&Measurement> = report.results.iter().map(|x| x.as_ref().unwrap()).collect();
    for x in &r[..3] {
        assert_eq!(x.stop, StopReason::Converged);
        assert_eq!(x.rounds, 5);
    }
    let noisy = r[3];
    assert!(noisy.rounds >= 10, "{} rounds", noisy.rounds);
    assert!(
        matches!(
            noisy.stop,
            StopReason::Budget | StopReason::Plateau | StopReason::Converged
        ),
        "{:?}",
        noisy.stop
    );
    // The budget holds to within one slice and its probe points.
    let elapsed = report.elapsed.as_secs_f64();
    assert!(elapsed <= 8.3, "elapsed {elapsed} s");
    assert!(report.budget_note.is_none());

    // A budget too short for the minimum rounds: slices shrink, it says so,
    // and every model still has a row.
    let mut c = quiet_config();
    c.budget = Some(Duration::from_millis(1500));
    let models = (0..4).map(|_| runs(m.model(10.0, 0.002))).collect();
    let mut s = states(&m, models);
    let mut probe = m.probe(1.0);
    let probe: &mut dyn Probe = &mut probe;
    let mut h = Harness::new(c, &m.clock, Some(probe));
    let report = h.run(&mut s, &mut |_| {});
    let note = report.budget_note.as_deref().unwrap();
    assert!(note.contains("slices shortened"), "{note}");
    assert!(report
        .results
        .iter()
        .all(|x| x.as_ref().unwrap().raw.n >= 1));
}

#[test]
fn every_timed_run_is_kept_so_no_rule_picks_a_phase() {
    // Whatever the machine does, the samples are every run the harness
    // timed: per slice all runs but the first (which follows another
    // model), after the warm-up. No attempt, round or phase is chosen.
    use std::sync::atomic::{AtomicU64, Ordering};
    let calls = Arc::new(AtomicU64::new(0));
    let m = FakeMachine::with_speed(Arc::new(|t| {
        if ((t * 3.0) as u64).is_multiple_of(3) {
            1.3
        } else {
            1.0
        }
    }));
    let counted = {
        let calls = calls.clone();
        let inner = m.model(10.0, 0.05);
        runs(Arc::new(move |i, t| {
            calls.fetch_add(1, Ordering::SeqCst);
            inner(i, t)
        }))
    };
    let (r, _) = measure(&m, quiet_config(), vec![counted, runs(m.model(7.0, 0.05))]);
    let x = r[0].as_ref().unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        (x.warmup_runs + x.rounds) as u64 + x.samples_ms.len() as u64
    );
}
