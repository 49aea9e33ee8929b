#!/usr/bin/env bash
# Install the Debian packages that tests and benchmarks need, once. Runs as root in CI.
set -euo pipefail

PACKAGES=(${CIPHERPOST_APT_PACKAGES:-})

missing=()
for package in "${PACKAGES[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi
