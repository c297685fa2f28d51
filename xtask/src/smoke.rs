//! `--smoke-test`: running each built agent (under QEMU where needed, and
//! on an old userland), and installing its archive into a throwaway root.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use frontier_targets::Target;

#[allow(unused_imports)]
use crate::*;

pub(crate) fn runner(t: &Target, bin: &Path) -> Command {
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
pub(crate) const CPUINFO_A72: &str = "processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n\
CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n";

/// `runner(t, bin)` inside `unshare -m` with `cpuinfo` bound over /proc/cpuinfo.
pub(crate) fn runner_with_cpuinfo(t: &Target, bin: &Path, cpuinfo: &Path) -> Command {
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
pub(crate) fn private_mounts() -> bool {
    Command::new("unshare")
        .args(["-m", "sh", "-c", "mount --bind /proc/cpuinfo /proc/cpuinfo"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

pub(crate) fn expected_arch(triple: &str) -> &'static str {
    if triple.starts_with("aarch64") {
        "aarch64"
    } else if triple.starts_with("armv7") {
        "arm"
    } else {
        "x86_64"
    }
}

/// Run the binary: doctor, export of a tiny model, profile of it.
pub(crate) fn smoke_test(t: &Target, bin: &Path, scratch: &Path) -> anyhow::Result<()> {
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
pub(crate) fn profile_row(
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
pub(crate) fn old_userland_test(
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
pub(crate) fn fetched_ort(t: &Target) -> Option<PathBuf> {
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
pub(crate) fn tree(root: &Path) -> anyhow::Result<Vec<(String, String)>> {
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
pub(crate) fn install_test(t: &Target, tarball: &Path, scratch: &Path) -> anyhow::Result<()> {
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
    let fleet = [
        "./etc/systemd/system/frontier-agent.service",
        "./etc/frontier/agent.env",
    ];
    let uploads = t.features.iter().any(|f| f == "upload");
    for e in expect.iter().chain(fleet.iter().filter(|_| uploads)) {
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
