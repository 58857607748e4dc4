#!/usr/bin/env bash
# Install the Debian packages Portico needs, only those that are missing: nginx with Lua and Redis to run it, and
# ca-certificates (gateways verify https upstreams against the system's CA bundle, gateway/launcher.py);
# with --for-tests also PostgreSQL, Chromium (the browser tests drive Debian's chromium with Playwright), Node.js
# (the key page's JavaScript snippet is run as pasted), faketime (gateways whose clock is off by minutes) and openssl
# (the client-certificate page's command is run as pasted).
set -euo pipefail
PACKAGES=(nginx-light libnginx-mod-http-lua libnginx-mod-http-ndk lua-resty-core lua-resty-lrucache lua-cjson
          redis-server wrk ca-certificates)
[ "${1:-}" = "--for-tests" ] && PACKAGES+=(postgresql chromium nodejs faketime openssl)
# Overridable so tests can exercise the install path without touching the machine.
read -r -a PACKAGES <<< "${PORTICO_SYSTEM_PACKAGES:-${PACKAGES[*]}}"
APT_GET="${PORTICO_APT_GET:-apt-get}"
missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "Installing Debian packages: ${missing[*]}"
# Debian starts a packaged nginx/redis on install; we run our own, so keep the package scripts from starting theirs.
# A policy-rc.d that was already there (standard in Debian containers) is put back as it was afterwards.
POLICY="${PORTICO_POLICY_RC_D:-/usr/sbin/policy-rc.d}"
SAVED_POLICY=""
if [ -e "$POLICY" ]; then
  SAVED_POLICY=$(mktemp)
  $SUDO cp -p "$POLICY" "$SAVED_POLICY"
fi
restore_policy() {
  if [ -n "$SAVED_POLICY" ]; then $SUDO cp -p "$SAVED_POLICY" "$POLICY" && rm -f "$SAVED_POLICY"
  else $SUDO rm -f "$POLICY"; fi
}
trap restore_policy EXIT
printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null && $SUDO chmod +x "$POLICY"
$SUDO "$APT_GET" update -qq
DEBIAN_FRONTEND=noninteractive $SUDO "$APT_GET" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
