#!/usr/bin/env bash
# First installation of EnergyApp LLM on a clean Ubuntu 24.04 server. Idempotent: run it again
# after a failure or to re-apply the configuration; it never replaces an existing .env (and so
# never changes the secret key) or an existing database.
#
#   git clone <repository> /opt/energyapp
#   sudo /opt/energyapp/scripts/deploy.sh --domain energyapp.alvaradomazzei.cl [options]
#
# Options:
#   --domain NAME     public name of the site (DNS A/AAAA record must point here for HTTPS)
#   --email ADDRESS   contact for Let's Encrypt expiry notices (optional)
#   --demo            create the demo accounts (known passwords: never on a real deployment)
#   --with-ollama     install Ollama with its official installer and pull the model
#   --no-firewall     leave UFW alone
#   --ssh-port N      SSH port to keep open (default 22)
#   --instances N     app instances on this host, energyapp@8001 ... energyapp@(8000+N)
#                     (default: ENERGYAPP_INSTANCES, or 2); they share Redis and PostgreSQL
# The application is installed where this checkout is (normally /opt/energyapp).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh"

app_dir=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
domain=""
email=""
demo=false
with_ollama=false
firewall=true
ssh_port=22
instances=${ENERGYAPP_INSTANCES:-2}
app_user=energyapp
db_name=energyapp
backup_dir=/srv/backups/energyapp

while (($#)); do
  case $1 in
    --domain) need_value "$@"; domain=$2; shift 2 ;;
    --email) need_value "$@"; email=$2; shift 2 ;;
    --demo) demo=true; shift ;;
    --with-ollama) with_ollama=true; shift ;;
    --no-firewall) firewall=false; shift ;;
    --ssh-port) need_value "$@"; ssh_port=$2; shift 2 ;;
    --instances) need_value "$@"; instances=$2; shift 2 ;;
    -h | --help) script_help; exit 0 ;;
    *) usage_error "unknown option: $1" ;;
  esac
done

((EUID == 0)) || die "run as root (sudo $0 ...)"
[[ -n $domain ]] || die "--domain is required (e.g. --domain energyapp.alvaradomazzei.cl)"
[[ $domain =~ ^[A-Za-z0-9.-]+$ ]] || die "--domain must be a plain host name"
# Written into the Caddyfile's global options: a space, a brace or a line break would add
# directives of the caller's choosing that `caddy validate` might well accept.
[[ -z $email || $email =~ ^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+$ ]] ||
  die "--email must be a plain address (name@host)"
if ! [[ $instances =~ ^[0-9]+$ ]] || ((instances < 1 || instances > 16)); then
  die "--instances must be a number from 1 to 16"
fi
# Checked now, not by deploy/ufw.sh at the very end, after everything else was installed.
is_port "$ssh_port" || die "--ssh-port must be a port number (1 to 65535)"
ports=()
for ((i = 1; i <= instances; i++)); do ports+=($((8000 + i))); done
# shellcheck source=/dev/null
. /etc/os-release
[[ ${ID:-} == ubuntu && ${VERSION_ID:-} == 24.04 ]] ||
  log "WARNING: written for Ubuntu 24.04; this is ${PRETTY_NAME:-unknown}"
cd "$app_dir"

step() { log "==> $*"; }
install_file() { # install_file MODE SRC DEST: copy with /opt/energyapp rewritten to this checkout
  local tmp
  tmp=$(mktemp)
  sed "s#/opt/energyapp#$app_dir#g" "$2" >"$tmp"
  install -D -m "$1" -o root -g root "$tmp" "$3"
  rm -f -- "$tmp"
}

step "system packages"
export DEBIAN_FRONTEND=noninteractive
packages=(python3 python3-venv git curl postgresql postgresql-client redis-server caddy fail2ban ufw
  logrotate)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}"
fi

step "user $app_user"
if ! id -u "$app_user" >/dev/null 2>&1; then
  useradd --system --user-group --home-dir "$app_dir" --no-create-home \
    --shell /usr/sbin/nologin "$app_user"
fi
# The code belongs to root (the service cannot change it); only data/ and logs/ are the app's.
install -d -m 0750 -o "$app_user" -g "$app_user" "$app_dir/data" "$app_dir/logs"
install -d -m 0700 -o postgres -g postgres "$backup_dir"

step "PostgreSQL role and database"
systemctl enable --now postgresql
pg() { runuser -u postgres -- psql --no-psqlrc -Atq -v ON_ERROR_STOP=1 "$@"; }
[[ $(pg -c "SELECT 1 FROM pg_roles WHERE rolname = '$app_user'") == 1 ]] ||
  pg -c "CREATE ROLE \"$app_user\" LOGIN"
[[ $(pg -c "SELECT 1 FROM pg_database WHERE datname = '$db_name'") == 1 ]] ||
  # LOCALE C.UTF-8 whatever the cluster's: in a "C" database lower() leaves Á as it is, and the
  # search that ignores accents and capitals (core/search.py) would miss "GONZÁLEZ".
  pg -c "CREATE DATABASE \"$db_name\" OWNER \"$app_user\" ENCODING 'UTF8' LOCALE 'C.UTF-8' TEMPLATE template0"

step "Redis (loopback, bounded, never evicting: deploy/redis-energyapp.conf)"
install -m 0644 -o root -g root deploy/redis-energyapp.conf /etc/redis/energyapp.conf
# Included last, so the kit's settings win over the distribution's.
grep -qxF 'include /etc/redis/energyapp.conf' /etc/redis/redis.conf ||
  printf '\n# EnergyApp LLM (scripts/deploy.sh)\ninclude /etc/redis/energyapp.conf\n' >>/etc/redis/redis.conf
systemctl enable redis-server
systemctl restart redis-server
redis_url=redis://127.0.0.1:6379/0

step "Python environment"
[[ -x .venv/bin/python ]] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# Editable: the app finds config/, static/ and migrations/ next to its source.
.venv/bin/python -m pip install --quiet -e .
# Bytecode now, as root: the service cannot write into the code (ProtectSystem=strict).
.venv/bin/python -m compileall -q src migrations >/dev/null

step ".env"
if [[ ! -f .env ]]; then
  secret=$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')
  (
    umask 027
    cat >.env <<ENV
# EnergyApp LLM production settings (docs/configuration.md). Written by scripts/deploy.sh.
ENERGYAPP_ENV=production
ENERGYAPP_SECRET_KEY=$secret
# Local socket, peer authentication as the $app_user system user: no password to keep.
ENERGYAPP_DB_URL=postgresql://$app_user@/$db_name?host=/var/run/postgresql
ENERGYAPP_HOST=127.0.0.1
ENERGYAPP_PORT=8001
ENERGYAPP_OLLAMA_URL=http://127.0.0.1:11434
# Shared by every instance (and host): the chat queue, live answers and rate limits.
ENERGYAPP_REDIS_URL=$redis_url
ENERGYAPP_OLLAMA_MAX_PARALLEL=6
ENERGYAPP_FAKE_OLLAMA_AUTOSTART=false
ENERGYAPP_DEMO_QUICK_ACCESS=$demo
ENERGYAPP_LOG_TO_FILE=true
ENERGYAPP_LOG_FILE=logs/energyapp.log
ENV
  )
  log "new .env with a fresh secret key"
fi
chown "root:$app_user" .env
chmod 0640 .env
check_kept_env "$app_dir" "$app_user" "$redis_url"

app() { (cd "$app_dir" && runuser -u "$app_user" -- "$app_dir/.venv/bin/energyapp" "$@"); }
step "database migrations"
app db upgrade
if $demo; then
  step "demo accounts (known passwords: remove them before real use)"
  app seed-demo --in-production
fi

if $with_ollama; then
  step "Ollama"
  command -v ollama >/dev/null || curl -fsSL https://ollama.com/install.sh | sh
  # With the app's own num_ctx, keep_alive and ollama_max_parallel, wherever they are set: the
  # file's copies of the defaults made Ollama reload the model for an app whose num_ctx differed.
  drop_in=$(mktemp)
  ollama_drop_in deploy/ollama-energyapp.conf "$app_dir" "$app_user" >"$drop_in"
  install_file 0644 "$drop_in" /etc/systemd/system/ollama.service.d/energyapp.conf
  rm -f -- "$drop_in"
  systemctl daemon-reload
  systemctl enable ollama
  systemctl restart ollama
  # The model the app asks for, wherever it is set (a grep of settings.yaml missed .env, and
  # under pipefail a file without the line stopped this script without a word).
  model=$(app_setting "$app_dir" "$app_user" ollama_model)
  ollama pull "$model"
fi

step "systemd units: ${#ports[@]} instances (${ports[*]})"
# The single energyapp.service of earlier versions gives way to the instances.
if [[ -f /etc/systemd/system/energyapp.service ]]; then
  systemctl disable --now energyapp.service || true
  rm -f /etc/systemd/system/energyapp.service
fi
install_file 0644 deploy/energyapp@.service /etc/systemd/system/energyapp@.service
install_file 0644 deploy/energyapp.target /etc/systemd/system/energyapp.target
install_file 0644 deploy/energyapp-backup.service /etc/systemd/system/energyapp-backup.service
install_file 0644 deploy/energyapp-backup.timer /etc/systemd/system/energyapp-backup.timer
install_file 0644 deploy/energyapp-retention.service /etc/systemd/system/energyapp-retention.service
install_file 0644 deploy/energyapp-retention.timer /etc/systemd/system/energyapp-retention.timer
systemctl daemon-reload
# Instances beyond the requested number (a re-run with fewer) are stopped and disabled.
for unit in $(systemctl list-units --plain --no-legend --all 'energyapp@*.service' | awk '{print $1}'); do
  port=${unit#energyapp@}
  port=${port%.service}
  [[ " ${ports[*]} " == *" $port "* ]] || systemctl disable --now "$unit" || true
done
systemctl enable energyapp.target energyapp-backup.timer energyapp-retention.timer
for port in "${ports[@]}"; do
  systemctl enable --now "energyapp@$port.service"
done
systemctl start energyapp.target energyapp-backup.timer energyapp-retention.timer

step "Caddy for https://$domain"
upstreams=$(printf '127.0.0.1:%s ' "${ports[@]}")
install -d -m 0755 -o caddy -g caddy /var/log/caddy
# Validated before it replaces anything; a reload keeps serving, and if Caddy cannot apply the
# new configuration it goes on with the one it has.
install_caddy_config /etc/caddy deploy/Caddyfile "$domain" "${upstreams% }" "$email"
# Only now that /etc/caddy/energyapp.env exists: Caddy's unit cannot start without the file it
# names, so the drop-in installed before a refused candidate would break Caddy's next start.
install_file 0644 deploy/caddy-energyapp.conf /etc/systemd/system/caddy.service.d/energyapp.conf
systemctl daemon-reload
systemctl enable caddy
systemctl reload-or-restart caddy

step "fail2ban and logrotate"
touch /var/log/caddy/energyapp-access.log
chown caddy:caddy /var/log/caddy/energyapp-access.log
install -m 0644 deploy/fail2ban/filter.d/energyapp.conf /etc/fail2ban/filter.d/energyapp.conf
install -m 0644 deploy/fail2ban/filter.d/energyapp-api.conf /etc/fail2ban/filter.d/energyapp-api.conf
install -m 0644 deploy/fail2ban/jail.d/energyapp.local /etc/fail2ban/jail.d/energyapp.local
# For the file the app writes, wherever its log_file points (re-run after changing it).
rotate_conf=$(mktemp)
logrotate_config deploy/logrotate "$app_dir" "$app_user" >"$rotate_conf"
install_file 0644 "$rotate_conf" /etc/logrotate.d/energyapp
rm -f -- "$rotate_conf"
fail2ban-client -t >/dev/null
logrotate -d /etc/logrotate.d/energyapp 2>/dev/null
systemctl enable fail2ban
systemctl restart fail2ban

if $firewall; then
  step "firewall (UFW)"
  deploy/ufw.sh --ssh-port "$ssh_port"
fi

step "health"
for port in "${ports[@]}"; do
  wait_healthy "energyapp@$port" "$port" 60 1 ||
    die "instance $port is not healthy: journalctl -u energyapp@$port -n 50"
done
log "installed. Next: create the first admin: cd $app_dir && sudo -u $app_user .venv/bin/energyapp create-user --role admin"
log "then check the public site: $app_dir/scripts/smoke_test.sh https://$domain"
