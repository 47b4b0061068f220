#!/bin/bash
# tests/integration/auth.sh - wharfd's access control, end to end: an
# htpasswd file made with `htpasswd -B`, Docker token auth served by
# wharfd itself, per-repository rules, robot tokens and an external token
# issuer, driven with curl, skopeo and wharf.
#
# Rules of the config below:
#   team/*     alice pull,push,delete; group readers (bob) pull
#   bob/*      bob pull,push
#   public/**  anonymous pull; alice push
#   secret/*   alice pull,push
# Checks: 401 challenges with the route's scope; a wrong password and an
# unknown user get the same answer; the token flow with curl (granted =
# asked & allowed); 403 for authenticated callers without the right;
# anonymous pull of public/*; the catalog filtered per caller; a mount from
# an unreadable repository falls back to 202; robot tokens (create, use
# directly and through the token service, list, revoke, expiry); tokens of
# an external issuer (RS256 made with the openssl CLI; wrong audience and a
# key embedded in the header are refused); skopeo with --dest-creds and
# --src-creds; wharf login + push + pull; SIGHUP reloads the htpasswd file
# that `wharfd user add/del` rewrote.
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init
for t in htpasswd openssl; do
  if ! command -v $t >/dev/null; then
    skip "access control" "$t is not installed (deploy/install-deps --test)"
    wh_done
  fi
done
T=$WH_TMP
HT=$T/htpasswd
htpasswd -B -b -c "$HT" alice apw 2>/dev/null
htpasswd -B -b "$HT" bob bpw 2>/dev/null

# An external issuer's RSA key (its tokens are made below with openssl dgst).
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/ext.key" 2>/dev/null
openssl pkey -in "$T/ext.key" -pubout -out "$T/ext.pub" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/evil.key" 2>/dev/null

cat >"$T/cfg.json" <<EOF
{"auth": {"htpasswd": "$HT", "service": "wharf",
  "token": {"issuer": "wharfd-test", "ttl_s": 300},
  "issuers": [{"issuer": "ext-sso", "audience": "wharf", "keys": ["$T/ext.pub"]}],
  "groups": {"readers": ["bob"]},
  "rules": [
    {"repository": "team/*", "users": ["alice"], "actions": ["pull", "push", "delete"]},
    {"repository": "team/*", "groups": ["readers"], "actions": ["pull"]},
    {"repository": "bob/*", "users": ["bob"], "actions": ["pull", "push"]},
    {"repository": "public/**", "anonymous": true, "actions": ["pull"]},
    {"repository": "public/**", "users": ["alice"], "actions": ["push"]},
    {"repository": "secret/*", "users": ["alice"], "actions": ["pull", "push"]}]}}
EOF
wh_start -c "$T/cfg.json" || wh_done
REALM="http://$WH_HOST/v2/_wharf/token"

# as NAME: curl reads NAME's credentials from $T/NAME/.curlrc (CURL_HOME), so
# the lib.sh helpers (wh_req, wh_push_image, ...) run as that caller.
mk_as() {
  mkdir -p "$T/$1"
  printf '%s\n' "$2" >"$T/$1/.curlrc"
}
mk_as alice 'user = "alice:apw"'
mk_as bob 'user = "bob:bpw"'
mk_as anon ''
as() {
  local who=$1
  shift
  CURL_HOME=$T/$who "$@"
}
export CURL_HOME=$T/anon
mkfifo "$T/pause.fifo"
pause() { read -r -t "$1" _ <>"$T/pause.fifo" || true; } # a wait with no child process

# b64url_json TOKEN-PART: the JSON it encodes
b64url_json() {
  local s=$1
  s=$(printf '%s' "$s" | tr '_-' '/+')
  while (( ${#s} % 4 )); do s="$s="; done
  printf '%s' "$s" | base64 -d 2>/dev/null
}
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
claims() { b64url_json "$(cut -d. -f2 <<<"$1")"; }
# token USER:PW|- SCOPE...: a token from wharfd's token service ("" on failure)
token() {
  local cred=$1 q="service=wharf" s
  shift
  for s in "$@"; do q="$q&scope=$s"; done
  if [[ $cred == - ]]; then
    wh_req GET "/v2/_wharf/token?$q"
  else
    wh_req GET "/v2/_wharf/token?$q" -u "$cred"
  fi
  [[ $H_CODE == 200 ]] && jq -r .token <"$H_BODY"
}
granted() { claims "$1" | jq -c '[.access[] | [.name, (.actions | join(","))]]'; }

# ---- challenges ----------------------------------------------------------
wh_req GET /v2/
expect_err "anonymous GET /v2/ is 401 UNAUTHORIZED" 401 UNAUTHORIZED
expect_hdr "the challenge names wharfd's token realm and service" WWW-Authenticate \
  "^Bearer realm=\"$REALM\",service=\"wharf\"\$"
wh_req GET /v2/team/app/tags/list
expect "anonymous tag list of team/app is 401" 401
expect_hdr "its challenge has the pull scope" WWW-Authenticate 'scope="repository:team/app:pull"'
wh_req PUT /v2/team/app/manifests/v1 -H "Content-Type: $MT_OCI_MANIFEST" --data-binary '{}'
expect "anonymous manifest PUT is 401" 401
expect_hdr "its challenge asks for pull,push" WWW-Authenticate 'scope="repository:team/app:pull,push"'
wh_req DELETE /v2/team/app/manifests/v1
expect_hdr "a DELETE challenge asks for delete" WWW-Authenticate 'scope="repository:team/app:delete"'
wh_req GET /metrics
like "/metrics is not behind repository auth" "$H_CODE" '^(200|404)$'
wh_req GET /healthz
like "/healthz is not behind repository auth" "$H_CODE" '^(200|404)$'

# ---- same answer for a wrong password and an unknown user ---------------------
wh_req GET /v2/ -u alice:wrong
expect_err "a wrong password is 401" 401 UNAUTHORIZED
cp "$H_BODY" "$T/wrong.body"
h1=$(wh_hdr WWW-Authenticate)
wh_req GET /v2/ -u nobody:wrong
expect_err "an unknown user is 401" 401 UNAUTHORIZED
check "the same body for both" cmp -s "$H_BODY" "$T/wrong.body"
is "the same challenge for both" "$(wh_hdr WWW-Authenticate)" "$h1"
wh_req GET /v2/_wharf/token?service=wharf -u nobody:x
expect "the token service refuses an unknown user (401)" 401
wh_req GET /v2/ -u alice:apw
expect "basic auth of alice on /v2/ is 200" 200
wh_req GET /v2/ -H 'Authorization: Digest x'
expect "an unknown Authorization scheme is 401" 401

# ---- the token flow with curl ----------------------------------------------------
wh_req GET "/v2/_wharf/token?service=wharf&scope=repository:team/app:pull" -u alice:apw
expect "GET /v2/_wharf/token with basic credentials is 200" 200
expect_hdr "token answers are not cached" Cache-Control 'no-store'
is "token JSON has token, access_token, expires_in, issued_at" \
  "$(jq -c '[(.token == .access_token), .expires_in, (.issued_at | test("^[0-9-]+T[0-9:]+Z$"))]' <"$H_BODY")" \
  '[true,300,true]'
TA=$(token alice:apw repository:team/app:pull,push repository:secret/x:pull repository:bob/x:pull,push)
like "alice gets a token" "$TA" '^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$'
is "alice is granted what she asked and may do (nothing on bob/x)" "$(granted "$TA")" \
  '[["team/app","pull,push"],["secret/x","pull"]]'
is "the token names alice, wharfd-test and the service" "$(claims "$TA" | jq -r '[.sub, .iss, .aud] | join(" ")')" \
  "alice wharfd-test wharf"
TB=$(token bob:bpw repository:team/app:pull,push,delete)
is "bob asking pull,push,delete on team/app gets pull only" "$(granted "$TB")" '[["team/app","pull"]]'
TN=$(token - repository:public/lib:pull,push repository:team/app:pull)
is "an anonymous token gets pull of public/lib only" "$(granted "$TN")" '[["public/lib","pull"]]'
wh_req GET "/v2/_wharf/token?service=other&scope=repository:team/app:pull" -u alice:apw
expect "a token for another service is refused (400)" 400
wh_req GET /v2/ -H "Authorization: Bearer $TA"
expect "GET /v2/ with alice's token is 200" 200
wh_req GET /v2/team/app/tags/list -H "Authorization: Bearer $TA"
expect_err "tag list of a repository not pushed yet: 404 with the token" 404 NAME_UNKNOWN
wh_req GET /v2/bob/x/tags/list -H "Authorization: Bearer $TA"
expect_err "alice's token on bob/x (not allowed by the rules): 403 DENIED" 403 DENIED
wh_req GET /v2/secret/x/tags/list -H "Authorization: Bearer $TB"
expect_err "bob's token on secret/x: 403" 403 DENIED
wh_req GET /v2/public/lib/tags/list -H "Authorization: Bearer $TB"
expect "bob's token, anonymous-readable public/lib: not denied" 404
FORGED=$(cut -d. -f1 <<<"$TA").$(claims "$TA" | jq -c '.sub = "root" | .access[0].actions = ["*"]' | b64url).$(cut -d. -f3 <<<"$TA")
wh_req GET /v2/ -H "Authorization: Bearer $FORGED"
expect_err "a token whose claims were changed is 401" 401 UNAUTHORIZED
expect_hdr "with error=invalid_token" WWW-Authenticate 'error="invalid_token"'

# ---- pushes and pulls by rule (basic auth, as the lib.sh helpers run) --------------
as alice wh_push_image team/app v1 2048
expect "alice pushes team/app:v1" 201
TEAM_D=$WH_MDIGEST
TEAM_L=$WH_LFILE
check "the request log names alice" grep -q 'alice' "$WH_LOG"
if command -v python3 >/dev/null; then
  who=$(python3 -c 'import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
print(db.execute("SELECT h.who FROM tag_history h JOIN repos r ON r.id = h.repo_id"
                 " WHERE r.name = ? AND h.tag = ? ORDER BY h.id DESC LIMIT 1", ("team/app", "v1")).fetchone()[0])' \
    "$WH_ROOT/index.db" 2>&1)
  is "the tag history records alice as who moved team/app:v1" "$who" alice
else
  skip "tag history names the user" "python3 is not installed"
fi
as alice wh_push_image secret/x v1 1500
expect "alice pushes secret/x:v1" 201
SECRET_L=$(wh_digest "$WH_LFILE")
as alice wh_push_image public/lib v1 1000
expect "alice pushes public/lib:v1" 201
as bob wh_req GET /v2/team/app/manifests/v1 -H "Accept: $MT_OCI_MANIFEST"
expect "bob pulls team/app:v1" 200
as bob wh_req POST /v2/team/app/blobs/uploads/ -H 'Content-Length: 0'
expect_err "bob may not push to team/app (403 DENIED)" 403 DENIED
as bob wh_req DELETE "/v2/team/app/manifests/$TEAM_D"
expect_err "bob may not delete in team/app" 403 DENIED
as bob wh_req GET /v2/secret/x/manifests/v1 -H "Accept: $MT_OCI_MANIFEST"
expect_err "bob may not read secret/x" 403 DENIED
as bob wh_req HEAD "/v2/secret/x/blobs/$SECRET_L"
expect "bob's HEAD of a blob of secret/x is refused (403)" 403
wh_req GET /v2/public/lib/manifests/v1 -H "Accept: $MT_OCI_MANIFEST"
expect "anonymous pull of public/lib:v1" 200
wh_req GET /v2/team/app/manifests/v1 -H "Accept: $MT_OCI_MANIFEST"
expect "anonymous pull of team/app is 401" 401

# ---- catalog ----------------------------------------------------------------------
wh_req GET /v2/_catalog
is "anonymous catalog: public repositories only" "$(jq -c .repositories <"$H_BODY")" '["public/lib"]'
as bob wh_req GET /v2/_catalog
is "bob's catalog: what he may read" "$(jq -c .repositories <"$H_BODY")" '["public/lib","team/app"]'
as alice wh_req GET "/v2/_catalog?n=2"
is "alice's catalog, first page of 2" "$(jq -c .repositories <"$H_BODY")" '["public/lib","secret/x"]'
expect_hdr "with a next page" Link 'last=secret/x'
as bob wh_req GET "/v2/_catalog?n=1&last=public/lib"
is "bob's second page skips secret/x" "$(jq -c .repositories <"$H_BODY")" '["team/app"]'

# ---- mounts ---------------------------------------------------------------------------
as bob wh_req POST "/v2/bob/x/blobs/uploads/?mount=$SECRET_L&from=secret/x" -H 'Content-Length: 0'
expect "a mount from unreadable secret/x falls back to an upload (202)" 202
as bob wh_req POST "/v2/bob/x/blobs/uploads/?mount=$SECRET_L" -H 'Content-Length: 0'
expect "a mount without from falls back to an upload (202)" 202
as bob wh_req HEAD "/v2/bob/x/blobs/$SECRET_L"
expect "the secret blob looks missing from bob/x (404)" 404
TEAM_LD=$(wh_digest "$TEAM_L")
as bob wh_req POST "/v2/bob/x/blobs/uploads/?mount=$TEAM_LD&from=team/app" -H 'Content-Length: 0'
expect "a mount from readable team/app is 201" 201

# ---- the matrix: every caller x repository x endpoint ------------------------------------
# rights CALLER REPO: the actions the rules above give (robot mx: team/*, pull,delete;
# robots, like everyone, may also do what anonymous callers may)
rights() {
  case $1:$2 in
    alice:team/*) echo pull,push,delete ;;
    alice:public/* | alice:secret/*) echo pull,push ;;
    bob:team/*) echo pull ;;
    bob:bob/*) echo pull,push ;;
    mx:team/*) echo pull,delete ;;
    *:public/*) echo pull ;;
  esac
}
MX=$("$WHARFD" token create mx --repo 'team/*' --actions pull,delete --root "$WH_ROOT" 2>/dev/null)
mk_as mx "user = \"mx:$MX\""
NOPE=sha256:$(printf '%064d' 0)
NOID=0123456789abcdef0123456789abcdef
# ACTION METHOD PATH-AFTER-REPO [CURL ARGS...] (no request changes anything that exists)
ENDPOINTS=(
  "pull GET /tags/list"
  "pull GET /manifests/v1"
  "pull HEAD /manifests/v1"
  "pull GET /blobs/$NOPE"
  "pull HEAD /blobs/$NOPE"
  "pull GET /referrers/$NOPE"
  "push POST /blobs/uploads/"
  "push GET /blobs/uploads/$NOID"
  "push PATCH /blobs/uploads/$NOID"
  "push PUT /blobs/uploads/$NOID?digest=$NOPE"
  "push DELETE /blobs/uploads/$NOID"
  "push PUT /manifests/matrix"
  "delete DELETE /manifests/$NOPE"
  "delete DELETE /blobs/$NOPE"
)
bad=()
n=0
for who in anon alice bob mx; do
  for repo in team/app public/lib secret/x bob/x; do
    r=$(rights "$who" "$repo")
    for e in "${ENDPOINTS[@]}"; do
      read -r act m path <<<"$e"
      if [[ $m == GET || $m == HEAD ]]; then
        as "$who" wh_req "$m" "/v2/$repo$path"
      else
        as "$who" wh_req "$m" "/v2/$repo$path" -H "Content-Type: $MT_OCI_MANIFEST" --data-binary '{}'
      fi
      n=$((n + 1))
      if [[ ,$r, == *,$act,* ]]; then
        [[ $H_CODE == 401 || $H_CODE == 403 || $H_CODE == 000 ]] && bad+=("$who $m $repo$path: $H_CODE, expected access")
      elif [[ $who == anon ]]; then
        [[ $H_CODE == 401 ]] || bad+=("$who $m $repo$path: $H_CODE, expected 401")
      else
        [[ $H_CODE == 403 ]] || bad+=("$who $m $repo$path: $H_CODE, expected 403")
      fi
    done
  done
done
pass_if "auth matrix: $n requests (4 callers x 4 repositories x ${#ENDPOINTS[@]} endpoints) answered by the rules" \
  "${#bad[@]}" "${bad[@]:0:20}"
# A token row: alice's token for team/app:pull only.
TP=$(token alice:apw repository:team/app:pull)
bad=()
for e in "${ENDPOINTS[@]}"; do
  read -r act m path <<<"$e"
  for repo in team/app secret/x bob/x; do
    wh_req "$m" "/v2/$repo$path" -H "Authorization: Bearer $TP"
    case $repo:$act in
      team/app:pull) want='(200|404)' ;;
      bob/x:* | secret/x:delete) want=403 ;; # alice may not: no token can help
      *) want=401 ;; # alice may, the token lacks the scope: ask for another
    esac
    [[ $H_CODE =~ ^$want$ ]] || bad+=("token $m $repo$path: $H_CODE, expected $want")
  done
done
pass_if "token matrix: a pull token of team/app, against every endpoint of three repositories" "${#bad[@]}" \
  "${bad[@]:0:20}"

# ---- robot tokens -----------------------------------------------------------------------
SECRET=$("$WHARFD" token create ci --repo 'team/*' --actions pull,push --root "$WH_ROOT" 2>"$T/tok.err")
like "token create prints a secret once" "$SECRET" '^wharf_[0-9a-f]{40}$'
check "the secret is not stored in clear" bash -c "! grep -rqa '$SECRET' '$WH_ROOT'"
"$WHARFD" token create ci --repo 'x' --actions pull --root "$WH_ROOT" >/dev/null 2>&1
is "a second robot of the same name is refused (exit 1)" "$?" 1
"$WHARFD" token create ci2 --repo 'x' --actions fly --root "$WH_ROOT" >/dev/null 2>&1
is "unknown actions are refused (exit 2)" "$?" 2
mk_as ci "user = \"ci:$SECRET\""
as ci wh_req GET /v2/team/app/tags/list
expect "the robot reads team/app with basic auth" 200
as ci wh_push_image team/ci v1 700
expect "the robot pushes team/ci:v1" 201
as ci wh_req POST /v2/public/x/blobs/uploads/ -H 'Content-Length: 0'
expect_err "the robot may not push outside its pattern" 403 DENIED
TR=$(token "ci:$SECRET" repository:team/app:pull,push,delete repository:secret/x:pull)
is "the token service grants the robot its scope only" "$(granted "$TR")" '[["team/app","pull,push"]]'
wh_req GET /v2/team/app/tags/list -H "Authorization: Bearer $TR"
expect "the robot's bearer token works" 200
like "token list shows the robot active" "$("$WHARFD" token list --root "$WH_ROOT")" $'ci\tteam/\\*\tpull,push\tnever\tactive'
check "token revoke" "$WHARFD" token revoke ci --root "$WH_ROOT"
as ci wh_req GET /v2/team/app/tags/list
expect "a revoked robot's basic auth is 401" 401
wh_req GET /v2/team/app/tags/list -H "Authorization: Bearer $TR"
expect "a revoked robot's token is 401 at once" 401
like "token list shows it revoked" "$("$WHARFD" token list --root "$WH_ROOT")" $'ci\t.*\trevoked'
S2=$("$WHARFD" token create short --repo 'team/*' --actions pull --expires 4s --root "$WH_ROOT" 2>/dev/null)
mk_as short "user = \"short:$S2\""
as short wh_req GET /v2/team/app/tags/list
expect "a robot with --expires 4s works at first" 200
for _ in $(seq 1 120); do # bounded wait for its expiry (4 s of wall time)
  as short wh_req GET /v2/team/app/tags/list
  [[ $H_CODE == 401 ]] && break
  pause 0.25
done
expect "and is refused once expired" 401
like "token list shows it expired" "$("$WHARFD" token list --root "$WH_ROOT")" $'short\t.*\texpired'

# ---- an external issuer's tokens (RS256 made with the openssl CLI) -------------------------
# ext_token KEY HEADER-JSON CLAIMS-JSON
ext_token() {
  local h p
  h=$(printf '%s' "$2" | b64url)
  p=$(printf '%s' "$3" | b64url)
  printf '%s.%s.%s' "$h" "$p" "$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -sign "$1" | b64url)"
}
NOW=$(date +%s)
EXT_CLAIMS=$(jq -cn --argjson now "$NOW" '{iss: "ext-sso", sub: "ext-ci", aud: "wharf", exp: ($now + 300),
  access: [{type: "repository", name: "team/app", actions: ["pull"]}]}')
TE=$(ext_token "$T/ext.key" '{"alg":"RS256","typ":"JWT"}' "$EXT_CLAIMS")
wh_req GET /v2/team/app/tags/list -H "Authorization: Bearer $TE"
expect "an external issuer's token reads team/app" 200
wh_req GET /v2/secret/x/tags/list -H "Authorization: Bearer $TE"
expect "outside its access claim: 401" 401
expect_hdr "with error=insufficient_scope and the scope" WWW-Authenticate \
  'scope="repository:secret/x:pull",error="insufficient_scope"'
TW=$(ext_token "$T/ext.key" '{"alg":"RS256"}' "$(jq -c '.aud = "other"' <<<"$EXT_CLAIMS")")
wh_req GET /v2/team/app/tags/list -H "Authorization: Bearer $TW"
expect "a token for another audience is 401" 401
TX=$(ext_token "$T/ext.key" '{"alg":"RS256"}' "$(jq -c --argjson now "$NOW" '.exp = ($now - 600)' <<<"$EXT_CLAIMS")")
wh_req GET /v2/team/app/tags/list -H "Authorization: Bearer $TX"
expect "an expired token is 401" 401
JWK=$(jq -cn --arg x5c "$(openssl req -new -x509 -key "$T/evil.key" -subj /CN=evil -days 1 2>/dev/null |
  sed '1d;$d' | tr -d '\n')" '{alg: "RS256", typ: "JWT", x5c: [$x5c], jwk: {kty: "RSA", e: "AQAB", n: "AQAB"}}')
TJ=$(ext_token "$T/evil.key" "$JWK" "$EXT_CLAIMS")
wh_req GET /v2/team/app/tags/list -H "Authorization: Bearer $TJ"
expect "a token signed by a key embedded in its header (jwk, x5c) is 401" 401
TNONE=$(printf '%s' '{"alg":"none"}' | b64url).$(printf '%s' "$EXT_CLAIMS" | b64url).
wh_req GET /v2/team/app/tags/list -H "Authorization: Bearer $TNONE"
expect "alg none is 401" 401

# ---- skopeo through the token flow --------------------------------------------------------
if command -v skopeo >/dev/null; then
  wh_containers_env
  SK=(timeout 120 skopeo --policy "$WH_POLICY" --tmpdir "$TMPDIR")
  bash "${TOP_SRCDIR:-${BASH_SOURCE%/*}/../..}/tests/fixtures/mkoci.sh" -t v1 "$T/src" 4096 20000 >/dev/null
  check "skopeo copy --dest-creds alice -> team/sk" "${SK[@]}" copy --dest-tls-verify=false \
    --dest-creds alice:apw "oci:$T/src:v1" "docker://$WH_HOST/team/sk:v1"
  "${SK[@]}" copy --dest-tls-verify=false --dest-creds bob:bpw "oci:$T/src:v1" "docker://$WH_HOST/team/sk:v2" \
    >/dev/null 2>&1
  is "skopeo copy --dest-creds bob to team/sk is refused" "$?" 1
  check "skopeo copy --src-creds bob team/sk -> oci:" "${SK[@]}" copy --src-tls-verify=false \
    --src-creds bob:bpw "docker://$WH_HOST/team/sk:v1" "oci:$T/back:v1"
  check "skopeo anonymous copy of public/lib" "${SK[@]}" copy --src-tls-verify=false \
    "docker://$WH_HOST/public/lib:v1" "oci:$T/pub:v1"
  "${SK[@]}" inspect --tls-verify=false --raw "docker://$WH_HOST/team/sk:v1" >/dev/null 2>&1
  is "skopeo anonymous inspect of team/sk is refused" "$?" 1
else
  skip "skopeo through the token flow" "skopeo is not installed"
fi

# ---- wharf login + push + pull ---------------------------------------------------------------
WHARF_BIN=${TOP_BUILDDIR:-.}/wharf
if [[ -x $WHARF_BIN ]]; then
  . "${BASH_SOURCE%/*}/client_lib.sh"
  R1=$(wf_root)
  wf "$R1" --quiet pull "$WH_HOST/team/app:v1" >/dev/null 2>"$T/wf.err"
  is "wharf pull of team/app without login exits 4" "$?" 4
  wf "$R1" login -u alice -p nope "$WH_HOST" >/dev/null 2>&1
  is "wharf login with a wrong password exits 4" "$?" 4
  check "wharf login alice" wf "$R1" login -u alice -p apw "$WH_HOST"
  out=$(wf "$R1" --quiet pull "$WH_HOST/team/app:v1" 2>"$T/wf.err")
  is "wharf pull of team/app through the token flow" "$out" "$TEAM_D"
  check "wharf tag" wf "$R1" tag "$WH_HOST/team/app:v1" "$WH_HOST/team/wf:v1"
  out=$(wf "$R1" --quiet push "$WH_HOST/team/wf:v1" 2>"$T/wf.err")
  is "wharf push to team/wf through the token flow" "$out" "$TEAM_D"
  R2=$(wf_root)
  check "wharf login bob (another store, same config)" wf "$R2" login -u bob -p bpw "$WH_HOST"
  out=$(wf "$R2" --quiet pull "$WH_HOST/team/wf:v1" 2>"$T/wf.err")
  is "bob pulls team/wf with wharf" "$out" "$TEAM_D"
  check "bob tags it into team/" wf "$R2" tag "$WH_HOST/team/wf:v1" "$WH_HOST/team/bobs:v1"
  wf "$R2" --quiet push "$WH_HOST/team/bobs:v1" >/dev/null 2>"$T/wf.err"
  is "bob's wharf push to team/ is refused (exit 4)" "$?" 4
else
  skip "wharf login + push + pull" "wharf is not built"
fi

# ---- wharfd user add/del and SIGHUP ----------------------------------------------------------
printf 'cpw\n' | "$WHARFD" user add carol --password-stdin --htpasswd "$HT"
is "wharfd user add carol" "$?" 0
is "the htpasswd file is mode 0600" "$(stat -c %a "$HT")" 600
like "user list" "$("$WHARFD" user list --htpasswd "$HT" | tr '\n' ' ')" '^alice bob carol $'
like "the new hash is bcrypt" "$(grep '^carol:' "$HT")" '^carol:\$2[by]\$'
check "wharfd user del bob" "$WHARFD" user del bob --config "$T/cfg.json"
"$WHARFD" user del nobody --htpasswd "$HT" 2>/dev/null
is "deleting an unknown user exits 1" "$?" 1
wh_req GET /v2/ -u carol:cpw
expect "before SIGHUP carol is not known yet" 401
kill -HUP "$WH_PID"
for _ in $(seq 1 40); do # bounded: the reload runs in the signal loop
  wh_req GET /v2/ -u carol:cpw
  [[ $H_CODE == 200 ]] && break
  pause 0.25
done
expect "after SIGHUP carol logs in" 200
wh_req GET /v2/ -u bob:bpw
expect "and bob (deleted) no longer does" 401
check "wharfd still runs after SIGHUP" wh_alive "$WH_PID"
check "the reload was logged" grep -q 'SIGHUP: reloaded' "$WH_LOG"

# ---- basic-only mode, basic over plain HTTP refused ------------------------------------------
printf '{"auth": {"htpasswd": "%s", "realm": "wharf basic", "basic_over_http": "never",
  "rules": [{"repository": "**", "users": ["*"], "actions": ["pull"]}]}}\n' "$HT" >"$T/basic.json"
wh_start -c "$T/basic.json" || wh_done
wh_req GET /v2/
expect "basic-only wharfd: anonymous /v2/ is 401" 401
expect_hdr "with a Basic challenge naming the realm" WWW-Authenticate '^Basic realm="wharf basic"'
wh_req GET /v2/ -u alice:apw
expect_err "basic_over_http never: credentials over plain HTTP are refused (403)" 403 DENIED
wh_req GET /v2/_wharf/token -u alice:apw
expect "no token section: the token route is refused" 403
wh_req GET /v2/_wharf/token
expect "and answers 404 without credentials" 404
# ---- a configured RS256 signing key: tokens verify with the openssl CLI -----------------------
printf '{"auth": {"token": {"key": "%s", "issuer": "rs"}, "rules": [{"repository": "**", "anonymous": true,
  "actions": ["pull"]}]}}\n' "$T/ext.key" >"$T/rs.json"
wh_start -c "$T/rs.json" || wh_done
check "no ephemeral-key warning with auth.token.key" bash -c "! grep -q ephemeral '$WH_LOG'"
TRS=$(token - repository:any/thing:pull)
is "the token header says RS256" "$(b64url_json "$(cut -d. -f1 <<<"$TRS")" | jq -r .alg)" RS256
cut -d. -f3 <<<"$TRS" | tr '_-' '/+' | { read -r s; while (( ${#s} % 4 )); do s="$s="; done; printf '%s' "$s"; } |
  base64 -d >"$T/rs.sig"
printf '%s' "$(cut -d. -f1-2 <<<"$TRS")" >"$T/rs.signed"
check "its signature verifies with openssl dgst and the public key" \
  openssl dgst -sha256 -verify "$T/ext.pub" -signature "$T/rs.sig" "$T/rs.signed"
wh_req GET /v2/any/thing/tags/list -H "Authorization: Bearer $TRS"
expect "and wharfd accepts it (404: nothing pushed)" 404

printf '{"auth": {"rules": [{"repository": "x", "actions": ["fly"]}]}}\n' >"$T/bad.json"
"$WHARFD" --listen 127.0.0.1:0 --root "$T/badroot" --config "$T/bad.json" >/dev/null 2>"$T/bad.err"
is "a rule with an unknown action: wharfd exits 2" "$?" 2
like "naming the key" "$(cat "$T/bad.err")" 'auth\.rules\[0\]\.actions'

wh_done
