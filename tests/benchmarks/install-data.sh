#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the photographs of the PriMaPs-EM quality benchmark (bench_em_quality)
# and what its reference replay (replay_reference_em.py) needs: Debian packages
# only. gimp-data is also a test dependency (packaging/install-deps.sh);
# python3-skimage brings the brick, grass and gravel photographs, python3-torch
# and python3-scipy the replay.
set -euo pipefail
packages=(gimp-data python3-skimage python3-torch python3-scipy)
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-data: run as root or install sudo" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq "${packages[@]}"
echo "install-data: ${packages[*]} installed"
