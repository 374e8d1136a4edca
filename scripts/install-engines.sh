#!/usr/bin/env bash
# Installs the Debian packages of Transmute's external conversion engines, then reports which
# engine tools this machine has. One script for every place that needs them: `.ci/run` (the
# CI machine) and the worker image (docker/Dockerfile), so they cannot drift apart.
#
# sharp, pdf-lib and the zip/tar readers ship inside their npm packages; the Debian packages
# below are the tools Transmute runs as separate processes: Ghostscript (PDF compression),
# poppler (PDF pages to images and text), qpdf (PDF decryption), LibreOffice without its GUI
# (office documents), ffmpeg (audio and video), Chromium (web pages, HTML, Markdown), 7-Zip (7z),
# and fonts, CJK included, so documents and pages render with the glyphs they use.
# Idempotent: a package already installed is not installed again, and with an empty list the
# script never touches apt. Needs root only when it has something to install.
set -euo pipefail

# Debian package names (bookworm).
ENGINE_PACKAGES=(
  ghostscript
  poppler-utils
  qpdf
  libreoffice-writer-nogui
  libreoffice-calc-nogui
  libreoffice-impress-nogui
  ffmpeg
  chromium
  7zip
  fonts-noto-cjk
  fonts-noto-core
  fonts-dejavu-core
  fonts-liberation2
)

# Executables the engines run, reported so that a log shows what a machine can convert.
ENGINE_TOOLS=(gs pdftoppm pdftotext pdfinfo qpdf soffice ffmpeg ffprobe chromium 7zz)

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
    echo "install-engines: no $tool: the engines that need it stay off (the worker says which at start)"
  fi
done
