#!/usr/bin/env bash
# Installs the Debian packages the test suite needs beyond Python ones:
#   prometheus       -> promtool (alert rule unit tests, tests/deploy)
#   chromium         -> headless browser for the admin UI browser tests
#   chromium-driver  -> chromedriver for the same
#   docker-compose   -> `docker-compose config` validates deploy/compose/compose.yaml (no daemon needed)
#   postgresql-client -> pg_dump/pg_restore for the backup and restore drill
# Kubernetes validation tools (kubectl with its built-in kustomize, kubernetes-validate) come from PyPI
# through the `dev` extra, not from here.
#
# Idempotent: when every command is already present it prints one line and exits at once, without
# `apt-get update`. Otherwise it needs root and apt-get; it runs `apt-get update` once and installs only what
# is missing. Exit status: 0 when everything is installed, 1 when something could not be installed.
set -euo pipefail

# command -> Debian package providing it
declare -A PACKAGE_FOR=(
  [promtool]=prometheus
  [chromium]=chromium
  [chromedriver]=chromium-driver
  [docker-compose]=docker-compose
  [pg_dump]=postgresql-client
)

missing=()
for command in "${!PACKAGE_FOR[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${PACKAGE_FOR[$command]}")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-test-deps: all present (${!PACKAGE_FOR[*]})"
  exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-deps: missing packages ${missing[*]}, and this is not root with apt-get;" \
    "install them by hand (tests that need them are skipped unless CI=true)" >&2
  exit 1
fi

# Several people may share this machine: wait for another apt/dpkg run instead of failing at once.
apt_get() {
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -q "$@"
}

echo "install-test-deps: installing ${missing[*]}"
apt_get update
# --no-install-recommends: promtool is all we need from `prometheus`, not node-exporter and friends.
apt_get install -y --no-install-recommends "${missing[@]}"

for command in "${!PACKAGE_FOR[@]}"; do
  if ! command -v "$command" >/dev/null 2>&1; then
    echo "install-test-deps: $command still missing after installing ${PACKAGE_FOR[$command]}" >&2
    exit 1
  fi
done
echo "install-test-deps: done"
