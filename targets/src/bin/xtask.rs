//! `cargo xtask dist`: cross-build the agent for every Linux target in
//! `targets/classes/`, strip it, print its size, and write one release
//! archive per target (binary, systemd unit, example config, README).
//! `--smoke-test` then runs each binary (under QEMU where needed): `doctor
//! --json` must report the target's architecture and `profile` must write a
//! valid row from a small generated model.
//!
//!     cargo xtask dist [--target NAME|CLASS|TRIPLE]... [--profile dist|release]
//!                      [--out DIR] [--smoke-test] [--no-install]

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use frontier_targets::Target;

struct Options {
    names: Vec<String>,
    profile: String,
    out: PathBuf,
    smoke: bool,
    install: bool,
}

fn parse_args() -> anyhow::Result<Options> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("dist") => {}
        other => bail!(
            "usage: cargo xtask dist [--target NAME]... [--profile dist|release] [--out DIR] [--smoke-test] [--no-install] (got {other:?})"
        ),
    }
    let mut o = Options {
        names: Vec::new(),
        profile: "dist".into(),
        out: PathBuf::from("dist"),
        smoke: false,
        install: true,
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--target" => o.names.push(args.next().context("--target needs a name")?),
            "--profile" => o.profile = args.next().context("--profile needs dist or release")?,
            "--out" => o.out = PathBuf::from(args.next().context("--out needs a directory")?),
            "--smoke-test" => o.smoke = true,
            "--no-install" => o.install = false,
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

/// Build the agent; returns the binary's path.
fn build(t: &Target, profile: &str) -> anyhow::Result<PathBuf> {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(repo_root())
        .args([
            "build",
            "-q",
            "-p",
            "frontier-agent",
            "--profile",
            profile,
            "--target",
            &t.triple,
        ])
        .args(["--no-default-features", "--features", &t.features.join(",")])
        .env(
            format!("CARGO_TARGET_{}_LINKER", env_key(&t.triple)),
            &t.linker,
        )
        .env(format!("CC_{}", t.triple.replace('-', "_")), &t.cc);
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
    let bin = target_dir.join(&t.triple).join(profile).join("frontier");
    if profile != "dist" {
        // `dist` strips through its profile; others are stripped here.
        // The cross toolchain's strip (aarch64-linux-gnu-strip), else the
        // host's (musl-gcc has no musl-strip; binutils strip handles x86_64).
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
            "This build can also use ONNX Runtime. Fetch its library on a machine with pip\n\
             (`scripts/fetch-onnxruntime.sh {arch}` in the Frontier repository) and copy\n\
             `libonnxruntime.so.1.32.0` next to the binary or into `~/.local/lib/frontier`.\n"
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
             Install:\n\n\
                 sudo install -m 755 frontier /usr/local/bin/frontier\n\
                 sudo install -D -m 644 frontier.env /etc/frontier/frontier.env\n\
                 sudo install -m 644 frontier.service /etc/systemd/system/frontier.service\n\
                 sudo mkdir -p /var/lib/frontier/models   # put .onnx files here\n\
                 frontier doctor                          # is this board ready?\n\
                 sudo systemctl daemon-reload && sudo systemctl enable --now frontier\n\n\
             The service profiles every model under /var/lib/frontier/models with this class's\n\
             policy and appends rows to /var/lib/frontier/table.jsonl; it restarts on failure.\n\
             Without Python, the board can make its own models: `frontier export --space ofa-mbv3\n\
             --samples 50 --out /var/lib/frontier/models`.\n\n{ort_note}",
            class = t.class,
            triple = t.triple,
            static_note = if t.is_static {
                "A static binary: it needs no shared library, not even libc.".to_string()
            } else {
                format!(
                    "Needs glibc {} or newer (Debian 12, Ubuntu 22.04, Raspberry Pi OS Bookworm); \
                     on older systems use the musl build of this class.",
                    t.glibc_floor.as_deref().unwrap_or("2.35")
                )
            },
        ),
    )?;
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
        let mut c = if lib.is_some() {
            runner_with_cpuinfo(t, bin, &cpuinfo)
        } else {
            runner(t, bin)
        };
        c.arg("profile").arg(&model).args([
            "--backend",
            &backend,
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
            "--retries",
            "0",
            // Two copies exercise the instance rotation at two thirds of
            // the default's preparation time under QEMU.
            "--instances",
            "2",
            "--probe-ref",
            "off",
            "--json",
            "--quiet",
        ]);
        if let Some(lib) = &lib {
            c.arg("--ort-lib").arg(lib);
        }
        c.env("FRONTIER_STATE_DIR", &dir);
        let out = run(&mut c)?;
        let row: serde_json::Value = serde_json::from_str(out.lines().last().unwrap_or(""))
            .with_context(|| format!("{}: profile --json printed no row: {out}", t.name))?;
        let ok = row["schema_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("1."))
            && row["backend"] == backend.as_str()
            && row["cpu_arch"] == arch
            && row["target_triple"] == t.triple.as_str()
            && row["n_runs"].as_u64().unwrap_or(0) >= 3
            && row["median_ms"].as_f64().unwrap_or(0.0) > 0.0;
        if !ok {
            bail!("{}: unexpected row from {backend}: {row}", t.name);
        }
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
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let o = parse_args()?;
    let targets: Vec<Target> = if o.names.is_empty() {
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
    std::fs::create_dir_all(&o.out)?;
    let out = o.out.canonicalize()?;
    let mut failures = Vec::new();
    let mut built: Vec<String> = Vec::new();
    println!("{:<14} {:<34} {:>10}  archive", "target", "triple", "size");
    for t in &targets {
        if !t.buildable_here {
            println!(
                "{:<14} {:<34} {:>10}  described only: build it on its own OS",
                t.name, t.triple, "-"
            );
            continue;
        }
        // laptop-gnu and server-gnu are the same build.
        let key = format!("{}{:?}", t.triple, t.features);
        if built.contains(&key) && o.names.is_empty() {
            continue;
        }
        let result = ensure_toolchain(t, o.install)
            .and_then(|()| build(t, &o.profile))
            .and_then(|bin| {
                let size = std::fs::metadata(&bin)?.len();
                check_glibc_floor(t, &bin)?;
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
