//! `frontier doctor`: this device's fingerprint and, for each backend
//! compiled in, its version and whether it works here (and if not, why and
//! how to fix it). Exit code 0 when at least one backend works.

use std::io::Write;

use frontier_export::doctor::{BackendReport, DeviceReport, DoctorReport};
use frontier_profiler::backend::Availability;
use frontier_profiler::fingerprint::Fingerprint;

use crate::backends;
use crate::cli::DoctorArgs;

pub fn run(args: DoctorArgs) -> anyhow::Result<i32> {
    let fp = Fingerprint::collect();
    let reports: Vec<BackendReport> = backends::compiled(&args.ort, None)
        .iter()
        .map(|b| {
            let (available, reason, fix) = match b.availability() {
                Availability::Available => (true, None, None),
                Availability::Unavailable { reason, fix } => (false, Some(reason), Some(fix)),
            };
            BackendReport {
                name: b.name().into(),
                version: b.version(),
                available,
                reason,
                fix,
                execution_providers: if available {
                    b.execution_providers()
                } else {
                    Vec::new()
                },
                details: b
                    .details()
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            }
        })
        .collect();
    let any = reports.iter().any(|b| b.available);
    let report = DoctorReport {
        frontier_version: frontier_profiler::FRONTIER_VERSION.into(),
        device: DeviceReport::new(&fp),
        backends: reports,
    };
    if args.json {
        std::io::stdout().write_all(&report.to_json())?;
    } else {
        print!("{}", report.to_text());
    }
    Ok(if any { 0 } else { 1 })
}
