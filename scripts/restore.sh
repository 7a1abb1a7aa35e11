#!/usr/bin/env bash
# Restore a backup made by scripts/backup.sh.
#
#   sudo scripts/restore.sh [--yes] [--db NAME] [--owner ROLE] [--service UNIT | --no-service]
#                           [--app-dir DIR] [--app-user USER] DUMP
#       Production: check DUMP, stop the app, keep the current database as
#       NAME_pre_restore_<time>, restore DUMP into a fresh NAME owned by the PostgreSQL role ROLE,
#       migrate (the app run as the system user USER, as its units run it), start the
#       app and check /health on each of its instances (the energyapp@<port> units UNIT starts, or
#       the ports in ENERGYAPP_INSTANCE_PORTS), each given RESTORE_HEALTH_WAIT seconds (60). If
#       anything fails the old database is put back and the app restarted.
#       Defaults: NAME=energyapp, ROLE=energyapp, UNIT=energyapp.target (every instance on this
#       host; stop the other hosts' by hand), DIR=/opt/energyapp, USER=ENERGYAPP_USER or energyapp
#       (as scripts/update.sh; ROLE needs no system account of its name). As root it talks to
#       PostgreSQL as the postgres user over the local socket; set PGHOST/PGPORT/PGUSER to use
#       another server.
#       Without PGHOST or --no-service, a database other than the one the app in DIR uses
#       (another host's shared PostgreSQL, another name) is refused before anything changes.
#
#   scripts/restore.sh --into URL DUMP
#       Restore DUMP into the existing, empty database at URL (a drill, or to look at old data)
#       without touching the running app.

# -E: the ERR trap (the rollback) also fires for failures inside functions.
set -Eeuo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh"

db=energyapp
owner=energyapp
service=energyapp.target
app_dir=/opt/energyapp
app_user=${ENERGYAPP_USER:-energyapp}
into=""
assume_yes=false
dump=""
template=${ENERGYAPP_SERVICE:-energyapp}
health_wait=${RESTORE_HEALTH_WAIT:-60}

while (($#)); do
  case $1 in
    --db) need_value "$@"; db=$2; shift 2 ;;
    --owner) need_value "$@"; owner=$2; shift 2 ;;
    --service) need_value "$@"; service=$2; shift 2 ;;
    --no-service) service=""; shift ;;
    --app-dir) need_value "$@"; app_dir=$2; shift 2 ;;
    --app-user) need_value "$@"; app_user=$2; shift 2 ;;
    --into) need_value "$@"; into=$2; shift 2 ;;
    --yes | -y) assume_yes=true; shift ;;
    -h | --help) script_help; exit 0 ;;
    -*) usage_error "unknown option: $1" ;;
    *) [[ -z $dump ]] || usage_error "only one DUMP"; dump=$1; shift ;;
  esac
done
[[ -n $dump ]] || usage_error "DUMP is missing"
[[ -r $dump ]] || die "cannot read $dump"
[[ $db =~ ^[a-z_][a-z0-9_]*$ ]] || die "--db must be a plain lower-case name"
[[ $owner =~ ^[a-z_][a-z0-9_]*$ ]] || die "--owner must be a plain lower-case name"
check_seconds RESTORE_HEALTH_WAIT "$health_wait"

# Reads the dump from stdin so that the postgres user needs no access to the file.
log "checking $dump"
tables=$(pg_restore --list <"$dump" | grep -c ' TABLE DATA ') || die "$dump is not a readable pg_dump -Fc archive"
log "archive holds data for $tables tables"

if [[ -n $into ]]; then
  libpq_connect "$into"
  url=$LIBPQ_URL
  existing=$(psql --no-psqlrc -Atq --dbname="$url" -c \
    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind = 'r' AND n.nspname = 'public'")
  ((existing == 0)) || die "the target database already has $existing tables: restore into an empty one"
  pg_restore --no-owner --no-privileges --exit-on-error --single-transaction --dbname="$url" <"$dump"
  log "restored into ${url##*/}"
  exit 0
fi

# --- production swap ---------------------------------------------------------------------------
pg() {
  if ((EUID == 0)) && [[ -z ${PGHOST:-} ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}
sql() { pg psql --no-psqlrc -Atq -v ON_ERROR_STOP=1 --dbname=postgres -c "$1"; }
service_ctl() { [[ -z $service ]] || systemctl "$1" "$service"; }

# The app runs as USER (its settings, the migration): a missing account is found out now, not
# after the live database has been renamed aside.
if [[ -n $service && -x $app_dir/.venv/bin/energyapp ]]; then
  id -u -- "$app_user" >/dev/null 2>&1 ||
    die "no system user \"$app_user\" to run the app in $app_dir as: give --app-user (or" \
      "ENERGYAPP_USER), the user its units run as"
fi

# The app's restore (the app stopped and started around it): the database must be the one the app
# installed in DIR uses, when it is there. On a host sharing another host's PostgreSQL, swapping
# this host's unused local database would "succeed" and restore nothing the app sees. (PGHOST
# set: the operator has chosen the server; --no-service: the app is not involved.)
if [[ -n $service && -x $app_dir/.venv/bin/energyapp && -z ${PGHOST:-} ]]; then
  app_db=$(app_setting "$app_dir" "$app_user" db_url)
  is_postgresql_url "$app_db" ||
    die "the app in $app_dir uses ${app_db%%:*}:..., not PostgreSQL: there is nothing here" \
      "to restore into"
  libpq_connect "$app_db"
  if ! pg_url_is_socket "$LIBPQ_URL"; then
    app_server=${LIBPQ_URL#postgresql://}
    app_server=${app_server%%/*}
    die "the app in $app_dir uses the PostgreSQL on ${app_server##*@}, not this host's: restore" \
      "there, or give PGHOST/PGPORT/PGUSER for it"
  fi
  app_db_name=${LIBPQ_URL#postgresql://*/}
  app_db_name=${app_db_name%%\?*}
  [[ $app_db_name == "$db" ]] ||
    die "the app in $app_dir uses the database \"$app_db_name\", not \"$db\":" \
      "give --db $app_db_name"
fi

ports=()
if [[ -n $service ]]; then
  # Known before anything changes: a unit that starts no instance is refused, not found out after.
  mapfile -t ports < <(instance_ports "$template" list-dependencies --plain "$service")
  ((${#ports[@]})) ||
    die "$service starts no $template@<port> instance to check" \
      "(ENERGYAPP_INSTANCE_PORTS lists them)"
  check_ports "${ports[@]}"
fi

exists=$(sql "SELECT 1 FROM pg_database WHERE datname = '$db'")
old="${db}_pre_restore_$(date -u +%Y%m%d%H%M%S)"
if ! $assume_yes; then
  printf 'This replaces database "%s" with %s (the current one is kept as "%s").\n' "$db" "$dump" "$old" >&2
  read -r -p "Type the database name to go on: " answer ||
    die "cancelled: no answer (no terminal?); --yes skips the question"
  [[ $answer == "$db" ]] || die "cancelled"
fi

swapped=false
created=false
rollback() {
  # set -E hands this trap to subshells too: a failure in one must not roll back there and then
  # again here, where the database dropped "as the new one" would be the live one put back.
  ((BASH_SUBSHELL == 0)) || exit 1
  trap - ERR
  log "restore failed: putting the previous database back"
  # Only what this run made is dropped: never the live database.
  if $created; then sql "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" || true; fi
  if $swapped; then sql "ALTER DATABASE \"$old\" RENAME TO \"$db\"" || true; fi
  service_ctl start || true
}
trap rollback ERR

log "stopping ${service:-(no service)}"
service_ctl stop
if [[ $exists == 1 ]]; then
  sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$db' AND pid <> pg_backend_pid()" >/dev/null
  sql "ALTER DATABASE \"$db\" RENAME TO \"$old\""
  swapped=true
  log "previous database kept as $old"
fi
# As deploy.sh creates it (LOCALE C.UTF-8: lower() folds accented capitals, which search needs).
sql "CREATE DATABASE \"$db\" OWNER \"$owner\" ENCODING 'UTF8' LOCALE 'C.UTF-8' TEMPLATE template0"
created=true
pg pg_restore --no-owner --no-privileges --role="$owner" --exit-on-error --single-transaction \
  --dbname="$db" <"$dump"
log "restored $dump into $db"

if [[ -x $app_dir/.venv/bin/energyapp && -n $service ]]; then
  log "applying migrations (a dump from an older version is brought up to date)"
  (cd "$app_dir" && runuser -u "$app_user" -- "$app_dir/.venv/bin/energyapp" db upgrade)
fi
if [[ -n $service ]]; then
  service_ctl start
  for port in "${ports[@]}"; do
    wait_healthy "$template@$port" "$port" "$health_wait" 1
  done
fi
trap - ERR
log "done. When you are satisfied, remove the old copy: sudo -u postgres dropdb $old"
