# shellcheck shell=bash
# Helpers shared by the deployment scripts (sourced, never run).

log() { printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

# The calling script's header (the comment block after the shebang, up to the first line that is
# not a comment), without the comment marks: what --help prints.
script_help() {
  sed -nE '2,${/^#/!q; s/^# ?//; p}' "$0"
}

# A mistake in the command line: say it, show the script's synopsis (the header lines that run
# it, "[sudo] .../NAME ...", and their continuation lines), exit 2.
usage_error() {
  local name line show=false
  name=$(basename -- "$0")
  log "ERROR: $*"
  {
    echo "usage:"
    while IFS= read -r line; do
      [[ $line == '#'* ]] || break
      if [[ $line =~ ^\#\ +(sudo\ )?[^\ ]*/$name( |$) ]]; then
        show=true
      elif ! [[ $line =~ ^\#\ {5,}\[ ]]; then
        show=false
      fi
      if $show; then printf '%s\n' "${line#\#}"; fi
    done <"$0"
    echo "($name --help says more)"
  } >&2
  exit 2
}

# In an option loop, `--name) need_value "$@"; var=$2; shift 2 ;;`: an option given last, or
# followed by another option instead of its value, is a usage error naming it (under `set -u`,
# $2 would otherwise stop the script with bash's "unbound variable"). No value the kit takes
# (names, paths, URLs, numbers, git refs) starts with "-".
need_value() {
  if (($# < 2)) || [[ $2 == -* ]]; then usage_error "$1 needs a value"; fi
}

# Whether $1 is a TCP port number (1 to 65535).
is_port() { [[ $1 =~ ^[1-9][0-9]{0,4}$ ]] && (($1 <= 65535)); }

# instance_ports TEMPLATE SYSTEMCTL-ARGS...: the ports of the app instances
# (TEMPLATE@<port>.service) that `systemctl SYSTEMCTL-ARGS` lists in its first column, sorted; ENERGYAPP_INSTANCE_PORTS
# (space-separated) instead when it is set.
instance_ports() {
  local template=$1
  shift
  if [[ -n ${ENERGYAPP_INSTANCE_PORTS:-} ]]; then
    printf '%s\n' "$ENERGYAPP_INSTANCE_PORTS" | tr ' ' '\n' | grep .
    return
  fi
  systemctl "$@" | awk '{print $1}' | sed -nE "s/^$template@([0-9]+)\.service$/\1/p" | sort -n
}

# check_ports PORT...: stop unless each is a port number (ENERGYAPP_INSTANCE_PORTS is the one way
# a non-number gets here: "8001,8002" would restart "energyapp@8001,8002" halfway through).
check_ports() {
  local port
  for port in "$@"; do
    is_port "$port" ||
      die "\"$port\" is not a port (ENERGYAPP_INSTANCE_PORTS: port numbers separated by spaces)"
  done
}

# check_seconds NAME VALUE [fraction]: stop, naming the setting NAME, unless VALUE is a whole
# number of seconds (with "fraction", or a decimal one, which sleep takes). Checked up front:
# bash's arithmetic on "1m" would stop an update halfway, between the new code and the restarts.
check_seconds() {
  local pattern='^[0-9]+$'
  if [[ ${3:-} == fraction ]]; then pattern='^[0-9]+(\.[0-9]+)?$'; fi
  [[ $2 =~ $pattern ]] || die "$1 must be a number of seconds, not \"$2\""
}

# wait_healthy NAME PORT SECONDS POLL: wait up to SECONDS, asking every POLL, until the instance
# NAME on PORT answers /health with status ok or degraded (a draining one answers 503).
wait_healthy() {
  local name=$1 port=$2 deadline=$((SECONDS + $3)) poll=$4 body
  while ((SECONDS < deadline)); do
    if body=$(curl -fsS --max-time 3 "http://127.0.0.1:$port/health" 2>/dev/null) &&
      [[ $body == *'"status":"ok"'* || $body == *'"status":"degraded"'* ]]; then
      log "$name healthy: $body"
      return 0
    fi
    sleep "$poll"
  done
  log "$name not healthy after $3 s"
  return 1
}

# Whether a database URL is PostgreSQL's, in any spelling the app accepts.
is_postgresql_url() { [[ $1 == postgres://* || $1 == postgresql://* || $1 == postgresql+*://* ]]; }

# ENERGYAPP_DB_URL accepts SQLAlchemy spellings (postgresql+asyncpg://, postgres://, ...);
# libpq (pg_dump, psql) only understands postgresql://. Sets LIBPQ_URL to the URL for libpq,
# without its password, which goes to PGPASSWORD instead (percent-decoded): a command line is
# visible to every user of the machine (ps), the environment only to the same user.
libpq_connect() {
  local url=$1 rest userinfo password
  is_postgresql_url "$url" ||
    die "not a PostgreSQL URL: ${url%%:*}:// (backups and restores need PostgreSQL)"
  rest=${url#*://}
  if [[ $rest == *@* ]]; then
    userinfo=${rest%%@*}
    if [[ $userinfo == *:* ]]; then
      password=${userinfo#*:}
      password=${password//\\/\\\\} # a backslash is the password's own, not an escape
      PGPASSWORD=$(printf '%b' "${password//%/\\x}")
      export PGPASSWORD
      rest="${userinfo%%:*}@${rest#*@}"
    fi
  fi
  # shellcheck disable=SC2034 # read by the scripts that source this file
  LIBPQ_URL="postgresql://$rest"
}

# Whether a libpq URL (LIBPQ_URL) goes to this host's Unix socket: no host, or a host that is a
# directory (postgresql://app@/energyapp?host=/var/run/postgresql, as deploy.sh writes it).
pg_url_is_socket() {
  local rest=${1#postgresql://} authority
  authority=${rest%%/*}
  authority=${authority##*@}
  if [[ $rest =~ [?\&]host=([^\&]*) ]]; then
    authority=${BASH_REMATCH[1]}
  fi
  [[ -z $authority || $authority == /* || $authority == %2[Ff]* ]]
}

# A libpq URL without its user name (libpq then connects as the system user running it).
pg_url_without_user() {
  local rest=${1#postgresql://} authority
  authority=${rest%%/*}
  printf 'postgresql://%s%s\n' "${authority#*@}" "${rest:${#authority}}"
}

# A setting as the app installed in DIR reads it (defaults < its settings file < DIR/.env <
# ENERGYAPP_* variables), printed by the app itself as USER (`energyapp settings get`), never
# re-read here from one of those sources: `app_setting /opt/energyapp energyapp ollama_model`.
app_setting() {
  local dir=$1 user=$2 name=$3
  (cd "$dir" && runuser -u "$user" -- "$dir/.venv/bin/energyapp" settings get "$name")
}

# check_kept_env DIR USER REDIS_URL: DIR/.env, never rewritten (its secret key, and so every
# session, survive a re-run of deploy.sh), checked through the app run as USER, which reads it
# with its other sources (the settings file, ENERGYAPP_* variables); a grep of .env missed those.
# The app must run in production, where it refuses a weak or default secret key itself; and
# ENERGYAPP_REDIS_URL=REDIS_URL is added only when no source sets redis_url (added over a Redis
# the settings file names, it would have moved the host onto a chat runtime of its own).
check_kept_env() {
  local dir=$1 user=$2 redis_url=$3 env app_redis
  env=$(app_setting "$dir" "$user" env) ||
    die "the app in $dir cannot read its settings (above): correct $dir/.env or the settings file"
  [[ $env == production ]] ||
    die "the app in $dir runs with env=$env: a server needs ENERGYAPP_ENV=production (in" \
      "$dir/.env), where the app refuses a weak secret key"
  app_redis=$(app_setting "$dir" "$user" redis_url) || die "the app cannot say its redis_url (above)"
  if [[ -n $app_redis ]]; then
    log "the app's settings: production, with Redis"
    return
  fi
  # Several instances share their chat runtime through Redis: the only line ever added.
  printf '# Added by scripts/deploy.sh: several instances share the chat runtime through Redis.\nENERGYAPP_REDIS_URL=%s\n' \
    "$redis_url" >>"$dir/.env"
  log "ENERGYAPP_REDIS_URL added to $dir/.env"
}

# ollama_drop_in SRC DIR USER: Ollama's drop-in SRC (deploy/ollama-energyapp.conf) with the values
# that must be the app's taken from the app in DIR, run as USER: OLLAMA_NUM_PARALLEL =
# ollama_max_parallel, OLLAMA_CONTEXT_LENGTH = num_ctx, OLLAMA_KEEP_ALIVE = keep_alive.
ollama_drop_in() {
  local src=$1 dir=$2 user=$3 parallel num_ctx keep_alive
  parallel=$(app_setting "$dir" "$user" ollama_max_parallel)
  num_ctx=$(app_setting "$dir" "$user" num_ctx)
  keep_alive=$(app_setting "$dir" "$user" keep_alive)
  # Written into a systemd line: a duration (30m, 1h30m, -1) and nothing else.
  [[ $keep_alive =~ ^-?[0-9][0-9a-z.]*$ ]] ||
    die "keep_alive \"$keep_alive\" is no duration Ollama takes (30m, 1h, -1)"
  sed -E -e "s/^(Environment=\"OLLAMA_NUM_PARALLEL=)[^\"]*/\1$parallel/" \
    -e "s/^(Environment=\"OLLAMA_CONTEXT_LENGTH=)[^\"]*/\1$num_ctx/" \
    -e "s/^(Environment=\"OLLAMA_KEEP_ALIVE=)[^\"]*/\1$keep_alive/" -- "$src"
}

# logrotate_config SRC DIR USER: the logrotate file SRC (deploy/logrotate) for the log file the app
# in DIR, run as USER, writes: its log_file, relative to DIR (the unit's working directory) unless
# absolute. A fixed logs/*.log missed a log_file in data/ or in a folder of logs/, which then grew
# forever. A path logrotate would read as several, or as a pattern, is refused.
logrotate_config() {
  local src=$1 dir=$2 user=$3 log_file path
  log_file=$(app_setting "$dir" "$user" log_file) || die "the app cannot say its log_file (above)"
  [[ -n $log_file ]] || die "the app's log_file is empty: set ENERGYAPP_LOG_FILE (docs/configuration.md)"
  if [[ $log_file == /* ]]; then path=$log_file; else path=$dir/$log_file; fi
  path=$(realpath -m -- "$path")
  [[ $path =~ ^/[A-Za-z0-9._/+-]+$ ]] ||
    die "log_file \"$log_file\": logrotate needs a plain path (letters, digits, . _ - + /), no" \
      "spaces or patterns: correct ENERGYAPP_LOG_FILE"
  # The one line that names what to rotate: "<path> {".
  sed -E "s#^/[^[:space:]]* \{\$#$path {#" -- "$src"
}

# install_caddy_config DIR SRC DOMAIN UPSTREAMS [EMAIL]: the Caddyfile SRC (with a global `email`
# option first when EMAIL is given) and the environment file it reads (ENERGYAPP_DOMAIN,
# ENERGYAPP_UPSTREAMS) become DIR/Caddyfile and DIR/energyapp.env only once `caddy validate`
# accepts them together: a bad candidate stops here and the working configuration stays as it
# was. A different previous Caddyfile is kept as Caddyfile.before-energyapp.<time>.
install_caddy_config() {
  local dir=$1 src=$2 domain=$3 upstreams=$4 email=${5:-} candidate candidate_env
  candidate=$(mktemp "$dir/.Caddyfile.candidate.XXXXXX")
  candidate_env=$(mktemp "$dir/.energyapp.env.candidate.XXXXXX")
  {
    if [[ -n $email ]]; then printf '{\n\temail %s\n}\n\n' "$email"; fi
    cat -- "$src"
  } >"$candidate"
  printf 'ENERGYAPP_DOMAIN=%s\nENERGYAPP_UPSTREAMS=%s\n' "$domain" "$upstreams" >"$candidate_env"
  chmod 0644 "$candidate" "$candidate_env"
  if ! ENERGYAPP_DOMAIN=$domain ENERGYAPP_UPSTREAMS=$upstreams \
    caddy validate --config "$candidate" --adapter caddyfile >/dev/null; then
    rm -f -- "$candidate" "$candidate_env"
    die "caddy validate refused the new configuration (above): $dir/Caddyfile is left as it was"
  fi
  if [[ -f $dir/Caddyfile ]] && ! cmp -s "$candidate" "$dir/Caddyfile"; then
    cp -p -- "$dir/Caddyfile" "$dir/Caddyfile.before-energyapp.$(date +%s)"
  fi
  mv -f -- "$candidate_env" "$dir/energyapp.env"
  mv -f -- "$candidate" "$dir/Caddyfile"
}
