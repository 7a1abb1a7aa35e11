#!/usr/bin/env bash
# Update a running EnergyApp LLM: back up the database the app uses, pull, install, migrate, then
# restart the instances (energyapp@8001, energyapp@8002, ...) one at a time, each healthy again
# before the next stops, so the others keep serving (Caddy skips the one restarting; it drains its
# answers first). If an instance does not come up healthy, put the previous code back, restart
# every instance the same way and exit non-zero.
#
#   sudo /opt/energyapp/scripts/update.sh [--ref REF] [--no-backup]
#
# REF: what to deploy (default: the tracked branch's upstream, e.g. origin/main; a tag such as
# v1.4.0 works too). The database is not rolled back automatically (migrations are written to be
# compatible with the previous release); the backup taken first is there for scripts/restore.sh.
# ENERGYAPP_SERVICE (template name, default energyapp), ENERGYAPP_USER (energyapp),
# ENERGYAPP_INSTANCE_PORTS (default: the running energyapp@<port> units), UPDATE_HEALTH_WAIT
# (seconds an instance has to become healthy, 60, asked every UPDATE_HEALTH_POLL_SECONDS, 1) and
# UPDATE_SETTLE_SECONDS (pause after each, so Caddy's health check sees it back before the next
# one stops; 3) override the defaults.

# -E: the ERR trap (the rollback) also fires for failures inside functions.
set -Eeuo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh"

app_dir=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
ref=""
backup=true
service=${ENERGYAPP_SERVICE:-energyapp}
app_user=${ENERGYAPP_USER:-energyapp}
health_wait=${UPDATE_HEALTH_WAIT:-60}
health_poll=${UPDATE_HEALTH_POLL_SECONDS:-1}
settle=${UPDATE_SETTLE_SECONDS:-3}

while (($#)); do
  case $1 in
    --ref) need_value "$@"; ref=$2; shift 2 ;;
    --no-backup) backup=false; shift ;;
    -h | --help) script_help; exit 0 ;;
    *) usage_error "unknown option: $1" ;;
  esac
done
((EUID == 0)) || die "run as root (sudo $0)"
check_seconds UPDATE_HEALTH_WAIT "$health_wait"
check_seconds UPDATE_HEALTH_POLL_SECONDS "$health_poll" fraction
check_seconds UPDATE_SETTLE_SECONDS "$settle" fraction
cd "$app_dir"

git diff --quiet HEAD -- || die "local changes in $app_dir: commit or discard them first (git status)"
previous=$(git rev-parse HEAD)

# The ports of the instances to restart: given, or those of the running energyapp@<port> units.
mapfile -t ports < <(instance_ports "$service" list-units --plain --no-legend --state=active \
  "$service@*.service")
((${#ports[@]})) || die "no running $service@<port> instance found (ENERGYAPP_INSTANCE_PORTS lists them)"
check_ports "${ports[@]}"

healthy() { wait_healthy "$service@$1" "$1" "$health_wait" "$health_poll"; }
# One instance at a time: the others serve meanwhile, and a release that does not come up stops
# the update at the first instance, the rest still running the previous code.
restart_instances() {
  local port
  for port in "${ports[@]}"; do
    log "restarting $service@$port"
    systemctl restart "$service@$port"
    healthy "$port" || return 1
    sleep "$settle"
  done
}
install_and_migrate() {
  .venv/bin/python -m pip install --quiet -e .
  .venv/bin/python -m compileall -q src migrations >/dev/null
  runuser -u "$app_user" -- .venv/bin/energyapp db upgrade
}

if $backup; then
  # The database the app uses (its .env, config/settings.yaml or default, as the app reads them):
  # on a host sharing another's PostgreSQL, the shared one, not this host's unused local one.
  db_url=$(app_setting "$app_dir" "$app_user" db_url)
  is_postgresql_url "$db_url" ||
    die "the app's database is ${db_url%%:*}:..., not PostgreSQL: this host has none for" \
      "scripts/backup.sh to back up (update with --no-backup)"
  log "backup before updating"
  # In the environment, not on a command line: the URL may hold a password (ps shows arguments).
  dump=$(BACKUP_DB_URL=$db_url runuser -u postgres -- "$app_dir/scripts/backup.sh")
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
  # set -E hands this trap to subshells too: roll back once, here, not also inside one.
  ((BASH_SUBSHELL == 0)) || exit 1
  trap - ERR
  log "the new version failed: rolling the code back to $(git log -1 --format=%h "$previous")"
  git reset --quiet --hard "$previous"
  .venv/bin/python -m pip install --quiet -e . || true
  if restart_instances; then
    log "rolled back; the previous version is serving again. See: journalctl -u '$service@*' -n 100"
  else
    log "the previous version is not healthy either: journalctl -u '$service@*' -n 100"
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
restart_instances
trap - ERR
log "updated to $(git log -1 --format='%h %s')"
