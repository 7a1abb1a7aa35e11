#!/usr/bin/env bash
# Update a running EnergyApp LLM: back up the database, pull, install, migrate, restart, check
# /health; if the new version does not come up healthy, put the previous code back, restart it and
# exit non-zero.
#
#   sudo /opt/energyapp/scripts/update.sh [--ref REF] [--no-backup]
#
# REF: what to deploy (default: the tracked branch's upstream, e.g. origin/main; a tag such as
# v1.4.0 works too). The database is not rolled back automatically (migrations are written to be
# compatible with the previous release); the backup taken first is there for scripts/restore.sh.
# ENERGYAPP_SERVICE, ENERGYAPP_USER, ENERGYAPP_HEALTH_URL and UPDATE_HEALTH_WAIT (seconds) override
# the defaults (energyapp, energyapp, http://127.0.0.1:8001/health, 60).
# -E: the ERR trap (the rollback) also fires for failures inside functions.
set -Eeuo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh"

app_dir=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
ref=""
backup=true
service=${ENERGYAPP_SERVICE:-energyapp}
app_user=${ENERGYAPP_USER:-energyapp}
health_url=${ENERGYAPP_HEALTH_URL:-http://127.0.0.1:8001/health}
health_wait=${UPDATE_HEALTH_WAIT:-60}

while (($#)); do
  case $1 in
    --ref) ref=$2; shift 2 ;;
    --no-backup) backup=false; shift ;;
    -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
((EUID == 0)) || die "run as root (sudo $0)"
cd "$app_dir"

git diff --quiet HEAD -- || die "local changes in $app_dir: commit or discard them first (git status)"
previous=$(git rev-parse HEAD)

healthy() {
  local deadline=$((SECONDS + health_wait)) body
  while ((SECONDS < deadline)); do
    if body=$(curl -fsS --max-time 3 "$health_url" 2>/dev/null) &&
      [[ $body == *'"status":"ok"'* || $body == *'"status":"degraded"'* ]]; then
      log "healthy: $body"
      return 0
    fi
    sleep 1
  done
  return 1
}
install_and_migrate() {
  .venv/bin/python -m pip install --quiet -e .
  .venv/bin/python -m compileall -q src migrations >/dev/null
  (cd "$app_dir" && runuser -u "$app_user" -- .venv/bin/energyapp db upgrade)
}

if $backup; then
  log "backup before updating"
  dump=$(runuser -u postgres -- env BACKUP_DB_URL=postgresql:///energyapp "$app_dir/scripts/backup.sh")
  log "backup: $dump"
fi

log "fetching"
git fetch --prune --tags origin
target=${ref:-$(git rev-parse --abbrev-ref --symbolic-full-name '@{upstream}' 2>/dev/null || echo origin/main)}
new=$(git rev-parse --verify "$target^{commit}") || die "unknown ref $target"
if [[ $new == "$previous" ]]; then
  log "already at $target ($(git log -1 --format='%h %s'))"
  exit 0
fi
log "updating $(git log -1 --format=%h "$previous") -> $(git log -1 --format=%h "$new") ($target)"
git log --oneline "$previous..$new" | head -20 >&2 || true

rollback() {
  trap - ERR
  log "the new version failed: rolling the code back to $(git log -1 --format=%h "$previous")"
  git reset --quiet --hard "$previous"
  .venv/bin/python -m pip install --quiet -e . || true
  systemctl restart "$service" || true
  if healthy; then
    log "rolled back; the previous version is serving again. See: journalctl -u $service -n 100"
  else
    log "the previous version is not healthy either: journalctl -u $service -n 100"
    [[ -z ${dump:-} ]] || log "database backup taken before the update: $dump (scripts/restore.sh)"
  fi
  exit 1
}
trap rollback ERR

if git symbolic-ref -q HEAD >/dev/null && [[ -z $ref ]]; then
  git merge --quiet --ff-only "$new"
else
  git checkout --quiet --detach "$new"
fi
install_and_migrate
systemctl restart "$service"
healthy || false
trap - ERR
log "updated to $(git log -1 --format='%h %s')"
