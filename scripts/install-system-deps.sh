#!/usr/bin/env bash
# Installs the C libraries BiomechGPT links against (Debian/Ubuntu package names):
# OpenBLAS (matrix products), HDF5 (data sets), XGBoost (token-histogram baseline).
set -euo pipefail
packages=(libopenblas-dev libhdf5-dev libxgboost-dev pkg-config)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages present: ${packages[*]}"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
