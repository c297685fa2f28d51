#!/usr/bin/env bash
# A minimal older Debian userland for one ARM architecture: the C library
# (libc6) and libgcc_s (unwinding) of Debian 11 "bullseye", glibc 2.31, the
# userland of Raspberry Pi OS Bullseye and as old as Ubuntu 20.04. Enough for
# `qemu-aarch64 -L DIR` / `qemu-arm -L DIR` to start Frontier's dynamically
# linked agent against that glibc instead of the build machine's (2.36): the
# runtime proof that the agent's glibc floor is real, not only read from its
# symbol table (`cargo xtask dist --smoke-test`, targets' `old_userland`).
#
# Why bullseye: it is the oldest Debian release deb.debian.org still serves
# (buster, 2.28, moved to archive.debian.org, which this build machine cannot
# reach). Every download is verified: InRelease against the Debian archive
# keyring (gpgv), Packages.gz against InRelease's SHA256, each .deb against
# Packages' SHA256. Every tool it uses comes with Debian's apt and dpkg
# (gzip, gpgv, debian-archive-keyring), plus curl or python3 to download.
#
#   scripts/old-userland.sh arm64|armhf [DEST=~/.cache/frontier/userland/bullseye-ARCH]
#
# Prints DEST. Idempotent: a complete DEST (marker file) is reused.
set -euo pipefail

arch=${1:?usage: scripts/old-userland.sh arm64|armhf [DEST]}
case "$arch" in
  arm64 | armhf) ;;
  *) echo "old-userland.sh: unknown architecture '$arch' (arm64 or armhf)" >&2; exit 2 ;;
esac
suite=bullseye
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
dest=${2:-${XDG_CACHE_HOME:-$HOME/.cache}/frontier/userland/$suite-$arch}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
packages=(libc6 libgcc-s1)

if [ -f "$dest/.frontier-userland" ]; then
  echo "$dest"
  exit 0
fi
for tool in gpgv gzip dpkg-deb sha256sum; do
  command -v "$tool" >/dev/null || {
    echo "old-userland.sh: $tool is missing; fix: sudo apt-get install gpgv gzip dpkg" >&2
    exit 1
  }
done
[ -r "$keyring" ] || {
  echo "old-userland.sh: $keyring is missing; fix: sudo apt-get install debian-archive-keyring" >&2
  exit 1
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fetch() {
  if command -v curl >/dev/null; then
    curl -fsS --retry 3 -m 300 -o "$2" "$1"
  else
    python3 -c 'import shutil, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=300) as r, open(sys.argv[2], "wb") as f:
    shutil.copyfileobj(r, f)' "$1" "$2"
  fi || { echo "old-userland.sh: could not fetch $1 (fix: network access to $mirror, or DEBIAN_MIRROR)" >&2; exit 1; }
}
command -v curl >/dev/null || command -v python3 >/dev/null || {
  echo "old-userland.sh: neither curl nor python3 is installed; fix: sudo apt-get install curl" >&2
  exit 1
}

fetch "$mirror/dists/$suite/InRelease" "$work/InRelease"
gpgv --keyring "$keyring" --output "$work/Release" "$work/InRelease" 2>/dev/null || {
  echo "old-userland.sh: $mirror/dists/$suite/InRelease: bad or missing signature (keyring $keyring)" >&2
  exit 1
}
index="main/binary-$arch/Packages.gz"
want=$(awk -v f="$index" '/^SHA256:/ {s = 1; next} /^[A-Za-z]/ {s = 0} s && $3 == f {print $1}' "$work/Release")
[ -n "$want" ] || { echo "old-userland.sh: $index is not listed in $suite's Release" >&2; exit 1; }
fetch "$mirror/dists/$suite/$index" "$work/Packages.gz"
echo "$want  $work/Packages.gz" | sha256sum -c --quiet - || { echo "old-userland.sh: $index: checksum mismatch" >&2; exit 1; }
gzip -d "$work/Packages.gz"

rm -rf "$dest.partial"
mkdir -p "$dest.partial"
for p in "${packages[@]}"; do
  # One stanza per package in a suite's main index: its file and checksum.
  read -r file sum < <(awk -v p="$p" '
    /^Package: / {cur = $2}
    cur == p && /^Filename: / {f = $2}
    cur == p && /^SHA256: / {s = $2}
    /^$/ && f != "" {print f, s; exit}' "$work/Packages")
  [ -n "${file:-}" ] || { echo "old-userland.sh: $p not found in $suite $arch" >&2; exit 1; }
  fetch "$mirror/$file" "$work/$p.deb"
  echo "$sum  $work/$p.deb" | sha256sum -c --quiet - || { echo "old-userland.sh: $file: checksum mismatch" >&2; exit 1; }
  dpkg-deb -x "$work/$p.deb" "$dest.partial"
  echo "$p ${file##*/}" >> "$dest.partial/.frontier-userland"
done
rm -rf "$dest"
mv "$dest.partial" "$dest"
echo "$dest"
