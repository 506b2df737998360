#!/usr/bin/env bash
# Installs the server tests' Python tools (moto's S3-compatible server, schemathesis) from
# PyPI into a venv outside the repository, keyed by the hash of tools/requirements.txt.
# Idempotent and quick when done. Nothing here runs when the product runs.
#   $PORCHLIGHT_CACHE/tools-venv-<hash>/   the venv
#   $PORCHLIGHT_CACHE/current/tools-venv   -> it (what crates/testkit looks for)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cache="${PORCHLIGHT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/porchlight}"
mkdir -p "$cache/current"
python="${PYTHON:-python3}"

req="$here/tools/requirements.txt"
venv="$cache/tools-venv-$(sha256sum "$req" | cut -c1-16)"
if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
  echo "setup-tools: installing the pinned test tools into $venv (once)"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
  touch "$venv/.complete"
fi
ln -sfn "$venv" "$cache/current/tools-venv"
