//! What the switcher says about itself: [`Switcher::status`] (per variant
//! its prediction, observation and counters) and [`Switcher::metrics`]
//! (Prometheus text).

#[allow(unused_imports)]
use super::*;
use crate::policy::Correction;

/// A prediction's correction as the status shows it.
fn correction(p: &Prediction, now_s: f64) -> VariantCorrection {
    let floor = p.floor.as_ref().map(|f| ObservationStatus::new(f, now_s));
    match &p.correction {
        Correction::Observed {
            ratio,
            p95_ms,
            contention,
            at_s,
        } => VariantCorrection::Observed {
            ratio: *ratio,
            p95_ms: *p95_ms,
            contention: *contention,
            age_s: (now_s - at_s).max(0.0),
            floor,
        },
        Correction::Borrowed { ratio, from } => VariantCorrection::Borrowed {
            ratio: *ratio,
            from: from.clone(),
            floor,
        },
        Correction::Table => VariantCorrection::Table { floor },
    }
}

impl Switcher {
    pub fn status(&self) -> Status {
        let s = &self.shared;
        let active = s.active.load_full();
        let g = &active.generation;
        let judged = s.decision.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let load = s.sampler.latest();
        let now = Instant::now();
        let now_s = s.start.elapsed().as_secs_f64();
        let variants = g
            .variants
            .iter()
            .enumerate()
            .map(|(i, v)| VariantStatus {
                model: v.variant.name.clone(),
                threads: v.variant.threads,
                accuracy: v.variant.accuracy,
                resolution: model_resolution(&v.input.shape),
                loaded: v.prepared.is_some(),
                quarantined: v
                    .quarantined
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone(),
                predicted_p95_ms: judged
                    .predictions
                    .get(i)
                    .map(|p| p.ms)
                    .filter(|x| x.is_finite()),
                correction: judged.predictions.get(i).map(|p| correction(p, now_s)),
                observations: judged
                    .remembered
                    .get(i)
                    .map(|m| {
                        let mut m: Vec<ObservationStatus> =
                            m.iter().map(|r| ObservationStatus::new(r, now_s)).collect();
                        m.sort_by(|a, b| b.age_s.total_cmp(&a.age_s));
                        m
                    })
                    .unwrap_or_default(),
                observed_p95_ms: p95_at(
                    &v.recent.lock().unwrap_or_else(|p| p.into_inner()),
                    now,
                    now,
                    0.0,
                    f64::INFINITY,
                )
                .map(|o| o.p95_ms),
                observed_ewma_ms: *v.ewma_ms.lock().unwrap_or_else(|p| p.into_inner()),
                requests: v.requests.load(Ordering::Relaxed),
            })
            .collect();
        let cur = &g.variants[active.variant].variant;
        Status {
            manifest: g.source.display().to_string(),
            space: g.manifest.space.clone(),
            device: g.device.clone(),
            backend: s.config.backend.name().to_string(),
            slo_ms: s.config.slo_ms,
            current_model: cur.name.clone(),
            current_threads: cur.threads,
            slo_unreachable: judged.unreachable,
            reason: judged.reason,
            load_note: (!load.psi_available).then(|| {
                "no /proc/pressure/cpu here (kernel before 4.20 or hidden by a container): load from CPU time and the run queue only".to_string()
            }),
            load,
            variants,
            recent_switches: s
                .switches
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .cloned()
                .collect(),
            transport_ms: *s.transport_ms.lock().unwrap_or_else(|p| p.into_inner()),
            requests: s.requests.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
            slo_misses: s.slo_misses.load(Ordering::Relaxed),
            switches: s.switch_count.load(Ordering::Relaxed),
        }
    }

    /// Prometheus text exposition.
    pub fn metrics(&self) -> String {
        use std::fmt::Write;
        let s = &self.shared;
        let st = self.status();
        let mut o = String::new();
        let _ = writeln!(o, "# HELP frontier_serve_requests_total Requests served, by model and threads.\n# TYPE frontier_serve_requests_total counter");
        for v in &st.variants {
            let _ = writeln!(
                o,
                "frontier_serve_requests_total{{model=\"{}\",threads=\"{}\"}} {}",
                v.model, v.threads, v.requests
            );
        }
        let _ = writeln!(o, "# HELP frontier_serve_failed_total Requests that failed on every model.\n# TYPE frontier_serve_failed_total counter\nfrontier_serve_failed_total {}", st.failed);
        let _ = writeln!(o, "# HELP frontier_serve_slo_misses_total Requests slower than the SLO.\n# TYPE frontier_serve_slo_misses_total counter\nfrontier_serve_slo_misses_total {}", st.slo_misses);
        let _ = writeln!(o, "# HELP frontier_serve_switches_total Swaps of the serving model.\n# TYPE frontier_serve_switches_total counter\nfrontier_serve_switches_total {}", st.switches);
        let _ = writeln!(o, "# HELP frontier_serve_latency_seconds Inference latency.\n# TYPE frontier_serve_latency_seconds histogram");
        let mut cum = 0;
        for (i, b) in BUCKETS_MS.iter().enumerate() {
            cum += s.histogram[i].load(Ordering::Relaxed);
            let _ = writeln!(
                o,
                "frontier_serve_latency_seconds_bucket{{le=\"{}\"}} {cum}",
                b / 1000.0
            );
        }
        cum += s.histogram[BUCKETS_MS.len()].load(Ordering::Relaxed);
        let _ = writeln!(
            o,
            "frontier_serve_latency_seconds_bucket{{le=\"+Inf\"}} {cum}"
        );
        let _ = writeln!(
            o,
            "frontier_serve_latency_seconds_sum {}",
            s.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(o, "frontier_serve_latency_seconds_count {cum}");
        let _ = writeln!(o, "# HELP frontier_serve_current_model 1 for the model serving now.\n# TYPE frontier_serve_current_model gauge");
        for v in &st.variants {
            let on = v.model == st.current_model && v.threads == st.current_threads;
            let _ = writeln!(
                o,
                "frontier_serve_current_model{{model=\"{}\",threads=\"{}\"}} {}",
                v.model,
                v.threads,
                u8::from(on)
            );
        }
        let _ = writeln!(o, "# HELP frontier_serve_slo_unreachable 1 when no model's predicted p95 fits the SLO.\n# TYPE frontier_serve_slo_unreachable gauge\nfrontier_serve_slo_unreachable {}", u8::from(st.slo_unreachable));
        let n = st.switches.max(1) as f64;
        let p99 = {
            let mut v: Vec<u64> = s
                .swap_ns
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .copied()
                .collect();
            v.sort_unstable();
            v.get(((v.len().max(1) - 1) as f64 * 0.99).round() as usize)
                .copied()
                .unwrap_or(0)
        };
        let _ = writeln!(
            o,
            "# HELP frontier_serve_swap_seconds Time of a swap on the controller (the atomic store); requests never wait for it.\n# TYPE frontier_serve_swap_seconds gauge\nfrontier_serve_swap_seconds{{stat=\"max\"}} {}\nfrontier_serve_swap_seconds{{stat=\"mean\"}} {}\nfrontier_serve_swap_seconds{{stat=\"p99\"}} {}",
            s.swap_ns_max.load(Ordering::Relaxed) as f64 / 1e9,
            s.swap_ns_sum.load(Ordering::Relaxed) as f64 / 1e9 / n,
            p99 as f64 / 1e9
        );
        let _ = writeln!(o, "# HELP frontier_serve_others_cpu_cores CPU used by other processes.\n# TYPE frontier_serve_others_cpu_cores gauge\nfrontier_serve_others_cpu_cores {}", st.load.others_cpu);
        if let Some(p) = st.load.psi_some_avg10 {
            let _ = writeln!(o, "# HELP frontier_serve_cpu_pressure_some_avg10 /proc/pressure/cpu some avg10 (percent).\n# TYPE frontier_serve_cpu_pressure_some_avg10 gauge\nfrontier_serve_cpu_pressure_some_avg10 {p}");
        }
        o
    }
}
