#!/bin/bash
# tests/integration/quota.sh - what wharfd lets in:
#   - a byte quota over a repository pattern refuses an upload whose
#     Content-Length would exceed it (403 DENIED, clear message, nothing
#     written), and one whose size was unknown at its start when it ends
#     (session gone); repositories outside the pattern are not limited;
#   - a tag quota refuses a manifest PUT that adds a tag past it, while
#     moving an existing tag is fine;
#   - read-only mode (--read-only, or "read_only": true): reads work, every
#     write is 405 UNSUPPORTED "registry is in read-only mode";
#   - a free-disk floor (storage.min_free) refuses pushes before any byte
#     is written (507 DENIED), reads still work.
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init
T=$WH_TMP

uploads_files() { find "$ROOT/uploads" -type f | wc -l; }
err_msg() { jq -r '.errors[0].message // empty' <"$H_BODY" 2>/dev/null; }

# ---- settings are checked ----------------------------------------------------------
for bad in '{"gc": {"grace": "5x"}}' '{"storage": {"min_free": "1Q"}}' '{"quotas": [{"max_bytes": 1}]}' \
  '{"quotas": [{"pattern": "a/*", "colour": 1}]}' '{"uploads": {"max_age": 0}}'; do
  printf '%s\n' "$bad" >"$T/bad.json"
  out=$("$WHARFD" --config "$T/bad.json" --listen 127.0.0.1:0 --root "$T/never" 2>&1)
  is "a bad setting is refused at start (exit 2): $bad" "$?" 2
  like "... with a message naming it: $bad" "$out" '^wharfd: config ".*bad.json": "(grace|min_free|quotas|max_age)'
done

cat >"$T/quota.json" <<'EOF'
{"quotas": [{"pattern": "team/*", "max_bytes": "10KiB"},
            {"pattern": "tagged/*", "max_tags": 2}]}
EOF
wh_start -c "$T/quota.json" || wh_done
ROOT=$WH_ROOT

# ---- bytes ---------------------------------------------------------------------
wh_rand "$T/six" 6144
wh_blob_push team/a "$T/six"
expect "a push under the team quota is 201" 201
wh_rand "$T/six2" 6144
before=$(uploads_files)
wh_blob_push_single team/b "$T/six2"
expect_err "a push past the team quota (Content-Length) is 403 DENIED" 403 DENIED
is "the refusal says which quota and by how much" "$(err_msg)" "quota of team/* exceeded: 12 KiB of 10 KiB"
is "nothing was written for the refused push" "$(uploads_files)" "$before"
wh_req HEAD "/v2/team/b/blobs/$(wh_digest "$T/six2")"
expect "the refused blob is not stored" 404

# size unknown at the start (chunked transfer): refused when it ends
wh_upload_start team/c
expect "an upload with no size yet may start" 202
LOC=$WH_LOC
wh_req PUT "$(wh_q "$LOC" "digest=$(wh_digest "$T/six2")")" -H 'Content-Type: application/octet-stream' \
  -H 'Transfer-Encoding: chunked' --data-binary "@$T/six2"
expect_err "the upload is refused when it ends past the quota" 403 DENIED
wh_req GET "$LOC"
expect "the refused upload session is gone" 404
wh_req HEAD "/v2/team/c/blobs/$(wh_digest "$T/six2")"
expect "the blob refused at its end is not stored" 404

wh_rand "$T/big" 20000
wh_blob_push other/x "$T/big"
expect "a repository outside the pattern is not limited" 201
wh_blob_push team/a "$T/six"
expect "pushing a blob the repository already has again is fine" 201

# ---- tags ----------------------------------------------------------------------
wh_rand "$T/l" 100
wh_mk_config "$T/c" "$T/l"
wh_blob_push tagged/app "$T/l"
wh_blob_push tagged/app "$T/c"
wh_mk_manifest "$T/m1" "$T/c" "$T/l"
wh_manifest_push tagged/app t1 "$T/m1"
expect "first tag under the tag quota" 201
wh_manifest_push tagged/app t2 "$T/m1"
expect "second tag under the tag quota" 201
wh_manifest_push tagged/app t3 "$T/m1"
expect_err "a third tag past max_tags 2 is 403 DENIED" 403 DENIED
like "the tag refusal is clear" "$(err_msg)" '^tag quota of tagged/\* exceeded: 3 tags of 2$'
wh_req GET /v2/tagged/app/tags/list
is "the refused tag does not exist" "$(jq -c '.tags' <"$H_BODY")" '["t1","t2"]'
wh_manifest_push tagged/app t1 "$T/m1"
expect "re-pushing an existing tag is not a new tag" 201
MD=$(wh_digest "$T/m1")
wh_stop

# ---- read-only mode ------------------------------------------------------------------
for how in flag config; do
  if [[ $how == flag ]]; then
    # wh_start has no extra flags: a wrapper adds --read-only
    printf '#!/bin/sh\nexec "%s" "$@" --read-only\n' "$WHARFD" >"$T/ro-wharfd"
    chmod +x "$T/ro-wharfd"
    SAVED=$WHARFD
    WHARFD=$T/ro-wharfd
    wh_start -r "$ROOT" || wh_done
    WHARFD=$SAVED
  else
    printf '{"read_only": true}\n' >"$T/ro.json"
    wh_start -r "$ROOT" -c "$T/ro.json" || wh_done
  fi
  wh_req GET "/v2/tagged/app/manifests/t1" -H "Accept: $MT_OCI_MANIFEST"
  expect "read-only ($how): manifests read" 200
  wh_req GET "/v2/team/a/blobs/$(wh_digest "$T/six")"
  expect "read-only ($how): blobs read" 200
  wh_req POST /v2/team/a/blobs/uploads/ -H 'Content-Length: 0'
  expect_err "read-only ($how): POST upload is 405 UNSUPPORTED" 405 UNSUPPORTED
  is "read-only ($how): the message says why" "$(err_msg)" "registry is in read-only mode"
  wh_manifest_push tagged/app t9 "$T/m1"
  expect_err "read-only ($how): manifest PUT is 405" 405 UNSUPPORTED
  wh_req DELETE "/v2/tagged/app/manifests/$MD"
  expect_err "read-only ($how): DELETE is 405" 405 UNSUPPORTED
  wh_stop
done

# ---- free-disk floor ---------------------------------------------------------------
printf '{"storage": {"min_free": "100000T"}}\n' >"$T/floor.json"
wh_start -r "$ROOT" -c "$T/floor.json" || wh_done
before=$(uploads_files)
wh_req POST /v2/floor/x/blobs/uploads/ -H 'Content-Length: 0'
expect_err "below the free-disk floor a push is refused" 507 DENIED
like "the floor refusal is clear" "$(err_msg)" '^registry storage is almost full: .* free, pushes need .* free$'
wh_blob_push_single floor/x "$T/l"
expect_err "below the floor a monolithic push is refused" 507 DENIED
wh_manifest_push tagged/app t1 "$T/m1"
expect_err "below the floor a manifest PUT is refused" 507 DENIED
is "nothing was written below the floor" "$(uploads_files)" "$before"
wh_req GET "/v2/tagged/app/manifests/t1" -H "Accept: $MT_OCI_MANIFEST"
expect "below the floor reads still work" 200

wh_done
