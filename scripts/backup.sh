#!/usr/bin/env bash
# Daily PostgreSQL backup: pg_dump -Fc into BACKUP_DIR, verified with pg_restore --list, and the
# dumps older than BACKUP_KEEP_DAYS removed. Run by energyapp-backup.timer as the postgres user.
#
#   scripts/backup.sh [--dir DIR] [--db-url URL] [--keep-days N]
#
# Defaults come from the environment: BACKUP_DIR (/srv/backups/energyapp), BACKUP_KEEP_DAYS (14)
# and the database: BACKUP_DB_URL, else the app's own ENERGYAPP_DB_URL (from the environment, as
# the unit gives it from the app's .env, or from that .env), else the `energyapp` database over the
# local socket. On a host that shares another host's PostgreSQL, that is the shared database, not
# the unused local one. A URL for this host's socket without a password is dumped as the user
# running the backup (postgres, peer authentication), whatever role it names.
# Prints the path of the new dump on stdout.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh"

dir=${BACKUP_DIR:-/srv/backups/energyapp}
db_url=${BACKUP_DB_URL:-${ENERGYAPP_DB_URL:-}}
keep_days=${BACKUP_KEEP_DAYS:-14}

while (($#)); do
  case $1 in
    --dir) need_value "$@"; dir=$2; shift 2 ;;
    --db-url) need_value "$@"; db_url=$2; shift 2 ;;
    --keep-days) need_value "$@"; keep_days=$2; shift 2 ;;
    -h | --help) script_help; exit 0 ;;
    *) usage_error "unknown option: $1" ;;
  esac
done
if ! [[ $keep_days =~ ^[0-9]+$ ]] || ((keep_days < 1)); then
  die "--keep-days must be a whole number >= 1"
fi
if [[ -z $db_url ]]; then
  app_env="$(dirname "$(readlink -f "$0")")/../.env"
  if [[ -e $app_env && ! -r $app_env ]]; then
    die "ENERGYAPP_DB_URL is not set (the backup unit passes the app's .env) and $app_env" \
      "cannot be read to find the app's database: give --db-url, or run as root"
  fi
  db_url=$(dotenv_get "$app_env" ENERGYAPP_DB_URL)
  db_url=${db_url:-postgresql:///energyapp}
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
