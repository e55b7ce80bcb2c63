#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs every Debian package PriMaPs Studio needs to build, test and run.
# Idempotent: packages already present are left alone. Downloads nothing but
# Debian packages. Works as root; uses sudo otherwise.
set -euo pipefail

packages=(
  # build
  cmake ninja-build g++ pkg-config ccache git
  # libraries
  qt6-base-dev qt6-base-dev-tools libgl-dev
  libtorch-dev
  libopencv-dev
  libqcustomplot-dev libqcustomplot2.1-qt6
  nlohmann-json3-dev
  libmatio-dev
  # inflating .mat files' compressed variables for their check before matio reads them
  zlib1g-dev
  # CVAT's zip archives; indexed (palette) label PNGs
  libzip-dev libpng-dev
  # animation export: GIF (giflib) and animated WebP (libwebp's encoder, mux and demux)
  libgif-dev libwebp-dev
  # fast BLAS for LibTorch (the reference BLAS is ~30x slower)
  libopenblas0-pthread libblas-dev liblapack-dev
  # man pages, made from --help at build time
  help2man
  # tests and benchmarks; python3 runs the include-rule check (scripts/check-includes.py)
  libbenchmark-dev python3
  # real texture photographs (GIMP's patterns) for the PriMaPs-EM quality test
  gimp-data
  # the sanitizer build and the fuzz targets (packaging/test.sh; skipped by --quick):
  # clang, its ASan/UBSan/libFuzzer runtimes, llvm-symbolizer for readable reports
  clang libclang-rt-14-dev llvm-14
  xvfb xauth
  # Qt's offscreen/xcb platform plugins need these fonts to render text
  fonts-dejavu-core
  # checks of the Debian package (packaging/check-package.sh)
  lintian appstream desktop-file-utils man-db file
  # dpkg-shlibdeps computes the package's Depends (CPack)
  dpkg-dev
)

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "install-deps: not root and sudo is not available; run this script as root." >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages are already installed."
  exit 0
fi

echo "install-deps: installing ${#missing[@]} package(s): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done."
