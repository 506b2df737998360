#!/usr/bin/env bash
# Installs the web app's npm packages (ui/package-lock.json, exact versions) into
# ui/node_modules. Idempotent: skipped when the lock file has not changed since the last
# install. Uses the machine's Node.js and npm (Debian's nodejs and npm when there are none).
set -euo pipefail
cd "$(dirname "$0")/../ui"

if ! command -v npm >/dev/null; then
  echo "setup-ui: installing Debian's nodejs and npm"
  sudo_cmd=""
  if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -q
  $sudo_cmd apt-get install -y -q --no-install-recommends nodejs npm
fi

stamp=node_modules/.porchlight-lock-sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup-ui: npm ci in ui/"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
fi
