#!/bin/sh
# Install the Frontier agent from this release archive, in one step.
#
#   sudo ./install.sh [--prefix ROOT] [--with-ort auto|FILE] [--no-start]
#   sudo ./install.sh --uninstall [--purge] [--prefix ROOT]
#
# Installs, relative to ROOT (default /):
#   /opt/frontier/frontier            the binary (/usr/local/bin/frontier links to it)
#   /opt/frontier/lib/                ONNX Runtime's library, with --with-ort
#   /etc/systemd/system/frontier.service, frontier-serve.service, frontier-agent.service
#   /etc/frontier/frontier.env        profiling settings (kept if present)
#   /var/lib/frontier/models          models to profile; state and tables
#
# --with-ort FILE copies a libonnxruntime.so.* (or an onnxruntime wheel) you
# brought; --with-ort auto downloads the newest onnxruntime wheel whose
# library runs on this system's glibc (1.32.0 from glibc 2.28, 1.28.0 on
# 2.27; older systems: tract only) with python3's pip. The binary finds the
# library in its lib/ directory.
#
# Running it again installs the same files again and keeps your settings.
# --uninstall removes what it installed and keeps /etc/frontier and
# /var/lib/frontier unless --purge. Under --prefix, systemd is not touched.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=/
ort=
uninstall=0
purge=0
start=1
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) root=${2:?--prefix needs a directory}; shift 2 ;;
    --prefix=*) root=${1#--prefix=}; shift ;;
    --with-ort) ort=${2:?--with-ort needs auto or a file}; shift 2 ;;
    --with-ort=*) ort=${1#--with-ort=}; shift ;;
    --uninstall) uninstall=1; shift ;;
    --purge) purge=1; shift ;;
    --no-start) start=0; shift ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument '$1'; see --help" >&2; exit 2 ;;
  esac
done
root=${root%/}
opt="$root/opt/frontier"
bin="$root/usr/local/bin/frontier"
units="$root/etc/systemd/system"
etc="$root/etc/frontier"
state="$root/var/lib/frontier"
# systemd only on the real root, where it runs.
use_systemd=0
if [ -z "$root" ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  use_systemd=1
fi

if [ "$uninstall" = 1 ]; then
  if [ "$use_systemd" = 1 ]; then
    systemctl disable --now frontier.service frontier-serve.service frontier-agent.service 2>/dev/null || true
  fi
  rm -f "$bin" "$units/frontier.service" "$units/frontier-serve.service" "$units/frontier-agent.service"
  rm -rf "$opt"
  if [ "$purge" = 1 ]; then
    rm -rf "$etc" "$state"
  fi
  [ "$use_systemd" = 1 ] && systemctl daemon-reload
  if [ "$purge" = 1 ]; then
    echo "frontier removed, settings and state too"
  else
    echo "frontier removed; kept $etc and $state (--purge removes them)"
  fi
  exit 0
fi

[ -f "$here/frontier" ] || { echo "install.sh: $here/frontier not found; run it from the unpacked archive" >&2; exit 1; }
mkdir -p "$opt/lib" "$(dirname "$bin")" "$units" "$etc" "$state/models"
# Copy, then rename: a running binary is never half-written.
cp "$here/frontier" "$opt/frontier.new" && chmod 755 "$opt/frontier.new" && mv -f "$opt/frontier.new" "$opt/frontier"
ln -sf /opt/frontier/frontier "$bin"
for u in frontier.service frontier-serve.service frontier-agent.service; do
  [ -f "$here/$u" ] && install -m 644 "$here/$u" "$units/$u"
done
# Settings are the user's once installed.
for f in frontier.env serve.env agent.env; do
  if [ -f "$here/$f" ] && [ ! -f "$etc/$f" ]; then
    install -m 644 "$here/$f" "$etc/$f"
  fi
done

# glibc of this system: "2.31", or empty (musl, or unknown).
glibc_version() {
  v=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
  [ -n "$v" ] || v=$(ldd --version 2>/dev/null | head -1 | grep -o '[0-9]\+\.[0-9]\+$' || true)
  echo "$v"
}

# The newest ONNX Runtime whose wheel runs on glibc $1 (see docs/TARGETS.md).
ort_for_glibc() {
  major=${1%%.*}; minor=${1#*.}
  if [ "$major" -gt 2 ] || { [ "$major" -eq 2 ] && [ "$minor" -ge 28 ]; }; then echo "1.32.0 2_28"
  elif [ "$major" -eq 2 ] && [ "$minor" -ge 27 ]; then echo "1.28.0 2_27"
  fi
}

install_ort_file() {
  case "$1" in
    *.whl)
      command -v python3 >/dev/null 2>&1 || { echo "install.sh: unpacking a wheel needs python3; copy libonnxruntime.so.* instead" >&2; exit 1; }
      python3 - "$1" "$opt/lib" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for n in z.namelist():
        if n.startswith("onnxruntime/capi/libonnxruntime.so"):
            with open(os.path.join(sys.argv[2], os.path.basename(n)), "wb") as f:
                f.write(z.read(n))
PY
      ;;
    *) cp "$1" "$opt/lib/" ;;
  esac
}

if [ -n "$ort" ]; then
  case "$(uname -m)" in
    x86_64) arch=x86_64 ;;
    aarch64|arm64) arch=aarch64 ;;
    *) arch= ;;
  esac
  if [ "$ort" = auto ]; then
    g=$(glibc_version)
    choice=$( [ -n "$g" ] && ort_for_glibc "$g" || true)
    if [ -z "$arch" ]; then
      echo "ONNX Runtime publishes no library for $(uname -m): this board uses tract (built in)"
    elif [ -z "$choice" ]; then
      echo "no ONNX Runtime wheel runs on glibc ${g:-unknown} (1.28.0 needs 2.27): this board uses tract (built in)"
    else
      set -- $choice
      tmp=$(mktemp -d)
      if python3 -m pip download --quiet --no-deps --only-binary=:all: \
          --platform "manylinux_$2_$arch" --python-version 3.11 "onnxruntime==$1" -d "$tmp"; then
        install_ort_file "$(ls "$tmp"/onnxruntime-*.whl)"
        echo "ONNX Runtime $1 (the newest for glibc $g) installed in $opt/lib"
      else
        echo "install.sh: could not download onnxruntime $1 (python3 -m pip); fetch the wheel elsewhere and pass --with-ort FILE" >&2
        rm -rf "$tmp"
        exit 1
      fi
      rm -rf "$tmp"
    fi
  else
    [ -f "$ort" ] || { echo "install.sh: --with-ort $ort: no such file" >&2; exit 1; }
    install_ort_file "$ort"
    echo "ONNX Runtime library from $ort installed in $opt/lib"
  fi
fi

if [ "$use_systemd" = 1 ]; then
  systemctl daemon-reload
  if [ "$start" = 1 ]; then
    systemctl enable frontier.service >/dev/null
    echo "enabled frontier.service (profiles /var/lib/frontier/models at boot; start it now: systemctl start frontier)"
    # A board of a fleet: the agent runs once a collector is configured.
    if [ -f "$units/frontier-agent.service" ] && grep -q '^FRONTIER_COLLECTOR=..*' "$etc/agent.env" 2>/dev/null; then
      systemctl enable --now frontier-agent.service >/dev/null
      echo "enabled and started frontier-agent.service (jobs from the collector in $etc/agent.env)"
    fi
  fi
fi
echo "installed frontier in $opt (linked from $bin); next: frontier doctor"
