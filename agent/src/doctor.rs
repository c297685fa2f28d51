//! `frontier doctor`: this device's fingerprint and, for each backend
//! compiled in, its version and whether it works here (and if not, why and
//! how to fix it). Exit code 0 when at least one backend works.

use std::io::Write;

use frontier_export::doctor::DoctorReport;

use crate::backends;
use crate::cli::DoctorArgs;

pub fn run(args: DoctorArgs) -> anyhow::Result<i32> {
    let report = DoctorReport::collect(&backends::compiled(&args.ort, None));
    let any = report.backends.iter().any(|b| b.available);
    if args.json {
        std::io::stdout().write_all(&report.to_json())?;
    } else {
        print!("{}", report.to_text());
    }
    Ok(if any { 0 } else { 1 })
}
