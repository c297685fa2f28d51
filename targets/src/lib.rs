//! Device classes and the targets Frontier's agent is built for.
//!
//! Each device class has one TOML file in `targets/classes/` (compiled in,
//! so the agent knows every class's profiling policy without the source
//! tree): its description, memory budget, default profiling [`Policy`] and
//! the [`Target`]s (Rust triples with their linker, C compiler, cargo
//! features and QEMU runner) that serve it. [`all`] loads them; [`find`]
//! resolves a target or class name and lists the known ones when it fails.
//!
//! Invariant: a target's `features` never include `ort` for a static (musl)
//! build: a static binary cannot load the glibc ONNX Runtime library.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

/// The class files, compiled in.
pub const CLASS_FILES: [(&str, &str); 4] = [
    ("iot", include_str!("../classes/iot.toml")),
    ("edge", include_str!("../classes/edge.toml")),
    ("laptop", include_str!("../classes/laptop.toml")),
    ("server", include_str!("../classes/server.toml")),
];

/// Default measurement settings for a device class.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub warmup: u32,
    #[serde(deserialize_with = "duration")]
    pub warmup_time: Duration,
    pub min_runs: u32,
    #[serde(deserialize_with = "duration")]
    pub min_time: Duration,
    #[serde(deserialize_with = "duration")]
    pub max_time: Duration,
    pub rounds: u32,
    /// Independently prepared copies of each model (`--instances`).
    pub instances: u32,
    /// Threads per inference; 0 means every logical core.
    pub threads: u32,
}

fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map_err(serde::de::Error::custom)
}

/// `1.5`, `500ms`, `2s`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, scale) = if let Some(v) = t.strip_suffix("ms") {
        (v, 1e-3)
    } else if let Some(v) = t.strip_suffix('s') {
        (v, 1.0)
    } else if let Some(v) = t.strip_suffix('m') {
        (v, 60.0)
    } else if let Some(v) = t.strip_suffix('h') {
        (v, 3600.0)
    } else {
        (t, 1.0)
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(Duration::from_secs_f64(v * scale)),
        Ok(_) => Err(format!("'{s}' must be a non-negative duration")),
        Err(_) => Err(format!(
            "'{s}' is not a duration; use seconds (1.5), '500ms', '2s', '15m' or '1h'"
        )),
    }
}

/// One build of the agent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// `<class>-<libc>`, e.g. `edge-gnu`.
    pub name: String,
    pub triple: String,
    /// Linker executable (`rust-lld` for static musl builds).
    pub linker: String,
    /// C compiler for crates that build C or assembly (tract's ARM kernels).
    pub cc: String,
    /// Debian packages that provide `linker` and `cc`.
    #[serde(default)]
    pub apt: Vec<String>,
    /// Cargo features of the agent.
    pub features: Vec<String>,
    /// Command prefix that runs the binary here (`qemu-aarch64 -L ...`);
    /// empty for native targets.
    #[serde(default)]
    pub runner: Vec<String>,
    /// Environment for runs under `runner`.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default, rename = "static")]
    pub is_static: bool,
    /// Oldest glibc the build runs on (gnu builds).
    #[serde(default)]
    pub glibc_floor: Option<String>,
    /// Link against `glibc_floor`'s symbols with `cargo zigbuild` (zig's
    /// glibc stubs) instead of the build machine's glibc.
    #[serde(default)]
    pub zigbuild: bool,
    /// Largest stripped `dist` binary allowed, in MB (10^6 bytes).
    #[serde(default)]
    pub max_size_mb: Option<f64>,
    /// Why this target is not built here, when `buildable_here` is false.
    #[serde(default)]
    pub not_buildable_reason: Option<String>,
    /// Debian architecture (`arm64`, `armhf`) of an older userland the
    /// smoke test also starts the binary in (`scripts/old-userland.sh`:
    /// Debian 11, glibc 2.31): the runtime proof of `glibc_floor`.
    #[serde(default)]
    pub old_userland: Option<String>,
    /// Architecture of the onnxruntime wheel for this target, if any.
    #[serde(default)]
    pub ort_wheel_arch: Option<String>,
    /// False for targets described but not buildable on Linux (macOS).
    #[serde(default = "yes")]
    pub buildable_here: bool,
    /// Filled from the class file.
    #[serde(skip)]
    pub class: String,
    #[serde(skip)]
    pub memory_budget_mb: u64,
    #[serde(skip)]
    pub policy: Option<Policy>,
}

fn yes() -> bool {
    true
}

/// A device class and its targets.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Class {
    pub class: String,
    pub description: String,
    pub memory_budget_mb: u64,
    pub policy: Policy,
    #[serde(rename = "target")]
    pub targets: Vec<Target>,
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("targets/classes/{file}.toml: {detail}")]
    Invalid { file: String, detail: String },
    #[error("unknown target or class '{name}'; known targets: {targets}; classes: {classes}")]
    Unknown {
        name: String,
        targets: String,
        classes: String,
    },
}

impl Class {
    pub fn parse(file: &str, text: &str) -> Result<Class, TargetError> {
        let mut c: Class = toml::from_str(text).map_err(|e| TargetError::Invalid {
            file: file.into(),
            detail: e.to_string(),
        })?;
        for t in &mut c.targets {
            t.class = c.class.clone();
            t.memory_budget_mb = c.memory_budget_mb;
            t.policy = Some(c.policy.clone());
            if t.is_static && t.features.iter().any(|f| f == "ort") {
                return Err(TargetError::Invalid {
                    file: file.into(),
                    detail: format!(
                        "target {}: a static build cannot load ONNX Runtime; drop \"ort\" from its features",
                        t.name
                    ),
                });
            }
            let has = |f: &str| t.features.iter().any(|x| x == f);
            if c.policy.threads > 1 && has("tract") && !has("tract-threads") {
                return Err(TargetError::Invalid {
                    file: file.into(),
                    detail: format!(
                        "target {}: the class policy profiles with {} threads, which tract needs the \"tract-threads\" feature for; add it to the target's features or set the policy's threads = 1",
                        t.name, c.policy.threads
                    ),
                });
            }
        }
        Ok(c)
    }
}

/// Every class, in the order of [`CLASS_FILES`].
pub fn all() -> Result<Vec<Class>, TargetError> {
    CLASS_FILES
        .iter()
        .map(|(f, text)| Class::parse(f, text))
        .collect()
}

/// The targets a name selects: a target name (`edge-gnu`), a triple, or a
/// class name (all its targets).
pub fn find(name: &str) -> Result<Vec<Target>, TargetError> {
    let classes = all()?;
    let targets: Vec<&Target> = classes.iter().flat_map(|c| &c.targets).collect();
    if let Some(c) = classes.iter().find(|c| c.class == name) {
        return Ok(c.targets.clone());
    }
    let hits: Vec<Target> = targets
        .iter()
        .filter(|t| t.name == name || t.triple == name)
        .map(|t| (*t).clone())
        .collect();
    if hits.is_empty() {
        return Err(TargetError::Unknown {
            name: name.into(),
            targets: targets
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            classes: classes
                .iter()
                .map(|c| c.class.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    // A triple shared by classes (x86_64 laptop and server) builds once.
    Ok(hits.into_iter().take(1).collect())
}

/// A class's policy by name.
pub fn policy(class: &str) -> Result<Policy, TargetError> {
    let classes = all()?;
    classes
        .iter()
        .find(|c| c.class == class)
        .map(|c| c.policy.clone())
        .ok_or_else(|| TargetError::Unknown {
            name: class.into(),
            targets: String::new(),
            classes: classes
                .iter()
                .map(|c| c.class.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn every_class_file_loads() {
        let classes = all().unwrap();
        let names: Vec<&str> = classes.iter().map(|c| c.class.as_str()).collect();
        assert_eq!(names, ["iot", "edge", "laptop", "server"]);
        let triples: Vec<&str> = classes
            .iter()
            .flat_map(|c| c.targets.iter().map(|t| t.triple.as_str()))
            .collect();
        for t in [
            "armv7-unknown-linux-gnueabihf",
            "armv7-unknown-linux-musleabihf",
            "aarch64-unknown-linux-gnu",
            "aarch64-unknown-linux-musl",
            "x86_64-unknown-linux-gnu",
            "x86_64-unknown-linux-musl",
            "aarch64-apple-darwin",
        ] {
            assert!(triples.contains(&t), "{t}");
        }
        for c in &classes {
            for t in &c.targets {
                assert_eq!(t.is_static, t.triple.contains("musl"), "{}", t.name);
                assert!(!(t.is_static && t.features.contains(&"ort".to_string())));
            }
        }
    }

    #[test]
    fn boards_get_old_glibc_floors_and_size_limits() {
        // (target, glibc floor, size limit in MB, older userland the smoke
        // test runs it in). The limits are the measured sizes of
        // docs/TARGETS.md with a little headroom, above the 12 MB (14 MB
        // x86_64) goal: they stop growth.
        let want = [
            ("edge-gnu", Some("2.17"), Some(27.0), Some("arm64")),
            ("edge-musl", None, Some(27.0), None),
            ("iot-gnu", Some("2.27"), Some(25.0), Some("armhf")),
            ("laptop-gnu", Some("2.17"), Some(33.0), None),
            ("laptop-musl", None, Some(33.0), None),
            ("server-gnu", Some("2.17"), Some(33.0), None),
            ("server-musl", None, Some(33.0), None),
        ];
        for (name, floor, size, old_userland) in want {
            let t = &find(name).unwrap()[0];
            assert_eq!(t.glibc_floor.as_deref(), floor, "{name}");
            assert_eq!(t.max_size_mb, size, "{name}");
            assert_eq!(t.old_userland.as_deref(), old_userland, "{name}");
            assert_eq!(
                t.zigbuild,
                floor.is_some(),
                "{name}: gnu builds link with zig"
            );
            assert!(t.buildable_here, "{name}");
        }
        // The static armv7 build is described, not offered, with the reason.
        let musl = &find("iot-musl").unwrap()[0];
        assert!(!musl.buildable_here);
        assert!(musl
            .not_buildable_reason
            .as_deref()
            .unwrap()
            .contains("rust-std"));
    }

    #[test]
    fn policies_differ_for_slow_boards() {
        let iot = policy("iot").unwrap();
        let laptop = policy("laptop").unwrap();
        assert!(iot.min_time > laptop.min_time);
        assert!(iot.max_time > laptop.max_time);
        assert_eq!(laptop.threads, 1);
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let e = find("toaster").unwrap_err().to_string();
        assert!(e.contains("edge-gnu") && e.contains("iot"), "{e}");
        assert_eq!(find("edge").unwrap().len(), 2);
        assert_eq!(
            find("aarch64-unknown-linux-gnu").unwrap()[0].name,
            "edge-gnu"
        );
        assert!(policy("toaster")
            .unwrap_err()
            .to_string()
            .contains("laptop"));
    }

    #[test]
    fn static_builds_cannot_have_ort() {
        let bad = CLASS_FILES[1].1.replace(
            "features = [\"tract\", \"tract-threads\", \"upload\", \"serve\"]\nstatic = true",
            "features = [\"tract\", \"tract-threads\", \"ort\", \"upload\", \"serve\"]\nstatic = true",
        );
        let e = Class::parse("edge", &bad).unwrap_err().to_string();
        assert!(e.contains("static build cannot load ONNX Runtime"), "{e}");
    }

    #[test]
    fn multi_threaded_policies_need_tract_threads() {
        // The edge policy profiles with 4 threads: a tract build without
        // tract-threads would refuse it on the board.
        let bad = CLASS_FILES[1].1.replace(
            "features = [\"tract\", \"tract-threads\", \"upload\", \"serve\"]",
            "features = [\"tract\", \"upload\", \"serve\"]",
        );
        let e = Class::parse("edge", &bad).unwrap_err().to_string();
        assert!(
            e.contains("edge-musl") && e.contains("tract-threads") && e.contains("4 threads"),
            "{e}"
        );
        // One thread needs no pool.
        let one = bad.replace("threads = 4", "threads = 1");
        Class::parse("edge", &one).unwrap();
    }
}
