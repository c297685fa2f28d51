//! What device this is, and what load it was under while measuring.
//!
//! Latency is a property of (device, runtime, conditions), so every table row
//! carries a [`Fingerprint`] and a [`LoadReport`]. Facts come from `sysinfo`
//! and, on Linux, `/proc` and `/sys` where readable; anything unreadable is
//! `None`, never a guess.
//!
//! Identity:
//! - `device_class_id` hashes hardware facts only (CPU model and vendor, core
//!   counts, maximum frequency, memory rounded to 256 MiB, architecture), so two
//!   identical boards share it and can share tables.
//! - `device_id` hashes the same facts plus a per-machine serial: the DMI
//!   product UUID or the device-tree serial number, or else `/etc/machine-id`.
//!   The hostname is never used: boards are often all called `raspberrypi`.

use std::path::Path;

use sha2::{Digest, Sha256};

/// Static facts about the device.
#[derive(Debug, Clone, PartialEq)]
pub struct Fingerprint {
    pub device_id: String,
    pub device_class_id: String,
    pub hostname: Option<String>,
    pub cpu_model: String,
    pub cpu_vendor: String,
    /// `std::env::consts::ARCH` of this build (x86_64, aarch64, arm).
    pub cpu_arch: String,
    /// The Rust target triple this binary was built for.
    pub target_triple: String,
    pub physical_cores: Option<usize>,
    pub logical_cores: usize,
    pub cpu_freq_mhz: Option<u64>,
    pub cpu_max_freq_mhz: Option<u64>,
    pub governor: Option<String>,
    pub mem_total_mb: u64,
    pub mem_available_mb: u64,
    pub os: String,
    pub kernel: String,
    pub temperature_c: Option<f32>,
    /// Whether external power is on: any mains or USB supply in
    /// `/sys/class/power_supply` online (`None` where there is none to ask:
    /// most servers and VMs).
    pub power_online: Option<bool>,
    /// SIMD features relevant to inference kernels (neon, avx2, avx512f, fma, ...).
    pub cpu_features: Vec<String>,
}

fn read_trim(path: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| {
            s.trim_matches(|c: char| c.is_whitespace() || c == '\0')
                .to_string()
        })
        .filter(|s| !s.is_empty())
}

fn cpufreq_mhz(file: &str) -> Option<u64> {
    read_trim(format!("/sys/devices/system/cpu/cpu0/cpufreq/{file}"))?
        .parse::<u64>()
        .ok()
        .map(|khz| khz / 1000)
}

/// The `/proc/cpuinfo` value of the first line starting with `key`.
fn cpuinfo_field(cpuinfo: &str, key: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find(|l| l.split(':').next().is_some_and(|k| k.trim() == key))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Any mains or USB power supply online (a board on a weak USB supply or
/// on battery throttles); `None` without such a supply.
fn power_online() -> Option<bool> {
    let dir = std::fs::read_dir("/sys/class/power_supply").ok()?;
    let online: Vec<bool> = dir
        .filter_map(|e| e.ok())
        .filter(|e| {
            matches!(
                read_trim(e.path().join("type")).as_deref(),
                Some("Mains" | "USB" | "USB_C" | "USB_PD")
            )
        })
        .filter_map(|e| read_trim(e.path().join("online")))
        .map(|v| v == "1")
        .collect();
    (!online.is_empty()).then(|| online.iter().any(|o| *o))
}

fn thermal_zone_max_c() -> Option<f32> {
    let dir = std::fs::read_dir("/sys/class/thermal").ok()?;
    dir.filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("thermal_zone"))
        .filter_map(|e| read_trim(e.path().join("temp"))?.parse::<f32>().ok())
        .map(|milli| milli / 1000.0)
        .filter(|c| *c > -50.0 && *c < 150.0)
        .reduce(f32::max)
}

/// The SIMD features this CPU has that inference kernels use.
pub fn cpu_features() -> Vec<String> {
    #[allow(unused_mut)]
    let mut f: Vec<&str> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("sse4.2") {
            f.push("sse4.2");
        }
        if is_x86_feature_detected!("avx") {
            f.push("avx");
        }
        if is_x86_feature_detected!("avx2") {
            f.push("avx2");
        }
        if is_x86_feature_detected!("fma") {
            f.push("fma");
        }
        if is_x86_feature_detected!("f16c") {
            f.push("f16c");
        }
        if is_x86_feature_detected!("avx512f") {
            f.push("avx512f");
        }
        if is_x86_feature_detected!("avx512vnni") {
            f.push("avx512vnni");
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            f.push("neon");
        }
        if std::arch::is_aarch64_feature_detected!("fp16") {
            f.push("fp16");
        }
        if std::arch::is_aarch64_feature_detected!("dotprod") {
            f.push("dotprod");
        }
        if std::arch::is_aarch64_feature_detected!("sve") {
            f.push("sve");
        }
    }
    #[allow(unused_mut)]
    let mut out: Vec<String> = f.into_iter().map(String::from).collect();
    #[cfg(target_arch = "arm")]
    {
        // 32-bit ARM has no stable runtime detection in std: read the kernel's list.
        if let Some(flags) = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| cpuinfo_field(&c, "Features"))
        {
            for want in ["neon", "vfpv4", "vfpv3", "idiva"] {
                if flags.split_whitespace().any(|x| x == want) {
                    out.push(want.to_string());
                }
            }
        }
    }
    out
}

fn short_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn machine_serial() -> Option<String> {
    read_trim("/sys/class/dmi/id/product_uuid")
        .or_else(|| read_trim("/proc/device-tree/serial-number"))
        .or_else(|| read_trim("/sys/firmware/devicetree/base/serial-number"))
        .or_else(|| read_trim("/etc/machine-id"))
}

impl Fingerprint {
    /// Read this device's facts. Takes a few milliseconds (sysinfo refreshes CPU data).
    pub fn collect() -> Fingerprint {
        let mut sys = sysinfo::System::new();
        sys.refresh_cpu_all();
        sys.refresh_memory();
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let first = sys.cpus().first();
        let mut cpu_model = first
            .map(|c| c.brand().trim().to_string())
            .unwrap_or_default();
        if cpu_model.is_empty() {
            // ARM kernels often give no brand: build one from the implementer and part.
            cpu_model = cpuinfo_field(&cpuinfo, "model name")
                .or_else(|| cpuinfo_field(&cpuinfo, "Model"))
                .or_else(|| {
                    let imp = cpuinfo_field(&cpuinfo, "CPU implementer")?;
                    let part = cpuinfo_field(&cpuinfo, "CPU part")?;
                    Some(format!("ARM implementer {imp} part {part}"))
                })
                .unwrap_or_else(|| "unknown".into());
        }
        let cpu_vendor = first
            .map(|c| c.vendor_id().trim().to_string())
            .filter(|v| !v.is_empty())
            .or_else(|| cpuinfo_field(&cpuinfo, "CPU implementer"))
            .unwrap_or_else(|| "unknown".into());
        let logical_cores = sys.cpus().len().max(1);
        let physical_cores = sysinfo::System::physical_core_count();
        let cpu_max_freq_mhz = cpufreq_mhz("cpuinfo_max_freq");
        let cpu_freq_mhz = cpufreq_mhz("scaling_cur_freq")
            .or_else(|| first.map(|c| c.frequency()).filter(|f| *f > 0));
        let governor = read_trim("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor");
        let mem_total_mb = sys.total_memory() / (1 << 20);
        let mem_available_mb = sys.available_memory() / (1 << 20);
        let cpu_arch = std::env::consts::ARCH.to_string();
        let mem_class = ((mem_total_mb + 128) / 256 * 256).to_string();
        let facts = [
            cpu_model.as_str(),
            cpu_vendor.as_str(),
            &logical_cores.to_string(),
            &physical_cores.map(|p| p.to_string()).unwrap_or_default(),
            &cpu_max_freq_mhz.map(|p| p.to_string()).unwrap_or_default(),
            mem_class.as_str(),
            cpu_arch.as_str(),
        ]
        .map(String::from);
        let fact_refs: Vec<&str> = facts.iter().map(|s| s.as_str()).collect();
        let device_class_id = short_hash(&fact_refs);
        let serial = machine_serial().unwrap_or_default();
        let mut with_serial = fact_refs.clone();
        with_serial.push(&serial);
        let device_id = short_hash(&with_serial);
        let components = sysinfo::Components::new_with_refreshed_list();
        let sensor_max = components
            .iter()
            .filter_map(|c| c.temperature())
            .filter(|c| c.is_finite() && *c > -50.0 && *c < 150.0)
            .reduce(f32::max);
        let temperature_c = match (thermal_zone_max_c(), sensor_max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        Fingerprint {
            device_id,
            device_class_id,
            hostname: sysinfo::System::host_name(),
            cpu_model,
            cpu_vendor,
            cpu_arch,
            target_triple: env!("FRONTIER_TARGET").to_string(),
            physical_cores,
            logical_cores,
            cpu_freq_mhz,
            cpu_max_freq_mhz,
            governor,
            mem_total_mb,
            mem_available_mb,
            os: sysinfo::System::long_os_version()
                .or_else(sysinfo::System::name)
                .unwrap_or_else(|| std::env::consts::OS.into()),
            kernel: sysinfo::System::kernel_version().unwrap_or_else(|| "unknown".into()),
            temperature_c,
            power_online: power_online(),
            cpu_features: cpu_features(),
        }
    }
}

/// Cumulative CPU time counters, in clock ticks.
#[derive(Debug, Clone, Copy, Default)]
struct CpuTicks {
    total: u64,
    idle: u64,
    steal: u64,
    own: u64,
}

/// The aggregate `cpu` line of `/proc/stat`: (total, idle incl. iowait,
/// steal) jiffies.
/// This system's glibc version (`"2.31"`), or `None` (musl, or unknown).
/// A gnu build asks the glibc it runs on; a static build asks `getconf`.
pub fn glibc_version() -> Option<String> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn gnu_get_libc_version() -> *const std::ffi::c_char;
        }
        // SAFETY: glibc returns a pointer to a static NUL-terminated string.
        let v = unsafe { std::ffi::CStr::from_ptr(gnu_get_libc_version()) };
        Some(v.to_string_lossy().into_owned())
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        let out = std::process::Command::new("getconf")
            .arg("GNU_LIBC_VERSION")
            .output()
            .ok()?;
        parse_getconf_glibc(&String::from_utf8_lossy(&out.stdout))
    }
}

/// `glibc 2.31` (what `getconf GNU_LIBC_VERSION` prints) to `2.31`.
pub fn parse_getconf_glibc(text: &str) -> Option<String> {
    let v = text.trim().strip_prefix("glibc ")?.trim();
    (v.split('.').count() >= 2 && v.split('.').all(|p| p.parse::<u32>().is_ok()))
        .then(|| v.to_string())
}

pub fn parse_proc_stat(text: &str) -> Option<(u64, u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 4 {
        return None;
    }
    // user nice system idle iowait irq softirq steal guest guest_nice; guest time
    // is already included in user, so only the first eight are summed.
    let total = v.iter().take(8).sum();
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    let steal = v.get(7).copied().unwrap_or(0);
    Some((total, idle, steal))
}

/// utime + stime (jiffies) of a `/proc/<pid>/stat` text.
pub fn parse_pid_stat_cpu(text: &str) -> Option<u64> {
    // Fields after the parenthesised command name (which may hold spaces
    // and parentheses): utime is field 14, stime 15.
    let rest = text.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn read_ticks() -> Option<CpuTicks> {
    let (total, idle, steal) = parse_proc_stat(&std::fs::read_to_string("/proc/stat").ok()?)?;
    let own = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| parse_pid_stat_cpu(&s))
        .unwrap_or(0);
    Some(CpuTicks {
        total,
        idle,
        steal,
        own,
    })
}

/// `some avg10` of `/proc/pressure/cpu`: the share of the last 10 s in which
/// some runnable task waited for a CPU.
fn cpu_pressure_avg10() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/pressure/cpu").ok()?;
    let line = text.lines().find(|l| l.starts_with("some"))?;
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix("avg10="))?
        .parse()
        .ok()
}

/// The load on the device during an interval.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    /// Busy share of all CPUs, 0-100.
    pub cpu_util_pct: Option<f64>,
    /// Busy share of all CPUs not due to this process, 0-100: other work competing with the measurement.
    pub other_util_pct: Option<f64>,
    /// Share of CPU time stolen by the hypervisor, 0-100 (VMs only).
    pub steal_pct: Option<f64>,
    /// `/proc/pressure/cpu` some avg10 at the end of the interval, percent.
    pub cpu_pressure_avg10: Option<f64>,
    pub load_avg_1m: f64,
    /// Highest temperature seen at the end of the interval.
    pub temperature_c: Option<f32>,
}

/// Measures [`LoadReport`] between `start` and `finish`.
#[derive(Debug, Clone)]
pub struct LoadMonitor {
    start: Option<CpuTicks>,
}

impl LoadMonitor {
    pub fn start() -> Self {
        LoadMonitor {
            start: read_ticks(),
        }
    }

    pub fn finish(&self) -> LoadReport {
        let end = read_ticks();
        let (util, other, steal) = match (self.start, end) {
            (Some(a), Some(b)) if b.total > a.total => {
                let dt = (b.total - a.total) as f64;
                let busy = dt - (b.idle.saturating_sub(a.idle)) as f64;
                let own = b.own.saturating_sub(a.own) as f64;
                (
                    Some((100.0 * busy / dt).clamp(0.0, 100.0)),
                    Some((100.0 * (busy - own) / dt).clamp(0.0, 100.0)),
                    Some((100.0 * b.steal.saturating_sub(a.steal) as f64 / dt).clamp(0.0, 100.0)),
                )
            }
            _ => (None, None, None),
        };
        LoadReport {
            cpu_util_pct: util,
            other_util_pct: other,
            steal_pct: steal,
            cpu_pressure_avg10: cpu_pressure_avg10(),
            load_avg_1m: sysinfo::System::load_average().one,
            temperature_c: thermal_zone_max_c(),
        }
    }
}

/// Whether this device is idle enough to measure: other processes' share
/// of all CPUs and CPU pressure (`/proc/pressure/cpu` some avg10, where the
/// kernel has it) over `window`, against limits in percent. `Err` says
/// which signal is over its limit, and by how much.
pub fn idle_enough(
    window: std::time::Duration,
    max_others_pct: f64,
    max_pressure_pct: f64,
) -> Result<(), String> {
    let monitor = LoadMonitor::start();
    std::thread::sleep(window);
    let load = monitor.finish();
    let others = load.other_util_pct.unwrap_or(0.0);
    if others > max_others_pct {
        return Err(format!(
            "other processes use {others:.0}% of the CPUs (limit {max_others_pct}%)"
        ));
    }
    match load.cpu_pressure_avg10 {
        Some(p) if p > max_pressure_pct => {
            Err(format!("CPU pressure {p:.0}% (limit {max_pressure_pct}%)"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_stable_and_plausible() {
        let a = Fingerprint::collect();
        let b = Fingerprint::collect();
        assert_eq!(a.device_id, b.device_id);
        assert_eq!(a.device_class_id, b.device_class_id);
        assert_eq!(a.device_id.len(), 16);
        assert!(a.logical_cores >= 1);
        assert!(a.mem_total_mb > 0);
        assert_eq!(a.cpu_arch, std::env::consts::ARCH);
        assert!(a.target_triple.starts_with(std::env::consts::ARCH) || a.cpu_arch == "arm");
    }

    #[test]
    fn cpuinfo_fields() {
        let text =
            "processor\t: 0\nCPU implementer\t: 0x41\nCPU part\t: 0xd08\nFeatures\t: fp asimd\n";
        assert_eq!(cpuinfo_field(text, "CPU part").as_deref(), Some("0xd08"));
        assert_eq!(cpuinfo_field(text, "model name"), None);
    }

    #[test]
    fn load_report_is_in_range() {
        let m = LoadMonitor::start();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_add(std::hint::black_box(i));
        }
        std::hint::black_box(x);
        let r = m.finish();
        for v in [r.cpu_util_pct, r.other_util_pct, r.steal_pct]
            .into_iter()
            .flatten()
        {
            assert!((0.0..=100.0).contains(&v), "{r:?}");
        }
    }
}
