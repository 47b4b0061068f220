#!/bin/bash
# tests/integration/crash.sh - durability of wharfd under SIGKILL and faults.
#
# Part 1, ROUNDS rounds on one store root: start wharfd, run concurrent
# pushers (blobs, manifests, tag moves) that log what wharfd acknowledged
# (201), kill -9 wharfd at a random moment, restart it plainly, and check
# that fsck is clean, that every acknowledged blob and manifest is served
# with its digest and every tag points at a digest the tag was given (the
# last acknowledged one or one sent after it, whose commit may have landed).
#
# Part 2, WHARF_FAULT: kill-before-rename, kill-after-rename and
# kill-before-commit must kill wharfd inside a blob commit (no 201 reaches
# the client); enospc-write must fail the push with a 5xx and keep serving.
#
# What is asserted about fsck (decided here, precisely):
#   - after every SIGKILL and fault, a plain restart of wharfd (which runs
#     store_recover before it listens) leaves a store on which
#     `wharfd fsck --root` without --repair exits 0: no --repair, ever;
#   - when a fault left residue, the restarted wharfd says what it cleared
#     in one "crash recovery:" log line;
#   - after an ENOSPC failure (no crash), fsck exits 0 without repair;
#   - acknowledged content survives every one of these steps.
. "${BASH_SOURCE%/*}/../lib.sh"
WH_TEST_TIMEOUT=${WH_TEST_TIMEOUT:-420}
wh_init
T=$WH_TMP
ROUNDS=${WH_CRASH_ROUNDS:-10}
ROOT=$T/crashroot
mkdir -p "$ROOT"
ACK=$T/ack
: >"$ACK"

# worker ID REPO ROUND ITERATIONS: pushes until wharfd stops answering.
# Logs "blob REPO DIGEST", "manifest REPO DIGEST", "tag REPO TAG DIGEST" after
# each 201, and "try REPO TAG DIGEST" before each tag move.
worker() {
  local id=$1 repo=$2 r=$3 n=$4 i d l c m dm
  d=$T/w$r.$id
  mkdir -p "$d"
  for ((i = 0; i < n; i++)); do
    l=$d/l$i c=$d/c$i m=$d/m$i
    wh_rand "$l" $(((RANDOM % 96 + 1) * 1024))
    wh_blob_push "$repo" "$l" || return 0
    echo "blob $repo $WH_DIGEST" >>"$ACK"
    wh_mk_config "$c" "$l"
    wh_blob_push "$repo" "$c" || return 0
    echo "blob $repo $WH_DIGEST" >>"$ACK"
    wh_mk_manifest "$m" "$c" "$l"
    dm=$(wh_digest "$m")
    echo "try $repo t$id $dm" >>"$ACK"
    wh_manifest_push "$repo" "t$id" "$m" || return 0
    echo "manifest $repo $dm" >>"$ACK"
    echo "tag $repo t$id $dm" >>"$ACK"
    echo "try $repo shared $dm" >>"$ACK"
    wh_manifest_push "$repo" shared "$m" || return 0
    echo "tag $repo shared $dm" >>"$ACK"
  done
}

# verify_acks FROM-LINE LABEL: checks the acknowledgements from line FROM on
# (blobs and manifests) and every tag ever acknowledged.
verify_acks() {
  local from=$1 label=$2 kind repo a b bad=0 nb=0 nm=0 nt=0 got allowed
  while read -r kind repo a b; do
    case $kind in
      blob)
        nb=$((nb + 1))
        wh_req GET "/v2/$repo/blobs/$a"
        if [[ $H_CODE != 200 || $(wh_digest "$H_BODY") != "$a" ]]; then
          bad=$((bad + 1))
          diag "acknowledged blob $repo@$a: HTTP $H_CODE, body digest $(wh_digest "$H_BODY")"
        fi ;;
      manifest)
        nm=$((nm + 1))
        wh_req GET "/v2/$repo/manifests/$a" -H "Accept: $MT_OCI_MANIFEST"
        if [[ $H_CODE != 200 || $(wh_digest "$H_BODY") != "$a" || $(wh_hdr Docker-Content-Digest) != "$a" ]]; then
          bad=$((bad + 1))
          diag "acknowledged manifest $repo@$a: HTTP $H_CODE, body digest $(wh_digest "$H_BODY")"
        fi ;;
    esac
  done < <(tail -n +"$from" "$ACK")
  # tags: allowed values per (repo, tag), computed from the whole log
  while read -r repo a; do
    nt=$((nt + 1))
    if [[ $a == shared ]]; then
      allowed=$(awk -v r="$repo" '$1 == "try" && $2 == r && $3 == "shared" { print $4 }' "$ACK" | sort -u)
    else
      # the last acknowledged digest, and any digest tried after it
      allowed=$(awk -v r="$repo" -v t="$a" '$2 == r && $3 == t {
          if ($1 == "tag") { n = 0; s[n++] = $4 } else if ($1 == "try") s[n++] = $4 }
        END { for (i = 0; i < n; i++) print s[i] }' "$ACK" | sort -u)
    fi
    wh_req GET "/v2/$repo/manifests/$a" -H "Accept: $MT_OCI_MANIFEST"
    got=$(wh_digest "$H_BODY")
    if [[ $H_CODE != 200 ]] || ! grep -qxF "$got" <<<"$allowed"; then
      bad=$((bad + 1))
      diag "acknowledged tag $repo:$a: HTTP $H_CODE, points at $got; allowed: $(echo $allowed)"
    fi
  done < <(awk '$1 == "tag" { print $2, $3 }' "$ACK" | sort -u)
  is "$label: $nb blobs, $nm manifests, $nt tags acknowledged before the crashes are intact" "$bad" 0
}

# fsck_clean LABEL ROOT: run right after a plain restart of wharfd on ROOT
# (it is up and idle): fsck without --repair must exit 0.
fsck_clean() {
  local label=$1 root=$2 out st line
  line=$(grep -m1 'crash recovery:' "$WH_LOG")
  [[ -n $line ]] && diag "$label: ${line#* info }"
  out=$(wh_fsck "$root")
  st=$?
  pass_if "$label: fsck (no --repair) is clean after a plain restart" "$st" "exit status $st" \
    "$(printf '%s\n' "$out" | tail -n 20)"
}

# recovered LABEL REGEX: the restarted wharfd logged what it cleared.
recovered() {
  local line
  line=$(grep -m1 'crash recovery:' "$WH_LOG")
  like "$1: the restart cleared the residue" "$line" "$2"
}

# ---- part 1: kill -9 at random moments ---------------------------------------------
FROM=1
for ((r = 1; r <= ROUNDS; r++)); do
  wh_start -r "$ROOT" || break
  pids=()
  for w in 1 2 3; do
    repo=crash/a
    [[ $w == 3 ]] && repo=crash/b
    worker "$w" "$repo" "$r" 12 &
    pids+=($!)
    wh_track "$!"
  done
  # a random moment between 0.1 and 1.5 s into the pushes
  sleep "$((RANDOM % 15 / 10)).$((RANDOM % 10))$((RANDOM % 10))"
  # the first round waits (bounded) for an acknowledged manifest, whatever
  # the machine's load, so the rounds never check nothing
  if [[ $r == 1 ]]; then
    for ((i = 0; i < 150; i++)); do
      grep -q '^manifest ' "$ACK" 2>/dev/null && break
      sleep 0.1
    done
  fi
  wh_kill9
  for p in "${pids[@]}"; do wh_reap "$p" 30; done
  wh_start -r "$ROOT" || break
  fsck_clean "round $r" "$ROOT"
  verify_acks "$FROM" "round $r"
  FROM=$(($(wc -l <"$ACK") + 1))
  wh_stop
done
check "the crash rounds acknowledged some manifests" grep -q '^manifest ' "$ACK"
diag "acknowledged over $ROUNDS rounds: $(grep -c '^blob ' "$ACK") blobs, $(grep -c '^manifest ' "$ACK") manifests, $(grep -c '^tag ' "$ACK") tag moves"
wh_start -r "$ROOT" && {
  verify_acks 1 "after all rounds"
  wh_rand "$T/post" 5000
  wh_blob_push crash/a "$T/post"
  expect "the crashed store still takes pushes" 201
  wh_stop
}
out=$(wh_fsck "$ROOT")
pass_if "final: fsck (no --repair) is clean after all rounds" "$?" "$(printf '%s\n' "$out" | tail -n 20)"

# ---- part 2: WHARF_FAULT ------------------------------------------------------------
for mode in kill-before-rename kill-after-rename kill-before-commit; do
  FR=$T/fault-$mode
  mkdir -p "$FR"
  wh_start -r "$FR" -e "WHARF_FAULT=$mode" || continue
  wh_rand "$T/$mode.blob" 70000
  D=$(wh_digest "$T/$mode.blob")
  wh_blob_push fault/blob "$T/$mode.blob"
  is "$mode: the blob PUT gets no answer (the server died mid-commit)" "$H_CODE" 000
  wh_reap "$WH_PID" 5
  is "$mode: wharfd died of SIGKILL by itself" "$?/$WH_REAP_KILLED" 137/0
  wh_forget "$WH_PID"
  wh_start -r "$FR" || continue
  fsck_clean "$mode" "$FR"
  if [[ $mode == kill-before-rename ]]; then
    # the bytes stay in their upload session (row and file): nothing to clear
    is "$mode: the restart had nothing to clear" "$(grep -c 'crash recovery:' "$WH_LOG")" 0
  else
    recovered "$mode" 'ended 1 upload sessions, registered 1 blob files'
  fi
  wh_req HEAD "/v2/fault/blob/blobs/$D"
  if [[ $mode == kill-before-rename ]]; then
    expect "$mode: after restart the blob is not visible" 404
  elif [[ $H_CODE == 200 ]]; then
    wh_req GET "/v2/fault/blob/blobs/$D"
    is "$mode: after restart the blob is visible only with its exact bytes" "$(wh_digest "$H_BODY")" "$D"
  else
    expect "$mode: after restart the blob is not visible (or complete)" 404
  fi
  wh_blob_push fault/blob "$T/$mode.blob"
  expect "$mode: the same blob can be pushed again (201)" 201
  wh_req GET "/v2/fault/blob/blobs/$D"
  is "$mode: and then reads back exactly" "$(wh_digest "$H_BODY")" "$D"
  # the same fault in a manifest push: all of it (manifest + tag) or nothing
  wh_push_image fault/img keep
  expect "$mode: setup: an image pushed without the fault" 201
  wh_mk_config "$T/$mode.cfg2" "$WH_LFILE"
  wh_blob_push fault/img "$T/$mode.cfg2"
  wh_mk_manifest "$T/$mode.m" "$T/$mode.cfg2" "$WH_LFILE"
  DM=$(wh_digest "$T/$mode.m")
  wh_stop
  wh_start -r "$FR" -e "WHARF_FAULT=$mode" || continue
  wh_manifest_push fault/img moved "$T/$mode.m"
  MCODE=$H_CODE
  if wh_wait_exit "$WH_PID" 3; then
    is "$mode: a manifest PUT that kills wharfd gets no answer" "$MCODE/$WH_EXIT" 000/137
    wh_forget "$WH_PID"
  else
    wh_stop
  fi
  wh_start -r "$FR" || continue
  fsck_clean "$mode (manifest)" "$FR"
  if [[ $MCODE == 000 && $mode == kill-before-rename ]]; then
    recovered "$mode (manifest)" 'removed 1 leftover upload files'
  elif [[ $MCODE == 000 ]]; then
    recovered "$mode (manifest)" 'registered 1 blob files'
  fi
  wh_req GET /v2/fault/img/manifests/moved -H "Accept: $MT_OCI_MANIFEST"
  TAGCODE=$H_CODE
  TAGDIG=$(wh_digest "$H_BODY")
  wh_req HEAD "/v2/fault/img/manifests/$DM" -H "Accept: $MT_OCI_MANIFEST"
  if [[ $MCODE == 201 ]]; then
    is "$mode: an acknowledged manifest push is complete after restart" "$H_CODE $TAGCODE $TAGDIG" "200 200 $DM"
  else
    like "$mode: an unacknowledged manifest push is all there or not at all" "$H_CODE $TAGCODE" '^(404 404|200 200)$'
  fi
  wh_req GET /v2/fault/img/manifests/keep -H "Accept: $MT_OCI_MANIFEST"
  is "$mode: the earlier tag is untouched" "$(wh_digest "$H_BODY")" "$WH_MDIGEST"
  wh_stop
done

FR=$T/fault-enospc
mkdir -p "$FR"
if wh_start -r "$FR" -e WHARF_FAULT=enospc-write; then
  wh_rand "$T/enospc.blob" 70000
  D=$(wh_digest "$T/enospc.blob")
  wh_blob_push fault/blob "$T/enospc.blob"
  expect_err "enospc-write: the blob push fails with a 5xx error" '5[0-9][0-9]' ''
  wh_req GET /v2/
  expect "enospc-write: wharfd keeps serving" 200
  wh_req HEAD "/v2/fault/blob/blobs/$D"
  expect "enospc-write: the failed blob is not visible" 404
  wh_stop
  out=$(wh_fsck "$FR")
  pass_if "enospc-write: fsck is clean without repair" "$?" "$out"
  wh_start -r "$FR" && {
    wh_blob_push fault/blob "$T/enospc.blob"
    expect "enospc-write: after restart without the fault the push works" 201
    wh_req GET "/v2/fault/blob/blobs/$D"
    is "enospc-write: and reads back exactly" "$(wh_digest "$H_BODY")" "$D"
  }
fi

wh_done
