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
# keyring (gpgv), Packages.xz against InRelease's SHA256, each .deb against
# Packages' SHA256.
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
for tool in curl gpgv xz dpkg-deb sha256sum; do
  command -v "$tool" >/dev/null || {
    echo "old-userland.sh: $tool is missing; fix: sudo apt-get install curl gpgv xz-utils dpkg" >&2
    exit 1
  }
done
[ -r "$keyring" ] || {
  echo "old-userland.sh: $keyring is missing; fix: sudo apt-get install debian-archive-keyring" >&2
  exit 1
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fetch() { curl -fsS --retry 3 -m 300 -o "$2" "$1" || { echo "old-userland.sh: could not fetch $1" >&2; exit 1; }; }

fetch "$mirror/dists/$suite/InRelease" "$work/InRelease"
gpgv --keyring "$keyring" --output "$work/Release" "$work/InRelease" 2>/dev/null || {
  echo "old-userland.sh: $mirror/dists/$suite/InRelease: bad or missing signature (keyring $keyring)" >&2
  exit 1
}
index="main/binary-$arch/Packages.xz"
want=$(awk -v f="$index" '/^SHA256:/ {s = 1; next} /^[A-Za-z]/ {s = 0} s && $3 == f {print $1}' "$work/Release")
[ -n "$want" ] || { echo "old-userland.sh: $index is not listed in $suite's Release" >&2; exit 1; }
fetch "$mirror/dists/$suite/$index" "$work/Packages.xz"
echo "$want  $work/Packages.xz" | sha256sum -c --quiet - || { echo "old-userland.sh: $index: checksum mismatch" >&2; exit 1; }
xz -d "$work/Packages.xz"

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
