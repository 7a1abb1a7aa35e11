#!/usr/bin/env bash
# Firewall for the EnergyApp LLM server (UFW): SSH, HTTP and HTTPS in; everything else closed.
# The app instances (8001-8016) and Ollama (11434) listen on 127.0.0.1 only, and are also denied explicitly here,
# so that a listener bound to 0.0.0.0 by mistake is still unreachable from outside. Loopback
# traffic is always allowed by UFW's built-in rules. Idempotent; run as root.
#
#   deploy/ufw.sh [--ssh-port N] [--dry-run]
set -euo pipefail

ssh_port=${SSH_PORT:-22}
dry=()
while (($#)); do
  case $1 in
    --ssh-port) ssh_port=$2; shift 2 ;;
    --dry-run) dry=(--dry-run); shift ;;
    -h | --help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ $ssh_port =~ ^[0-9]+$ ]] || { echo "--ssh-port must be a number" >&2; exit 2; }

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
