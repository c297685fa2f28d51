#!/usr/bin/env bash
# Fetch ONNX Runtime's shared library for Frontier's `ort` backend.
#
#   scripts/fetch-onnxruntime.sh [x86_64|aarch64] [DEST] [--version V]
#
# Downloads the official onnxruntime wheel (default 1.32.0) from PyPI with
# pip (which checks the wheel against the index's hash) and extracts
# libonnxruntime.so.V into DEST: by default ~/.local/lib/frontier for this
# machine's architecture (one of the places `frontier` searches), and
# ~/.local/lib/frontier/<arch> for another architecture (to copy to a board).
# Nothing is compiled. Each version's wheel names the oldest glibc its
# library runs on: 1.32.0 needs 2.28; 1.28.0 is the newest that runs on 2.27
# (Jetson Nano with JetPack 4), so `--version 1.28.0` fetches its
# manylinux_2_27 wheel. `frontier doctor` on a board says which it needs.
set -euo pipefail

VERSION=1.32.0
positional=()
while [ $# -gt 0 ]; do
  case "$1" in
    --version) VERSION=${2:?--version needs a version such as 1.28.0}; shift 2 ;;
    --version=*) VERSION=${1#--version=}; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) positional+=("$1"); shift ;;
  esac
done
set -- "${positional[@]+"${positional[@]}"}"
# The wheel's platform tag: the glibc floor of that release (export/src/doctor.rs).
case "$VERSION" in
  1.28.*) tag=manylinux_2_27 ;;
  *) tag=manylinux_2_28 ;;
esac
host=$(uname -m)
arch=${1:-$host}
case "$arch" in
  x86_64|amd64) arch=x86_64 ;;
  aarch64|arm64) arch=aarch64 ;;
  *) echo "error: no onnxruntime wheel for '$arch'; known: x86_64, aarch64 (armv7 boards use tract)" >&2; exit 2 ;;
esac
if [ -n "${2:-}" ]; then
  dest=$2
elif [ "$arch" = "$host" ]; then
  dest="$HOME/.local/lib/frontier"
else
  dest="$HOME/.local/lib/frontier/$arch"
fi

lib="libonnxruntime.so.$VERSION"
if [ -f "$dest/$lib" ]; then
  echo "$dest/$lib already present"
  exit 0
fi
command -v python3 >/dev/null || { echo "error: python3 with pip is needed to fetch the wheel" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: \
  --platform "${tag}_$arch" --python-version 3.11 \
  "onnxruntime==$VERSION" -d "$tmp"
wheel=$(ls "$tmp"/onnxruntime-"$VERSION"-*.whl)
python3 - "$wheel" "$tmp/x" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for n in z.namelist():
        if n.startswith("onnxruntime/capi/libonnxruntime"):
            z.extract(n, sys.argv[2])
PY
mkdir -p "$dest"
cp "$tmp"/x/onnxruntime/capi/libonnxruntime* "$dest/"
echo "installed $dest/$lib ($(sha256sum "$dest/$lib" | cut -c1-16)..., from $(basename "$wheel"))"
