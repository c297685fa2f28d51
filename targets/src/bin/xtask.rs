//! `cargo xtask dist`: cross-build the agent for every Linux target in
//! `targets/classes/`, strip it, check its size and glibc floor against the
//! class file, and write one release archive per target (binary,
//! `install.sh`, systemd units, example config, README). gnu targets with
//! `zigbuild` link against their floor's glibc symbols with `cargo
//! zigbuild` (installed from PyPI with `ziglang` when missing).
//! `--smoke-test` then runs each binary (under QEMU where needed): `doctor
//! --json` must report the target's architecture, `profile` must write a
//! valid row from a small generated model, and `install.sh` must install
//! into a throwaway root, again unchanged, and uninstall.
//!
//!     cargo xtask dist [--target NAME|CLASS|TRIPLE]... [--profile dist|release]
//!                      [--features LIST] [--out DIR] [--smoke-test] [--no-install]
//!
//! `--features` replaces the class file's agent features for the selected
//! targets (for example `tract,upload` for a board with little flash).
//!
//! `cargo xtask sizes [--target ...] [--profile dist]` builds each target's
//! agent and the bare tract program (`examples/bare_tract.rs`) with the same
//! profile and prints their stripped sizes, the ratio, the archive size and
//! the agent's largest crates (from its symbol table), as Markdown for
//! `docs/TARGETS.md`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use frontier_targets::Target;

struct Options {
    /// `dist` or `sizes`.
    command: String,
    names: Vec<String>,
    profile: String,
    out: PathBuf,
    smoke: bool,
    install: bool,
    /// `--features`: the agent's features for every selected target instead
    /// of the class file's (a smaller build for a board with little flash).
    features: Option<Vec<String>>,
}

/// The agent's cargo features `--features` may name (agent/Cargo.toml).
const AGENT_FEATURES: &[&str] = &["tract", "tract-threads", "ort", "upload", "serve"];

fn parse_args() -> anyhow::Result<Options> {
    let mut args = std::env::args().skip(1);
    let command = match args.next().as_deref() {
        Some(c @ ("dist" | "sizes")) => c.to_string(),
        other => bail!(
            "usage: cargo xtask dist|sizes [--target NAME]... [--profile dist|release] [--features LIST] [--out DIR] [--smoke-test] [--no-install] (got {other:?})"
        ),
    };
    let mut o = Options {
        command,
        names: Vec::new(),
        profile: "dist".into(),
        out: PathBuf::from("dist"),
        smoke: false,
        install: true,
        features: None,
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--target" => o.names.push(args.next().context("--target needs a name")?),
            "--profile" => o.profile = args.next().context("--profile needs dist or release")?,
            "--out" => o.out = PathBuf::from(args.next().context("--out needs a directory")?),
            "--smoke-test" => o.smoke = true,
            "--no-install" => o.install = false,
            "--features" => {
                let list = args
                    .next()
                    .context("--features needs a list, e.g. tract,upload")?;
                let features: Vec<String> = list
                    .split(',')
                    .map(|f| f.trim().to_string())
                    .filter(|f| !f.is_empty())
                    .collect();
                if let Some(bad) = features
                    .iter()
                    .find(|f| !AGENT_FEATURES.contains(&f.as_str()))
                {
                    bail!(
                        "--features: unknown agent feature '{bad}'; the agent has {}",
                        AGENT_FEATURES.join(", ")
                    );
                }
                if !features
                    .iter()
                    .any(|f| matches!(f.as_str(), "tract" | "tract-threads" | "ort"))
                {
                    bail!("--features {list:?}: the agent needs a backend; fix: add tract or ort");
                }
                o.features = Some(features);
            }
            other => bail!("unknown argument '{other}'"),
        }
    }
    Ok(o)
}

/// The checkout being built: `cargo run` (the `cargo xtask` alias) sets
/// `CARGO_MANIFEST_DIR` when it runs the binary. The compile-time value is
/// only a fallback: with a target directory shared between checkouts, cargo
/// may reuse an xtask binary built in another (possibly deleted) checkout.
fn repo_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join("..")
}

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd} >/dev/null 2>&1")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn is_root() -> bool {
    run(Command::new("id").arg("-u"))
        .map(|u| u.trim() == "0")
        .unwrap_or(false)
}

fn run(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Rust's standard library for the triple, and the C toolchain.
fn ensure_toolchain(t: &Target, install: bool) -> anyhow::Result<()> {
    let installed = run(Command::new("rustup").args(["target", "list", "--installed"]))?;
    if !installed.lines().any(|l| l.trim() == t.triple) {
        if !install {
            bail!(
                "{}: rust-std for {} is not installed; fix: rustup target add {}",
                t.name,
                t.triple,
                t.triple
            );
        }
        eprintln!("installing rust-std for {}", t.triple);
        run(Command::new("rustup").args(["target", "add", &t.triple])).map_err(|e| {
            anyhow::anyhow!(
                "{}: rustup cannot install rust-std for {} ({}); this target cannot be built on this machine",
                t.name,
                t.triple,
                e.to_string().lines().find(|l| l.contains("error")).unwrap_or("download failed")
            )
        })?;
    }
    let mut missing: Vec<&str> = [t.linker.as_str(), t.cc.as_str()]
        .into_iter()
        .filter(|c| *c != "rust-lld" && !have(c))
        .collect();
    let mut apt = t.apt.clone();
    if let Some(q) = t.runner.first().filter(|q| !have(q)) {
        missing.push(q);
        apt.push("qemu-user".into());
    }
    if missing.is_empty() {
        return Ok(());
    }
    let pkgs = apt.join(" ");
    if install && is_root() && have("apt-get") && !apt.is_empty() {
        eprintln!("installing {pkgs} (for {})", missing.join(", "));
        let install = || {
            run(Command::new("apt-get")
                .args(["install", "-y", "-q"])
                .args(&apt))
        };
        // A fresh machine may have no package lists yet: update once and retry.
        if install().is_err() {
            run(Command::new("apt-get").args(["update", "-q"]))?;
            install()?;
        }
        if let Some(c) = missing.iter().find(|c| !have(c)) {
            bail!("{}: {c} is still missing after installing {pkgs}", t.name);
        }
        return Ok(());
    }
    bail!(
        "{}: the cross toolchain is missing ({}); fix: sudo apt-get install {}",
        t.name,
        missing.join(", "),
        if pkgs.is_empty() {
            "build-essential".into()
        } else {
            pkgs
        }
    )
}

fn env_key(triple: &str) -> String {
    triple.to_uppercase().replace('-', "_")
}

/// `cargo zigbuild` (and zig), installed with pip when missing.
fn ensure_zigbuild(install: bool) -> anyhow::Result<()> {
    let works = || {
        Command::new(cargo())
            .args(["zigbuild", "--help"])
            .output()
            .is_ok_and(|o| o.status.success())
            && (have("zig") || python_has_ziglang())
    };
    if works() {
        return Ok(());
    }
    if !install {
        bail!("cargo-zigbuild is missing; fix: python3 -m pip install ziglang cargo-zigbuild");
    }
    eprintln!("installing ziglang and cargo-zigbuild (pip)");
    run(Command::new("python3").args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "ziglang",
        "cargo-zigbuild",
    ]))?;
    if !works() {
        bail!("cargo zigbuild still does not run after `pip install ziglang cargo-zigbuild`; fix: put pip's script directory on PATH");
    }
    Ok(())
}

fn python_has_ziglang() -> bool {
    Command::new("python3")
        .args(["-c", "import ziglang"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Cargo's target directory.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// What to build: the agent, or an example of this crate (the bare tract
/// program the size benchmark compares against).
#[derive(Clone, Copy)]
enum Artifact<'a> {
    Agent,
    Example(&'a str),
}

/// Build the agent; returns the binary's path.
fn build(t: &Target, profile: &str) -> anyhow::Result<PathBuf> {
    build_artifact(t, profile, Artifact::Agent)
}

fn build_artifact(t: &Target, profile: &str, what: Artifact) -> anyhow::Result<PathBuf> {
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
fn glibc_needed(bin: &Path) -> Option<String> {
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
fn check_size(t: &Target, profile: &str, size: u64) -> anyhow::Result<()> {
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
fn check_glibc_floor(t: &Target, bin: &Path) -> anyhow::Result<()> {
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

fn archive(t: &Target, bin: &Path, out: &Path) -> anyhow::Result<PathBuf> {
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

fn runner(t: &Target, bin: &Path) -> Command {
    let mut c = match t.runner.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    c.envs(&t.env);
    c
}

/// `/proc/cpuinfo` of a Cortex-A72 board (Raspberry Pi 4). ONNX Runtime's
/// CPU detection (cpuinfo) dereferences NULL when it reads the x86 host's
/// `/proc/cpuinfo` that `qemu-user` passes through, so the ONNX Runtime smoke
/// test runs in a private mount namespace with this file bound over it.
const CPUINFO_A72: &str = "processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n\
CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n";

/// `runner(t, bin)` inside `unshare -m` with `cpuinfo` bound over /proc/cpuinfo.
fn runner_with_cpuinfo(t: &Target, bin: &Path, cpuinfo: &Path) -> Command {
    let mut c = Command::new("unshare");
    c.args([
        "-m",
        "sh",
        "-c",
        "mount --bind \"$1\" /proc/cpuinfo && shift && exec \"$@\"",
        "sh",
    ])
    .arg(cpuinfo)
    .args(&t.runner)
    .arg(bin)
    .envs(&t.env);
    c
}

/// Whether this process may bind a file over /proc/cpuinfo in a private
/// mount namespace (root in a container without CAP_SYS_ADMIN may not).
fn private_mounts() -> bool {
    Command::new("unshare")
        .args(["-m", "sh", "-c", "mount --bind /proc/cpuinfo /proc/cpuinfo"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn expected_arch(triple: &str) -> &'static str {
    if triple.starts_with("aarch64") {
        "aarch64"
    } else if triple.starts_with("armv7") {
        "arm"
    } else {
        "x86_64"
    }
}

/// Run the binary: doctor, export of a tiny model, profile of it.
fn smoke_test(t: &Target, bin: &Path, scratch: &Path) -> anyhow::Result<()> {
    if let Some(first) = t.runner.first() {
        if !have(first) {
            bail!(
                "{}: {first} is missing; fix: sudo apt-get install qemu-user",
                t.name
            );
        }
    }
    let doctor = run(runner(t, bin).args(["doctor", "--json"]))?;
    let v: serde_json::Value =
        serde_json::from_str(&doctor).context("doctor --json is not JSON")?;
    let arch = expected_arch(&t.triple);
    if v["device"]["cpu_arch"] != arch || v["device"]["target_triple"] != t.triple.as_str() {
        bail!(
            "{}: doctor reports {} / {}, expected {arch} / {}",
            t.name,
            v["device"]["cpu_arch"],
            v["device"]["target_triple"],
            t.triple
        );
    }
    let dir = scratch.join(&t.name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let model = dir.join("tiny.onnx");
    run(runner(t, bin).args([
        "export",
        "--space",
        "gpt2",
        "--arch",
        r#"{"n_layer":2,"d_model":64,"n_head":2,"d_inner":128,"vocab_size":256,"n_positions":32,"seq_len":16}"#,
        "--out",
    ]).arg(&model))?;
    let mut backends = vec![("tract".to_string(), None::<PathBuf>)];
    if t.features.iter().any(|f| f == "ort") && !t.runner.is_empty() {
        // ONNX Runtime under QEMU, with the wheel's library for this CPU, when
        // fetched; it needs a private mount namespace (root) for its cpuinfo.
        if let (Some(arch), Some(home)) = (&t.ort_wheel_arch, std::env::var_os("HOME")) {
            let lib = Path::new(&home)
                .join(".local/lib/frontier")
                .join(arch)
                .join("libonnxruntime.so.1.32.0");
            if !lib.exists() {
                eprintln!("{}: {} not fetched (scripts/fetch-onnxruntime.sh {arch}); ONNX Runtime not tried under QEMU", t.name, lib.display());
            } else if !(is_root() && arch == "aarch64" && private_mounts()) {
                eprintln!("{}: ONNX Runtime under QEMU needs a private mount namespace (root, unshare) for a board's /proc/cpuinfo; not tried", t.name);
            } else {
                backends.push(("ort".into(), Some(lib)));
            }
        }
    }
    let cpuinfo = dir.join("cpuinfo");
    std::fs::write(&cpuinfo, CPUINFO_A72)?;
    for (backend, lib) in backends {
        let c = if lib.is_some() {
            runner_with_cpuinfo(t, bin, &cpuinfo)
        } else {
            runner(t, bin)
        };
        let row = profile_row(t, c, &model, &backend, lib.as_deref(), &dir)?;
        eprintln!(
            "{}: {backend} row ok {} ({} runs, median {} ms{})",
            t.name,
            if t.runner.is_empty() {
                "natively".to_string()
            } else {
                format!("under {}", t.runner[0])
            },
            row["n_runs"],
            row["median_ms"],
            if t.runner.is_empty() {
                ""
            } else {
                ", emulated: meaningless"
            }
        );
    }
    if let Some(deb_arch) = &t.old_userland {
        old_userland_test(t, bin, deb_arch, &model, &dir)?;
    }
    Ok(())
}

/// `profile` of the tiny model with `c` (the binary, under its runner),
/// short settings; the row it prints, checked.
fn profile_row(
    t: &Target,
    mut c: Command,
    model: &Path,
    backend: &str,
    lib: Option<&Path>,
    state: &Path,
) -> anyhow::Result<serde_json::Value> {
    c.arg("profile").arg(model).args([
        "--backend",
        backend,
        "--warmup",
        "1",
        "--warmup-time",
        "0",
        "--min-runs",
        "3",
        "--min-time",
        "100ms",
        "--max-time",
        "3s",
        "--rounds",
        "2",
        // Two copies exercise the instance rotation at two thirds of
        // the default's preparation time under QEMU.
        "--instances",
        "2",
        "--probe-ref",
        "off",
        "--json",
        "--quiet",
    ]);
    if let Some(lib) = lib {
        c.arg("--ort-lib").arg(lib);
    }
    c.env("FRONTIER_STATE_DIR", state);
    let out = run(&mut c)?;
    let row: serde_json::Value = serde_json::from_str(out.lines().last().unwrap_or(""))
        .with_context(|| format!("{}: profile --json printed no row: {out}", t.name))?;
    let ok = row["schema_version"]
        .as_str()
        .is_some_and(|v| v.starts_with("1."))
        && row["backend"] == backend
        && row["cpu_arch"] == expected_arch(&t.triple)
        && row["target_triple"] == t.triple.as_str()
        && row["n_runs"].as_u64().unwrap_or(0) >= 3
        && row["median_ms"].as_f64().unwrap_or(0.0) > 0.0;
    if !ok {
        bail!("{}: unexpected row from {backend}: {row}", t.name);
    }
    Ok(row)
}

/// Start the binary on an older glibc than the build machine's: QEMU with
/// `-L` at Debian 11's C library (`scripts/old-userland.sh`, fetched once
/// and cached). `doctor` must report that glibc (so the binary really ran
/// against it, not the host's) and `profile` must give a row. A binary that
/// needs a newer glibc does not start there ("version `GLIBC_2.3x' not
/// found").
fn old_userland_test(
    t: &Target,
    bin: &Path,
    deb_arch: &str,
    model: &Path,
    dir: &Path,
) -> anyhow::Result<()> {
    let Some(qemu) = t.runner.first() else {
        bail!(
            "{}: old_userland needs a qemu runner (it is for cross targets)",
            t.name
        );
    };
    let script = repo_root().join("scripts/old-userland.sh");
    let root = run(Command::new(&script).arg(deb_arch))
        .with_context(|| format!("{}: {} {deb_arch}", t.name, script.display()))?;
    let root = PathBuf::from(root.trim());
    let marker = std::fs::read_to_string(root.join(".frontier-userland"))
        .with_context(|| format!("{}: {} is not a userland", t.name, root.display()))?;
    // "libc6 libc6_2.31-13+deb11u11_arm64.deb": the upstream version.
    let glibc = marker
        .lines()
        .find_map(|l| l.strip_prefix("libc6 libc6_"))
        .and_then(|v| v.split('-').next())
        .with_context(|| format!("{}: no libc6 in {}", t.name, root.display()))?
        .to_string();
    let old = || {
        let mut c = Command::new(qemu);
        c.arg("-L").arg(&root).arg(bin).envs(&t.env);
        c
    };
    let doctor = run(old().args(["doctor", "--json"]))
        .with_context(|| format!("{}: does not start on glibc {glibc}", t.name))?;
    let v: serde_json::Value =
        serde_json::from_str(&doctor).context("doctor --json is not JSON")?;
    if v["device"]["glibc"] != glibc.as_str() {
        bail!(
            "{}: under {qemu} -L {} doctor reports glibc {}, expected {glibc}: the old userland was not used",
            t.name,
            root.display(),
            v["device"]["glibc"]
        );
    }
    let row = profile_row(t, old(), model, "tract", None, dir)?;
    eprintln!(
        "{}: starts on glibc {glibc} (Debian 11 userland; doctor reports it), tract row ok ({} runs)",
        t.name, row["n_runs"]
    );
    Ok(())
}

/// The ONNX Runtime library fetched for this target's CPU, if any.
fn fetched_ort(t: &Target) -> Option<PathBuf> {
    let arch = t.ort_wheel_arch.as_ref()?;
    let home = PathBuf::from(std::env::var_os("HOME")?);
    let name = "libonnxruntime.so.1.32.0";
    [
        home.join(".local/lib/frontier").join(arch).join(name),
        home.join(".local/lib/frontier").join(name),
    ]
    .into_iter()
    .filter(|p| p.exists())
    .find(|p| {
        // The host's own copy only serves a target of the host's architecture.
        p.parent().is_some_and(|d| d.ends_with(arch))
            || expected_arch(&t.triple) == std::env::consts::ARCH
    })
}

/// Every file and link under `root`, relative, with a digest of each file.
fn tree(root: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let out = run(Command::new("sh").arg("-c").arg(
        "cd \"$1\" && find . \\( -type f -o -type l \\) | sort | while read -r f; do \
         if [ -L \"$f\" ]; then echo \"$f -> $(readlink \"$f\")\"; else echo \"$f $(cksum < \"$f\")\"; fi; done",
    ).arg("sh").arg(root))?;
    Ok(out
        .lines()
        .map(|l| {
            let (a, b) = l.split_once(' ').unwrap_or((l, ""));
            (a.to_string(), b.to_string())
        })
        .collect())
}

/// `install.sh` from the release archive into a throwaway root: installs
/// (with the fetched ONNX Runtime library where the target has one), runs
/// the installed binary, installs again without changing anything or the
/// user's settings, then uninstalls (settings kept) and purges.
fn install_test(t: &Target, tarball: &Path, scratch: &Path) -> anyhow::Result<()> {
    let dir = scratch.join(format!("{}-install", t.name));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("unpack"))?;
    run(Command::new("tar")
        .arg("-xzf")
        .arg(tarball)
        .arg("-C")
        .arg(dir.join("unpack")))?;
    let unpacked = std::fs::read_dir(dir.join("unpack"))?
        .next()
        .context("empty archive")??
        .path();
    let root = dir.join("root");
    let ort = fetched_ort(t).filter(|_| t.features.iter().any(|f| f == "ort"));
    let install = |extra: &[&str]| -> anyhow::Result<String> {
        let mut c = Command::new("sh");
        c.arg(unpacked.join("install.sh"))
            .arg("--prefix")
            .arg(&root);
        c.args(extra);
        run(&mut c)
    };
    let mut first = vec![];
    if let Some(lib) = &ort {
        first = vec!["--with-ort".to_string(), lib.display().to_string()];
    }
    install(&first.iter().map(String::as_str).collect::<Vec<_>>())?;
    let expect = [
        "./opt/frontier/frontier",
        "./usr/local/bin/frontier",
        "./etc/systemd/system/frontier.service",
        "./etc/frontier/frontier.env",
    ];
    let files = tree(&root)?;
    for e in expect {
        if !files.iter().any(|(f, _)| f == e) {
            bail!("{}: install.sh did not install {e}: {files:?}", t.name);
        }
    }
    if !root.join("var/lib/frontier/models").is_dir() {
        bail!("{}: install.sh made no /var/lib/frontier/models", t.name);
    }
    let link = std::fs::read_link(root.join("usr/local/bin/frontier"))?;
    if link != Path::new("/opt/frontier/frontier") {
        bail!(
            "{}: /usr/local/bin/frontier links to {}",
            t.name,
            link.display()
        );
    }
    // The installed binary runs; with the library installed, it finds it in
    // its own lib/ directory.
    let installed = root.join("opt/frontier/frontier");
    // ONNX Runtime under QEMU needs a board's /proc/cpuinfo (see
    // `smoke_test`), bound over the host's in a private mount namespace.
    let mut doctor_cmd = if ort.is_some() && !t.runner.is_empty() {
        if !(is_root() && private_mounts()) {
            eprintln!("{}: install.sh installed ONNX Runtime; running it under QEMU needs a private mount namespace (root, unshare): not run", t.name);
            None
        } else {
            let cpuinfo = dir.join("cpuinfo");
            std::fs::write(&cpuinfo, CPUINFO_A72)?;
            Some(runner_with_cpuinfo(t, &installed, &cpuinfo))
        }
    } else {
        Some(runner(t, &installed))
    };
    let doctor = match doctor_cmd.as_mut() {
        Some(c) => run(c.args(["doctor", "--json"]))?,
        None => "{}".to_string(),
    };
    let v: serde_json::Value =
        serde_json::from_str(&doctor).context("doctor --json is not JSON")?;
    if ort.is_some() && doctor_cmd.is_some() {
        let lib_dir = root.join("opt/frontier/lib");
        let found = v["backends"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|b| b["name"] == "ort")
            .any(|b| b.to_string().contains(&lib_dir.display().to_string()));
        if !found {
            bail!(
                "{}: the installed binary does not find ONNX Runtime in {}: {doctor}",
                t.name,
                lib_dir.display()
            );
        }
    }
    // Again, after the user edited the settings: nothing changes.
    let env = root.join("etc/frontier/frontier.env");
    let mut settings = std::fs::read_to_string(&env)?;
    settings.push_str("FRONTIER_ARGS=--threads 2\n");
    std::fs::write(&env, &settings)?;
    let before = tree(&root)?;
    install(&[])?;
    let after = tree(&root)?;
    if before != after {
        bail!(
            "{}: installing twice changed files: {before:?} -> {after:?}",
            t.name
        );
    }
    install(&["--uninstall"])?;
    let left = tree(&root)?;
    if left
        .iter()
        .any(|(f, _)| f.starts_with("./opt") || f.starts_with("./usr") || f.contains("systemd"))
        || !left.iter().any(|(f, _)| f == "./etc/frontier/frontier.env")
        || !root.join("var/lib/frontier/models").is_dir()
    {
        bail!("{}: --uninstall left {left:?}", t.name);
    }
    install(&["--uninstall", "--purge"])?;
    if root.join("etc/frontier").exists() || root.join("var/lib/frontier").exists() {
        bail!("{}: --purge left settings or state behind", t.name);
    }
    eprintln!(
        "{}: install.sh installs{}, runs, reinstalls unchanged, uninstalls and purges",
        t.name,
        if ort.is_some() {
            " (with ONNX Runtime)"
        } else {
            ""
        }
    );
    Ok(())
}

/// The unstripped binary beside a stripped copy made by [`build_artifact`].
fn unstripped(stripped: &Path) -> PathBuf {
    stripped.with_extension("")
}

/// Bytes of the binary's symbols per crate (the first path segment of each
/// demangled symbol; C and assembly symbols, such as tract's kernels, under
/// `[C/asm]`), largest first. An equivalent of `cargo bloat --crates` that
/// needs only binutils' `nm`.
fn crate_sizes(bin: &Path, nm: &str) -> anyhow::Result<Vec<(String, u64)>> {
    let out = run(Command::new(nm).args(["-S", "--size-sort", "-C"]).arg(bin))?;
    let mut by: std::collections::BTreeMap<String, u64> = Default::default();
    for line in out.lines() {
        let mut f = line.splitn(4, ' ');
        let (_, Some(size), Some(_), Some(name)) = (f.next(), f.next(), f.next(), f.next()) else {
            continue;
        };
        let Ok(size) = u64::from_str_radix(size, 16) else {
            continue;
        };
        let name = name.trim_start_matches('<').trim_start_matches('&');
        let krate = match name.split_once("::") {
            Some((k, _)) if k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                k.to_string()
            }
            _ => "[C/asm]".to_string(),
        };
        *by.entry(krate).or_default() += size;
    }
    let mut v: Vec<(String, u64)> = by.into_iter().collect();
    v.sort_by_key(|b| std::cmp::Reverse(b.1));
    Ok(v)
}

fn sizes(o: &Options, targets: &[Target]) -> anyhow::Result<()> {
    std::fs::create_dir_all(&o.out)?;
    let out = o.out.canonicalize()?;
    println!("| target | triple | features | agent MB | bare tract MB | ratio | archive MB | glibc needed |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut breakdowns = Vec::new();
    for t in targets.iter().filter(|t| t.buildable_here) {
        ensure_toolchain(t, o.install)?;
        if t.zigbuild {
            ensure_zigbuild(o.install)?;
        }
        let agent = build(t, &o.profile)?;
        let bare = build_artifact(t, &o.profile, Artifact::Example("bare_tract"))?;
        let (a, b) = (
            std::fs::metadata(&agent)?.len() as f64 / 1e6,
            std::fs::metadata(&bare)?.len() as f64 / 1e6,
        );
        let tarball = archive(t, &agent, &out)?;
        let archive_mb = std::fs::metadata(&tarball)?.len() as f64 / 1e6;
        println!(
            "| {} | {} | {} | {a:.1} | {b:.1} | {:.2} | {archive_mb:.1} | {} |",
            t.name,
            t.triple,
            t.features.join(", "),
            a / b,
            glibc_needed(&agent).unwrap_or_else(|| "static".into())
        );
        let cross_nm = t.cc.trim_end_matches("gcc").to_string() + "nm";
        let nm = if t.cc.ends_with("-gcc") && have(&cross_nm) {
            cross_nm
        } else {
            "nm".into()
        };
        breakdowns.push((t.name.clone(), crate_sizes(&unstripped(&agent), &nm)?));
    }
    for (name, crates) in breakdowns {
        let total: u64 = crates.iter().map(|(_, s)| s).sum();
        println!(
            "\n{name}: symbol bytes per crate (of {:.1} MB in symbols)\n",
            total as f64 / 1e6
        );
        println!("| crate | MB | share |\n| --- | --- | --- |");
        for (k, s) in crates.iter().take(15) {
            println!(
                "| {k} | {:.2} | {:.1}% |",
                *s as f64 / 1e6,
                *s as f64 * 100.0 / total as f64
            );
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let o = parse_args()?;
    let mut targets: Vec<Target> = if o.names.is_empty() {
        frontier_targets::all()?
            .into_iter()
            .flat_map(|c| c.targets)
            .collect()
    } else {
        let mut v = Vec::new();
        for n in &o.names {
            v.extend(frontier_targets::find(n)?);
        }
        v
    };
    if let Some(features) = &o.features {
        for t in &mut targets {
            if t.is_static && features.iter().any(|f| f == "ort") {
                bail!(
                    "--features: {} is a static build, which cannot load ONNX Runtime; fix: drop ort, or pick a gnu target",
                    t.name
                );
            }
            t.features = features.clone();
        }
    }
    if o.command == "sizes" {
        return sizes(&o, &targets);
    }
    std::fs::create_dir_all(&o.out)?;
    let out = o.out.canonicalize()?;
    let mut failures = Vec::new();
    let mut built: Vec<String> = Vec::new();
    println!("{:<14} {:<34} {:>10}  archive", "target", "triple", "size");
    for t in &targets {
        if !t.buildable_here {
            println!(
                "{:<14} {:<34} {:>10}  not built here: {}",
                t.name,
                t.triple,
                "-",
                t.not_buildable_reason
                    .as_deref()
                    .unwrap_or("described only: build it on its own OS")
            );
            continue;
        }
        // laptop-gnu and server-gnu are the same build.
        let key = format!("{}{:?}", t.triple, t.features);
        if built.contains(&key) && o.names.is_empty() {
            continue;
        }
        let result = ensure_toolchain(t, o.install)
            .and_then(|()| {
                if t.zigbuild {
                    ensure_zigbuild(o.install)?;
                }
                build(t, &o.profile)
            })
            .and_then(|bin| {
                let size = std::fs::metadata(&bin)?.len();
                check_glibc_floor(t, &bin)?;
                check_size(t, &o.profile, size)?;
                let tarball = archive(t, &bin, &out)?;
                println!(
                    "{:<14} {:<34} {:>7.1} MB  {}",
                    t.name,
                    t.triple,
                    size as f64 / 1e6,
                    tarball.display()
                );
                if o.smoke {
                    smoke_test(t, &bin, &out.join("smoke"))?;
                    install_test(t, &tarball, &out.join("smoke"))?;
                }
                Ok(())
            });
        match result {
            Ok(()) => built.push(key),
            Err(e) => {
                println!("{:<14} {:<34} {:>10}  FAILED", t.name, t.triple, "-");
                eprintln!("error: {e:#}");
                failures.push(t.name.clone());
            }
        }
    }
    if !failures.is_empty() {
        bail!(
            "{} target(s) failed: {}",
            failures.len(),
            failures.join(", ")
        );
    }
    Ok(())
}
