#!/usr/bin/env bash
# Fetch ONNX Runtime's shared library for Frontier's `ort` backend.
#
#   scripts/fetch-onnxruntime.sh [x86_64|aarch64] [DEST]
#
# Downloads the official onnxruntime==1.32.0 wheel for manylinux_2_28 from
# PyPI with pip (which checks the wheel against the index's hash) and extracts
# libonnxruntime.so.1.32.0 into DEST: by default ~/.local/lib/frontier for
# this machine's architecture (one of the places `frontier` searches), and
# ~/.local/lib/frontier/<arch> for another architecture (to copy to a board).
# Nothing is compiled; the wheel's library needs glibc 2.28+ and libstdc++.
set -euo pipefail

VERSION=1.32.0
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
  --platform "manylinux_2_28_$arch" --python-version 3.11 \
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
