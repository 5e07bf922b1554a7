#!/usr/bin/env bash
# Debian packages the project needs (run by `make install`; idempotent).
# The Makefile passes the package names: chromium for the browser tests (driven by
# Playwright through executable_path; `playwright install` is never run), and
# fonts-noto-cjk so Chinese text renders in it (screenshots), and postgresql-15-postgis-3
# for the store's PostGIS tests (tests/conftest.py starts a throwaway server with its
# initdb/pg_ctl; no cluster of the system's is used), poppler-utils for the report's PDF
# tests, and nodejs/npm for axe-core (`npm ci`).
#
# A package counts as present when dpkg has it, or, for nodejs and npm, when its command is
# on PATH: a Node.js installed from another source (NodeSource's nodejs bundles npm) must
# not be replaced by Debian's, whose npm conflicts with it.
set -euo pipefail
need=()
for pkg in "$@"; do
  dpkg -s "$pkg" >/dev/null 2>&1 && continue
  case "$pkg" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
  esac
  need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
