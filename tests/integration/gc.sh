#!/bin/bash
# tests/integration/gc.sh - online garbage collection against a real wharfd:
#   - 8 pushers push images for a minute (WH_GC_PUSHERS, WH_GC_SECONDS)
#     while the server collects every second with grace 0 and
#     `wharfd gc --grace 0` runs in a loop as a second process: every push
#     is acknowledged (no MANIFEST_BLOB_UNKNOWN), every tag then pulls and
#     verifies (curl + sha256sum), fsck is clean (wh_done);
#   - unreferenced blobs are removed; a dry run removes nothing and says
#     what it would; a second run right after removes nothing; a blob a
#     client HEAD-checked survives; an open upload survives;
#   - the schedule (gc.interval) removes garbage by itself;
#   - with delete_untagged the 10 previous digests of a tag survive and the
#     11th goes, with its layer; abandoned uploads are purged by age.
# Ages are made by dating rows back with sqlite3 (never by waiting).
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init
command -v sqlite3 >/dev/null || {
  echo "Bail out! sqlite3 is not installed (run deploy/install-deps --test)"
  exit 1
}
T=$WH_TMP
NPUSHERS=${WH_GC_PUSHERS:-8}
GC_SECONDS=${WH_GC_SECONDS:-60}

# age ROOT DIGEST...: the rows of these blobs look two hours old
age() {
  local root=$1 d sql=""
  shift
  for d in "$@"; do
    sql+="UPDATE blobs SET created = created - 7200 WHERE digest = '$d';"
    sql+="UPDATE repo_blobs SET created = created - 7200 WHERE digest = '$d';"
  done
  sqlite3 -cmd ".timeout 10000" "$root/index.db" "$sql"
}

# verify_tag REPO TAG MDIGEST CFILE LFILE: the tag pulls intact
verify_tag() {
  local got
  got=$(wh_get_digest "/v2/$1/manifests/$2" -H "Accept: $MT_OCI_MANIFEST") || return 1
  [[ $got == "$3" ]] || return 1
  [[ $(wh_get_digest "/v2/$1/blobs/$(wh_digest "$4")") == "$(wh_digest "$4")" ]] || return 1
  [[ $(wh_get_digest "/v2/$1/blobs/$(wh_digest "$5")") == "$(wh_digest "$5")" ]]
}

gc_cmd() { "$WHARFD" gc --root "$ROOT" "$@" 2>&1; }

# ---- phase 1: pushes racing the schedule and a second collecting process --------
printf '{"gc": {"interval": "1s", "grace": 0}}\n' >"$T/sched.json"
wh_start -c "$T/sched.json" || wh_done
ROOT=$WH_ROOT

pusher() { # pusher N: pushes images for GC_SECONDS, one line per acknowledged tag
  local i=0 end=$((SECONDS + GC_SECONDS))
  while ((SECONDS < end)); do
    i=$((i + 1))
    if wh_push_image "loop/p$1" "t$i" 4096; then
      echo "loop/p$1 t$i $WH_MDIGEST $WH_CFILE $WH_LFILE" >>"$T/pushed.$1"
    else
      echo "loop/p$1 t$i $H_CODE $(wh_err_codes | tr '\n' ' ')" >>"$T/failed.$1"
    fi
  done
}
gc_loop() {
  local n=0
  while [[ ! -e $T/stop ]]; do
    "$WHARFD" gc --root "$ROOT" --grace 0 >/dev/null 2>>"$T/gcloop.err" || echo fail >>"$T/gcloop.fail"
    n=$((n + 1))
  done
  echo "$n" >"$T/gcloop.runs"
}
gc_loop &
GCPID=$!
wh_track "$GCPID"
pids=()
for ((p = 1; p <= NPUSHERS; p++)); do
  pusher "$p" &
  pids+=($!)
  wh_track "$!"
done
for p in "${pids[@]}"; do wh_reap "$p" $((GC_SECONDS + 240)); done
touch "$T/stop"
wh_reap "$GCPID" 60
is "every push racing GC was acknowledged" "$(cat "$T"/failed.* 2>/dev/null)" ""
N=$(cat "$T"/pushed.* 2>/dev/null | wc -l)
pass_if "every pusher had pushes acknowledged ($N images in ${GC_SECONDS}s)" \
  "$([[ $(ls "$T"/pushed.* 2>/dev/null | wc -l) == "$NPUSHERS" ]]; echo $?)"
like "the collecting process ran repeatedly" "$(cat "$T/gcloop.runs" 2>/dev/null)" '^([2-9]|[1-9][0-9]+)$'
is "no collection failed" "$(cat "$T/gcloop.fail" "$T/gcloop.err" 2>/dev/null)" ""
bad=0
while read -r repo tag md cf lf; do
  verify_tag "$repo" "$tag" "$md" "$cf" "$lf" || { bad=$((bad + 1)); diag "broken: $repo:$tag"; }
done < <(cat "$T"/pushed.*)
is "every acknowledged tag pulls and verifies" "$bad" 0

# The schedule removes garbage by itself (GET: a HEAD would protect it).
wh_rand "$T/garbage" 3000
wh_blob_push sched/x "$T/garbage" && DG=$WH_DIGEST
age "$ROOT" "$DG"
for ((i = 0; i < 100; i++)); do
  wh_req GET "/v2/sched/x/blobs/$DG"
  [[ $H_CODE == 404 ]] && break
  sleep 0.2
done
is "the gc.interval schedule removed an old unreferenced blob" "$H_CODE" 404
wh_stop

# ---- phase 2: one server, collections by hand ------------------------------------
wh_start -r "$ROOT" || wh_done
wh_rand "$T/loose" 5000
wh_blob_push keep/x "$T/loose" && DL=$WH_DIGEST
wh_rand "$T/checked" 6000
wh_blob_push keep/x "$T/checked" && DH=$WH_DIGEST
age "$ROOT" "$DL" "$DH"
wh_req HEAD "/v2/keep/x/blobs/$DH"
expect "HEAD of the blob a push is about to use" 200

out=$(gc_cmd --grace 0 --dry-run)
like "dry run names the unreferenced blob" "$out" "would remove blob $DL \\(5000 bytes\\)"
like "dry run summary" "$out" 'gc \(dry run\): would remove 0 manifests, 1 blobs, 5000 bytes'
wh_req GET "/v2/keep/x/blobs/$DL"
expect "after the dry run the blob is still there" 200

# an upload in progress, through the most aggressive collection
wh_rand "$T/partial" 4000
head -c 1500 "$T/partial" >"$T/partial.1"
tail -c +1501 "$T/partial" >"$T/partial.2"
wh_upload_start keep/up
UPLOC=$WH_LOC
wh_req PATCH "$UPLOC" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 0-1499' \
  --data-binary "@$T/partial.1"
expect "first chunk of an upload accepted" 202
UPLOC=$(wh_loc)

out=$(gc_cmd --grace 0)
like "gc removes the unreferenced blob" "$out" "removed blob $DL"
unlike=1
[[ $out == *"$DH"* ]] && unlike=0
is "gc spares the HEAD-checked blob" "$unlike" 1
wh_req GET "/v2/keep/x/blobs/$DL"
expect "the removed blob answers 404" 404
wh_req GET "/v2/keep/x/blobs/$DH"
expect "the HEAD-checked blob still reads" 200
out=$(gc_cmd --grace 0)
like "a second run right after removes nothing" "$out" 'removed 0 manifests, 0 blobs, 0 bytes'

out=$(gc_cmd --grace 0 --recent 0)
wh_req PUT "$(wh_q "$UPLOC" "digest=$(wh_digest "$T/partial")")" -H 'Content-Type: application/octet-stream' \
  --data-binary "@$T/partial.2"
expect "an upload open during gc (grace 0, recent 0) completes" 201
wh_req GET "/v2/keep/up/blobs/$(wh_digest "$T/partial")"
check "the completed upload reads back exactly" cmp -s "$H_BODY" "$T/partial"

# ---- rollback targets: delete_untagged keeps the 10 previous digests -------------
declare -a HD HL
for ((i = 0; i < 12; i++)); do
  wh_push_image hist/app prod 700 || not_ok "push $i of hist/app:prod" "$(wh_fail_diag 201)"
  HD[i]=$WH_MDIGEST
  HL[i]=$(wh_digest "$WH_LFILE")
done
out=$(gc_cmd --grace 0 --recent 0 --delete-untagged --dry-run)
like "dry run names the 11th previous digest" "$out" "would remove manifest ${HD[0]} in \"hist/app\""
wh_req GET "/v2/hist/app/manifests/${HD[0]}" -H "Accept: $MT_OCI_MANIFEST"
expect "after the dry run the 11th previous digest is still there" 200
out=$(gc_cmd --grace 0 --recent 0 --delete-untagged)
like "delete_untagged removes the 11th previous digest" "$out" "removed manifest ${HD[0]} in \"hist/app\""
like "... exactly one manifest" "$out" 'removed 1 manifests'
wh_req GET "/v2/hist/app/manifests/${HD[0]}" -H "Accept: $MT_OCI_MANIFEST"
expect "the 11th previous digest answers 404" 404
wh_req GET "/v2/hist/app/blobs/${HL[0]}"
expect "its layer is gone too" 404
kept=0
for ((i = 1; i < 12; i++)); do
  wh_req GET "/v2/hist/app/manifests/${HD[i]}" -H "Accept: $MT_OCI_MANIFEST"
  [[ $H_CODE == 200 ]] && kept=$((kept + 1))
done
is "the current digest and the 10 before it survive" "$kept" 11
wh_req GET "/v2/hist/app/blobs/${HL[1]}"
expect "the layer of the oldest kept target still reads" 200
out=$(gc_cmd --grace 0 --recent 0 --delete-untagged)
like "a second delete_untagged run removes nothing" "$out" 'removed 0 manifests, 0 blobs'
bad=0
while read -r repo tag md cf lf; do
  verify_tag "$repo" "$tag" "$md" "$cf" "$lf" || bad=$((bad + 1))
done < <(cat "$T"/pushed.*)
is "tagged images survive every collection" "$bad" 0

# ---- abandoned uploads are purged by age (uploads.max_age) ------------------------
wh_upload_start keep/old
OLDLOC=$WH_LOC
touch -d '2 days ago' "$ROOT/uploads/${OLDLOC##*/}"
sqlite3 -cmd ".timeout 10000" "$ROOT/index.db" "UPDATE uploads SET created = created - 172800 WHERE id = '${OLDLOC##*/}'"
out=$(gc_cmd --grace 1h)
like "gc purges the abandoned upload" "$out" 'purged 1 upload sessions'
wh_req GET "$OLDLOC"
expect "the purged upload answers 404" 404

wh_done
