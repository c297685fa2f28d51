#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh machine, then runs
# formatting, lints and every test. `.ci/run` calls exactly this.
#
# `scripts/test.sh quick` is the inner loop: formatting, lints and the unit
# tests of every crate (no PostgreSQL, no integration tests, no cross builds).
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-full}"
case "$mode" in
  full|quick) ;;
  *) echo "usage: scripts/test.sh [quick]" >&2; exit 2 ;;
esac

# tract takes ~10 minutes to build on 2 cores: keep the build cache outside the
# checkout so that CI's fresh clones reuse it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/frontier/target}"
mkdir -p "$CARGO_TARGET_DIR"

# The table-format test checks that pandas reads both table formats; the
# generator's test runs the ONNX reference checker on generated models;
# examples/predict.py runs exported predictors with onnxruntime.
python3 -c 'import pandas, onnx, onnxruntime' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check 'pandas>=2' 'onnx>=1.16' 'onnxruntime==1.32.0'

# The web view's browser test: Debian's Chromium, driven by Playwright
# (its own browser download is not used).
if [ "$mode" = full ]; then
  if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then apt_get="apt-get"; else apt_get="sudo apt-get"; fi
    export DEBIAN_FRONTEND=noninteractive
    $apt_get install -y -q chromium >/dev/null || { $apt_get update -q >/dev/null && $apt_get install -y -q chromium >/dev/null; }
  fi
  python3 -c 'import playwright' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check 'playwright>=1.40'
fi

# The ONNX Runtime backend's tests need the library; they are never skipped,
# so fetch it (PyPI wheel, no compiling) when it is missing.
if [ -z "${ORT_DYLIB_PATH:-}" ] && [ ! -f "$HOME/.local/lib/frontier/libonnxruntime.so.1.32.0" ]; then
  ./scripts/fetch-onnxruntime.sh
fi

if [ "$mode" = quick ]; then
  export FRONTIER_SHARED="${FRONTIER_SHARED:-$(pwd)/../shared}"
  cargo fmt --all -- --check
  cargo clippy --release --workspace --all-targets -- -D warnings
  cargo test --release --workspace --lib
  exit 0
fi

# The fixtures live in ../shared beside the checkout (FRONTIER_SHARED overrides).
shared="${FRONTIER_SHARED:-$(pwd)/../shared}"
if [ ! -d "$shared/fixtures/onnx" ]; then
  echo "error: $shared/fixtures/onnx not found; fix: set FRONTIER_SHARED to the shared/ folder" >&2
  exit 2
fi
export FRONTIER_SHARED="$shared"

# The collector's API suite runs against a real PostgreSQL too (never
# skipped): start one on loopback (installing Debian's postgresql if needed).
if [ -z "${FRONTIER_TEST_POSTGRES:-}" ]; then
  FRONTIER_TEST_POSTGRES="$(./scripts/postgres.sh)"
  export FRONTIER_TEST_POSTGRES
fi

cargo fmt --all -- --check
cargo clippy --release --workspace --all-targets -- -D warnings
cargo test --release --workspace
# tract built without `tract-threads` (the smaller board build): more than
# one thread is refused with the feature named, one thread still runs.
cargo clippy --release -p frontier-profiler --no-default-features --features tract --all-targets -- -D warnings
cargo test --release -p frontier-profiler --no-default-features --features tract --test conformance

# Proof that the agents shipped to boards run (docs/TARGETS.md): build the
# aarch64 and armv7 agents with the `dist` profile, linked by zig against
# glibc 2.17 / 2.27 (installing rustup targets, cross compilers, ziglang,
# cargo-zigbuild and qemu-user as needed); check each binary's glibc floor
# and size against its class file; run `doctor --json` and `profile` under
# qemu-user (the aarch64 build also with ONNX Runtime's arm64 library), and
# again on Debian 11's glibc 2.31 (scripts/old-userland.sh, fetched once into
# ~/.cache/frontier/userland); and install each release archive into a
# throwaway root with its install.sh.
[ -f "$HOME/.local/lib/frontier/aarch64/libonnxruntime.so.1.32.0" ] || ./scripts/fetch-onnxruntime.sh aarch64
cargo xtask dist --target edge-gnu --target iot-gnu --profile dist --smoke-test --out "$CARGO_TARGET_DIR/dist-smoke"
