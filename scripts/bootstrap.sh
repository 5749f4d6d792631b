#!/usr/bin/env bash
# Installs what dtq needs on a fresh Debian machine with Node and apt: nats-server and fonts-dejavu-core (apt) and the npm
# dependencies (which bring Node 24). Quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: the NATS server, and the font the charts are rendered with (PNG text needs a real font file).
missing=()
if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then missing+=(nats-server); fi
if [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then missing+=(fonts-dejavu-core); fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]} (apt)" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Reinstall when the lock file changed since the last install.
stamp=node_modules/.dtq-lock-stamp
if [ ! -x node_modules/node/bin/node ] || [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  echo "bootstrap: installing npm dependencies (npm ci; its prepare step builds dist/)" >&2
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
