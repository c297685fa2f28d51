//! Building one target's agent (or an example) with cargo or cargo
//! zigbuild, checking its glibc floor and size, and archiving it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use frontier_targets::Target;

#[allow(unused_imports)]
use crate::*;

/// What to build: the agent, or an example of this crate (the bare tract
/// program the size benchmark compares against).
#[derive(Clone, Copy)]
pub(crate) enum Artifact<'a> {
    Agent,
    Example(&'a str),
}

/// Build the agent; returns the binary's path.
pub(crate) fn build(t: &Target, profile: &str) -> anyhow::Result<PathBuf> {
    build_artifact(t, profile, Artifact::Agent)
}

pub(crate) fn build_artifact(t: &Target, profile: &str, what: Artifact) -> anyhow::Result<PathBuf> {
    let target_dir = target_dir();
    let mut cmd = Command::new(cargo());
    // zig links gnu targets against the floor's glibc: `<triple>.<floor>`.
    let target = match (&t.glibc_floor, t.zigbuild) {
        (Some(floor), true) => format!("{}.{floor}", t.triple),
        _ => t.triple.clone(),
    };
    cmd.current_dir(repo_root())
        .arg(if t.zigbuild { "zigbuild" } else { "build" })
        .args(["-q", "--profile", profile, "--target", &target]);
    match what {
        Artifact::Agent => {
            cmd.args([
                "-p",
                "frontier-agent",
                "--no-default-features",
                "--features",
            ])
            .arg(t.features.join(","));
        }
        Artifact::Example(name) => {
            cmd.args(["-p", "frontier-targets", "--example", name]);
        }
    }
    if !t.zigbuild {
        cmd.env(
            format!("CARGO_TARGET_{}_LINKER", env_key(&t.triple)),
            &t.linker,
        )
        .env(format!("CC_{}", t.triple.replace('-', "_")), &t.cc);
    }
    if t.is_static {
        cmd.env(
            format!("CARGO_TARGET_{}_RUSTFLAGS", env_key(&t.triple)),
            "-C target-feature=+crt-static",
        );
    }
    eprintln!(
        "building {} ({}, features {}, profile {profile})",
        t.name,
        t.triple,
        t.features.join(",")
    );
    let status = cmd.status().context("cannot run cargo")?;
    if !status.success() {
        bail!("{}: cargo build failed (see above)", t.name);
    }
    let bin = match what {
        Artifact::Agent => target_dir.join(&t.triple).join(profile).join("frontier"),
        Artifact::Example(name) => target_dir
            .join(&t.triple)
            .join(profile)
            .join("examples")
            .join(name),
    };
    {
        // Every profile keeps its symbols (the size breakdown reads them);
        // the shipped copy is stripped here, with the cross toolchain's
        // strip (aarch64-linux-gnu-strip), else the host's (musl-gcc has no
        // musl-strip; binutils strip handles x86_64).
        let cross = t.cc.trim_end_matches("gcc").to_string() + "strip";
        let strip = if t.cc.ends_with("-gcc") && have(&cross) {
            cross
        } else {
            "strip".to_string()
        };
        if have(&strip) {
            let stripped = bin.with_extension("stripped");
            run(Command::new(&strip).arg("-o").arg(&stripped).arg(&bin))?;
            return Ok(stripped);
        }
    }
    Ok(bin)
}

/// The newest glibc symbol version the binary needs (its glibc floor), read
/// with `objdump -T`; `None` for static builds or without objdump.
pub(crate) fn glibc_needed(bin: &Path) -> Option<String> {
    let out = Command::new("objdump").arg("-T").arg(bin).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut versions: Vec<Vec<u32>> = text
        .split("GLIBC_")
        .skip(1)
        .filter_map(|rest| {
            let v: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let parts: Option<Vec<u32>> = v
                .trim_end_matches('.')
                .split('.')
                .map(|p| p.parse().ok())
                .collect();
            parts
        })
        .collect();
    versions.sort();
    versions.pop().map(|v| {
        v.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(".")
    })
}

/// Fail when a `dist` build is larger than its class file allows (other
/// profiles are not size-optimized: their size is only printed).
pub(crate) fn check_size(t: &Target, profile: &str, size: u64) -> anyhow::Result<()> {
    let mb = size as f64 / 1e6;
    match t.max_size_mb {
        Some(max) if profile == "dist" && mb > max => bail!(
            "{}: the stripped binary is {mb:.1} MB, above the {max} MB of targets/classes/{}.toml; fix: drop a feature from the target (docs/TARGETS.md lists what each costs)",
            t.name,
            t.class
        ),
        Some(max) if profile == "dist" => {
            eprintln!("{}: {mb:.1} MB (limit {max} MB)", t.name);
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Fail when the build needs a newer glibc than its class file promises.
pub(crate) fn check_glibc_floor(t: &Target, bin: &Path) -> anyhow::Result<()> {
    let (Some(floor), Some(needed)) = (&t.glibc_floor, glibc_needed(bin)) else {
        return Ok(());
    };
    let parse = |v: &str| -> Vec<u32> { v.split('.').filter_map(|p| p.parse().ok()).collect() };
    if parse(&needed) > parse(floor) {
        bail!(
            "{}: the binary needs glibc {needed} but targets/classes/{}.toml promises {floor}; build against an older sysroot or raise glibc_floor",
            t.name,
            t.class
        );
    }
    eprintln!("{}: needs glibc {needed} (promised floor {floor})", t.name);
    Ok(())
}

pub(crate) fn archive(t: &Target, bin: &Path, out: &Path) -> anyhow::Result<PathBuf> {
    let version = env!("CARGO_PKG_VERSION");
    let name = format!("frontier-{version}-{}", t.name);
    let stage = out.join(&name);
    let _ = std::fs::remove_dir_all(&stage);
    std::fs::create_dir_all(&stage)?;
    std::fs::copy(bin, stage.join("frontier"))?;
    let root = repo_root();
    std::fs::copy(
        root.join("targets/package/frontier.service"),
        stage.join("frontier.service"),
    )?;
    std::fs::copy(
        root.join("targets/package/install.sh"),
        stage.join("install.sh"),
    )?;
    let serve = t.features.iter().any(|f| f == "serve");
    if serve {
        std::fs::copy(
            root.join("agent/package/frontier-serve.service"),
            stage.join("frontier-serve.service"),
        )?;
        std::fs::write(
            stage.join("serve.env"),
            "# /etc/frontier/serve.env: settings of frontier-serve.service.\n\
             # Latency target per request, in ms.\n\
             FRONTIER_SLO_MS=50\n\
             FRONTIER_SERVE_LISTEN=127.0.0.1:8080\n\
             # More flags for `frontier serve`, e.g. --backend ort --memory-budget 512\n\
             FRONTIER_SERVE_ARGS=\n",
        )?;
    }
    if t.features.iter().any(|f| f == "upload") {
        std::fs::copy(
            root.join("agent/package/frontier-agent.service"),
            stage.join("frontier-agent.service"),
        )?;
        std::fs::write(
            stage.join("agent.env"),
            "# /etc/frontier/agent.env: settings of frontier-agent.service (this board in a fleet).\n\
             # The collector; install.sh enables the agent once this is set. Put a device token\n\
             # (frontier-collector token create --role device) in /etc/frontier/token, chmod 600.\n\
             FRONTIER_COLLECTOR=\n\
             # More flags for `frontier agent`, e.g. --backend ort\n\
             FRONTIER_AGENT_ARGS=\n",
        )?;
    }
    let p = t.policy.clone().expect("loaded with its class");
    std::fs::write(
        stage.join("frontier.env"),
        format!(
            "# /etc/frontier/frontier.env: settings of the frontier service ({class} class).\n\
             # Device class: its profiling policy (warm-up {w} runs / {wt:?}, {mt:?} to {xt:?} per model,\n\
             # {r} interleaved rounds, {th} thread(s); 0 = all cores) applies unless a flag overrides it.\n\
             FRONTIER_CLASS={class}\n\
             # Models to profile (files or directories).\n\
             FRONTIER_MODELS=/var/lib/frontier/models\n\
             # More flags for `frontier profile`, e.g. --backend auto --per-op\n\
             FRONTIER_ARGS={extra}\n",
            class = t.class,
            w = p.warmup,
            wt = p.warmup_time,
            mt = p.min_time,
            xt = p.max_time,
            r = p.rounds,
            th = p.threads,
            extra = if t.features.iter().any(|f| f == "ort") { "--backend auto" } else { "" },
        ),
    )?;
    let ort_note = match &t.ort_wheel_arch {
        Some(arch) => format!(
            "This build can also use ONNX Runtime ({arch}). `sudo ./install.sh --with-ort auto`\n\
             downloads the newest onnxruntime wheel whose library runs on this board's glibc\n\
             (1.32.0 from glibc 2.28; 1.28.0 on 2.27, e.g. JetPack 4; older: tract only) with\n\
             python3's pip; `--with-ort FILE` installs a `libonnxruntime.so.*` or wheel you\n\
             copied here (`scripts/fetch-onnxruntime.sh {arch} DEST --version V` in the Frontier\n\
             repository fetches one). `frontier doctor` says which version runs here.\n"
        ),
        None => {
            "This build has the tract backend only (pure Rust, nothing else to install).\n".into()
        }
    };
    std::fs::write(
        stage.join("README.md"),
        format!(
            "# Frontier agent for {class} boards ({triple})\n\n\
             {static_note}\n\n\
             Install (one step; `--help` lists the options, `--uninstall` reverses it):\n\n\
                 sudo ./install.sh                        # or: sudo ./install.sh --with-ort auto\n\
                 frontier doctor                          # is this board ready?\n\
                 sudo systemctl start frontier            # profile /var/lib/frontier/models now\n\n\
             It puts the binary in /opt/frontier (linked from /usr/local/bin/frontier), the\n\
             systemd units in /etc/systemd/system, settings in /etc/frontier (kept when you\n\
             install again) and models and tables in /var/lib/frontier. The `frontier` service\n\
             profiles every model under /var/lib/frontier/models with this class's policy at boot\n\
             and appends rows to /var/lib/frontier/table.jsonl.{serve_note} Without Python, the\n\
             board can make its own models: `frontier export --space ofa-mbv3 --samples 50 --out\n\
             /var/lib/frontier/models`.\n\n{ort_note}",
            class = t.class,
            triple = t.triple,
            serve_note = if serve {
                " `frontier-serve` serves a frontier\n\
                 (`frontier search --out /var/lib/frontier/frontier`) under load-aware switching;\n\
                 its settings are in /etc/frontier/serve.env."
            } else {
                ""
            },
            static_note = if t.is_static {
                "A static binary: it needs no shared library, not even libc.".to_string()
            } else {
                format!(
                    "Needs glibc {} or newer (linked against that version's symbols).",
                    t.glibc_floor.as_deref().unwrap_or("2.35")
                )
            },
        ),
    )?;
    // Executable bits survive the archive.
    run(Command::new("chmod")
        .arg("755")
        .arg(stage.join("install.sh")))?;
    let tarball = out.join(format!("{name}.tar.gz"));
    run(Command::new("tar")
        .arg("-C")
        .arg(out)
        .args(["-czf"])
        .arg(&tarball)
        .arg(&name))?;
    std::fs::remove_dir_all(&stage)?;
    Ok(tarball)
}
