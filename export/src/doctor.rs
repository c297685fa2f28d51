//! The report of `frontier doctor`: this device and which backends work on
//! it, in JSON or as text.

use std::fmt::Write;

use frontier_profiler::backend::{Availability, Backend};
use frontier_profiler::fingerprint::Fingerprint;
use serde::Serialize;

/// ONNX Runtime releases and the oldest glibc their official Linux wheels'
/// libraries run on, newest first: 1.32.0's wheels are `manylinux_2_28`;
/// 1.28.0 is the last with `manylinux_2_27` wheels for aarch64 (JetPack 4's
/// Ubuntu 18.04). Checked against PyPI's wheel tags (docs/TARGETS.md).
pub const ORT_GLIBC_FLOORS: [(&str, (u32, u32)); 2] = [("1.32.0", (2, 28)), ("1.28.0", (2, 27))];

/// The newest ONNX Runtime in [`ORT_GLIBC_FLOORS`] that runs on `glibc`
/// (`"2.31"`); `None` below every floor, or for an unparsable version.
pub fn ort_for_glibc(glibc: &str) -> Option<&'static str> {
    let mut parts = glibc.split('.').map(|p| p.parse::<u32>());
    let v = (parts.next()?.ok()?, parts.next()?.ok()?);
    ORT_GLIBC_FLOORS
        .iter()
        .find(|(_, floor)| v >= *floor)
        .map(|(version, _)| *version)
}

/// What to tell a user whose ONNX Runtime library does not work, given
/// this system's glibc: the version that runs here, or tract.
pub fn ort_glibc_advice(glibc: &str, arch: &str) -> Option<String> {
    let (newest, floor) = ORT_GLIBC_FLOORS[0];
    let floor_text = format!("{}.{}", floor.0, floor.1);
    match ort_for_glibc(glibc) {
        Some(v) if v == newest => None,
        Some(v) => Some(format!(
            "this system has glibc {glibc} and ONNX Runtime {newest} needs {floor_text}; {v} is the newest whose library runs here: `install.sh --with-ort auto` on the board, or `scripts/fetch-onnxruntime.sh {arch} DEST --version {v}` and --ort-lib DEST/libonnxruntime.so.{v}; or use --backend tract"
        )),
        None => Some(format!(
            "this system has glibc {glibc}, older than any ONNX Runtime wheel supports ({} needs {}.{}): use --backend tract (built in)",
            ORT_GLIBC_FLOORS[1].0, ORT_GLIBC_FLOORS[1].1 .0, ORT_GLIBC_FLOORS[1].1 .1
        )),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceReport {
    pub device_id: String,
    pub device_class_id: String,
    pub hostname: Option<String>,
    pub cpu_model: String,
    pub cpu_vendor: String,
    pub cpu_arch: String,
    pub target_triple: String,
    pub physical_cores: Option<usize>,
    pub logical_cores: usize,
    pub cpu_freq_mhz: Option<u64>,
    pub cpu_max_freq_mhz: Option<u64>,
    pub governor: Option<String>,
    pub mem_total_mb: u64,
    pub mem_available_mb: u64,
    /// This system's glibc (`2.31`); `None` on musl systems or when unknown.
    pub glibc: Option<String>,
    pub os: String,
    pub kernel: String,
    pub temperature_c: Option<f32>,
    pub cpu_features: Vec<String>,
    /// The SIMD extensions inference kernels care most about, each present or not.
    pub simd: SimdReport,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimdReport {
    pub neon: bool,
    pub avx2: bool,
    pub avx512: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackendReport {
    pub name: String,
    pub version: String,
    pub available: bool,
    /// Why it does not work here.
    pub reason: Option<String>,
    /// How to make it work.
    pub fix: Option<String>,
    pub execution_providers: Vec<String>,
    /// Backend-specific facts (library path, how it was found, ...).
    pub details: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DoctorReport {
    pub frontier_version: String,
    pub device: DeviceReport,
    pub backends: Vec<BackendReport>,
}

impl DeviceReport {
    pub fn new(fp: &Fingerprint) -> Self {
        let has = |f: &str| fp.cpu_features.iter().any(|x| x == f);
        DeviceReport {
            device_id: fp.device_id.clone(),
            device_class_id: fp.device_class_id.clone(),
            hostname: fp.hostname.clone(),
            cpu_model: fp.cpu_model.clone(),
            cpu_vendor: fp.cpu_vendor.clone(),
            cpu_arch: fp.cpu_arch.clone(),
            target_triple: fp.target_triple.clone(),
            physical_cores: fp.physical_cores,
            logical_cores: fp.logical_cores,
            cpu_freq_mhz: fp.cpu_freq_mhz,
            cpu_max_freq_mhz: fp.cpu_max_freq_mhz,
            governor: fp.governor.clone(),
            mem_total_mb: fp.mem_total_mb,
            mem_available_mb: fp.mem_available_mb,
            glibc: frontier_profiler::fingerprint::glibc_version(),
            os: fp.os.clone(),
            kernel: fp.kernel.clone(),
            temperature_c: fp.temperature_c,
            cpu_features: fp.cpu_features.clone(),
            simd: SimdReport {
                neon: has("neon"),
                avx2: has("avx2"),
                avx512: has("avx512f"),
            },
        }
    }
}

impl DoctorReport {
    /// This device's report, and each backend's version and whether it
    /// works here; an ONNX Runtime that does not work on this glibc gets
    /// the version that would, or tract, as its fix.
    pub fn collect(backends: &[Box<dyn Backend>]) -> DoctorReport {
        let mut reports: Vec<BackendReport> = backends
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
        let device = DeviceReport::new(&Fingerprint::collect());
        if let Some(glibc) = &device.glibc {
            for b in reports
                .iter_mut()
                .filter(|b| b.name == "ort" && !b.available)
            {
                if let Some(advice) = ort_glibc_advice(glibc, &device.cpu_arch) {
                    b.fix = Some(match b.fix.take() {
                        Some(f) => format!("{advice}; otherwise: {f}"),
                        None => advice,
                    });
                }
            }
        }
        DoctorReport {
            frontier_version: frontier_profiler::FRONTIER_VERSION.into(),
            device,
            backends: reports,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("plain data serializes");
        v.push(b'\n');
        v
    }

    pub fn to_text(&self) -> String {
        let d = &self.device;
        let mut s = String::new();
        let yes = |b: bool| if b { "yes" } else { "no" };
        let _ = writeln!(s, "frontier {}", self.frontier_version);
        let _ = writeln!(
            s,
            "device      {} (class {})",
            d.device_id, d.device_class_id
        );
        let _ = writeln!(
            s,
            "cpu         {} ({}, {}), {} logical / {} physical cores",
            d.cpu_model,
            d.cpu_arch,
            d.target_triple,
            d.logical_cores,
            d.physical_cores
                .map(|c| c.to_string())
                .unwrap_or_else(|| "?".into())
        );
        let _ = writeln!(
            s,
            "frequency   {} MHz now, {} MHz max, governor {}",
            d.cpu_freq_mhz.map(|v| v.to_string()).unwrap_or("?".into()),
            d.cpu_max_freq_mhz
                .map(|v| v.to_string())
                .unwrap_or("?".into()),
            d.governor.as_deref().unwrap_or("?")
        );
        let _ = writeln!(
            s,
            "simd        NEON {}, AVX2 {}, AVX-512 {} ({})",
            yes(d.simd.neon),
            yes(d.simd.avx2),
            yes(d.simd.avx512),
            d.cpu_features.join(" ")
        );
        let _ = writeln!(
            s,
            "memory      {} MB total, {} MB available",
            d.mem_total_mb, d.mem_available_mb
        );
        let _ = writeln!(
            s,
            "system      {} (kernel {}, glibc {})",
            d.os,
            d.kernel,
            d.glibc.as_deref().unwrap_or("none")
        );
        if let Some(t) = d.temperature_c {
            let _ = writeln!(s, "temperature {t:.1} °C");
        }
        let _ = writeln!(s, "\nbackends");
        for b in &self.backends {
            let status = if b.available {
                "works here"
            } else {
                "NOT usable"
            };
            let _ = writeln!(s, "  {:<6} {:<12} {}", b.name, b.version, status);
            if let Some(r) = &b.reason {
                let _ = writeln!(s, "         why: {r}");
            }
            if let Some(f) = &b.fix {
                let _ = writeln!(s, "         fix: {f}");
            }
            if b.available {
                let _ = writeln!(
                    s,
                    "         execution providers: {}",
                    b.execution_providers.join(", ")
                );
            }
            for (k, v) in &b.details {
                let _ = writeln!(s, "         {k}: {v}");
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onnx_runtime_by_glibc() {
        // Data-driven: the boards of docs/TARGETS.md.
        for (glibc, want) in [
            ("2.36", Some("1.32.0")), // Debian 12, Raspberry Pi OS Bookworm
            ("2.31", Some("1.32.0")), // Ubuntu 20.04, Bullseye
            ("2.28", Some("1.32.0")), // Buster
            ("2.27", Some("1.28.0")), // Jetson Nano, JetPack 4
            ("2.17", None),           // CentOS 7
            ("3.0", Some("1.32.0")),
            ("x.y", None),
        ] {
            assert_eq!(ort_for_glibc(glibc), want, "{glibc}");
        }
        assert!(ort_glibc_advice("2.31", "aarch64").is_none());
        let a = ort_glibc_advice("2.27", "aarch64").unwrap();
        assert!(
            a.contains("1.28.0") && a.contains("--version 1.28.0"),
            "{a}"
        );
        let a = ort_glibc_advice("2.24", "aarch64").unwrap();
        assert!(a.contains("tract"), "{a}");
    }
}
