#!/usr/bin/env bash
# Daily PostgreSQL backup: pg_dump -Fc into BACKUP_DIR, verified with pg_restore --list, and the
# dumps older than BACKUP_KEEP_DAYS removed. Run by energyapp-backup.timer as the postgres user.
#
#   scripts/backup.sh [--dir DIR] [--db-url URL] [--keep-days N] [--app-dir APP]
#
# Defaults come from the environment: BACKUP_DIR (/srv/backups/energyapp), BACKUP_KEEP_DAYS (14)
# and the database: BACKUP_DB_URL, else the one the app installed in APP (default: the checkout
# holding this script) uses, as the app resolves its db_url (defaults < settings file < .env <
# ENERGYAPP_* variables; `energyapp settings get db_url`, run from APP, where the app finds its
# .env). With BACKUP_DOTENV_LOADED=yes, as the backup unit sets it after loading the app's .env
# into the environment (EnvironmentFile=) as for the app's own units, the app is asked from a
# directory without the .env, which the unit's postgres user cannot read. On a host that shares
# another host's PostgreSQL, that is the shared database, not the unused local one. A URL for
# this host's socket without a password is dumped as the user running the backup (postgres, peer
# authentication), whatever role it names.
# Prints the path of the new dump on stdout.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh"

dir=${BACKUP_DIR:-/srv/backups/energyapp}
db_url=${BACKUP_DB_URL:-}
keep_days=${BACKUP_KEEP_DAYS:-14}
app_dir=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)

while (($#)); do
  case $1 in
    --dir) need_value "$@"; dir=$2; shift 2 ;;
    --db-url) need_value "$@"; db_url=$2; shift 2 ;;
    --keep-days) need_value "$@"; keep_days=$2; shift 2 ;;
    --app-dir) need_value "$@"; app_dir=$2; shift 2 ;;
    -h | --help) script_help; exit 0 ;;
    *) usage_error "unknown option: $1" ;;
  esac
done
if ! [[ $keep_days =~ ^[0-9]+$ ]] || ((keep_days < 1)); then
  die "--keep-days must be a whole number >= 1"
fi

# The database the app uses, as the app resolves it: a URL read here from one of its sources
# (the .env) missed one set in the settings file, and the backup took another database.
app_db_url() {
  local tool=$app_dir/.venv/bin/energyapp workdir=$app_dir url
  if [[ ${BACKUP_DOTENV_LOADED:-} != yes && -e $app_dir/.env && ! -r $app_dir/.env ]]; then
    die "$app_dir/.env cannot be read to find the app's database: run as root, or give --db-url"
  fi
  [[ -x $tool ]] ||
    die "no app in $app_dir ($tool is missing) to say which database it uses: give --db-url"
  if [[ ${BACKUP_DOTENV_LOADED:-} == yes ]]; then
    workdir=$(mktemp -d)
    # A relative settings file is the app's directory's, as for the app's units (WorkingDirectory).
    if [[ -n ${ENERGYAPP_CONFIG_FILE:-} && $ENERGYAPP_CONFIG_FILE != /* ]]; then
      export ENERGYAPP_CONFIG_FILE=$app_dir/$ENERGYAPP_CONFIG_FILE
    fi
  fi
  url=$(cd "$workdir" && "$tool" settings get db_url) || url=""
  [[ $workdir == "$app_dir" ]] || rmdir -- "$workdir"
  [[ -n $url ]] || die "the app in $app_dir did not say which database it uses (above): no backup"
  printf '%s\n' "$url"
}
if [[ -z $db_url ]]; then
  db_url=$(app_db_url)
  is_postgresql_url "$db_url" ||
    die "the app in $app_dir uses ${db_url%%:*}:..., not PostgreSQL: no database to back up here"
fi
libpq_connect "$db_url"
url=$LIBPQ_URL
# Peer authentication lets a system user in as its own role only: the unit's postgres could not
# connect as the app's role that the app's socket URL names.
if pg_url_is_socket "$url" && [[ -z ${PGPASSWORD:-} ]]; then
  url=$(pg_url_without_user "$url")
fi

umask 077
mkdir -p -- "$dir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
final="$dir/energyapp-$stamp.dump"
partial="$final.partial"
trap 'rm -f -- "$partial"' EXIT

log "dumping to $final"
pg_dump --format=custom --compress=6 --file="$partial" --dbname="$url"

# A dump that pg_restore cannot read, or that holds no table data, is not a backup.
listing=$(pg_restore --list "$partial") || die "pg_restore --list cannot read $partial"
grep -q ' TABLE DATA ' <<<"$listing" || die "$partial holds no table data"
mv -- "$partial" "$final"
trap - EXIT
log "verified: $(grep -c ' TABLE DATA ' <<<"$listing") tables, $(du -h -- "$final" | cut -f1)"

# Prune: dumps (and leftovers of interrupted runs) older than keep_days days.
while IFS= read -r -d '' old; do
  log "pruning $old"
  rm -f -- "$old"
done < <(find "$dir" -maxdepth 1 -type f \( -name 'energyapp-*.dump' -o -name 'energyapp-*.dump.partial' \) \
  -mmin "+$((keep_days * 1440))" -print0)

printf '%s\n' "$final"
