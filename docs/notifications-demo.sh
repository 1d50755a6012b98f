#!/usr/bin/env bash
# The README's notifications demo as one runnable script: an enterprise saves a search and registers a webhook, a
# university publishes a matching patent, and the enterprise hears of it — in its inbox, on its live stream (SSE,
# curl -N) and through a signed webhook delivery that docs/webhook_receiver.py verifies.
#
#   AUTH_BOOTSTRAP_ADMIN_EMAIL=admin@example.cn AUTH_BOOTSTRAP_ADMIN_PASSWORD='change-me-now-42' make run
#   bash docs/notifications-demo.sh     # in another terminal; needs curl, jq and python3
#
# Variables (all optional): BASE_URL (default http://127.0.0.1:8000), ADMIN_EMAIL, ADMIN_PASSWORD (the bootstrap
# platform admin, defaults as in docs/walkthrough.sh), RECEIVER_PORT (the webhook receiver's loopback port, default
# 9009), RUN (suffix of the e-mail addresses, default the current time).
#
# `make run` is the development environment, where a webhook may call http://127.0.0.1 (in production only https
# URLs that resolve to public addresses are accepted: docs/webhooks.md). Like the walkthrough it stops at the first
# HTTP error and runs once per DATA_DIR (the organizations' credit codes are fixed); run again on the same data, it
# says so and exits 0 without changing anything.
set -euo pipefail
B=${BASE_URL:-http://127.0.0.1:8000}
ADMIN_EMAIL=${ADMIN_EMAIL:-admin@example.cn}
ADMIN_PASSWORD=${ADMIN_PASSWORD:-change-me-now-42}
RECEIVER_PORT=${RECEIVER_PORT:-9009}
RUN=${RUN:-$(date +%s)}
HERE=$(dirname "${BASH_SOURCE[0]}")
# curl that stops at the first HTTP error, json, token, signup, known, step: see docs/lib.sh.
. "$HERE/lib.sh"

WORK=$(mktemp -d)
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
# Wait up to 15 s for a file to hold a line matching a pattern (the stream and the receiver write as events come).
wait_for() {
  for _ in $(seq 60); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.25; done
  echo "nothing matching $2 in $1 after 15 s:" >&2; cat "$1" >&2; return 1
}

ADMIN=$(token "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
DONE=$(curl -sS "$B/auth/organizations?kind=enterprise&limit=100" -H "Authorization: Bearer $ADMIN" \
  | jq -r '.items[] | select(.credit_code == "91500112MA60QT4L13") | "\(.name) (\(.credit_code))"')
if [ -n "$DONE" ]; then
  echo "already ran on this data: $DONE is signed up at $B; nothing changed."
  echo "To run the demo again, start the server on a fresh DATA_DIR (make run DATA_DIR=/some/new/dir)."
  exit 0
fi

step "1. a university and an enterprise sign up and are verified"
UNI=$(signup 电子科技大学 university 12510000450720000P 510108 "tto+$RUN@uestc.example.cn")
ENT=$(signup 重庆某新能源科技有限公司 enterprise 91500112MA60QT4L13 500112 "rd+$RUN@energy.example.cn")
for ORG in $UNI $ENT; do curl -sS -X POST $B/auth/organizations/$ORG/verify -H "Authorization: Bearer $ADMIN" >/dev/null; done
SELLER=$(token "tto+$RUN@uestc.example.cn" 'correct horse battery')
BUYER=$(token "rd+$RUN@energy.example.cn" 'correct horse battery')
known $UNI && known $ENT

step "2. the enterprise's admin registers a webhook (the secret is shown once) and starts a receiver for it"
HOOK=$(json $B/market/webhooks -H "Authorization: Bearer $BUYER" -d "{
  \"url\": \"http://127.0.0.1:$RECEIVER_PORT/techmarket\", \"event_types\": [\"saved_search.match\"],
  \"description\": \"研发部的需求对接系统\"}")
echo "$HOOK" | jq -c '{url, event_types, secret: (.secret[0:6] + "…")}'
echo "$HOOK" | jq -r .secret > "$WORK/secret.txt"
python3 "$HERE/webhook_receiver.py" "$RECEIVER_PORT" "$WORK/secret.txt" > "$WORK/receiver.log" &
PIDS+=($!)

step "3. the enterprise saves a search twice: alerts in its inbox, and to its webhook"
json $B/market/saved-searches -H "Authorization: Bearer $BUYER" -d '{"name": "固态电池电解质",
  "q": "固态电池 电解质", "matching": "all", "technical_field": "new_energy", "channel": "inbox", "frequency": "instant"}' \
  | jq -c '{name, q, matching, technical_field, channel, frequency}'
json $B/market/saved-searches -H "Authorization: Bearer $BUYER" -d '{"name": "固态电池电解质（对接系统）",
  "q": "固态电池 电解质", "matching": "all", "technical_field": "new_energy", "channel": "webhook", "frequency": "instant"}' \
  | jq -c '{name, channel}'

step "4. the enterprise listens to its live stream (Server-Sent Events)"
command curl -sS -N $B/market/notifications/stream -H "Authorization: Bearer $BUYER" > "$WORK/stream.log" &
PIDS+=($!)
sleep 1

step "5. the university lists a patent on sulfide solid electrolytes and publishes it"
A=$(json $B/market/achievements -H "Authorization: Bearer $SELLER" -H "Idempotency-Key: demo-$RUN-1" -d '{
  "title": "一种硫化物固态电池电解质及其制备方法",
  "summary": "以硫化锂和五硫化二磷为原料，球磨后低温热处理得到高离子电导率的硫化物电解质，可用于全固态锂电池",
  "keywords": ["固态电池", "硫化物电解质", "离子电导率"], "technical_field": "new_energy", "ipc_codes": ["H01M 10/0562"],
  "ip_type": "invention_patent", "trl": 5, "transfer_modes": ["transfer", "ordinary_license"],
  "price": {"kind": "negotiable"}, "contact": {"name": "张老师", "phone": "028-61830000"}}' | jq -r .id)
json -X POST $B/market/achievements/$A/publish -H "Authorization: Bearer $SELLER" -H 'If-Match: "v1"' | jq -c '{status}'

step "6. the enterprise hears of it: the live stream, the inbox, the webhook"
wait_for "$WORK/stream.log" '^data:'
grep -v '^data:' "$WORK/stream.log" | grep . || true                      # retry: hint, id:, event:
grep -m1 '^data:' "$WORK/stream.log" | cut -c7- | jq -c '{type, title}'   # data: the notification, as in the inbox
curl -sS $B/market/notifications/unread-count -H "Authorization: Bearer $BUYER" | jq -c .
curl -sS "$B/market/notifications?unread=true" -H "Authorization: Bearer $BUYER" \
  | jq -c '.items[] | {type, title, saved_search: .data.saved_search_name, snippet: .data.snippet, reasons: .data.reasons}'
wait_for "$WORK/receiver.log" '"verified": true'
jq -c '{type, verified, title: .data.title}' "$WORK/receiver.log"
HOOK_ID=$(echo "$HOOK" | jq -r .id)
curl -sS $B/market/webhooks/$HOOK_ID/deliveries -H "Authorization: Bearer $BUYER" \
  | jq -c '.items[] | {event_type, status, attempts: [.attempts[] | {status_code}]}'
