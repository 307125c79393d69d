#!/usr/bin/env bash
# Sets up a fresh clone on Debian 12 (run as root): the Debian packages tsfpm
# and its tests need, the npm dependencies, and the build in dist/.
# Idempotent: a second run skips apt and npm ci when nothing changed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# php8.2-cgi runs the PHP children; nginx-light, apache2, caddy, libfcgi-bin
# (cgi-fcgi) and curl are what the end-to-end tests drive tsfpm with; php8.2-fpm
# is the reference implementation they compare tsfpm against (the tests start
# php-fpm8.2 and the web servers themselves, each on its own config). chromium
# is the headless browser the status dashboard's test drives (through the npm
# devDependency playwright-core, which downloads no browser of its own), with
# fonts-dejavu-core so its pages render the same text on every machine.
PACKAGES=(php8.2-cgi php8.2-fpm nginx-light apache2 caddy libfcgi-bin curl chromium fonts-dejavu-core)

# --- Node ------------------------------------------------------------------
# Debian 12 ships Node 18; Node >= 20 must come from elsewhere (e.g. NodeSource).
command -v node >/dev/null || die "node (>= 20) is not installed"
command -v npm >/dev/null || die "npm is not installed"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "node >= 20 is required, found $(node --version)"

# --- Debian packages -------------------------------------------------------
missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || die "missing packages (${missing[*]}); run as root"
  log "installing ${missing[*]}"

  # The postinsts of nginx, apache2 and caddy would start the stock services on
  # port 80, php8.2-fpm's its pool on /run/php. Tests start their own, so deny
  # service starts for the duration of the install unless the machine already has
  # a policy (Docker images ship one that denies everything). All four start
  # through invoke-rc.d or deb-systemd-invoke, which both ask policy-rc.d, and
  # treat a denial as success; Debian still enables the services for the next boot.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# temporary, from tsfpm bin/setup.sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi

  export DEBIAN_FRONTEND=noninteractive
  # A freshly booted machine may be running unattended-upgrades: wait for its lock.
  apt-get -o DPkg::Lock::Timeout=300 update
  apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${missing[@]}"
fi

for bin in php-cgi /usr/sbin/php-fpm8.2 /usr/sbin/nginx /usr/sbin/apache2 /usr/bin/caddy cgi-fcgi /usr/bin/chromium; do
  command -v "$bin" >/dev/null || die "$bin not found after installing packages"
done

# --- npm dependencies ------------------------------------------------------
# npm ci wipes node_modules/, taking this stamp with it; so a matching stamp
# means node_modules/ came from exactly these package files and this node.
stamp=node_modules/.tsfpm-setup-stamp
want="$(cat package.json package-lock.json | sha256sum | cut -d" " -f1) node-$(node --version)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  log "node_modules up to date"
else
  log "npm ci"
  npm ci --no-audit --no-fund
  printf '%s\n' "$want" >"$stamp"
fi

# --- build -----------------------------------------------------------------
log "npm run build"
npm run build
log "done"
