#!/usr/bin/env bash
# Install the Debian packages that tests and benchmarks need (one name a line in
# ci/apt-packages.txt), only those still missing. Runs as root in CI.
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t PACKAGES < <(grep -v '^\s*#' ci/apt-packages.txt | grep -v '^\s*$')

missing=()
for package in "${PACKAGES[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi
