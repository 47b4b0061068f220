#!/bin/bash
# tests/integration/scrub.sh - `wharfd scrub` beside a running wharfd:
# a clean store scrubs clean (exit 0); a layer file corrupted by hand is
# found (exit 1, named); --quarantine moves it to <root>/quarantine/ and
# GET answers 404 instead of bad bytes; a push of the same content heals
# it; a corrupted manifest is quarantined with its tag; fsck is clean.
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init
T=$WH_TMP
wh_start || wh_done
ROOT=$WH_ROOT

scrub() { "$WHARFD" scrub --root "$ROOT" "$@" 2>&1; }
blob_file() { local h=${1#sha256:}; printf '%s/blobs/sha256/%s/%s' "$ROOT" "${h:0:2}" "$h"; }
corrupt() { chmod u+w "$1" && printf 'X' | dd of="$1" bs=1 seek=10 conv=notrunc status=none; }

wh_push_image scrub/one v1 50000 || not_ok "push scrub/one:v1" "$(wh_fail_diag 201)"
L1=$WH_LFILE DL1=$(wh_digest "$WH_LFILE")
wh_push_image scrub/two v1 3000 || not_ok "push scrub/two:v1" "$(wh_fail_diag 201)"
DM2=$WH_MDIGEST

out=$(scrub)
is "a clean store scrubs clean (exit 0)" "$?" 0
like "scrub counts what it hashed" "$out" 'scrub: 6 blobs \([0-9]+ bytes\) checked: 0 bad, 0 quarantined'

corrupt "$(blob_file "$DL1")"
wh_req GET "/v2/scrub/one/blobs/$DL1"
isnt_bad=$([[ $(wh_digest "$H_BODY") == "$DL1" ]] && echo same || echo differs)
is "before scrub, the corrupt layer is served with wrong bytes" "$isnt_bad" differs
out=$(scrub)
is "scrub finds a corrupt blob (exit 1)" "$?" 1
like "scrub names it" "$out" "bad blob $DL1: content hashes to sha256:"
wh_req GET "/v2/scrub/one/blobs/$DL1"
expect "scrub without --quarantine changes nothing" 200

out=$(scrub --quarantine)
is "scrub --quarantine exits 1 (bad blobs were found)" "$?" 1
like "it says the blob was quarantined" "$out" "bad blob $DL1: .*; quarantined"
check "the bad file is kept in quarantine/" test -f "$ROOT/quarantine/sha256-${DL1#sha256:}"
wh_req GET "/v2/scrub/one/blobs/$DL1"
expect_err "a quarantined blob answers 404, never bad bytes" 404 BLOB_UNKNOWN
out=$(scrub)
is "after quarantine the store scrubs clean" "$?" 0

wh_blob_push scrub/one "$L1"
expect "pushing the same content again is accepted" 201
is "the healed layer reads back right" "$(wh_get_digest "/v2/scrub/one/blobs/$DL1")" "$DL1"

corrupt "$(blob_file "$DM2")"
out=$(scrub --quarantine)
like "a corrupt manifest is quarantined" "$out" "bad blob $DM2: .*; quarantined"
wh_req GET "/v2/scrub/two/manifests/v1" -H "Accept: $MT_OCI_MANIFEST"
expect_err "its tag no longer serves the bad manifest" 404 MANIFEST_UNKNOWN
is "everything left scrubs clean" "$(scrub >/dev/null; echo $?)" 0

wh_done
