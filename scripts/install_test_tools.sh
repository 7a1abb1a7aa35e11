#!/usr/bin/env bash
# Debian packages the test suite drives for real: Chromium (browser tests), Caddy, fail2ban,
# logrotate, pg_dump, ShellCheck and systemd-analyze (deployment kit tests). Installs only what
# is missing, fetching the package index once. Used by `make test` and `.ci/run`.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

need_apt=()
command -v psql >/dev/null || need_apt+=(postgresql-client)
command -v pg_dump >/dev/null || need_apt+=(postgresql-client)
command -v redis-cli >/dev/null || need_apt+=(redis-tools)
command -v caddy >/dev/null || need_apt+=(caddy)
command -v fail2ban-regex >/dev/null || need_apt+=(fail2ban)
command -v logrotate >/dev/null || need_apt+=(logrotate)
command -v shellcheck >/dev/null || need_apt+=(shellcheck)
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
command -v npm >/dev/null || need_apt+=(nodejs npm)
# Browser tests drive Debian's Chromium through Playwright (never `playwright install`).
[[ -x /usr/bin/chromium ]] || need_apt+=(chromium)

((${#need_apt[@]})) || exit 0
mapfile -t need_apt < <(printf '%s\n' "${need_apt[@]}" | sort -u)
if [[ $(id -u) -ne 0 ]]; then
  echo "Faltan paquetes para algunas pruebas; instálelos con:" >&2
  echo "  sudo apt-get install -y ${need_apt[*]}" >&2
  exit 0
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
