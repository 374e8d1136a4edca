#!/usr/bin/env bash
# Installs the Debian packages of Transmute's external conversion engines, then reports which
# engine tools this machine has. One script for every place that needs them: `.ci/run` (the
# CI machine) and the worker image (docker/Dockerfile), so they cannot drift apart.
#
# sharp and pdf-lib ship inside their npm packages; the Debian packages below are the tools
# Transmute runs as separate processes (Ghostscript compresses PDFs).
# Idempotent: a package already installed is not installed again, and with an empty list the
# script never touches apt. Needs root only when it has something to install.
set -euo pipefail

# Debian package names, e.g. libreoffice-core ffmpeg ghostscript.
ENGINE_PACKAGES=(ghostscript)

# Executables the engines run, reported so that a log shows what a machine can convert.
ENGINE_TOOLS=(soffice ffmpeg gs)

missing=()
for package in "${ENGINE_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if ((${#ENGINE_PACKAGES[@]} == 0)); then
  echo "install-engines: no engine packages to install yet (sharp comes with npm ci)"
elif ((${#missing[@]} == 0)); then
  echo "install-engines: already installed: ${ENGINE_PACKAGES[*]}"
else
  echo "install-engines: installing ${missing[*]}"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

for tool in "${ENGINE_TOOLS[@]}"; do
  if path=$(command -v "$tool"); then
    echo "install-engines: found $tool at $path"
  else
    echo "install-engines: no $tool (no engine of this build uses it yet)"
  fi
done
