#!/bin/bash
# tests/integration/usage.sh - storage accounting: GET /v2/_wharf/usage and
# `wharfd du` (table and --json) against sizes computed from what was
# pushed: bytes per repository, shared bytes (a layer mounted into a second
# repository), the store total, and what GC would free (an old loose blob).
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init
command -v sqlite3 >/dev/null || {
  echo "Bail out! sqlite3 is not installed (run deploy/install-deps --test)"
  exit 1
}
T=$WH_TMP
printf '{"gc": {"grace": "1h", "recent": "10m"}}\n' >"$T/cfg.json"
wh_start -c "$T/cfg.json" || wh_done
ROOT=$WH_ROOT

sz() { wh_size "$1"; }

wh_push_image acct/a v1 10000 || not_ok "push acct/a" "$(wh_fail_diag 201)"
LA=$WH_LFILE CA=$WH_CFILE MA=$WH_MFILE
# b: a's layer mounted, plus its own layer, config and manifest
wh_req POST "/v2/acct/b/blobs/uploads/?mount=$(wh_digest "$LA")&from=acct/a" -H 'Content-Length: 0'
expect "a's layer is mounted into b" 201
wh_rand "$T/lb" 5000
wh_mk_config "$T/cb" "$LA" "$T/lb"
wh_mk_manifest "$T/mb" "$T/cb" "$LA" "$T/lb"
wh_blob_push acct/b "$T/lb" && wh_blob_push acct/b "$T/cb" && wh_manifest_push acct/b v1 "$T/mb"
expect "b's image is pushed" 201
wh_rand "$T/loose" 3000
wh_blob_push acct/c "$T/loose"
DLOOSE=$WH_DIGEST
sqlite3 -cmd ".timeout 10000" "$ROOT/index.db" \
  "UPDATE blobs SET created = created - 7200 WHERE digest = '$DLOOSE';
   UPDATE repo_blobs SET created = created - 7200 WHERE digest = '$DLOOSE';"

A=$(($(sz "$LA") + $(sz "$CA") + $(sz "$MA")))
B=$(($(sz "$LA") + $(sz "$T/lb") + $(sz "$T/cb") + $(sz "$T/mb")))
TOTAL=$((A + B - $(sz "$LA") + 3000))

wh_req GET /v2/_wharf/usage
expect "GET /v2/_wharf/usage is 200" 200
U=$T/usage.json
cp "$H_BODY" "$U"
is "a: bytes" "$(jq '.repositories[] | select(.name == "acct/a") | .bytes' "$U")" "$A"
is "a: shared bytes (its layer, mounted into b)" \
  "$(jq '.repositories[] | select(.name == "acct/a") | .shared_bytes' "$U")" "$(sz "$LA")"
is "a: blobs, manifests, tags" \
  "$(jq -c '.repositories[] | select(.name == "acct/a") | [.blobs, .manifests, .tags]' "$U")" "[3,1,1]"
is "b: bytes" "$(jq '.repositories[] | select(.name == "acct/b") | .bytes' "$U")" "$B"
is "b: shared bytes" "$(jq '.repositories[] | select(.name == "acct/b") | .shared_bytes' "$U")" "$(sz "$LA")"
is "c: bytes" "$(jq '.repositories[] | select(.name == "acct/c") | .bytes' "$U")" 3000
is "total store bytes count the shared layer once" "$(jq .total_bytes "$U")" "$TOTAL"
is "total blobs (the shared layer once)" "$(jq .total_blobs "$U")" 7
is "shared bytes of the store" "$(jq .shared_bytes "$U")" "$(sz "$LA")"
is "GC would free the old loose blob" "$(jq -c '.gc | [.reclaimable_bytes, .reclaimable_blobs]' "$U")" "[3000,1]"
wh_req GET "/v2/acct/c/blobs/$DLOOSE"
expect "computing what GC would free removed nothing" 200

"$WHARFD" du --config "$T/cfg.json" --root "$ROOT" --json >"$T/du.json" 2>"$T/du.err"
is "wharfd du --json exits 0" "$?" 0
is "wharfd du --json agrees with the endpoint" "$(jq -S . "$T/du.json")" "$(jq -S . "$U")"
out=$("$WHARFD" du --config "$T/cfg.json" --root "$ROOT" 2>&1)
like "wharfd du prints a table row per repository" "$out" $'\nacct/b +[0-9.]+ [KMG]?i?B +9.8 KiB +4 +1 +1\n'
like "wharfd du prints the total" "$out" "total: .* in 7 blobs \\($TOTAL bytes\\)"
like "wharfd du prints what GC would free" "$out" 'gc would free: 2\.9 KiB \(1 blobs, 0 manifests\)'

wh_done
