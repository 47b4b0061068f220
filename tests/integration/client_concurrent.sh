#!/bin/bash
# tests/integration/client_concurrent.sh - several wharf processes on one
# local store at once (issue 3: "concurrent wharf processes on one store are
# safe"): 8 pulls of 4 images that share a big layer (each image pulled
# twice at the same time), then 4 pushes of them to a second wharfd plus a
# tag move and a prune meanwhile; every command succeeds, every image is
# there once, both stores are consistent (fsck).
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init
. "${BASH_SOURCE%/*}/client_lib.sh"
T=$WH_TMP

wh_start || wh_done
W=$WH_HOST
wh_rand "$T/shared" 3000000
declare -A MD
for i in 1 2 3 4; do
  wh_rand "$T/own$i" 200000
  wh_mk_config "$T/cfg$i" "$T/shared" "$T/own$i"
  wh_mk_manifest "$T/man$i" "$T/cfg$i" "$T/shared" "$T/own$i"
  wh_blob_push cc/app "$T/shared" && wh_blob_push cc/app "$T/own$i" && wh_blob_push cc/app "$T/cfg$i" &&
    wh_manifest_push cc/app "v$i" "$T/man$i" || break
  MD[$i]=$(wh_digest "$T/man$i")
done
expect "four images sharing a 3 MB layer pushed with curl" 201

R=$(wf_root)
pids=()
for i in 1 2 3 4 1 2 3 4; do
  wf "$R" --quiet pull "$W/cc/app:v$i" >"$T/pull.$i.${#pids[@]}" 2>&1 &
  pids+=($!)
done
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
is "8 concurrent pulls into one store all succeed" "$fails" 0
bad=""
for f in "$T"/pull.*; do
  i=${f#"$T"/pull.}
  i=${i%%.*}
  [[ $(cat "$f") == "${MD[$i]}" ]] || bad="$bad $(basename "$f"):$(head -c 200 "$f")"
done
is "each printed its image's digest" "$bad" ""
is "images lists the four images once each" "$(wf "$R" images --format json | jq -r '.[].tag' | sort | tr '\n' ' ')" \
  "v1 v2 v3 v4 "
out=$(wh_fsck "$R")
pass_if "the local store is consistent (fsck)" "$?" "$out"

wh_start || wh_done
W2=$WH_HOST
pids=()
for i in 1 2 3 4; do
  wf "$R" tag "$W/cc/app:v$i" "$W2/cc/app:v$i"
done
for i in 1 2 3 4; do
  wf "$R" --quiet push "$W2/cc/app:v$i" >"$T/push.$i" 2>&1 &
  pids+=($!)
done
wf "$R" tag "$W/cc/app:v1" "$W/cc/app:moving" >"$T/tag.out" 2>&1 &
pids+=($!)
wf "$R" prune >"$T/prune.out" 2>&1 &
pids+=($!)
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
is "4 concurrent pushes, a tag and a prune on one store all succeed" "$fails" 0 \
  || diag "$(cat "$T"/push.* "$T/tag.out" "$T/prune.out")"
bad=""
for i in 1 2 3 4; do
  [[ $(wh_get_digest "/v2/cc/app/manifests/v$i" -H "Accept: $MT_OCI_MANIFEST") == "${MD[$i]}" ]] || bad="$bad v$i"
done
is "the second registry has all four images" "$bad" ""
out=$(wh_fsck "$R")
pass_if "the local store is still consistent (fsck)" "$?" "$out"

wh_done
