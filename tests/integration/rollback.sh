#!/bin/bash
# tests/integration/rollback.sh - releases and rollback (issue 7), registry
# side and the client's tag history and rollback:
#   - GET /v2/<name>/_wharf/history/<tag>: every move newest first with its
#     digests and who, paginated with Link; the discovery endpoint;
#   - POST /v2/<name>/_wharf/rollback/<tag> (curl and `wharf rollback
#     --remote`): default one step, {"steps": N}, {"digest": D}; each is
#     recorded; a deleted target is refused (409), an unknown tag is 404;
#   - conditional manifest PUTs: If-Match with the current digest wins, a
#     stale one is 412; of two concurrent conditional PUTs exactly one wins;
#     If-None-Match: * only creates;
#   - immutable tags: refused on retag, delete and rollback (403 DENIED);
#   - with access control a pull-only user reads the history but cannot roll
#     back, and the history names the user who moved the tag;
#   - `wharfd gc --grace 0 --delete-untagged` keeps rollback targets;
#   - the client: `wharf tag-history` / `history --tags` (local and remote),
#     `wharf rollback` of a local tag, and against docker-registry from its
#     own push records (refused clearly when the target was deleted there).
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init
. "${BASH_SOURCE%/*}/client_lib.sh"
T=$WH_TMP

cat >"$T/cfg.json" <<EOF
{"immutable_tags": [{"repository": "app*", "tags": ["v*"]}]}
EOF
wh_start -c "$T/cfg.json" || wh_done

hist() { wh_req GET "/v2/$1/_wharf/history/$2${3:-}"; }
rollback() { wh_req POST "/v2/$1/_wharf/rollback/$2" ${3:+-H 'Content-Type: application/json' --data-binary "$3"}; }
cur() { wh_req HEAD "/v2/$1/manifests/$2" -H "Accept: $MT_OCI_MANIFEST"; wh_hdr Docker-Content-Digest; }
jb() { jq -r "$1" <"$H_BODY" 2>/dev/null; }

# ---- history ---------------------------------------------------------------
wh_push_image app prod || not_ok "push v1 as app:prod" "$H_CODE $(wh_body)"
D1=$WH_MDIGEST
M1=$WH_MFILE
wh_push_image app prod || not_ok "push v2 as app:prod" "$H_CODE $(wh_body)"
D2=$WH_MDIGEST
M2=$WH_MFILE
hist app prod
expect "history of app:prod is 200" 200
is "history names the repository and the tag" "$(jb '.name + ":" + .tag')" "app:prod"
is "history has both moves" "$(jb '.moves | length')" 2
is "newest move first: v1 -> v2" "$(jb '.moves[0].old + " " + .moves[0].new')" "$D1 $D2"
is "then the creation: none -> v1" "$(jb '(.moves[1].old // "none") + " " + .moves[1].new')" "none $D1"
is "anonymous moves have who null" "$(jb '.moves[0].who')" null
like "move time is RFC 3339 UTC" "$(jb '.moves[0].time')" '^20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-9:]{8}\.[0-9]{3}Z$'
is "ids grow" "$(jb '.moves[0].id > .moves[1].id')" true
hist app prod '?n=1'
is "n=1 gives one move" "$(jb '.moves | length')" 1
like "n=1 answers a Link to the next page" "$(wh_hdr Link)" "^</v2/app/_wharf/history/prod\\?last=[0-9]+&n=1>; rel=\"next\"\$"
NEXT=$(wh_hdr Link | sed 's/^<\([^>]*\)>.*/\1/')
wh_req GET "$NEXT"
is "the next page has the older move" "$(jb '.moves[0].new')" "$D1"
is "the last page has no Link" "$(wh_hdr Link)" ""
hist app nosuchtag
expect_err "history of an unknown tag" 404 MANIFEST_UNKNOWN
hist nosuchrepo prod
expect_err "history of an unknown repository" 404 NAME_UNKNOWN
hist app prod '?n=x'
expect_err "history with a bad n" 400 PAGINATION_NUMBER_INVALID
wh_req GET /v2/_oci/ext/discover
expect "the extension discovery endpoint is 200" 200
is "discovery lists _wharf with the history endpoint" \
  "$(jb '.extensions[] | select(.name == "_wharf") | .endpoints | index("<name>/_wharf/history/<tag>") != null')" true

# ---- rollback with curl ---------------------------------------------------
rollback app prod
expect "POST rollback (one step) is 200" 200
is "rollback answers the new digest and the previous one" "$(jb '.tag + " " + .digest + " " + .previous')" "prod $D1 $D2"
is "app:prod serves v1 again" "$(cur app prod)" "$D1"
hist app prod
is "the rollback is recorded, newest first" "$(jb '.moves | length') $(jb '.moves[0].old + " " + .moves[0].new')" "3 $D2 $D1"
wh_push_image app prod || not_ok "push v3 as app:prod" "$H_CODE $(wh_body)"
D3=$WH_MDIGEST
rollback app prod '{"steps": 2}'
expect "rollback {steps: 2} is 200" 200
is "two steps back from v3 (v3, v1, v2) is v2" "$(cur app prod)" "$D2"
rollback app prod "{\"digest\": \"$D3\"}"
expect "rollback {digest} is 200" 200
is "rollback to a digest moves the tag there" "$(cur app prod)" "$D3"
rollback app prod '{"steps": 100}'
expect_err "rollback past the start of history" 409 MANIFEST_UNKNOWN
rollback app nosuchtag
expect_err "rollback of an unknown tag" 404 MANIFEST_UNKNOWN
rollback app prod '{"steps": 1, "digest": "x"}'
expect "a rollback body with two targets is 400" 400
rollback app prod '{"digest": "sha256:nothex"}'
expect_err "a rollback to a bad digest" 400 DIGEST_INVALID
wh_req DELETE "/v2/app/manifests/$D2"
expect "delete manifest v2" 202
rollback app prod "{\"digest\": \"$D2\"}"
expect_err "rollback to a deleted manifest is refused" 409 MANIFEST_UNKNOWN
like "the refusal names the gone manifest" "$(jb '.errors[0].message')" "$D2 is gone"
is "app:prod did not move" "$(cur app prod)" "$D3"
wh_req POST /v2/app/_wharf/rollback/prod -H "If-Match: \"$D1\""
expect_err "a rollback with a stale If-Match" 412 PRECONDITION_FAILED
is "app:prod did not move after the 412" "$(cur app prod)" "$D3"

# ---- conditional PUTs --------------------------------------------------------
wh_req PUT /v2/app/manifests/prod -H "Content-Type: $MT_OCI_MANIFEST" -H "If-Match: \"$D3\"" --data-binary "@$M1"
expect "PUT with If-Match: the current digest is 201" 201
is "the tag moved" "$(cur app prod)" "$D1"
wh_req PUT /v2/app/manifests/prod -H "Content-Type: $MT_OCI_MANIFEST" -H "If-Match: \"$D3\"" --data-binary "@$M2"
expect_err "PUT with a stale If-Match" 412 PRECONDITION_FAILED
like "412 names the current digest" "$(jb '.errors[0].message')" "points at $D1"
is "after a 412 the tag did not move" "$(cur app prod)" "$D1"
wh_req PUT /v2/app/manifests/prod -H "Content-Type: $MT_OCI_MANIFEST" -H "If-Match: $D1" --data-binary "@$M1"
expect "an unquoted If-Match is understood" 201
# a manifest the registry never had, refused by its condition, leaves nothing behind (fsck at the end)
wh_mk_manifest "$T/fresh.json" -A note=fresh "$WH_CFILE" "$WH_LFILE"
wh_req PUT /v2/app/manifests/prod -H "Content-Type: $MT_OCI_MANIFEST" -H "If-Match: \"$D2\"" --data-binary "@$T/fresh.json"
expect_err "a new manifest with a stale If-Match" 412 PRECONDITION_FAILED
wh_req GET "/v2/app/manifests/$(wh_digest "$T/fresh.json")" -H "Accept: $MT_OCI_MANIFEST"
expect "the refused manifest is not stored" 404
wh_req PUT /v2/app/manifests/newtag -H "Content-Type: $MT_OCI_MANIFEST" -H "If-Match: *" --data-binary "@$M1"
expect_err "If-Match: * on a missing tag" 412 PRECONDITION_FAILED
wh_req PUT /v2/app/manifests/newtag -H "Content-Type: $MT_OCI_MANIFEST" -H "If-None-Match: *" --data-binary "@$M1"
expect "If-None-Match: * creates a new tag" 201
wh_req PUT /v2/app/manifests/newtag -H "Content-Type: $MT_OCI_MANIFEST" -H "If-None-Match: *" --data-binary "@$M1"
expect_err "If-None-Match: * on an existing tag" 412 PRECONDITION_FAILED
wh_req PUT /v2/app/manifests/prod -H "Content-Type: $MT_OCI_MANIFEST" -H "If-Match: \"a\", \"b\"" --data-binary "@$M1"
expect "a list in If-Match is 400" 400
wh_req PUT "/v2/app/manifests/$D1" -H "Content-Type: $MT_OCI_MANIFEST" -H "If-Match: $D1" --data-binary "@$M1"
expect "If-Match on a PUT by digest is 400" 400

# Two pipelines race with the same If-Match: exactly one wins, whatever the order.
wh_push_image app race || not_ok "push app:race" "$H_CODE"
DR0=$WH_MDIGEST
MR0=$WH_MFILE
wh_push_image app other-a && MA=$WH_MFILE && DA=$WH_MDIGEST
wh_push_image app other-b && MB=$WH_MFILE && DB=$WH_MDIGEST
for i in 1 2 3 4 5; do
  pids=()
  for side in a b; do
    f=$MA
    [[ $side == b ]] && f=$MB
    ( curl -s -o /dev/null -w '%{http_code}\n' -m 30 -X PUT -H "Content-Type: $MT_OCI_MANIFEST" \
        -H "If-Match: \"$DR0\"" --data-binary "@$f" "$WH_URL/v2/app/manifests/race" >"$T/race.$i.$side" ) &
    pids+=($!)
    wh_track $!
  done
  wait "${pids[@]}"
  got=$(cat "$T/race.$i.a" "$T/race.$i.b" | sort | tr '\n' ' ')
  is "race $i: one conditional PUT wins, the other gets 412" "$got" "201 412 "
  now=$(cur app race)
  [[ $now == "$DA" || $now == "$DB" ]] && ok "race $i: the tag points at the winner" || not_ok "race $i: tag" "$now"
  # back to the start for the next round (unconditional)
  wh_manifest_push app race "$MR0"
done

# ---- immutable tags -------------------------------------------------------------
wh_req PUT /v2/app/manifests/v1.2 -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$M1"
expect "first push of an immutable tag is allowed" 201
wh_req PUT /v2/app/manifests/v1.2 -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$M1"
expect "pushing the same manifest again is allowed" 201
wh_req PUT /v2/app/manifests/v1.2 -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$MA"
expect_err "moving an immutable tag" 403 DENIED
is "the refusal says so" "$(jb '.errors[0].message')" "tag v1.2 is immutable"
wh_req PUT "/v2/app/manifests/$DA?tag=v1.2" -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$MA"
expect_err "moving an immutable tag with ?tag=" 403 DENIED
wh_req DELETE /v2/app/manifests/v1.2
expect_err "deleting an immutable tag" 403 DENIED
wh_req DELETE "/v2/app/manifests/$D1"
expect_err "deleting the manifest an immutable tag points at" 403 DENIED
rollback app v1.2
expect_err "rolling back an immutable tag" 403 DENIED
is "the immutable tag still points at v1" "$(cur app v1.2)" "$D1"
wh_push_image other v1.2 && wh_push_image other v1.2
expect "tags outside the rule's repositories move freely" 201

# ---- GC keeps rollback targets ------------------------------------------------------
wh_push_image gcapp prod && G1=$WH_MDIGEST && GL1=$(wh_digest "$WH_LFILE")
wh_push_image gcapp prod && G2=$WH_MDIGEST
wh_push_image gcapp prod && G3=$WH_MDIGEST
out=$("$WHARFD" gc --root "$WH_ROOT" --grace 0 --recent 0 --delete-untagged 2>&1)
is "wharfd gc --grace 0 --delete-untagged runs" "$?" 0
for d in "$G1" "$G2" "$G3"; do
  wh_req GET "/v2/gcapp/manifests/$d" -H "Accept: $MT_OCI_MANIFEST"
  expect "after gc the rollback target ${d:7:12} is still pullable" 200
done
wh_req GET "/v2/gcapp/blobs/$GL1"
expect "after gc the oldest target's layer is still pullable" 200
rollback gcapp prod '{"steps": 2}'
expect "after gc a two-step rollback works" 200
is "and serves the oldest image" "$(cur gcapp prod)" "$G1"

# ---- the client: wharfd -------------------------------------------------------------
R=$(wf_root)
mk_fixture -t v1 "$T/fx1" 3000 >/dev/null
mk_fixture -t v2 "$T/fx2" 3000 >/dev/null
wf "$R" load -i "$T/fx1" "$WH_HOST/web" >/dev/null 2>&1
wf "$R" load -i "$T/fx2" "$WH_HOST/web" >/dev/null 2>&1
W1=$(jq -r '.manifests[0].digest' "$T/fx1/index.json")
W2=$(jq -r '.manifests[0].digest' "$T/fx2/index.json")
wf "$R" tag "$WH_HOST/web:v1" "$WH_HOST/web:prod" && wf "$R" push "$WH_HOST/web:prod" >/dev/null 2>"$T/err"
is "wharf push v1 as web:prod" "$?" 0
wf "$R" tag "$WH_HOST/web:v2" "$WH_HOST/web:prod" && wf "$R" push "$WH_HOST/web:prod" >/dev/null 2>"$T/err"
is "wharf push v2 as web:prod" "$?" 0
out=$(wf "$R" tag-history --remote --format json "$WH_HOST/web:prod" 2>&1)
is "wharf tag-history --remote shows both moves newest first" \
  "$(jq -r '[.moves[].new] | join(" ")' <<<"$out")" "$W2 $W1"
out=$(wf "$R" history --tags "$WH_HOST/web:prod" 2>&1)
like "wharf history --tags (local) prints the local moves" "$out" "$W1 -> $W2"
out=$(wf "$R" rollback --remote "$WH_HOST/web:prod" 2>&1)
is "wharf rollback --remote on wharfd" "$out" "$WH_HOST/web:prod: $W1 (was $W2)"
is "web:prod serves v1 on the registry" "$(cur web prod)" "$W1"
hist web prod
is "the registry recorded the client's rollback" "$(jb '.moves[0].old + " " + .moves[0].new')" "$W2 $W1"
out=$(wf "$R" rollback --remote --to "$W2" "$WH_HOST/web:prod" 2>&1)
is "wharf rollback --remote --to DIGEST" "$(cur web prod)" "$W2"
out=$(wf "$R" rollback --remote --steps 99 "$WH_HOST/web:prod" 2>&1)
st=$?
[[ $st != 0 ]] && ok "a rollback past the history fails (exit $st)" || not_ok "a rollback past the history fails" "$out"
like "and says why" "$out" "earlier target"

# local rollback
out=$(wf "$R" rollback "$WH_HOST/web:prod" 2>&1)
is "wharf rollback of a local tag" "$out" "$WH_HOST/web:prod: $W1 (was $W2)"
out=$(wf "$R" tag-history --format json "$WH_HOST/web:prod" 2>&1)
is "the local history records it, who = wharf rollback" "$(jq -r '.moves[0].who + " " + .moves[0].new' <<<"$out")" "wharf rollback $W1"
wf "$R" rollback --to "$W1" --steps 2 "$WH_HOST/web:prod" >/dev/null 2>&1
is "--to with --steps is a usage error" "$?" 2

# ---- access control: a pull-only user cannot roll back --------------------------------
if command -v htpasswd >/dev/null; then
  htpasswd -B -b -c "$T/htpasswd" alice apw 2>/dev/null
  htpasswd -B -b "$T/htpasswd" bob bpw 2>/dev/null
  cat >"$T/auth.json" <<EOF
{"auth": {"htpasswd": "$T/htpasswd", "service": "wharf", "token": {"issuer": "wharfd-test", "ttl_s": 300},
  "rules": [{"repository": "team/*", "users": ["alice"], "actions": ["pull", "push", "delete"]},
            {"repository": "team/*", "users": ["bob"], "actions": ["pull"]}]}}
EOF
  URL0=$WH_URL
  wh_start -c "$T/auth.json" || wh_done
  printf 'user = "alice:apw"\n' >"$T/alice.curlrc"
  printf 'user = "bob:bpw"\n' >"$T/bob.curlrc"
  mkdir -p "$T/alice" "$T/bob"
  cp "$T/alice.curlrc" "$T/alice/.curlrc"
  cp "$T/bob.curlrc" "$T/bob/.curlrc"
  CURL_HOME=$T/alice wh_push_image team/app prod && A1=$WH_MDIGEST
  CURL_HOME=$T/alice wh_push_image team/app prod && A2=$WH_MDIGEST
  CURL_HOME=$T/bob hist team/app prod
  expect "a pull-only user reads the history" 200
  is "the history names who moved the tag" "$(jb '.moves[0].who')" alice
  CURL_HOME=$T/bob rollback team/app prod
  expect_err "a pull-only user cannot roll back" 403 DENIED
  is "the tag did not move" "$(CURL_HOME=$T/alice cur team/app prod)" "$A2"
  CURL_HOME=$T/alice rollback team/app prod
  expect "a user with push rolls back" 200
  CURL_HOME=$T/alice hist team/app prod
  is "the rollback is recorded as alice's" "$(jb '.moves[0].who + " " + .moves[0].new')" "alice $A1"
  wh_req POST /v2/team/app/_wharf/rollback/prod
  expect "an anonymous rollback is 401" 401
  # the client, logged in as the pull-only user, then as alice (token auth)
  RA=$(wf_root)
  wf "$RA" login -u bob -p bpw "$WH_HOST" >/dev/null 2>&1
  out=$(wf "$RA" tag-history --remote --format json "$WH_HOST/team/app:prod" 2>&1)
  is "wharf tag-history --remote as a pull-only user" "$(jq -r '.moves[0].who + " " + .moves[0].new' <<<"$out")" "alice $A1"
  out=$(wf "$RA" rollback --remote "$WH_HOST/team/app:prod" 2>&1)
  st=$?
  is "wharf rollback --remote as a pull-only user exits 4 (denied)" "$st" 4
  is "and the tag did not move" "$(CURL_HOME=$T/alice cur team/app prod)" "$A1"
  wf "$RA" login -u alice -p apw "$WH_HOST" >/dev/null 2>&1
  out=$(wf "$RA" rollback --remote "$WH_HOST/team/app:prod" 2>&1)
  is "wharf rollback --remote as alice" "$out" "$WH_HOST/team/app:prod: $A2 (was $A1)"
  WH_URL=$URL0
else
  skip "access control" "htpasswd is not installed"
fi

# ---- the client against docker-registry --------------------------------------------------
if dr_start; then
  R2=$(wf_root)
  wf "$R2" load -i "$T/fx1" "$DR_HOST/web" >/dev/null 2>&1
  wf "$R2" load -i "$T/fx2" "$DR_HOST/web" >/dev/null 2>&1
  drcur() { curl -s -o /dev/null -D - -m 30 --head -H "Accept: $MT_OCI_MANIFEST" "http://$DR_HOST/v2/web/manifests/prod" |
    tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p'; }
  wf "$R2" tag "$DR_HOST/web:v1" "$DR_HOST/web:prod" && wf "$R2" push "$DR_HOST/web:prod" >/dev/null 2>&1
  wf "$R2" tag "$DR_HOST/web:v2" "$DR_HOST/web:prod" && wf "$R2" push "$DR_HOST/web:prod" >/dev/null 2>&1
  is "docker-registry has v2 as web:prod" "$(drcur)" "$W2"
  out=$(wf "$R2" tag-history --remote --format json "$DR_HOST/web:prod" 2>&1)
  is "tag-history --remote on docker-registry shows the client's pushes" \
    "$(jq -r '[.moves[].new] | join(" ")' <<<"$out")" "$W2 $W1"
  out=$(wf "$R2" rollback --remote "$DR_HOST/web:prod" 2>&1)
  is "wharf rollback --remote on docker-registry (client records)" "$out" "$DR_HOST/web:prod: $W1 (was $W2)"
  is "docker-registry serves v1 as web:prod" "$(drcur)" "$W1"
  out=$(wf "$R2" rollback --remote "$DR_HOST/web:prod" 2>&1)
  is "a second rollback undoes the first" "$(drcur)" "$W2"
  curl -s -o /dev/null -m 30 -X DELETE "http://$DR_HOST/v2/web/manifests/$W1"
  out=$(wf "$R2" rollback --remote "$DR_HOST/web:prod" 2>&1)
  st=$?
  [[ $st != 0 ]] && ok "rollback to a manifest deleted on docker-registry fails (exit $st)" ||
    not_ok "rollback to a manifest deleted on docker-registry fails" "$out"
  like "with a clear message" "$out" "the previous manifest $W1 is gone from $DR_HOST"
  is "web:prod did not move" "$(drcur)" "$W2"
  dr_stop
else
  skip "docker-registry" "docker-registry is not installed or did not start"
fi

wh_done
