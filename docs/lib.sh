# Shell helpers of the docs' scripts (docs/walkthrough.sh, docs/notifications-demo.sh): sourced, not run.
# They read B (the server's base URL).

# Every call stops the script at its first HTTP error, printing the problem+json body on stderr (not into
# the jq that reads the answer).
curl() {
  local body status=0
  body=$(command curl --fail-with-body "$@") || status=$?
  if [ "$status" -ne 0 ]; then printf '%s\n' "$body" >&2; return "$status"; fi
  printf '%s\n' "$body"
}
json() { curl -sS -H 'Content-Type: application/json' "$@"; }
# Auth's relay publishes organization changes to market's directory within a moment: wait until market knows one.
known() {
  for _ in $(seq 40); do curl -sS "$B/market/directory/organizations/$1" >/dev/null 2>&1 && return 0; sleep 0.25; done
  echo "market does not know organization $1 after 10 s: is auth's relay running?" >&2; return 1
}
token() { curl -sS $B/auth/token -d grant_type=password --data-urlencode "username=$1" --data-urlencode "password=$2" | jq -r .access_token; }
# Signup answers the same 202 for a new and a taken email (the outcome goes to the address: `techmarket auth messages
# EMAIL`); the new user learns the organization's id by signing in.
orgof() { curl -sS $B/auth/me -H "Authorization: Bearer $(token "$1" "$2")" | jq -r .organization_id; }
signup() {  # name kind credit_code region email → organization id
  json $B/auth/signup -d "{\"organization\": {\"name\": \"$1\", \"kind\": \"$2\", \"credit_code\": \"$3\", \"region_code\": \"$4\"},
    \"user\": {\"email\": \"$5\", \"password\": \"correct horse battery\", \"name\": \"$1\"}}" >/dev/null
  orgof "$5" 'correct horse battery'
}
step() { printf '\n== %s\n' "$*"; }
