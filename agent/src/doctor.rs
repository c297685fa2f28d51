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
    let device = DeviceReport::new(&fp);
    // ONNX Runtime that does not work here: if this glibc is older than the
    // library needs, say which version runs here, or that tract is the way.
    let mut reports = reports;
    if let Some(glibc) = &device.glibc {
        for b in reports
            .iter_mut()
            .filter(|b| b.name == "ort" && !b.available)
        {
            if let Some(advice) = frontier_export::doctor::ort_glibc_advice(glibc, &device.cpu_arch)
            {
                b.fix = Some(match b.fix.take() {
                    Some(f) => format!("{advice}; otherwise: {f}"),
                    None => advice,
                });
            }
        }
    }
    let any = reports.iter().any(|b| b.available);
    let report = DoctorReport {
        frontier_version: frontier_profiler::FRONTIER_VERSION.into(),
        device,
        backends: reports,
    };
    if args.json {
        std::io::stdout().write_all(&report.to_json())?;
    } else {
        print!("{}", report.to_text());
    }
    Ok(if any { 0 } else { 1 })
}
