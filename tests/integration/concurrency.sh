#!/bin/bash
# tests/integration/concurrency.sh - wharfd under concurrent clients:
#   - 20 clients finish uploads of the same blob at the same moment (and 20
#     more with single POSTs): all get 201, one file is stored, no temp file
#     is left behind, the blob reads back exactly;
#   - 50 writers move one tag among several manifests while readers GET it:
#     every write is 201, every read is 200 with one of the valid manifests
#     and a Docker-Content-Digest matching the bytes served.
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init
wh_start || wh_done
T=$WH_TMP
NSAME=${WH_CONC_SAME:-20}
NWRITERS=${WH_CONC_WRITERS:-50}
NREADERS=${WH_CONC_READERS:-4}

# run_all: starts every "job" function given (one per arg) and reaps them all
run_all() {
  local -a ps=()
  local j p
  for j in "$@"; do
    eval "$j" &
    ps+=($!)
    wh_track "$!"
  done
  for p in "${ps[@]}"; do wh_reap "$p" 120; done
}

# ---- 20 uploads of one blob, closed at once --------------------------------------------
wh_rand "$T/same" $((512 * 1024))
DS=$(wh_digest "$T/same")
: >"$T/locs"
for ((i = 0; i < NSAME; i++)); do
  wh_upload_start conc/same && echo "$WH_LOC" >>"$T/locs"
done
is "$NSAME upload sessions opened" "$(wc -l <"$T/locs")" "$NSAME"
put_one() { # put_one LOCATION OUT
  wh_req PUT "$(wh_q "$1" "digest=$DS")" -H 'Content-Type: application/octet-stream' --data-binary "@$T/same"
  echo "$H_CODE $(wh_hdr Docker-Content-Digest)" >"$2"
}
jobs_=()
n=0
while read -r loc; do
  n=$((n + 1))
  jobs_+=("put_one '$loc' '$T/put.$n'")
done <"$T/locs"
run_all "${jobs_[@]}"
is "all $NSAME concurrent closing PUTs of the same blob are 201" \
  "$(cat "$T"/put.* | sort | uniq -c | sed 's/^ *//')" "$NSAME 201 $DS"
post_one() { # post_one OUT
  wh_req POST "/v2/conc/same2/blobs/uploads/?digest=$DS" -H 'Content-Type: application/octet-stream' \
    --data-binary "@$T/same"
  echo "$H_CODE" >"$1"
}
jobs_=()
for ((i = 0; i < NSAME; i++)); do jobs_+=("post_one '$T/post.$i'"); done
run_all "${jobs_[@]}"
is "all $NSAME concurrent single-POST uploads of the same blob are 201" \
  "$(cat "$T"/post.* | sort | uniq -c | sed 's/^ *//')" "$NSAME 201"
wh_req GET "/v2/conc/same/blobs/$DS"
check "the blob reads back exactly" cmp -s "$H_BODY" "$T/same"
wh_req GET "/v2/conc/same2/blobs/$DS"
check "the blob reads back exactly from the second repository" cmp -s "$H_BODY" "$T/same"
is "exactly one file holds the blob in the store" \
  "$(find "$WH_ROOT/blobs" -type f -name "${DS#sha256:}" 2>/dev/null | wc -l)" 1
is "no upload bytes are left behind" "$(find "$WH_ROOT/uploads" -type f 2>/dev/null | wc -l)" 0

# ---- 4 clients PATCH the same range of one session at once --------------------------------
wh_rand "$T/p1" 300000
wh_upload_start conc/race
expect "setup: an upload session to race on" 202
RLOC=$WH_LOC
patch_one() { # patch_one OUT
  wh_req PATCH "$RLOC" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 0-299999' \
    --data-binary "@$T/p1"
  echo "$H_CODE" >"$1"
}
run_all "patch_one '$T/pr.1'" "patch_one '$T/pr.2'" "patch_one '$T/pr.3'" "patch_one '$T/pr.4'"
is "exactly one of 4 racing PATCHes of the same range is accepted" "$(cat "$T"/pr.* | grep -c '^202$')" 1
is "the other 3 are refused with a 4xx" "$(cat "$T"/pr.* | grep -c '^4[0-9][0-9]$')" 3
wh_req GET "$RLOC"
expect_hdr "the session holds the range once (Range 0-299999)" Range '^(bytes=)?0-299999$'
wh_req PUT "$(wh_q "$RLOC" "digest=$(wh_digest "$T/p1")")" -H 'Content-Length: 0'
expect "the raced session completes (201)" 201
wh_req GET "/v2/conc/race/blobs/$(wh_digest "$T/p1")"
check "the raced blob reads back exactly" cmp -s "$H_BODY" "$T/p1"

# ---- 50 writers move one tag while readers read it ---------------------------------------
NM=5
: >"$T/valid"
for ((i = 0; i < NM; i++)); do
  wh_push_image conc/tag "m$i" 2048 || break
  cp "$WH_MFILE" "$T/m$i"
  echo "$WH_MDIGEST" >>"$T/valid"
done
is "setup: $NM manifests pushed" "$(sort -u "$T/valid" | wc -l)" "$NM"
wh_manifest_push conc/tag hot "$T/m0"
expect "setup: the tag 'hot' exists" 201

writer() { # writer ID: 6 moves of 'hot' to random manifests
  local k i
  for ((k = 0; k < 6; k++)); do
    i=$((RANDOM % NM))
    wh_req PUT /v2/conc/tag/manifests/hot -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$T/m$i"
    echo "$H_CODE" >>"$T/w.$1"
  done
}
reader() { # reader ID: reads 'hot' until the writers are done (at most 400 times)
  local k d h
  for ((k = 0; k < 400; k++)); do
    [[ -e $T/writers.done ]] && break
    wh_req GET /v2/conc/tag/manifests/hot -H "Accept: $MT_OCI_MANIFEST"
    d=$(wh_digest "$H_BODY")
    h=$(wh_hdr Docker-Content-Digest)
    if [[ $H_CODE == 200 && $d == "$h" ]] && grep -qxF "$d" "$T/valid"; then
      echo ok >>"$T/r.$1"
    else
      echo "bad HTTP $H_CODE body $d header $h" >>"$T/r.$1"
    fi
  done
}
rps=()
for ((i = 0; i < NREADERS; i++)); do
  reader "$i" &
  rps+=($!)
  wh_track "$!"
done
jobs_=()
for ((i = 0; i < NWRITERS; i++)); do jobs_+=("writer $i"); done
run_all "${jobs_[@]}"
touch "$T/writers.done"
for p in "${rps[@]}"; do wh_reap "$p" 120; done
is "all $((NWRITERS * 6)) tag moves by $NWRITERS concurrent writers are 201" \
  "$(cat "$T"/w.* | sort | uniq -c | sed 's/^ *//')" "$((NWRITERS * 6)) 201"
NR=$(cat "$T"/r.* 2>/dev/null | wc -l)
like "the readers read the tag while it moved ($NR reads)" "$NR" '^[1-9][0-9]*$'
BAD=$(cat "$T"/r.* 2>/dev/null | grep -v '^ok$' | sort | uniq -c | head -n 5)
is "every read returned a valid manifest with a matching digest" "$BAD" ""
wh_req GET /v2/conc/tag/manifests/hot -H "Accept: $MT_OCI_MANIFEST"
D=$(wh_digest "$H_BODY")
check "the tag ends on one of the valid manifests" grep -qxF "$D" "$T/valid"
wh_req GET /v2/conc/tag/tags/list
is "tags/list after the storm" "$(jq -r '.tags | join(" ")' "$H_BODY" 2>&1)" "hot m0 m1 m2 m3 m4"

wh_done
