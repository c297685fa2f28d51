//! The controller: every `decide_every` it reads the load, asks the policy
//! (or a static or mean-step baseline) and swaps the current variant with
//! one atomic store. Holds the policy lock for a whole step.

#[allow(unused_imports)]
use super::*;

/// One controller step: read the load, decide, swap if the decision changed.
pub(super) fn control_step(s: &Shared) {
    // Held for the whole step: `reload` swaps the generation and the policy
    // together under this lock, so the two always describe the same variants.
    let mut policy = s.policy.lock().unwrap_or_else(|p| p.into_inner());
    let active = s.active.load_full();
    let g = &active.generation;
    let load = s.sampler.latest();
    s.contention_bits
        .store(load.others_cpu.to_bits(), Ordering::Relaxed);
    let now = Instant::now();
    // Only requests made under the load of now: an observation is tied to
    // its load, and the policy keeps one per variant and load. A request
    // carries the load read before it ran, and the sampler lags by up to a
    // step; so when the load has changed since the last step, the requests
    // of the last two steps that carry the old load are dropped (they may
    // have run under the new one), and only requests before the last step
    // (confirmed by a later reading) make an observation.
    let same = policy.config.same_load;
    let (confirmed, drop_after) = {
        let mut steps = s.steps.lock().unwrap_or_else(|p| p.into_inner());
        let prev = steps.back().copied();
        let changed = prev.is_some_and(|(_, c)| (c - load.others_cpu).abs() > same);
        let drop_after = changed
            .then(|| steps.iter().rev().nth(1).or(steps.back()).map(|x| x.0))
            .flatten();
        steps.push_back((now, load.others_cpu));
        while steps.len() > 3 {
            steps.pop_front();
        }
        (prev.map_or(now, |p| p.0), drop_after)
    };
    let observed: Vec<Option<Observation>> = g
        .variants
        .iter()
        .map(|v| {
            let mut recent = v.recent.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(after) = drop_after {
                recent.retain(|(t, _, c)| *t <= after || (c - load.others_cpu).abs() <= same);
            }
            p95_at(&recent, now, confirmed, load.others_cpu, same)
        })
        .collect();
    let own: Vec<Option<f64>> = g
        .variants
        .iter()
        .map(|v| *v.overhead_ms.lock().unwrap_or_else(|p| p.into_inner()))
        .collect();
    let known: Vec<f64> = own.iter().flatten().copied().collect();
    let shared_overhead = if known.is_empty() {
        0.0
    } else {
        known.iter().sum::<f64>() / known.len() as f64
    };
    let forced = s.forced.lock().unwrap_or_else(|p| p.into_inner()).take();
    let (target, reason, unreachable, predicted) = {
        let transport = s
            .transport_ms
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .unwrap_or(0.0);
        policy.overhead_ms = own
            .iter()
            .map(|o| o.unwrap_or(shared_overhead) + transport)
            .collect();
        let d = policy.decide(s.start.elapsed().as_secs_f64(), load.others_cpu, &observed);
        let forced = forced.filter(|f| *f < g.variants.len() && g.variants[*f].prepared.is_some());
        if let Some(f) = forced {
            (f, "forced".to_string(), d.slo_unreachable, d.predictions)
        } else {
            match &s.config.mode {
                SwitchMode::Frontier => (d.variant, d.reason, d.slo_unreachable, d.predictions),
                SwitchMode::MostAccurate | SwitchMode::Fastest => (
                    active.variant,
                    format!("{:?} baseline", s.config.mode),
                    false,
                    d.predictions,
                ),
                SwitchMode::MeanStep => {
                    let (v, why) = mean_step(s, g, active.variant);
                    (v, why, false, d.predictions)
                }
            }
        }
    };
    *s.decision.lock().unwrap_or_else(|p| p.into_inner()) = Judged {
        unreachable,
        reason: reason.clone(),
        predictions: predicted,
        remembered: (0..g.variants.len())
            .map(|i| policy.remembered(i).to_vec())
            .collect(),
    };
    if target == active.variant || g.variants[target].prepared.is_none() {
        return;
    }
    let next = Arc::new(Active {
        generation: active.generation.clone(),
        variant: target,
    });
    let t0 = Instant::now();
    s.active.store(next);
    s.served_at_switch
        .store(s.requests.load(Ordering::Relaxed), Ordering::Relaxed);
    let ns = t0.elapsed().as_nanos() as u64;
    s.swap_ns_max.fetch_max(ns, Ordering::Relaxed);
    s.swap_ns_sum.fetch_add(ns, Ordering::Relaxed);
    {
        let mut q = s.swap_ns.lock().unwrap_or_else(|p| p.into_inner());
        q.push_back(ns);
        if q.len() > 10_000 {
            q.pop_front();
        }
    }
    s.switch_count.fetch_add(1, Ordering::Relaxed);
    {
        let mut acc = s.field.lock().unwrap_or_else(|p| p.into_inner());
        acc.switched_to(&g.variants[target].variant);
    }
    let mut sw = s.switches.lock().unwrap_or_else(|p| p.into_inner());
    sw.push_back(SwitchEvent {
        at_s: s.start.elapsed().as_secs_f64(),
        from: format!(
            "{}/t{}",
            g.variants[active.variant].variant.name, g.variants[active.variant].variant.threads
        ),
        to: format!(
            "{}/t{}",
            g.variants[target].variant.name, g.variants[target].variant.threads
        ),
        reason,
        contention: load.others_cpu,
        swap_us: ns as f64 / 1e3,
    });
    while sw.len() > 20 {
        sw.pop_front();
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The variant a static baseline serves.
pub(super) fn static_choice(mode: &SwitchMode, g: &Generation) -> Option<usize> {
    let loaded = g.loaded_by_latency();
    match mode {
        SwitchMode::MostAccurate => loaded.into_iter().rev().max_by(|a, b| {
            g.variants[*a]
                .variant
                .accuracy
                .total_cmp(&g.variants[*b].variant.accuracy)
        }),
        SwitchMode::Fastest => loaded.first().copied(),
        _ => None,
    }
}

/// Requests per Dynamic-OFA decision window.
pub(super) const MEAN_WINDOW: usize = 20;

/// Dynamic-OFA's rule over the loaded variants ordered by idle latency.
pub(super) fn mean_step(s: &Shared, g: &Generation, cur: usize) -> (usize, String) {
    let served = s.requests.load(Ordering::Relaxed) - s.served_at_switch.load(Ordering::Relaxed);
    let recent: Vec<f64> = {
        let r = g.variants[cur]
            .recent
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        r.iter()
            .rev()
            .take(MEAN_WINDOW)
            .map(|(_, ms, _)| *ms)
            .collect()
    };
    if (served as usize) < MEAN_WINDOW || recent.len() < MEAN_WINDOW {
        return (cur, "collecting 20 requests".into());
    }
    let mean = recent.iter().sum::<f64>() / recent.len() as f64;
    let idle = |i: usize| g.idle(i);
    let order = g.loaded_by_latency();
    let Some(pos) = order.iter().position(|i| *i == cur) else {
        return (cur, "not loaded".into());
    };
    let slo = s.config.slo_ms;
    if mean > slo && pos > 0 {
        return (
            order[pos - 1],
            format!("mean of 20 {mean:.2} ms > {slo} ms: one step faster"),
        );
    }
    if pos + 1 < order.len() {
        let next = order[pos + 1];
        let scaled = mean * idle(next) / idle(cur);
        if scaled <= slo {
            return (
                next,
                format!(
                    "mean of 20 {mean:.2} ms; the next scaled {scaled:.2} ms fits: one step slower"
                ),
            );
        }
    }
    (cur, format!("mean of 20 {mean:.2} ms"))
}
