#!/usr/bin/env bash
# Firewall for the EnergyApp LLM server (UFW): SSH, HTTP and HTTPS in; everything else closed.
# The app instances (8001-8016) and Ollama (11434) listen on 127.0.0.1 only, and are also denied explicitly here,
# so that a listener bound to 0.0.0.0 by mistake is still unreachable from outside. Loopback
# traffic is always allowed by UFW's built-in rules. Idempotent; run as root.
#
#   deploy/ufw.sh [--ssh-port N] [--dry-run]
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$(readlink -f "$0")")/../scripts/lib.sh"

ssh_port=${SSH_PORT:-22}
dry=()
while (($#)); do
  case $1 in
    --ssh-port) need_value "$@"; ssh_port=$2; shift 2 ;;
    --dry-run) dry=(--dry-run); shift ;;
    -h | --help) script_help; exit 0 ;;
    *) usage_error "unknown option: $1" ;;
  esac
done
is_port "$ssh_port" || usage_error "--ssh-port must be a port number (1 to 65535)"

ufw() { command ufw "${dry[@]}" "$@"; }

ufw default deny incoming
ufw default allow outgoing
# limit: more than 6 new connections in 30 s from one address are refused (SSH brute force).
ufw limit "$ssh_port/tcp" comment 'SSH'
ufw allow 80/tcp comment 'Caddy: HTTP (ACME, redirect to HTTPS)'
ufw allow 443/tcp comment 'Caddy: HTTPS'
ufw allow 443/udp comment 'Caddy: HTTP/3'
ufw deny 8001:8016/tcp comment 'EnergyApp instances: loopback only'
ufw deny 11434/tcp comment 'Ollama: loopback only'
ufw --force enable
ufw status verbose

# Warn about listeners that should be on loopback only.
if command -v ss >/dev/null; then
  exposed=$(ss -Hltn '( ( sport >= :8001 and sport <= :8016 ) or sport = :11434 )' | awk '$4 !~ /^(127\.0\.0\.1|\[::1\]):/ {print $4}')
  if [[ -n $exposed ]]; then
    echo "WARNING: listening beyond loopback: $exposed (bind the app and Ollama to 127.0.0.1)" >&2
  fi
fi
