//! The collector's metrics in Prometheus' text format (version 0.0.4).
//!
//! Counters are atomics, the latency histogram has fixed buckets, and the
//! per-device spool gauges come from headers the agent sends with each batch
//! (`x-frontier-spool-pending`, `x-frontier-spool-free-bytes`). Rendering
//! returns a `String`; nothing here does I/O.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Upper bounds of the request-latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Histogram {
    /// Cumulative counts per bucket, then +Inf.
    counts: [u64; BUCKETS.len() + 1],
    sum: f64,
}

/// What an agent said of its spool with its last batch.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SpoolReport {
    pub pending_rows: Option<u64>,
    pub free_bytes: Option<u64>,
}

/// Every metric the collector exports.
#[derive(Default)]
pub struct Metrics {
    pub rows_accepted: AtomicU64,
    pub rows_duplicate: AtomicU64,
    pub rows_rejected: AtomicU64,
    pub db_errors: AtomicU64,
    /// Training runs by outcome: trained, unchanged, not_trained, claim_lost.
    pub trainings: [AtomicU64; 4],
    /// (route, status) → count.
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    /// route → latency histogram.
    latency: Mutex<BTreeMap<String, Histogram>>,
    spools: Mutex<BTreeMap<String, SpoolReport>>,
}

impl Metrics {
    pub fn observe_request(&self, route: &str, status: u16, seconds: f64) {
        *self
            .requests
            .lock()
            .expect("metrics lock")
            .entry((route.to_string(), status))
            .or_default() += 1;
        let mut latency = self.latency.lock().expect("metrics lock");
        let h = latency.entry(route.to_string()).or_default();
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le {
                h.counts[i] += 1;
            }
        }
        h.counts[BUCKETS.len()] += 1;
        h.sum += seconds;
    }

    pub fn observe_spool(&self, device_id: &str, report: SpoolReport) {
        if report.pending_rows.is_some() || report.free_bytes.is_some() {
            self.spools
                .lock()
                .expect("metrics lock")
                .insert(device_id.to_string(), report);
        }
    }

    pub fn observe_training(&self, outcome: &crate::trainer::RunOutcome) {
        use crate::trainer::RunOutcome as O;
        let i = match outcome {
            O::Trained { .. } => 0,
            O::Unchanged { .. } => 1,
            O::NotTrained(_) => 2,
            O::ClaimLost => 3,
        };
        Self::add(&self.trainings[i], 1);
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, v: &AtomicU64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", v.load(Ordering::Relaxed));
        };
        let _ = writeln!(
            out,
            "# HELP frontier_collector_rows_total Rows received, by result.\n# TYPE frontier_collector_rows_total counter"
        );
        for (result, v) in [
            ("accepted", &self.rows_accepted),
            ("duplicate", &self.rows_duplicate),
            ("rejected", &self.rows_rejected),
        ] {
            let _ = writeln!(
                out,
                "frontier_collector_rows_total{{result=\"{result}\"}} {}",
                v.load(Ordering::Relaxed)
            );
        }
        counter(
            &mut out,
            "frontier_collector_database_errors_total",
            "Requests that failed because the database did not answer.",
            &self.db_errors,
        );
        let _ = writeln!(
            out,
            "# HELP frontier_collector_trainings_total Training runs of the trainer, by outcome.\n# TYPE frontier_collector_trainings_total counter"
        );
        for (outcome, v) in ["trained", "unchanged", "not_trained", "claim_lost"]
            .iter()
            .zip(&self.trainings)
        {
            let _ = writeln!(
                out,
                "frontier_collector_trainings_total{{outcome=\"{outcome}\"}} {}",
                v.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP frontier_collector_requests_total HTTP requests, by route and status.\n# TYPE frontier_collector_requests_total counter"
        );
        for ((route, status), n) in self.requests.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "frontier_collector_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        let name = "frontier_collector_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from request to response, by route.\n# TYPE {name} histogram"
        );
        for (route, h) in self.latency.lock().expect("metrics lock").iter() {
            let route = escape(route);
            for (i, le) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "{name}_bucket{{route=\"{route}\",le=\"{le}\"}} {}",
                    h.counts[i]
                );
            }
            let total = h.counts[BUCKETS.len()];
            let _ = writeln!(
                out,
                "{name}_bucket{{route=\"{route}\",le=\"+Inf\"}} {total}"
            );
            let _ = writeln!(out, "{name}_sum{{route=\"{route}\"}} {}", h.sum);
            let _ = writeln!(out, "{name}_count{{route=\"{route}\"}} {total}");
        }
        let spools = self.spools.lock().expect("metrics lock");
        for (name, help, get) in [
            (
                "frontier_agent_spool_pending_rows",
                "Rows waiting in a device's spool, as it reported with its last batch.",
                (|r: &SpoolReport| r.pending_rows) as fn(&SpoolReport) -> Option<u64>,
            ),
            (
                "frontier_agent_spool_free_bytes",
                "Free space on the file system of a device's spool, as it reported with its last batch.",
                |r: &SpoolReport| r.free_bytes,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (device, r) in spools.iter() {
                if let Some(v) = get(r) {
                    let _ = writeln!(out, "{name}{{device=\"{}\"}} {v}", escape(device));
                }
            }
        }
        out
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let m = Metrics::default();
        m.observe_request("/v1/rows", 200, 0.003);
        m.observe_request("/v1/rows", 200, 0.2);
        m.observe_request("/v1/rows", 401, 20.0);
        Metrics::add(&m.rows_accepted, 5);
        m.observe_spool(
            "dev\"1",
            SpoolReport {
                pending_rows: Some(7),
                free_bytes: None,
            },
        );
        let text = m.render();
        for line in [
            "frontier_collector_rows_total{result=\"accepted\"} 5",
            "frontier_collector_requests_total{route=\"/v1/rows\",status=\"200\"} 2",
            "frontier_collector_requests_total{route=\"/v1/rows\",status=\"401\"} 1",
            "frontier_collector_request_duration_seconds_bucket{route=\"/v1/rows\",le=\"0.001\"} 0",
            "frontier_collector_request_duration_seconds_bucket{route=\"/v1/rows\",le=\"0.005\"} 1",
            "frontier_collector_request_duration_seconds_bucket{route=\"/v1/rows\",le=\"0.25\"} 2",
            "frontier_collector_request_duration_seconds_bucket{route=\"/v1/rows\",le=\"10\"} 2",
            "frontier_collector_request_duration_seconds_bucket{route=\"/v1/rows\",le=\"+Inf\"} 3",
            "frontier_collector_request_duration_seconds_count{route=\"/v1/rows\"} 3",
            "frontier_agent_spool_pending_rows{device=\"dev\\\"1\"} 7",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
    }
}
