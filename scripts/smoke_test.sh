#!/usr/bin/env bash
# End-to-end check of a running EnergyApp LLM: health, login, /auth/me, a short chat answered over
# Server-Sent Events, and that conversation in the list (deleted afterwards unless --keep).
#
#   scripts/smoke_test.sh [--keep] [--timeout SECONDS] URL
#
# Credentials: SMOKE_EMAIL and SMOKE_PASSWORD (default: the demo account trabajador@example.com,
# which exists only after `energyapp seed-demo`). Use an account without 2FA.
# Exit status 0 when every step passed; otherwise non-zero, with "FAILED: <step>" on stderr.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh"

keep=false
chat_timeout=180
url=""
while (($#)); do
  case $1 in
    --keep) keep=true; shift ;;
    --timeout) need_value "$@"; chat_timeout=$2; shift 2 ;;
    -h | --help) script_help; exit 0 ;;
    -*) usage_error "unknown option: $1" ;;
    *) [[ -z $url ]] || usage_error "only one URL"; url=${1%/}; shift ;;
  esac
done
[[ -n $url ]] || usage_error "URL is missing"
[[ $chat_timeout =~ ^[1-9][0-9]*$ ]] || usage_error "--timeout must be a whole number of seconds"
email=${SMOKE_EMAIL:-trabajador@example.com}
password=${SMOKE_PASSWORD:-worker123}

work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
step=""
fail() {
  echo "FAILED: $step: $*" >&2
  exit 1
}
ok() { echo "ok   $step${1:+: $1}"; }

# json FILE 'expression over d (and arg)' [ARG]: a value from a JSON file (python3 is on every
# Ubuntu server; jq is not).
json() {
  python3 -c 'import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
print(eval(sys.argv[2], {"d": d, "arg": sys.argv[3] if len(sys.argv) > 3 else None}))' "$@"
}

# request METHOD PATH [BODY_FILE] -> status on stdout, body in $work/body. The token travels in a
# header file, never on the command line (other users can read process arguments).
request() {
  local method=$1 path=$2 body=${3:-}
  local args=(-sS -o "$work/body" -w '%{http_code}' --max-time 30 -X "$method" -H @"$work/headers")
  [[ -z $body ]] || args+=(-H 'Content-Type: application/json' --data-binary @"$body")
  : >"$work/body"
  curl "${args[@]}" "$url$path" || true
}

umask 077
: >"$work/headers"

step="health"
status=$(request GET /health)
[[ $status != 000 ]] || fail "no answer from $url (is the app running? is the URL right?)"
[[ $status == 200 ]] || fail "GET /health answered $status: $(head -c 300 "$work/body")"
health=$(json "$work/body" 'd["status"]')
[[ $health == ok || $health == degraded ]] || fail "status $health"
ok "$health (db $(json "$work/body" 'd["db"]'), ollama $(json "$work/body" 'd["ollama"]'))"
if [[ $(json "$work/body" 'd.get("ollama_stand_in", False)') == True ]]; then
  echo "WARNING: the model server is the project's STAND-IN Ollama: answers are synthetic" >&2
fi

step="login"
EMAIL=$email PASSWORD=$password python3 -c 'import json, os
print(json.dumps({"email": os.environ["EMAIL"], "password": os.environ["PASSWORD"]}))' >"$work/login.json"
status=$(request POST /auth/login "$work/login.json")
[[ $status == 200 ]] || fail "POST /auth/login answered $status: $(head -c 300 "$work/body")"
[[ $(json "$work/body" 'd.get("requires_2fa", False)') == False ]] ||
  fail "$email has 2FA enabled: use an account without it (SMOKE_EMAIL, SMOKE_PASSWORD)"
printf 'Authorization: Bearer %s\n' "$(json "$work/body" 'd["access_token"]')" >"$work/headers"
ok "$email"

step="auth/me"
status=$(request GET /auth/me)
[[ $status == 200 ]] || fail "GET /auth/me answered $status"
me=$(json "$work/body" 'd["email"]')
[[ ${me,,} == "${email,,}" ]] || fail "/auth/me is $me, expected $email"
ok "role $(json "$work/body" 'd["role"]')"

step="chat"
printf '{"message": "Prueba de humo: responde con una frase corta."}' >"$work/chat.json"
start=$(date +%s%N)
status=$(curl -sS -N -o "$work/stream" -w '%{http_code}' --max-time "$chat_timeout" -X POST \
  -H @"$work/headers" -H 'Content-Type: application/json' -H 'Accept: text/event-stream' \
  --data-binary @"$work/chat.json" "$url/chat") || fail "the stream broke off (curl exit $?)"
[[ $status == 200 ]] || fail "POST /chat answered $status: $(head -c 300 "$work/stream")"
python3 - "$work/stream" "$work/chat_result.json" <<'PY' || fail "$(cat "$work/chat_error" 2>/dev/null || echo "bad stream")"
import json, sys
events = []
for block in open(sys.argv[1], encoding="utf-8").read().replace("\r\n", "\n").split("\n\n"):
    name, data = "message", []
    for line in block.splitlines():
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
    if data:
        events.append((name, json.loads("\n".join(data))))
names = [n for n, _ in events]
def die(msg):
    open(sys.argv[1].rsplit("/", 1)[0] + "/chat_error", "w").write(msg)
    sys.exit(1)
if not events or names[0] != "meta":
    die(f"no meta event first (events: {names[:5]})")
errors = [d for n, d in events if n == "error"]
if errors:
    die(f"error event: {errors[0].get('code')}: {errors[0].get('detail')}")
done = [d for n, d in events if n == "done"]
if not done:
    die(f"no done event (events: {names[-5:]})")
if done[0].get("status") != "complete":
    die(f"answer ended as {done[0].get('status')}")
text = "".join(d.get("content", "") for n, d in events if n == "token")
if not text.strip():
    die("no token events: the answer is empty")
json.dump({"conversation_id": events[0][1]["conversation_id"], "chars": len(text),
           "tokens": names.count("token")}, open(sys.argv[2], "w"))
PY
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
conversation=$(json "$work/chat_result.json" 'd["conversation_id"]')
ok "$(json "$work/chat_result.json" 'd["chars"]') characters in $(json "$work/chat_result.json" 'd["tokens"]') token events, ${elapsed_ms} ms"

step="conversation listed"
status=$(request GET "/conversations?limit=50")
[[ $status == 200 ]] || fail "GET /conversations answered $status"
[[ $(json "$work/body" "any(i['id'] == arg for i in d['items'])" "$conversation") == True ]] ||
  fail "conversation $conversation is not in GET /conversations"
ok "$conversation"

if ! $keep; then
  step="clean-up"
  status=$(request DELETE "/conversations/$conversation")
  [[ $status == 204 ]] || fail "DELETE /conversations/$conversation answered $status"
  ok "conversation deleted"
fi
echo "smoke test passed: $url"
